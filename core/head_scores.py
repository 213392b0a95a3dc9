"""Scores that name a head's job from its attention pattern: previous-token and induction.

Attention is ``[layer, head, query, key]`` (rows sum to 1, zero above the diagonal), the
layout of :attr:`core.trace.Trace.attention`. Every score here has a *uniform baseline*: the
same score for a head that spreads its attention evenly over the causal prefix, so a chart can
mark "nothing here".
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from core.validators import ValidationError

__all__ = [
    "previous_token_scores",
    "induction_targets",
    "induction_scores",
    "uniform_induction",
]


def _attention(attention: Any) -> np.ndarray:
    a = np.asarray(attention, dtype=np.float64)
    if a.ndim != 4 or a.shape[-1] != a.shape[-2]:
        raise ValidationError(
            f"attention must be [layer, head, query, key] with as many keys as queries; got "
            f"shape {a.shape}."
        )
    return a


def _ids(token_ids: Any) -> list[int]:
    arr = np.asarray(token_ids)
    if arr.ndim == 2 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.ndim != 1:
        raise ValidationError(f"token_ids must be one sequence [seq]; got shape {arr.shape}.")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise ValidationError(f"token_ids must be whole numbers; got dtype {arr.dtype}.")
    return [int(t) for t in arr]


def previous_token_scores(attention: np.ndarray) -> np.ndarray:
    """``[layer, head]``: mean over queries i = 1 … q − 1 of ``attention[l, h, i, i − 1]``.

    ``attention`` is ``[layer, head, query, key]``. Zeros when there are fewer than 2 positions
    (no query has a previous token). Near 1 marks a previous-token head; uniform causal
    attention scores mean over i ≥ 1 of 1 / (i + 1) (:func:`core.trace.uniform_previous_token`).
    """
    a = _attention(attention)
    if a.shape[-1] < 2:
        return np.zeros(a.shape[:2])
    return np.diagonal(a, offset=-1, axis1=-2, axis2=-1).mean(axis=-1)


def induction_targets(token_ids: Sequence[int]) -> list[tuple[int, list[int]]]:
    """Where an induction head should look: ``[(query i, [key positions]), ...]``.

    For each query position i whose token occurred earlier at some j with j + 1 < i, the keys
    are j + 1 for *every* such earlier occurrence j ("the token that came after this token last
    time"), in increasing order. Queries with no such occurrence are not listed. (j + 1 = i, the
    token just before a repeat of itself, is excluded: attending there is previous-token
    behaviour, not induction.)
    """
    ids = _ids(token_ids)
    seen: dict[int, list[int]] = {}  # token → positions so far
    out: list[tuple[int, list[int]]] = []
    for i, t in enumerate(ids):
        keys = [j + 1 for j in seen.get(t, ()) if j + 1 < i]
        if keys:
            out.append((i, keys))
        seen.setdefault(t, []).append(i)
    return out


def induction_scores(attention: np.ndarray, token_ids: Sequence[int]) -> np.ndarray | None:
    """``[layer, head]``: mean over the queries of :func:`induction_targets` of the attention
    summed over their target keys; ``None`` when no query has a target (no token repeats,
    or a token repeats only right after itself).

    ``attention`` is ``[layer, head, query, key]`` for the sequence ``token_ids`` ``[seq]``. On
    n random tokens repeated twice (no repeats within a half) it is the mean attention from
    position n + j to j + 1 over j = 0 … n − 1 (the last query is scored too; the training
    script's quick metric stops at j = n − 2). Compare with :func:`uniform_induction`.
    """
    a = _attention(attention)
    targets = induction_targets(token_ids)
    if a.shape[-1] != len(_ids(token_ids)):
        raise ValidationError(
            f"attention covers {a.shape[-1]} positions but token_ids has {len(_ids(token_ids))}."
        )
    if not targets:
        return None
    per_query = [a[:, :, i, keys].sum(axis=-1) for i, keys in targets]  # each [layer, head]
    return np.mean(per_query, axis=0)


def uniform_induction(token_ids: Sequence[int]) -> float | None:
    """The induction score of uniform causal attention (query i spreads 1 / (i + 1) over keys
    0 … i): mean over the scored queries of |targets| / (i + 1). ``None`` when no token repeats.
    The baseline to draw under :func:`induction_scores`."""
    targets = induction_targets(token_ids)
    if not targets:
        return None
    return float(np.mean([len(keys) / (i + 1) for i, keys in targets]))
