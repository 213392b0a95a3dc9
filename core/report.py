"""Everything the Architecture page displays, computed once per (model, input) as plain data.

Pages hold no tensor math: they call :func:`architecture_report` (cached) and slice its numpy
arrays when the learner picks another layer or head.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from core.analyzers import ResidualStreamAnalyzer
from core.metrics import layer_head_entropy
from core.model import InterpretableTransformer

__all__ = ["architecture_report", "residual_report"]

_ANALYZER = ResidualStreamAnalyzer()


def _norms(x: torch.Tensor) -> np.ndarray:
    """‖x‖ over d_model for every position of batch element 0 → [seq]."""
    return torch.linalg.vector_norm(x[0].double(), dim=-1).cpu().numpy()


@torch.no_grad()
def architecture_report(model: InterpretableTransformer, input_ids: Any,
                        result: dict[str, Any] | None = None) -> dict[str, Any]:
    """Summarise one analysis forward pass (batch element 0) as numpy arrays.

    ``result`` is ``model.analyze(input_ids)`` when the caller already has it (pages share one
    cached forward pass); otherwise it is computed here.

    Keys: ``input_ids`` [seq]; ``stream_norms`` [layer+1, seq] (‖x_l‖ per position);
    ``attention_weights`` [layer, head, query, key]; ``entropy`` [layer, head] (nats, mean over
    query positions); ``direct_norms`` [seq]; ``layer_norms`` [layer, seq] and ``head_norms``
    [layer, head, seq] (‖contribution‖ per position); ``final_norms`` [seq]; ``layer_cosines``
    [layer] and ``head_cosines`` [layer, head] (cosine of each contribution with the final stream,
    over all positions); ``direct_cosine``; ``reconstruction_error`` and
    ``logit_reconstruction_error`` (floats); ``top_predictions`` per position.
    """
    result = result if result is not None else model.analyze(input_ids)
    analysis = result["analysis"]
    ids = analysis["input_ids"][:1]
    layers = analysis["layer_analyses"]
    decomp = analysis["path_decomposition"]
    final = decomp["final_stream"][0].double()  # [seq, d_model]
    final_flat = final.reshape(-1)
    final_len = torch.linalg.vector_norm(final_flat)

    def cosine(part: torch.Tensor) -> float:
        flat = part.double().reshape(-1)
        denom = torch.linalg.vector_norm(flat) * final_len
        return float(flat @ final_flat / denom) if denom > 0 else 0.0

    head_contribs = decomp["head_contributions"]  # list of [batch, head, seq, d_model]
    layer_contribs = decomp["layer_contributions"]  # list of [batch, seq, d_model]
    weights = [la["attention_weights"][:1] for la in layers]
    logits = result["logits"][0]
    probs = torch.softmax(logits.double(), dim=-1)
    top_p, top_i = probs.topk(min(3, probs.shape[-1]), dim=-1)
    return {
        "input_ids": ids[0].cpu().numpy(),
        "stream_norms": np.stack([_norms(s[:1]) for s in analysis["residual_streams"]]),
        "attention_weights": torch.cat(weights).double().cpu().numpy(),
        "entropy": layer_head_entropy(weights).cpu().numpy(),
        "direct_norms": _norms(decomp["direct_path"][:1]),
        "layer_norms": np.stack([_norms(c[:1]) for c in layer_contribs]),
        "head_norms": np.stack([
            torch.linalg.vector_norm(h[0].double(), dim=-1).cpu().numpy() for h in head_contribs
        ]),
        "final_norms": _norms(decomp["final_stream"][:1]),
        "direct_cosine": cosine(decomp["direct_path"][0]),
        "layer_cosines": np.array([cosine(c[0]) for c in layer_contribs]),
        "head_cosines": np.array([[cosine(h[0, i]) for i in range(h.shape[1])]
                                  for h in head_contribs]),
        "reconstruction_error": decomp["reconstruction_error"],
        "logit_reconstruction_error": decomp["logit_reconstruction_error"],
        "top_token": top_i.cpu().numpy(),
        "top_prob": top_p.cpu().numpy(),
    }


@torch.no_grad()
def residual_report(model: InterpretableTransformer, input_ids: Any,
                    result: dict[str, Any] | None = None) -> dict[str, Any]:
    """The Residual stream page's numbers (batch element 0), from one analysis forward pass.

    Keys: ``layers`` (list of per-layer dicts: layer, preservation_ratio, addition_magnitude
    (mean over positions), total_change, directional_change); ``stream_norms`` [L+1, seq];
    ``persistence`` (the analyzer's track_information_persistence); ``subspace`` (one dict per
    stream x0..x_L: effective_rank, rank_cap, full_rank, rank_utilization, cap_utilization,
    subspace_concentration, information_density and ``singular_values`` as numpy);
    ``information_types`` (token_similarity, position_similarity per stream); ``notes`` (every
    "undefined" explanation the analyzer gave).
    """
    result = result if result is not None else model.analyze(input_ids)
    analysis = result["analysis"]
    streams = [s[:1] for s in analysis["residual_streams"]]
    decomp = analysis["path_decomposition"]
    notes: dict[str, str] = {}
    layers = []
    for l, (x_in, x_out) in enumerate(zip(streams[:-1], streams[1:])):
        ev = _ANALYZER.analyze_evolution(x_in, x_out)
        notes.update(ev["undefined"])
        layers.append({
            "layer": l,
            "preservation_ratio": float(ev["preservation_ratio"].mean()),
            "addition_magnitude": float(ev["addition_magnitude"].mean()),
            "total_change": ev["total_change"],
            "directional_change": ev["directional_change"],
        })
    persistence = _ANALYZER.track_information_persistence(streams)
    notes.update(persistence.pop("undefined"))
    subspace = []
    for x in streams:
        sub = _ANALYZER.analyze_subspace_usage(x)
        notes.update(sub.pop("undefined"))
        sub["singular_values"] = sub["singular_values"].cpu().numpy()
        subspace.append(sub)
    types = _ANALYZER.track_information_types(decomp["token_embedding"][:1],
                                              decomp["positional_embedding"], streams)
    notes.update(types.pop("undefined"))
    return {
        "input_ids": analysis["input_ids"][0].cpu().numpy(),
        "layers": layers,
        "stream_norms": np.stack([_norms(s) for s in streams]),
        "persistence": persistence,
        "subspace": subspace,
        "information_types": types,
        "notes": notes,
    }
