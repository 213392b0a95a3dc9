"""Residual stream analysis (LO2): how the stream preserves and accumulates information.

Method and key names follow the lesson's ``ResidualStreamAnalyzer`` because learners read them
there. Differences from the lesson's version, on purpose:

- everything is computed in float64, so huge norms neither overflow nor lose the small changes;
- nothing is divided by zero: where a ratio is undefined (a zero stream) the value reported is
  stated in ``"undefined"`` (metric → what was reported and why) instead of NaN or inf;
- effective rank comes with its cap, min(tokens, d_model): 8 tokens can never span more than
  8 directions, so "rank utilisation" against d_model alone is misleading;
- information decay is measured from the embeddings (similarity 1.0) onwards, so a one-layer
  model has a defined decay too.

Scalars are plain Python floats and ints; per-position values are tensors.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from core.validators import ValidationError, validate_tensor

__all__ = ["ResidualStreamAnalyzer", "ENERGY_THRESHOLD"]

#: Effective rank: fewest singular directions holding this share of the energy (Σ σ²).
ENERGY_THRESHOLD = 0.9
_TOP_DIRECTIONS = 10


def _stream(x: Any, name: str) -> torch.Tensor:
    validate_tensor(x, name, ndim=3)
    if not x.is_floating_point():
        raise ValidationError(f"{name} must be a floating-point tensor; got {x.dtype}.")
    return x.detach().to(torch.float64)


def _cosine_rows(a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, bool]:
    """Cosine of a[i] and b[i] (flattened per batch element). Zero vectors: 1 if both are zero
    (identical), else 0 (no shared direction). Returns (cosines, any_undefined)."""
    a2, b2 = a.flatten(1), b.flatten(1)
    na, nb = torch.linalg.vector_norm(a2, dim=1), torch.linalg.vector_norm(b2, dim=1)
    # Scale first so a·b cannot overflow even for huge streams.
    safe_a = a2 / torch.where(na > 0, na, 1.0)[:, None]
    safe_b = b2 / torch.where(nb > 0, nb, 1.0)[:, None]
    cos = (safe_a * safe_b).sum(dim=1).clamp(-1.0, 1.0)
    both_zero = (na == 0) & (nb == 0)
    one_zero = (na == 0) ^ (nb == 0)
    cos = torch.where(both_zero, torch.ones_like(cos), torch.where(one_zero, 0.0, cos))
    return cos, bool((both_zero | one_zero).any())


def _ratio(num: torch.Tensor, den: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """num / den elementwise; where den == 0 the ratio is 0 and flagged undefined."""
    undefined = den == 0
    out = torch.where(undefined, torch.zeros_like(num), num / torch.where(undefined, 1.0, den))
    return out, undefined


def _norm(x: torch.Tensor) -> float:
    return float(torch.linalg.vector_norm(x))


class ResidualStreamAnalyzer:
    """Stateless: one instance can be shared by every page and thread."""

    # -- one layer ------------------------------------------------------------------------------
    def analyze_evolution(
        self, input_stream: torch.Tensor, output_stream: torch.Tensor
    ) -> dict[str, Any]:
        """How one layer changed the stream: ``[batch, seq, d_model]`` before and after.

        - input_norm, output_norm, delta_norm ``[batch, seq]``: ‖x‖ per position;
        - preservation_ratio ``[batch]``: cosine of the flattened streams per batch element
          (1 = same direction, the layer only added along what was there);
        - addition_magnitude ``[batch, seq]``: ‖Δ‖ / ‖input‖ per position;
        - total_change: ‖Δ‖ / ‖input‖ over the whole tensor; directional_change: mean
          preservation ratio.
        """
        x_in = _stream(input_stream, "input_stream")
        x_out = _stream(output_stream, "output_stream")
        if x_in.shape != x_out.shape:
            raise ValidationError(
                f"input_stream and output_stream must have the same shape; got "
                f"{tuple(x_in.shape)} and {tuple(x_out.shape)}."
            )
        delta = x_out - x_in
        input_norm = torch.linalg.vector_norm(x_in, dim=-1)
        output_norm = torch.linalg.vector_norm(x_out, dim=-1)
        delta_norm = torch.linalg.vector_norm(delta, dim=-1)
        preservation, pres_undefined = _cosine_rows(x_in, x_out)
        addition, add_undefined = _ratio(delta_norm, input_norm)
        total_in, total_delta = _norm(x_in), _norm(delta)
        undefined: dict[str, str] = {}
        if pres_undefined:
            undefined["preservation_ratio"] = (
                "A stream is zero in some batch element: cosine is undefined there; reported as "
                "1 when both streams are zero (nothing changed), else 0."
            )
        if bool(add_undefined.any()):
            undefined["addition_magnitude"] = (
                f"The input stream is zero at {int(add_undefined.sum())} position(s): change "
                "relative to nothing is undefined; reported as 0 there."
            )
        if total_in == 0:
            total_change = 0.0
            undefined["total_change"] = (
                "The input stream is zero: relative change is undefined; reported as 0."
            )
        else:
            total_change = total_delta / total_in
        return {
            "input_norm": input_norm,
            "output_norm": output_norm,
            "delta_norm": delta_norm,
            "preservation_ratio": preservation,
            "addition_magnitude": addition,
            "total_change": float(total_change),
            "directional_change": float(preservation.mean()),
            "undefined": undefined,
        }

    # -- one stream -----------------------------------------------------------------------------
    def analyze_subspace_usage(self, residual_stream: torch.Tensor) -> dict[str, Any]:
        """How many directions of d_model the stream actually uses (all positions together).

        - singular_values: all of them, largest first (``min(tokens, d_model)`` values);
        - effective_rank (= rank_90_percent): fewest directions holding 90% of Σσ²;
        - full_rank: d_model; rank_cap: min(tokens, d_model), the most any stream of this many
          tokens can reach; rank_utilization = effective_rank / d_model and
          cap_utilization = effective_rank / rank_cap;
        - subspace_concentration: share of Σσ² in the top 10 directions;
        - information_density: effective_rank per token.
        """
        x = _stream(residual_stream, "residual_stream")
        batch, seq, d_model = x.shape
        tokens = batch * seq
        flat = x.reshape(tokens, d_model)
        scale = float(flat.abs().max())
        # Singular values of x / scale, scaled back: no overflow in σ² for huge streams.
        s = (
            torch.linalg.svdvals(flat / scale) * scale
            if scale > 0
            else torch.zeros(min(tokens, d_model), dtype=torch.float64)
        )
        energy = (s / scale) ** 2 if scale > 0 else s
        total = float(energy.sum())
        rank_cap = min(tokens, d_model)
        undefined: dict[str, str] = {}
        if total == 0:
            effective_rank, concentration = 0, 0.0
            undefined["effective_rank"] = (
                "The stream is zero: it uses no direction at all; effective rank reported as 0 "
                "and concentration as 0."
            )
        else:
            share = torch.cumsum(energy, dim=0) / total
            effective_rank = (
                int(
                    torch.searchsorted(
                        share, torch.tensor([ENERGY_THRESHOLD - 1e-12], dtype=share.dtype)
                    ).item()
                )
                + 1
            )
            effective_rank = min(effective_rank, rank_cap)
            concentration = float(energy[:_TOP_DIRECTIONS].sum() / total)
        return {
            "full_rank": d_model,
            "rank_cap": rank_cap,
            "effective_rank": effective_rank,
            "rank_90_percent": effective_rank,
            "rank_utilization": effective_rank / d_model,
            "cap_utilization": effective_rank / rank_cap,
            "singular_values": s,
            "subspace_concentration": concentration,
            "information_density": effective_rank / tokens,
            "undefined": undefined,
        }

    # -- all layers -----------------------------------------------------------------------------
    def track_information_persistence(
        self, residual_streams: Sequence[torch.Tensor]
    ) -> dict[str, Any]:
        """How much of the initial stream survives each layer (streams x0, x1, …, x_L).

        - similarities_to_initial: cosine(x0, x_l) for l = 1..L (mean over the batch);
        - cumulative_changes: ‖x_l − x_(l−1)‖ / ‖x_(l−1)‖ for each layer;
        - information_decay_rate: mean drop in similarity per layer, counted from x0 (1.0);
        - final_similarity: similarity of the last stream (1.0 with no layers);
        - peak_change_layer: index (0-based) of the layer with the largest relative change;
        - stability_score: 1 − standard deviation of the similarities.
        """
        streams = self._streams(residual_streams)
        initial = streams[0]
        similarities: list[float] = []
        changes: list[float] = []
        undefined: dict[str, str] = {}
        for prev, cur in zip(streams[:-1], streams[1:]):
            cos, bad = _cosine_rows(initial, cur)
            if bad:
                undefined["similarities_to_initial"] = (
                    "A stream is zero: cosine is undefined; reported as 1 when both streams are "
                    "zero, else 0."
                )
            similarities.append(float(cos.mean()))
            prev_norm = _norm(prev)
            if prev_norm == 0:
                undefined["cumulative_changes"] = (
                    "A layer's input stream is zero: relative change is undefined; reported as 0."
                )
                changes.append(0.0)
            else:
                changes.append(_norm(cur - prev) / prev_norm)
        n = len(similarities)
        sims = torch.tensor([1.0, *similarities], dtype=torch.float64)
        decay = float((sims[0] - sims[-1]) / n) if n else 0.0  # = −mean(diff(sims))
        stability = (
            1.0 - float(torch.tensor(similarities, dtype=torch.float64).std(correction=0))
            if n
            else 1.0
        )
        return {
            "similarities_to_initial": similarities,
            "cumulative_changes": changes,
            "information_decay_rate": decay,
            "final_similarity": similarities[-1] if similarities else 1.0,
            "peak_change_layer": int(max(range(n), key=changes.__getitem__)) if n else 0,
            "stability_score": stability,
            "undefined": undefined,
        }

    @staticmethod
    def _streams(residual_streams: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        if isinstance(residual_streams, torch.Tensor) or not isinstance(
            residual_streams, (list, tuple)
        ):
            raise ValidationError(
                "residual_streams must be a list of [batch, seq, d_model] tensors."
            )
        if len(residual_streams) == 0:
            raise ValidationError("residual_streams is empty: give at least the initial stream.")
        streams = [_stream(s, f"residual_streams[{i}]") for i, s in enumerate(residual_streams)]
        shape = streams[0].shape
        for i, s in enumerate(streams):
            if s.shape != shape:
                raise ValidationError(
                    f"residual_streams[{i}] has shape {tuple(s.shape)}; expected {tuple(shape)} "
                    f"like residual_streams[0]."
                )
        return streams
