"""How strongly a later head reads what an earlier head writes: Q-, K- and V-composition.

Elhage et al. (2021). An earlier head A writes OV_A x (column vectors; OV = W_O W_V). A later
head B reads the stream three ways: its queries (scores x_qᵀ QK_B x_k, so A feeds the query side
through QK_Bᵀ OV_A), its keys (through QK_B OV_A) and its values (through OV_B OV_A). Each score
is the Frobenius norm of the composed matrix over the product of the two norms:

    Q = ‖QK_Bᵀ OV_A‖_F / (‖QK_B‖_F ‖OV_A‖_F)
    K = ‖QK_B  OV_A‖_F / (‖QK_B‖_F ‖OV_A‖_F)
    V = ‖OV_B  OV_A‖_F / (‖OV_B‖_F ‖OV_A‖_F)

It is scale-free, 0 when A writes only into a subspace B ignores, and never more than 1. Random
low-rank matrices already score well above 0, so the scores come with that baseline: an
induction head's K-composition with a previous-token head stands far above it.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np
import torch

from core.validators import ValidationError

__all__ = ["composition_score", "composition_scores", "random_baseline"]

#: Random head pairs averaged for the baseline, and its seed.
BASELINE_SAMPLES = 50
BASELINE_SEED = 0


def composition_score(reader: np.ndarray, writer_ov: np.ndarray) -> float:
    """‖reader · writer_ov‖_F / (‖reader‖_F ‖writer_ov‖_F) for two ``[d_model, d_model]``
    matrices (0 if either is zero). Pass QK_Bᵀ, QK_B or OV_B as ``reader``."""
    denom = np.linalg.norm(reader) * np.linalg.norm(writer_ov)
    return float(np.linalg.norm(reader @ writer_ov) / denom) if denom > 0 else 0.0


def _circuits(model, layer: int) -> tuple[np.ndarray, np.ndarray]:
    """QK and OV of every head of a layer as float64 ``[head, d_model, d_model]``."""
    blk = model.layers[layer]
    w_q, w_k, w_v, w_o = (
        w.detach().double().cpu().numpy() for w in (blk.W_Q, blk.W_K, blk.W_V, blk.W_O)
    )
    qk = np.einsum("hkd,hke->hde", w_q, w_k)  # W_Qᵀ W_K
    ov = np.einsum("hdk,hke->hde", w_o, w_v)  # W_O W_V
    return qk, ov


def _scores(qk_b: np.ndarray, ov_b: np.ndarray, ov_a: np.ndarray) -> tuple[float, float, float]:
    return (
        composition_score(qk_b.T, ov_a),
        composition_score(qk_b, ov_a),
        composition_score(ov_b, ov_a),
    )


@lru_cache(maxsize=16)
def random_baseline(
    d_model: int, d_head: int, samples: int = BASELINE_SAMPLES, seed: int = BASELINE_SEED
) -> dict[str, float]:
    """Mean Q, K and V scores of random heads: W_Q, W_K, W_V ``[d_head, d_model]`` and W_O
    ``[d_model, d_head]`` with iid standard normal entries (the scores are scale-free), one
    fresh pair of heads (A, B) per sample, float64. Reproducible: same arguments, same numbers.
    Keys q, k, v (means) and q_std, k_std, v_std."""
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(samples):
        w_q, w_k, w_v, w_va = (rng.standard_normal((d_head, d_model)) for _ in range(4))
        w_o, w_oa = (rng.standard_normal((d_model, d_head)) for _ in range(2))
        rows.append(_scores(w_q.T @ w_k, w_o @ w_v, w_oa @ w_va))
    arr = np.array(rows)
    mean, std = arr.mean(axis=0), arr.std(axis=0)
    return {
        "q": float(mean[0]),
        "k": float(mean[1]),
        "v": float(mean[2]),
        "q_std": float(std[0]),
        "k_std": float(std[1]),
        "v_std": float(std[2]),
    }


@torch.no_grad()
def composition_scores(model, earlier_layer: int = 0) -> dict[str, Any]:
    """Q-, K- and V-composition of every head A of ``earlier_layer`` with every head B of each
    later layer.

    Returns ``q``, ``k``, ``v`` float64 ``[n_head (A), len(later_layers), n_head (B)]``,
    ``later_layers`` (the layer indices of the middle axis), ``earlier_layer`` and ``baseline``
    (:func:`random_baseline` for this model's d_model and d_head: q, k, v means and their
    standard deviations). A model whose earlier layer is its last has no later layers: the
    arrays then have a middle axis of length 0.
    """
    cfg = model.config
    if (
        isinstance(earlier_layer, bool)
        or not isinstance(earlier_layer, int)
        or not 0 <= earlier_layer < cfg.n_layer
    ):
        raise ValidationError(
            f"earlier_layer must be a whole number from 0 to {cfg.n_layer - 1}; got "
            f"{earlier_layer!r}."
        )
    later = list(range(earlier_layer + 1, cfg.n_layer))
    _, ov_a = _circuits(model, earlier_layer)
    out = {name: np.zeros((cfg.n_head, len(later), cfg.n_head)) for name in ("q", "k", "v")}
    for j, lb in enumerate(later):
        qk_b, ov_b = _circuits(model, lb)
        for a in range(cfg.n_head):
            for b in range(cfg.n_head):
                q, k, v = _scores(qk_b[b], ov_b[b], ov_a[a])
                out["q"][a, j, b], out["k"][a, j, b], out["v"][a, j, b] = q, k, v
    return {
        **out,
        "later_layers": later,
        "earlier_layer": earlier_layer,
        "baseline": dict(random_baseline(cfg.n_embd, cfg.d_head)),
    }
