"""Attention statistics shared by every page (interpretable model and production model)."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from core.validators import ValidationError, validate_tensor

__all__ = ["attention_row_entropy", "per_head_entropy", "layer_head_entropy"]


def attention_row_entropy(weights: torch.Tensor) -> torch.Tensor:
    """Entropy (nats) of each query's attention distribution: ``[..., query, key]`` → ``[..., query]``.

    ``0 · log 0`` is taken as 0 (masked future keys), so a one-hot row has entropy 0 and a row
    uniform over n keys has entropy ln n.
    """
    validate_tensor(weights, "attention weights", ndim=(2, 3, 4))
    w = weights.double()
    return -torch.special.xlogy(w, w).sum(dim=-1)


def per_head_entropy(weights: torch.Tensor) -> torch.Tensor:
    """Mean entropy of each head: ``[batch, head, query, key]`` → ``[head]``.

    The entropy is taken per query row and then averaged over batch and query positions: the
    mean of per-row entropies, not the entropy of an averaged pattern.
    """
    validate_tensor(weights, "attention weights", ndim=4)
    return attention_row_entropy(weights).mean(dim=(0, 2))


def layer_head_entropy(weights_per_layer: Sequence[torch.Tensor]) -> torch.Tensor:
    """Stack :func:`per_head_entropy` over layers → ``[layer, head]`` (float64)."""
    if len(weights_per_layer) == 0:
        raise ValidationError("Need the attention weights of at least one layer.")
    return torch.stack([per_head_entropy(w) for w in weights_per_layer])
