"""Where a head looks by position alone: the position·position term of its QK circuit.

For layer 0 the head reads x0 = W_E[t] + W_pos[i], so its score splits into token·token,
token·position, position·token and position·position terms (see
:func:`core.circuits.qk_score_terms`). The last one, W_pos[i] · QK · W_pos[j]ᵀ / √d_head, does
not depend on the text: it is the head's built-in positional preference. A previous-token head
in layer 0 puts its largest positional score at key i − 1.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from core.validators import ValidationError

__all__ = ["positional_pattern"]


@torch.no_grad()
def positional_pattern(model, layer: int, head: int, n: int) -> dict[str, Any]:
    """The positional attention of one head over the first ``n`` positions.

    - ``scores`` ``[n, n]`` float64: W_pos[:n] · QK · W_pos[:n]ᵀ / √d_head, NaN above the
      diagonal (keys after the query are masked);
    - ``pattern`` ``[n, n]``: its causal softmax over keys 0 … i (0 above the diagonal): the
      pattern the head would have if tokens contributed nothing;
    - ``previous_share``: fraction of queries i ≥ 1 whose highest-scoring key is i − 1;
    - ``previous_attention``: mean over i ≥ 1 of ``pattern[i, i − 1]``;
    - ``uniform_previous``: the baseline of both for a head without positional preference (a
      random argmax over 0 … i, or uniform attention): mean over i ≥ 1 of 1 / (i + 1).

    Meaningful for layer 0, whose input is x0. For a later layer it is still computed, but it is
    only the position·position term of the first part of that layer's input (x_l also holds
    what earlier heads wrote, which this ignores).
    """
    w = model.head_weights(layer, head)  # validates layer and head
    w_qk = w["W_Q"].detach().double().T @ w["W_K"].detach().double()  # QK in float64
    limit = model.config.n_positions
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= limit:
        raise ValidationError(f"n must be a whole number from 1 to {limit}; got {n!r}.")
    pos = model.W_pos[:n].detach().double()
    scores = (pos @ w_qk @ pos.T / np.sqrt(model.config.d_head)).cpu().numpy()  # [query, key]
    future = np.triu(np.ones((n, n), dtype=bool), k=1)
    masked = np.where(future, -np.inf, scores)
    pattern = np.exp(masked - masked.max(axis=1, keepdims=True))
    pattern /= pattern.sum(axis=1, keepdims=True)
    if n >= 2:
        rows = np.arange(1, n)
        previous_share = float(np.mean(masked[1:].argmax(axis=1) == rows - 1))
        previous_attention = float(np.mean(pattern[rows, rows - 1]))
        uniform = float(np.mean(1.0 / (rows + 1.0)))
    else:
        previous_share = previous_attention = uniform = 0.0
    return {
        "scores": np.where(future, np.nan, scores),
        "pattern": pattern,
        "previous_share": previous_share,
        "previous_attention": previous_attention,
        "uniform_previous": uniform,
        "layer": layer,
        "head": head,
    }
