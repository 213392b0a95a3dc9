"""Ablation: what the model loses on an input when one head's output is taken away.

Unlike direct logit attribution (a head's term in the final sum), ablation measures a head's
*total* effect: the changed stream is fed through every later layer again, so a layer-0 head
that later heads read (e.g. the previous-token head an induction head keys on) can matter far
more than its direct term suggests.

The forward pass here is a pure function of float64 copies of the weights (no hooks, no edits,
no settings changed), so one model can serve many sessions at once.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from core.validators import ValidationError, validate_token_ids

__all__ = ["ablate_head", "ablation_table", "ABLATION_MODES"]

#: "zero": the head writes nothing; "mean": it writes its average output over this input's
#: positions at every position (keeps the head's constant offset, removes what varies).
ABLATION_MODES = ("zero", "mean")


def _check_mode(mode: Any) -> str:
    if mode not in ABLATION_MODES:
        raise ValidationError(
            f"mode must be one of {', '.join(repr(m) for m in ABLATION_MODES)}; got {mode!r}."
        )
    return mode


def _ids(model, token_ids: Any) -> torch.Tensor:
    """``[seq]`` int64: one validated sequence of at least two tokens."""
    cfg = model.config
    ids = validate_token_ids(token_ids, cfg.vocab_size, cfg.n_positions)
    if ids.shape[0] != 1:
        raise ValidationError(f"Ablation takes one sequence; got a batch of {ids.shape[0]}.")
    if ids.shape[1] < 2:
        raise ValidationError(
            "Ablation needs at least 2 tokens: the loss is the prediction of "
            "each next token, and one token has no next token."
        )
    return ids[0].cpu()


def _check_head(model, layer: Any, head: Any) -> None:
    cfg = model.config
    for name, value, limit in (("layer", layer, cfg.n_layer), ("head", head, cfg.n_head)):
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < limit:
            raise ValidationError(
                f"{name} must be a whole number from 0 to {limit - 1}; got {value!r}."
            )


def _weights(model) -> dict[str, Any]:
    """float64 copies of every weight the forward pass reads."""

    def d(t: torch.Tensor) -> torch.Tensor:
        return t.detach().to(device="cpu", dtype=torch.float64).clone()

    return {
        "W_E": d(model.W_E),
        "W_U": d(model.W_U),
        "W_pos": d(model.W_pos),
        "layers": [
            {k: d(getattr(blk, k)) for k in ("W_Q", "W_K", "W_V", "W_O")} for blk in model.layers
        ],
    }


def _head_outputs(w: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """One layer's heads on stream x ``[seq, d_model]`` → ``[head, seq, d_model]``."""
    q = torch.einsum("hkd,sd->hsk", w["W_Q"], x)  # x W_Qᵀ per head: [head, seq, d_head]
    k = torch.einsum("hkd,sd->hsk", w["W_K"], x)
    v = torch.einsum("hkd,sd->hsk", w["W_V"], x)
    seq, d_head = x.shape[0], q.shape[-1]
    scores = q @ k.transpose(-1, -2) / math.sqrt(d_head)
    future = torch.ones(seq, seq, dtype=torch.bool).triu(1)
    pattern = torch.softmax(scores.masked_fill(future, float("-inf")), dim=-1)
    return torch.einsum("hsk,hdk->hsd", pattern @ v, w["W_O"])  # z W_Oᵀ: [head, seq, d_model]


def _replace(out: torch.Tensor, head: int, mode: str) -> torch.Tensor:
    out = out.clone()
    out[head] = 0.0 if mode == "zero" else out[head].mean(dim=0, keepdim=True)
    return out


def _run(
    w: dict[str, Any],
    x: torch.Tensor,
    start: int,
    ablate: tuple[int, int, str] | None,
    clean_outputs: list[torch.Tensor] | None = None,
) -> torch.Tensor:
    """Final stream from the stream x entering layer ``start``, with one head replaced."""
    for l in range(start, len(w["layers"])):
        out = (
            clean_outputs[l]
            if clean_outputs is not None and l == start
            else _head_outputs(w["layers"][l], x)
        )
        if ablate is not None and ablate[0] == l:
            out = _replace(out, ablate[1], ablate[2])
        x = x + out.sum(dim=0)
    return x


def _losses(w: dict[str, Any], final: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
    """Next-token cross-entropy ``[seq − 1]``: position i predicting token i + 1."""
    logits = final[:-1] @ w["W_U"].T
    return F.cross_entropy(logits, ids[1:], reduction="none")


def _clean(w: dict[str, Any], ids: torch.Tensor) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """Streams x_0 … x_L and each layer's head outputs of the unablated model."""
    x = w["W_E"][ids] + w["W_pos"][: ids.shape[0]]
    streams, outputs = [x], []
    for lw in w["layers"]:
        out = _head_outputs(lw, x)
        outputs.append(out)
        x = x + out.sum(dim=0)
        streams.append(x)
    return streams, outputs


@torch.no_grad()
def ablate_head(model, token_ids: Any, layer: int, head: int, mode: str = "zero") -> dict[str, Any]:
    """The change in next-token loss on ``token_ids`` when one head's output is replaced.

    ``token_ids``: one sequence ``[seq]`` (or ``[1, seq]``), at least 2 tokens. The loss is the
    mean cross-entropy (nats) of positions 0 … seq − 2 predicting tokens 1 … seq − 1. Head
    (``layer``, ``head``) writes zeros (``mode="zero"``) or its own mean output over this
    input's positions (``mode="mean"``); every later layer is recomputed on the changed stream.
    Returns ``loss_before``, ``loss_after``, ``delta`` = after − before (> 0: the head helped)
    and ``per_position_delta`` ``[seq − 1]`` (float64 numpy).
    """
    mode = _check_mode(mode)
    _check_head(model, layer, head)
    ids = _ids(model, token_ids)
    w = _weights(model)
    streams, outputs = _clean(w, ids)
    before = _losses(w, streams[-1], ids)
    after = _losses(w, _run(w, streams[layer], layer, (layer, head, mode), outputs), ids)
    return {
        "loss_before": float(before.mean()),
        "loss_after": float(after.mean()),
        "delta": float(after.mean() - before.mean()),
        "per_position_delta": (after - before).numpy(),
        "layer": layer,
        "head": head,
        "mode": mode,
    }


@torch.no_grad()
def ablation_table(model, token_ids: Any, mode: str = "zero") -> np.ndarray:
    """``[layer, head]`` float64: :func:`ablate_head`'s ``delta`` for every head (the clean
    forward pass is computed once and shared)."""
    mode = _check_mode(mode)
    ids = _ids(model, token_ids)
    w = _weights(model)
    streams, outputs = _clean(w, ids)
    before = _losses(w, streams[-1], ids).mean()
    cfg = model.config
    table = np.zeros((cfg.n_layer, cfg.n_head))
    for l in range(cfg.n_layer):
        for h in range(cfg.n_head):
            final = _run(w, streams[l], l, (l, h, mode), outputs)
            table[l, h] = float(_losses(w, final, ids).mean() - before)
    return table
