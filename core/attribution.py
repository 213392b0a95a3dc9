"""Direct logit attribution: split one logit into the contributions of the stream's parts.

When the final stream is a sum of parts, x = Σ_c c, and the logit is linear in x,
logit_t = x · W_U[t] (+ a constant), then logit_t = Σ_c c · W_U[t] (+ the constant) exactly.
:func:`attribute` is that dot product, shared by the lesson's model
(:func:`head_logit_attribution`) and GPT-2 (:func:`core.production.direct_logit_attribution`,
which first folds the final LayerNorm, with its scale frozen, into the parts). A part's term is
its *direct* effect only: a layer-0 head also acts through the later heads that read what it
wrote, which ablation (:mod:`core.ablation`) measures.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from core.direct_path import check_token_id
from core.report import head_outputs
from core.validators import ValidationError

__all__ = ["attribute", "head_logit_attribution"]


def attribute(
    components: np.ndarray, names: Sequence[str], direction: np.ndarray, constant: float = 0.0
) -> dict[str, Any]:
    """Generic direct logit attribution along one direction.

    ``components`` ``[n, d_model]`` (the parts at one position), ``names`` (n labels),
    ``direction`` ``[d_model]`` (e.g. W_U[t]), ``constant`` (what no part supplies, e.g. an
    unembedding bias). Returns ``names`` (list), ``values`` (list of n floats, ``components @
    direction`` in float64) and ``total`` = Σ values + constant.
    """
    c = np.asarray(components, dtype=np.float64)
    w = np.asarray(direction, dtype=np.float64)
    if c.ndim != 2 or w.ndim != 1 or c.shape[1] != w.shape[0]:
        raise ValidationError(
            f"components must be [n, d_model] and direction [d_model]; got {c.shape} and {w.shape}."
        )
    names = list(names)
    if len(names) != c.shape[0]:
        raise ValidationError(f"{len(names)} names for {c.shape[0]} components.")
    values = c @ w
    return {
        "names": names,
        "values": [float(v) for v in values],
        "total": float(values.sum() + float(constant)),
    }


@torch.no_grad()
def head_logit_attribution(model, trace, position: int, target_id: int) -> dict[str, Any]:
    """The logit of ``target_id`` at ``position`` split exactly over the lesson model's parts.

    Parts (in order): "token embedding" (W_E[t]), "position embedding" (W_pos[i]), then every
    head "L{l}H{h}" (what it wrote at ``position``, from :func:`core.report.head_outputs`);
    direction W_U[target_id]. Returns :func:`attribute`'s ``names``, ``values``, ``total`` plus
    ``logit`` (the model's logit recomputed from the final stream, trace.streams[-1][position]
    · W_U[target]), ``sum_error`` = |Σ values − logit| (~1e-7: the trace holds the model's float32
    forward pass, the head parts are rebuilt from it in float64), ``position`` (made
    non-negative) and ``target_id``. ``position`` may be negative (−1 = the last token).
    """
    if getattr(trace, "model_kind", None) != "interpretable":
        raise ValidationError(
            "head_logit_attribution needs a trace of the lesson's model "
            "(core.trace.trace_interpretable)."
        )
    cfg = model.config
    if trace.attention.shape[:2] != (cfg.n_layer, cfg.n_head) or trace.d_model != cfg.n_embd:
        raise ValidationError(
            "The trace was made by a different model (its layers, heads or width do not match)."
        )
    seq = trace.seq_len
    if isinstance(position, (np.integer,)):
        position = int(position)
    if isinstance(position, bool) or not isinstance(position, int) or not -seq <= position < seq:
        raise ValidationError(
            f"position must be a whole number from 0 to {seq - 1} (or −1 for the last); got "
            f"{position!r}."
        )
    position %= seq
    target_id = check_token_id(model, target_id, "target_id")
    heads = head_outputs(model, trace)[:, :, position]  # [layer, head, d_model]
    parts = np.concatenate(
        [
            trace.token_part[position][None],
            trace.position_part[position][None],
            heads.reshape(-1, cfg.n_embd),
        ]
    )
    names = ["token embedding", "position embedding"] + [
        f"L{l}H{h}" for l in range(cfg.n_layer) for h in range(cfg.n_head)
    ]
    w_u = model.W_U.detach()[target_id].double().cpu().numpy()
    out = attribute(parts, names, w_u)
    logit = float(trace.streams[-1][position] @ w_u)
    out.update(
        logit=logit, sum_error=abs(out["total"] - logit), position=position, target_id=target_id
    )
    return out
