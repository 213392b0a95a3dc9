"""One forward pass, of either model, as plain data: the single thing every analysis reads.

A :class:`Trace` is built once per (model, input) from the lesson's interpretable model
(:func:`trace_interpretable`) or from a GPT-2-family model (``core.production.trace_gpt2``).
It holds numpy arrays only (batch element 0) and no reference to the model, so a cache of
traces never keeps a model alive, and it can be shared by every session without copying.

Shapes (paper names): ``streams [n_layer + 1, seq, d_model]`` (x0 … x_L; for GPT-2 the last is
the stream *before* the final LayerNorm), ``attention [n_layer, n_head, query, key]``,
``components``: named ``[seq, d_model]`` parts whose sum is ``streams[-1]`` (the embeddings,
then one term per layer for the lesson's model; embeddings, then attention and MLP of each block
for GPT-2).

The analyses below (entropy, previous-token scores, stream statistics, information types, top
predictions) read only traces, so the Architecture, Residual stream and Production pages compute
each of them in one place.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from core.analyzers import ResidualStreamAnalyzer
from core.metrics import layer_head_entropy

__all__ = [
    "Trace",
    "trace_interpretable",
    "attention_entropy",
    "previous_token_scores",
    "uniform_entropy",
    "uniform_previous_token",
    "strongest_head",
    "stream_norms",
    "component_sum_error",
    "information_coefficients",
    "stream_statistics",
    "stream_profile",
    "top_predictions",
    "TOP_K",
]

#: How many next-token candidates a trace keeps per position.
TOP_K = 5

_ANALYZER = ResidualStreamAnalyzer()


@dataclass(frozen=True, eq=False)
class Trace:
    """What one forward pass computed (batch element 0), as float64 numpy arrays.

    - ``model_kind``: "interpretable" or "gpt2"; ``model_name`` for messages;
    - ``token_ids`` ``[seq]``; ``token_texts``: the tokens as text where a tokenizer exists;
    - ``token_part``, ``position_part`` ``[seq, d_model]``: x0 = token_part + position_part;
    - ``streams`` ``[n_layer + 1, seq, d_model]``: x0 … x_L (GPT-2: before the final LayerNorm);
    - ``attention`` ``[n_layer, n_head, query, key]``: every head's pattern (rows sum to 1);
    - ``component_names`` and ``components`` ``[n_components, seq, d_model]``: the parts whose
      sum is ``streams[-1]``, in model order;
    - ``top_ids``, ``top_probs`` ``[seq, TOP_K]``: the most likely next tokens at each position;
    - ``extras``: model-specific plain data (e.g. GPT-2's direct logit attribution).
    """

    model_kind: str
    model_name: str
    token_ids: np.ndarray
    token_part: np.ndarray
    position_part: np.ndarray
    streams: np.ndarray
    attention: np.ndarray
    component_names: tuple[str, ...]
    components: np.ndarray
    top_ids: np.ndarray
    top_probs: np.ndarray
    token_texts: tuple[str, ...] | None = None
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def n_layer(self) -> int:
        return self.attention.shape[0]

    @property
    def n_head(self) -> int:
        return self.attention.shape[1]

    @property
    def seq_len(self) -> int:
        return int(self.token_ids.shape[0])

    @property
    def d_model(self) -> int:
        return self.streams.shape[-1]

    def nbytes(self) -> int:
        """Bytes of array data held (for memory accounting)."""
        arrays = [
            self.token_ids,
            self.token_part,
            self.position_part,
            self.streams,
            self.attention,
            self.components,
            self.top_ids,
            self.top_probs,
        ]
        return sum(a.nbytes for a in arrays)


def _np(x: torch.Tensor) -> np.ndarray:
    return x.detach().to(torch.float64).cpu().numpy().copy()


def top_k_from_logits(logits: torch.Tensor, k: int = TOP_K) -> tuple[np.ndarray, np.ndarray]:
    """``logits [seq, vocab]`` → (ids, probabilities) ``[seq, k]`` of the most likely tokens."""
    probs = torch.softmax(logits.detach().double(), dim=-1)
    top_p, top_i = probs.topk(min(k, probs.shape[-1]), dim=-1)
    return top_i.cpu().numpy(), top_p.cpu().numpy()


@torch.no_grad()
def trace_interpretable(model, input_ids: Any, name: str = "interpretable model") -> Trace:
    """Trace of the lesson's attention-only model (``core.model.InterpretableTransformer``)."""
    result = model.analyze(input_ids)
    analysis = result["analysis"]
    decomp = analysis["path_decomposition"]
    layers = analysis["layer_analyses"]
    parts = [decomp["direct_path"][0]] + [c[0] for c in decomp["layer_contributions"]]
    ids, probs = top_k_from_logits(result["logits"][0])
    return Trace(
        model_kind="interpretable",
        model_name=name,
        token_ids=analysis["input_ids"][0].cpu().numpy().copy(),
        token_part=_np(decomp["token_embedding"][0]),
        position_part=_np(decomp["positional_embedding"]),
        streams=np.stack([_np(s[0]) for s in analysis["residual_streams"]]),
        attention=np.stack([_np(la["attention_weights"][0]) for la in layers]),
        component_names=("embeddings",) + tuple(f"layer {l}" for l in range(len(layers))),
        components=np.stack([_np(p) for p in parts]),
        top_ids=ids,
        top_probs=probs,
    )


# -- attention ---------------------------------------------------------------------------------
def attention_entropy(trace: Trace) -> np.ndarray:
    """``[n_layer, n_head]``: per head, the entropy (nats) of each query's row, averaged over
    queries (the mean of per-head entropies, never the entropy of a head-averaged pattern)."""
    weights = [torch.from_numpy(a[None]) for a in trace.attention]
    return layer_head_entropy(weights).numpy()


def uniform_entropy(seq_len: int) -> float:
    """A head's mean entropy under uniform causal attention: mean over i of ln(i + 1)."""
    return float(np.mean(np.log(np.arange(1, seq_len + 1)))) if seq_len > 0 else 0.0


def previous_token_scores(trace: Trace) -> np.ndarray:
    """``[n_layer, n_head]``: mean attention from position i to i − 1, over i = 1 … seq − 1
    (0 for a one-token input). Near 1 marks a previous-token head."""
    from core.head_scores import previous_token_scores as _scores  # one definition

    return _scores(trace.attention)


def strongest_head(scores: np.ndarray) -> tuple[int, int, float]:
    """(layer, head, score) of the highest entry of a ``[layer, head]`` score table."""
    layer, head = np.unravel_index(int(np.argmax(scores)), scores.shape)
    return int(layer), int(head), float(scores[layer, head])


def uniform_previous_token(seq_len: int) -> float:
    """The previous-token score of uniform causal attention: mean over i ≥ 1 of 1 / (i + 1)."""
    if seq_len < 2:
        return 0.0
    return float(np.mean(1.0 / (np.arange(1, seq_len) + 1.0)))


# -- the stream ---------------------------------------------------------------------------------
def stream_norms(trace: Trace) -> np.ndarray:
    """``[n_layer + 1, seq]``: ‖x_l‖ at every position."""
    return np.linalg.norm(trace.streams, axis=-1)


def component_sum_error(trace: Trace) -> float:
    """max |Σ components − final stream|: the exact decomposition, checked numerically."""
    return float(np.abs(trace.components.sum(axis=0) - trace.streams[-1]).max())


def information_coefficients(trace: Trace) -> dict[str, list[float]]:
    """Least-squares coefficients of each stream x_l on [token part, position part] of x0.

    Solves min over (a, b) of ‖x_l − a·token_part − b·position_part‖² (all positions
    flattened). At x0 both are exactly 1 (each part fully present). Unlike a cosine, a
    coefficient does not shrink when a part is fully present but small next to the rest.
    ``r_squared`` is the share of ‖x_l‖² explained by the two parts together. Where the two parts
    are linearly dependent (e.g. a zero part) the minimum-norm solution is reported.
    ``token_cosine`` / ``position_cosine``: the cosine of x_l with each part, for contrast (it
    is small at x0 for a part that is fully present but small next to the other);
    ``token_norm`` / ``position_norm``: the two parts' sizes.
    """
    design = np.stack([trace.token_part.ravel(), trace.position_part.ravel()], axis=1)
    norms = np.linalg.norm(design, axis=0)
    tok, pos, r2, cos_t, cos_p = [], [], [], [], []
    for x in trace.streams:
        target = x.ravel()
        coef, *_ = np.linalg.lstsq(design, target, rcond=None)
        fitted = design @ coef
        total = float(target @ target)
        tok.append(float(coef[0]))
        pos.append(float(coef[1]))
        r2.append(float(fitted @ fitted / total) if total > 0 else 1.0)
        size = np.sqrt(total)
        cos_t.append(float(design[:, 0] @ target / (norms[0] * size)) if norms[0] * size else 0.0)
        cos_p.append(float(design[:, 1] @ target / (norms[1] * size)) if norms[1] * size else 0.0)
    return {
        "token_coefficient": tok,
        "position_coefficient": pos,
        "r_squared": r2,
        "token_cosine": cos_t,
        "position_cosine": cos_p,
        "token_norm": float(norms[0]),
        "position_norm": float(norms[1]),
    }


def stream_statistics(trace: Trace) -> dict[str, Any]:
    """The Residual stream page's statistics, for either model.

    Keys: ``layers`` (per layer: preservation_ratio, addition_magnitude, total_change);
    ``stream_norms`` ``[L + 1, seq]``; ``persistence`` (similarities to x0, changes, decay);
    ``subspace`` (per stream: effective_rank, rank_cap, full_rank, cap_utilization,
    singular_values); ``information`` (:func:`information_coefficients`); ``notes`` (every
    "undefined" explanation).
    """
    streams = [torch.from_numpy(s[None]) for s in trace.streams]
    notes: dict[str, str] = {}
    layers = []
    for l, (x_in, x_out) in enumerate(zip(streams[:-1], streams[1:])):
        ev = _ANALYZER.analyze_evolution(x_in, x_out)
        notes.update(ev["undefined"])
        layers.append(
            {
                "layer": l,
                "preservation_ratio": float(ev["preservation_ratio"].mean()),
                "addition_magnitude": float(ev["addition_magnitude"].mean()),
                "total_change": ev["total_change"],
            }
        )
    persistence = _ANALYZER.track_information_persistence(streams)
    notes.update(persistence.pop("undefined"))
    subspace = []
    for x in streams:
        sub = _ANALYZER.analyze_subspace_usage(x)
        notes.update(sub.pop("undefined"))
        sub["singular_values"] = sub["singular_values"].cpu().numpy()
        subspace.append(sub)
    return {
        "layers": layers,
        "stream_norms": stream_norms(trace),
        "persistence": persistence,
        "subspace": subspace,
        "information": information_coefficients(trace),
        "notes": notes,
    }


def stream_profile(trace: Trace) -> dict[str, Any]:
    """Per-stream and per-layer numbers for comparing two models on the same input.

    Keys: ``mean_norm`` [L + 1] (mean over positions of ‖x_l‖); ``similarity_to_x0`` [L + 1]
    (cosine of the flattened x_l with the flattened x0); ``effective_rank`` [L + 1] (fewest
    singular directions holding 90 % of Σσ², as in :func:`stream_statistics`); ``entropy``
    [L] (mean over the layer's heads of :func:`attention_entropy`) and ``uniform_entropy``
    (the same for uniform causal attention on this length).
    """
    norms = stream_norms(trace).mean(axis=1)
    flat = trace.streams.reshape(trace.streams.shape[0], -1)
    x0 = flat[0]
    denom = np.linalg.norm(flat, axis=1) * np.linalg.norm(x0)
    sims = np.divide(flat @ x0, denom, out=np.zeros(len(flat)), where=denom > 0)
    ranks = [
        int(_ANALYZER.analyze_subspace_usage(torch.from_numpy(x[None]))["effective_rank"])
        for x in trace.streams
    ]
    return {
        "mean_norm": norms.tolist(),
        "similarity_to_x0": sims.tolist(),
        "effective_rank": ranks,
        "entropy": attention_entropy(trace).mean(axis=1).tolist(),
        "uniform_entropy": uniform_entropy(trace.seq_len),
    }


def top_predictions(trace: Trace, position: int = -1) -> list[dict[str, Any]]:
    """The most likely next tokens after ``position``: id, probability (and text if known)."""
    texts = trace.extras.get("top_texts")  # [seq][k] strings, where a tokenizer exists
    out = []
    for rank, (i, p) in enumerate(zip(trace.top_ids[position], trace.top_probs[position])):
        row = {"id": int(i), "probability": float(p)}
        if texts is not None:
            row["token"] = texts[position][rank]
        out.append(row)
    return out
