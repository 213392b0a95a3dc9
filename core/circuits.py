"""Readable views of a head's QK and OV circuits and of the model's parameters."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from core.model import InterpretableTransformer
from core.trace import Trace

__all__ = ["parameter_breakdown", "circuit_view", "qk_score_terms", "MAX_CIRCUIT_TOKENS"]

#: Token-level circuit slices show at most this many distinct tokens (a readable heatmap).
MAX_CIRCUIT_TOKENS = 16


def parameter_breakdown(model: InterpretableTransformer) -> list[dict[str, Any]]:
    """One row per component: what it is, its shape and its parameter count.

    The counts come from the module's actual tensors, so they always add up to
    ``sum(p.numel() for p in model.parameters())``.
    """
    cfg = model.config
    rows = [
        {
            "component": "Token embedding W_E",
            "shape": f"[{cfg.vocab_size}, {cfg.n_embd}]",
            "parameters": model.W_E.numel(),
            "trained": "yes",
        }
    ]
    rows.append(
        {
            "component": "Positions W_pos (sinusoidal, fixed)",
            "shape": f"[{cfg.n_positions}, {cfg.n_embd}]",
            "parameters": 0,
            "trained": "no (fixed buffer)",
        }
    )
    for name in ("W_Q", "W_K", "W_V", "W_O"):
        per_layer = getattr(model.layers[0], name)
        h, a, b = per_layer.shape
        rows.append(
            {
                "component": f"Attention {name} (all layers)",
                "shape": f"{cfg.n_layer} × [{h} heads, {a}, {b}]",
                "parameters": sum(getattr(layer, name).numel() for layer in model.layers),
                "trained": "yes",
            }
        )
    rows.append(
        {
            "component": "Unembedding W_U",
            "shape": f"[{cfg.vocab_size}, {cfg.n_embd}]",
            "parameters": model.W_U.numel(),
            "trained": "yes",
        }
    )
    return rows


def _token_list(input_ids: Any) -> list[int]:
    seen: dict[int, None] = {}
    for t in torch.as_tensor(input_ids).reshape(-1).tolist():
        seen.setdefault(int(t), None)
        if len(seen) == MAX_CIRCUIT_TOKENS:
            break
    return list(seen)


@torch.no_grad()
def circuit_view(
    model: InterpretableTransformer, layer: int, head: int, input_ids: Any
) -> dict[str, Any]:
    """Leading singular values of QK and OV (rank ≤ d_head) and token-level slices for the tokens of the input.

    - ``qk_tokens[i, j]`` = W_E[t_i] · QK · W_E[t_j]ᵀ / √d_head: the attention score query token
      t_i would give key token t_j through the embeddings alone (no positions, no earlier layers).
    - ``ov_tokens[i, j]`` = W_U[t_i] · OV · W_E[t_j]: how much attending to token t_j raises the
      logit of token t_i through this head alone.
    """
    qk = model.get_qk_circuit(layer, head)
    ov = model.get_ov_circuit(layer, head)
    tokens = _token_list(input_ids)
    idx = torch.tensor(tokens, dtype=torch.long, device=model.W_E.device)
    emb = model.W_E[idx]  # [t, d_model]
    unemb = model.W_U[idx]
    d_head = model.config.d_head
    shown = min(model.config.n_embd, 2 * d_head)  # enough to see the drop to 0 after d_head
    return {
        "tokens": tokens,
        "qk_singular_values": torch.linalg.svdvals(qk)[:shown].double().cpu().numpy(),
        "ov_singular_values": torch.linalg.svdvals(ov)[:shown].double().cpu().numpy(),
        "qk_tokens": (emb @ qk @ emb.T / d_head**0.5).double().cpu().numpy(),
        "ov_tokens": (unemb @ ov @ emb.T).double().cpu().numpy(),
        "rank_cap": d_head,
    }


@torch.no_grad()
def qk_score_terms(
    model: InterpretableTransformer, trace: Trace, layer: int, head: int
) -> dict[str, Any]:
    """A head's attention scores split by what the query and the key are made of.

    The layer's input is x_l = token part + position part (+ what earlier layers wrote, for
    l > 0), and the score is bilinear: x_i · QK · x_jᵀ / √d_head. So it splits exactly into one
    term per (query part, key part): "token·token", "token·position", "position·token",
    "position·position" (and, for l > 0, the terms with "earlier layers"). Over the causal
    entries (key ≤ query): ``shares`` (each term's Σ|term| over all terms' Σ|term|),
    ``magnitudes`` (mean |term|), ``terms`` (name → ``[query, key]``, NaN above the diagonal)
    and ``sum_error`` (max |Σ terms − actual scores|).
    """
    qk = model.get_qk_circuit(layer, head).double().cpu().numpy()
    scale = 1.0 / np.sqrt(model.config.d_head)
    parts = {"token": trace.token_part, "position": trace.position_part}
    x_l = trace.streams[layer]
    if layer > 0:
        parts["earlier layers"] = x_l - trace.token_part - trace.position_part
    seq = x_l.shape[0]
    causal = np.tril(np.ones((seq, seq), dtype=bool))
    terms: dict[str, np.ndarray] = {}
    for qn, qp in parts.items():
        for kn, kp in parts.items():
            terms[f"{qn}·{kn}"] = qp @ qk @ kp.T * scale
    actual = x_l @ qk @ x_l.T * scale
    total = sum(terms.values())
    weight = {k: float(np.abs(t[causal]).sum()) for k, t in terms.items()}
    denom = sum(weight.values())
    return {
        "shares": {k: (w / denom if denom > 0 else 0.0) for k, w in weight.items()},
        "magnitudes": {k: float(np.abs(t[causal]).mean()) for k, t in terms.items()},
        "terms": {k: np.where(causal, t, np.nan) for k, t in terms.items()},
        "sum_error": float(np.abs((total - actual)[causal]).max()),
    }
