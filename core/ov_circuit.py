"""A head's full OV circuit over tokens: W_U · OV · W_Eᵀ ``[vocab_out, vocab_in]``.

Column s is the direct effect on every logit of the head attending to (a position holding) source
token s, through this head alone and with the embedding only (no positions, no earlier
layers): with column vectors the head writes OV · W_E[s], which the unembedding reads as
W_U · OV · W_E[s]. A *copying* head raises the logit of the token it attends to: its full
circuit has a large positive diagonal, and its eigenvalues are mostly positive (Elhage et al.
2021). The vocab × vocab matrix is never built on a real model: its nonzero eigenvalues are
those of the small ``[d_model, d_model]`` matrix OV · W_Eᵀ · W_U (eig(AB) = eig(BA) apart from
zeros), and columns are computed only for the tokens asked about.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from core.direct_path import check_token_id
from core.validators import ValidationError

__all__ = ["ov_eigenvalues", "copying_scores", "ov_top", "SELF_TOP1_SAMPLE", "SELF_TOP1_SEED"]

#: Source tokens sampled for ``self_top1`` (all of them when the vocabulary is this small).
SELF_TOP1_SAMPLE = 512
SELF_TOP1_SEED = 0


def _d(t: torch.Tensor) -> torch.Tensor:
    return t.detach().to(torch.float64).cpu()


def _ov(model, layer: int, head: int) -> torch.Tensor:
    """OV = W_O W_V ``[d_model, d_model]`` multiplied in float64 (validates layer and head), so
    its rank is exactly ≤ d_head up to float64 rounding."""
    w = model.head_weights(layer, head)
    return _d(w["W_O"]) @ _d(w["W_V"])


@torch.no_grad()
def ov_eigenvalues(model, layer: int, head: int) -> np.ndarray:
    """Complex ``[d_model]``: the eigenvalues of the full OV circuit W_U · OV · W_Eᵀ that can be
    nonzero, computed as eig(OV · W_Eᵀ · W_U) ``[d_model, d_model]`` (float64), sorted by
    decreasing magnitude. OV has rank ≤ d_head, so at most d_head of them are nonzero; the rest
    are ~0 up to rounding."""
    ov = _ov(model, layer, head)  # validates layer and head
    small = ov @ _d(model.W_E).T @ _d(model.W_U)  # [d_model, d_model]
    eig = np.linalg.eigvals(small.numpy())
    return eig[np.argsort(-np.abs(eig), kind="stable")]


@torch.no_grad()
def copying_scores(model) -> dict[str, Any]:
    """Per head, how much its full OV circuit copies the attended token to the output.

    - ``eigen_score`` ``[layer, head]``: Σ Re λ / Σ |λ| over the eigenvalues λ of the full OV
      circuit, in [−1, 1] (Elhage et al.'s copying score): 1 for a circuit with only positive
      eigenvalues, −1 for only negative ones, ~0 for random weights;
    - ``positive_share`` ``[layer, head]``: fraction of the d_head largest-magnitude eigenvalues
      (the ones that can be nonzero) with Re λ > 0;
    - ``self_top1`` ``[layer, head]``: fraction of a fixed sample of source tokens s
      (``SELF_TOP1_SAMPLE`` ids drawn with ``SELF_TOP1_SEED``; every id for a small vocabulary)
      for which s itself is the highest entry of column s, and ``self_top1_chance`` = 1 / vocab;
    - ``sample_ids``: the sampled source tokens.
    """
    cfg = model.config
    vocab, d_head = cfg.vocab_size, cfg.d_head
    if vocab <= SELF_TOP1_SAMPLE:
        sample = np.arange(vocab)
    else:
        rng = np.random.default_rng(SELF_TOP1_SEED)
        sample = np.sort(rng.choice(vocab, SELF_TOP1_SAMPLE, replace=False))
    w_e = _d(model.W_E)
    w_u = _d(model.W_U)
    w_e_sample = w_e[torch.from_numpy(sample)]  # [n, d_model]
    shape = (cfg.n_layer, cfg.n_head)
    eigen, positive, self_top1 = np.zeros(shape), np.zeros(shape), np.zeros(shape)
    for l in range(cfg.n_layer):
        for h in range(cfg.n_head):
            lam = ov_eigenvalues(model, l, h)
            total = np.abs(lam).sum()
            eigen[l, h] = lam.real.sum() / total if total > 0 else 0.0
            positive[l, h] = np.mean(lam[:d_head].real > 0)
            ov = _ov(model, l, h)
            columns = w_u @ (ov @ w_e_sample.T)  # [vocab_out, n]: column j = source sample[j]
            self_top1[l, h] = np.mean(columns.argmax(dim=0).numpy() == sample)
    return {
        "eigen_score": eigen,
        "positive_share": positive,
        "self_top1": self_top1,
        "self_top1_chance": 1.0 / vocab,
        "sample_ids": sample,
    }


@torch.no_grad()
def ov_top(model, layer: int, head: int, token_id: int, k: int = 10) -> list[dict[str, Any]]:
    """The k output tokens whose logits rise most when the head attends to ``token_id``:
    column ``token_id`` of W_U · OV · W_Eᵀ, as ``[{"id", "logit"}]`` highest first."""
    ov = _ov(model, layer, head)
    token_id = check_token_id(model, token_id)
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValidationError(f"k must be a positive whole number; got {k!r}.")
    column = _d(model.W_U) @ (ov @ _d(model.W_E)[token_id])  # [vocab]
    values, ids = torch.topk(column, min(k, column.numel()))
    return [{"id": int(i), "logit": float(v)} for i, v in zip(ids, values)]
