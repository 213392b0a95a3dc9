"""What the Architecture page shows about the lesson's model, as plain data.

Everything that does not need the model's weights is read from the :class:`~core.trace.Trace`
(the one analysis path shared with GPT-2); what does (each head's own output, rebuilt from its
attention pattern and its OV weights; the heads-in-sequence comparison) is computed here. Pages
call these through cached loaders and only slice the numpy arrays they return.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import torch

from core.model import InterpretableTransformer, forward_heads_in_sequence
from core.trace import (
    Trace,
    attention_entropy,
    component_sum_error,
    previous_token_scores,
    stream_norms,
    uniform_entropy,
    uniform_previous_token,
)

__all__ = ["architecture_report", "sequential_comparison", "head_outputs"]


@torch.no_grad()
def head_outputs(model: InterpretableTransformer, trace: Trace) -> np.ndarray:
    """``[layer, head, seq, d_model]``: what each head writes, rebuilt in float64 from the trace's
    attention pattern A and stream x_l and the head's weights: A · (x_l W_Vᵀ) · W_Oᵀ."""
    out = []
    for l, layer in enumerate(model.layers):
        x = trace.streams[l]  # [seq, d_model]
        w_v = layer.W_V.detach().double().cpu().numpy()  # [head, d_head, d_model]
        w_o = layer.W_O.detach().double().cpu().numpy()  # [head, d_model, d_head]
        v = np.einsum("sd,hkd->hsk", x, w_v)  # [head, seq, d_head]
        z = trace.attention[l] @ v  # [head, seq, d_head]
        out.append(np.einsum("hsk,hdk->hsd", z, w_o))
    return np.stack(out)


def _share_of_final(part: np.ndarray, final: np.ndarray) -> float:
    """(part · final) / ‖final‖²: how much of the final stream, measured along itself, this part
    supplies. Measured against the sum of the parts, the shares add up to exactly 1; a negative
    share writes against the final direction."""
    denom = float(np.sum(final * final))
    return float(np.sum(part * final) / denom) if denom > 0 else 0.0


@torch.no_grad()
def architecture_report(model: InterpretableTransformer, trace: Trace) -> dict[str, Any]:
    """The Architecture page's numbers for one trace of ``model``.

    Keys: ``input_ids`` [seq]; ``stream_norms`` [layer + 1, seq]; ``attention`` [layer, head,
    query, key]; ``entropy`` [layer, head] and ``uniform_entropy``; ``previous_token`` [layer,
    head] and ``uniform_previous_token``; ``direct_norms`` [seq], ``layer_norms`` [layer, seq],
    ``head_norms`` [layer, head, seq], ``final_norms`` [seq]; ``direct_share``,
    ``layer_shares`` [layer], ``head_shares`` [layer, head] (each part's share of the final
    stream along itself; all parts sum to 1); ``reconstruction_error`` (max |x0 + Σ every head's
    own output − final stream|), ``component_error`` (the same with per-layer sums) and
    ``logit_reconstruction_error`` (max |(x0 + Σ heads) · W_Uᵀ − the model's own logits|);
    ``top_ids``/``top_probs`` at the last position.
    """
    heads = head_outputs(model, trace)  # [layer, head, seq, d_model]
    final = trace.streams[-1]
    direct = trace.components[0]
    rebuilt = direct + heads.sum(axis=(0, 1))
    heads_share = np.array([[_share_of_final(h, rebuilt) for h in layer] for layer in heads])
    w_u = model.W_U.detach().double().cpu().numpy()
    own_logits = model(torch.as_tensor(trace.token_ids)[None])["logits"][0].double().numpy()
    return {
        "input_ids": trace.token_ids,
        "stream_norms": stream_norms(trace),
        "attention": trace.attention,
        "entropy": attention_entropy(trace),
        "uniform_entropy": uniform_entropy(trace.seq_len),
        "previous_token": previous_token_scores(trace),
        "uniform_previous_token": uniform_previous_token(trace.seq_len),
        "direct_norms": np.linalg.norm(direct, axis=-1),
        "layer_norms": np.linalg.norm(trace.components[1:], axis=-1),
        "head_norms": np.linalg.norm(heads, axis=-1),
        "final_norms": np.linalg.norm(final, axis=-1),
        # Shares along the sum of the parts (= the final stream up to float32 rounding).
        "direct_share": _share_of_final(direct, rebuilt),
        "layer_shares": heads_share.sum(axis=1),
        "head_shares": heads_share,
        "reconstruction_error": float(np.abs(rebuilt - final).max()),
        "component_error": component_sum_error(trace),
        "logit_reconstruction_error": float(np.abs(rebuilt @ w_u.T - own_logits).max()),
        "top_ids": trace.top_ids[-1],
        "top_probs": trace.top_probs[-1],
    }


@torch.no_grad()
def sequential_comparison(
    model: InterpretableTransformer, input_ids: Any, swap: tuple[int, int] = (0, 1)
) -> dict[str, Any]:
    """The seed's heads-in-sequence layer against the real (parallel) layer, on the same weights.

    - ``identity_error`` (and relative to the stream's size): max |x0 + Σ head outputs − final|
      for the sequential version: the sum identity still holds, since every write is added;
    - ``output_difference``: ‖final_sequential − final_parallel‖ / ‖final_parallel‖: a
      different function;
    - ``order_effect_sequential``: the same for the sequential model with heads ``swap[0]`` and
      ``swap[1]`` run in the other order (the result depends on head order), and
      ``order_effect_parallel`` for the real model with those heads' weights swapped (0 up to
      rounding: summing is order-free);
    - the three final-stream norms.
    Needs at least two heads for the swap (else the order effects are 0 by definition).
    """
    cfg = model.config
    parallel = model.analyze(input_ids)["analysis"]["residual_streams"][-1].double()
    seq = forward_heads_in_sequence(model, input_ids)
    seq_final = seq["final_stream"].double()
    rebuilt = seq["embeddings"].double() + sum(o.double() for o in seq["head_outputs"])
    order = list(range(cfg.n_head))
    if cfg.n_head >= 2:
        a, b = swap
        order[a], order[b] = order[b], order[a]
    swapped = forward_heads_in_sequence(model, input_ids, head_order=order)["final_stream"]
    # The real layer with two heads' weights exchanged: a permuted copy of the same model.
    perm = torch.tensor(order)
    permuted = copy.deepcopy(model)  # a private copy: the shared model is never touched
    for layer in permuted.layers:
        for name in ("W_Q", "W_K", "W_V", "W_O"):
            getattr(layer, name).copy_(getattr(layer, name)[perm])
    permuted_final = permuted.analyze(input_ids)["analysis"]["residual_streams"][-1].double()

    def rel(x: torch.Tensor, ref: torch.Tensor) -> float:
        n = float(torch.linalg.vector_norm(ref))
        return float(torch.linalg.vector_norm(x)) / n if n > 0 else 0.0

    ident = float((rebuilt - seq_final).abs().max())
    return {
        "identity_error": ident,
        "identity_error_relative": ident / max(float(seq_final.abs().max()), 1e-300),
        "output_difference": rel(seq_final - parallel, parallel),
        "order_effect_sequential": rel(swapped.double() - seq_final, seq_final),
        "order_effect_parallel": rel(permuted_final - parallel, parallel),
        "parallel_norm": float(torch.linalg.vector_norm(parallel)),
        "sequential_norm": float(torch.linalg.vector_norm(seq_final)),
        "swap": tuple(swap) if cfg.n_head >= 2 else None,
    }
