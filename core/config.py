"""Model configuration, and the resource budget a configuration is checked against.

A hosted copy of the lab serves many learners from one small machine, so a configuration is
checked *before* anything is allocated: :class:`ResourceBudget` estimates, with plain integer
arithmetic, the parameters, the bytes a built model keeps, and the memory of one analysis
forward pass, and refuses a configuration over budget with the estimate and the limit. The
budget is a value of its own: the same :class:`TransformerConfig` can be checked against the
generous library default or the stricter budget of a hosted app.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.validators import ValidationError

__all__ = [
    "TransformerConfig",
    "ResourceBudget",
    "DEFAULT_BUDGET",
    "BYTES_PER_FLOAT",
    "format_bytes",
]

BYTES_PER_FLOAT = 4  # float32 throughout


def format_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1024 or unit == "TB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


@dataclass(frozen=True)
class TransformerConfig:
    """Configuration of the attention-only interpretable transformer (the spec's fields).

    Frozen and hashable, so it can travel from the sidebar to a cache key as it is. ``d_model``
    is the lesson's name for ``n_embd``. ``use_cache``, ``bos_token_id`` and ``eos_token_id`` are
    kept for parity with GPT-2's config; the analysis model always recomputes the whole sequence.
    ``init_std`` is the standard deviation of the random initial weights.
    """

    vocab_size: int = 50257
    n_positions: int = 1024
    n_embd: int = 768
    n_layer: int = 12
    n_head: int = 12
    use_cache: bool = True
    bos_token_id: int = 50256
    eos_token_id: int = 50256
    init_std: float = 0.02

    def __post_init__(self) -> None:
        for name in ("vocab_size", "n_positions", "n_embd", "n_layer", "n_head"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValidationError(
                    f"{name} must be a whole number; got {value!r} ({type(value).__name__})."
                )
            if value <= 0:
                raise ValidationError(f"{name} must be positive; got {value}.")
        if self.n_embd % self.n_head or self.n_embd % 2:
            step = self.n_head * (1 if self.n_head % 2 == 0 else 2)  # divisible and even
            below = (self.n_embd // step) * step
            options = [w for w in (below, below + step) if w > 0]
            reason = (
                f"n_embd ({self.n_embd}) must be divisible by n_head ({self.n_head}) so "
                f"every head gets the same width d_head = n_embd / n_head"
                if self.n_embd % self.n_head
                else f"n_embd must be even for sinusoidal positions (sine and cosine come in "
                f"pairs); got {self.n_embd}"
            )
            raise ValidationError(
                f"{reason}. Widths that work with {self.n_head} heads are multiples of {step}, "
                f"e.g. {' or '.join(str(w) for w in options)}."
            )
        for name in ("bos_token_id", "eos_token_id"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValidationError(f"{name} must be a whole number; got {value!r}.")
        if (
            isinstance(self.init_std, bool)
            or not isinstance(self.init_std, (int, float))
            or not 0 < self.init_std < float("inf")
        ):
            raise ValidationError(f"init_std must be a positive number; got {self.init_std!r}.")

    # -- derived sizes -------------------------------------------------------------------------
    @property
    def d_model(self) -> int:
        """The lesson's name for the width of the residual stream (= ``n_embd``)."""
        return self.n_embd

    @property
    def d_head(self) -> int:
        return self.n_embd // self.n_head

    def estimate_parameters(self) -> int:
        """Trainable parameters: W_E, per layer W_Q/W_K/W_V/W_O (4·d² in all), W_U.

        Sinusoidal positions are a fixed buffer, not parameters.
        """
        d = self.n_embd
        return 2 * self.vocab_size * d + self.n_layer * 4 * d * d

    def estimate_model_bytes(self) -> int:
        """What a built model keeps in memory: its parameters and the position buffer."""
        return (self.estimate_parameters() + self.n_positions * self.n_embd) * BYTES_PER_FLOAT

    def estimate_activation_bytes(self, tokens: int | None = None) -> int:
        """Upper estimate of one analysis forward pass at ``tokens`` tokens (default: the full
        context), batch 1, *excluding* the model itself.

        Counts every residual stream, per layer the queries, keys, values and mixed values,
        scores and weights (``[head, seq, seq]`` each), the layer output, one transient
        ``[head, seq, d_model]`` per-head output, the logits, and the float64 trace kept
        afterwards (streams, per-layer parts, attention, token and position parts).
        """
        t = self.n_positions if tokens is None else min(tokens, self.n_positions)
        d, h, L, v = self.n_embd, self.n_head, self.n_layer, self.vocab_size
        floats32 = (
            (L + 1) * t * d  # residual streams
            + L * (5 * t * d + 2 * h * t * t)  # q, k, v, z, layer output; scores, weights
            + h * t * d  # one layer's per-head outputs, built on demand
            + t * v  # logits
        )
        floats64 = 2 * (L + 1) * t * d + L * h * t * t + 2 * t * d  # the trace
        return floats32 * BYTES_PER_FLOAT + floats64 * 8


@dataclass(frozen=True)
class ResourceBudget:
    """What one model may cost: parameters, the bytes a built model keeps, and the memory of one
    analysis pass at ``analysis_tokens`` tokens (None: the model's full context)."""

    max_parameters: int = 200_000_000
    max_model_bytes: int = 1024**3
    max_activation_bytes: int = 4 * 1024**3
    analysis_tokens: int | None = None

    def check(self, config: TransformerConfig) -> TransformerConfig:
        """Return ``config`` if it fits; otherwise raise with the estimate and the limit."""
        if not isinstance(config, TransformerConfig):
            raise ValidationError(
                f"config must be a TransformerConfig; got {type(config).__name__}."
            )
        params = config.estimate_parameters()
        if params > self.max_parameters:
            raise ValidationError(
                f"This model would have about {params:,} parameters; the limit here is "
                f"{self.max_parameters:,}. Use fewer layers, a smaller width (n_embd) or a "
                f"smaller vocabulary."
            )
        kept = config.estimate_model_bytes()
        if kept > self.max_model_bytes:
            raise ValidationError(
                f"This model would keep about {format_bytes(kept)} in memory (weights and "
                f"{config.n_positions} position vectors); the limit here is "
                f"{format_bytes(self.max_model_bytes)}. Use a smaller width, fewer layers or "
                f"a shorter context (n_positions)."
            )
        tokens = (
            config.n_positions
            if self.analysis_tokens is None
            else min(self.analysis_tokens, config.n_positions)
        )
        act = config.estimate_activation_bytes(tokens)
        if act > self.max_activation_bytes:
            raise ValidationError(
                f"An analysis forward pass at {tokens} tokens would need about "
                f"{format_bytes(act)} of memory; the limit here is "
                f"{format_bytes(self.max_activation_bytes)}. Use fewer layers or heads, a "
                f"smaller width, or a shorter context (n_positions)."
            )
        return config


#: The library default: allows GPT-2-small scale (about 124M parameters at 1024 tokens).
DEFAULT_BUDGET = ResourceBudget()
