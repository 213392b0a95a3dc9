"""Model configuration with a resource budget.

A hosted copy of the lab serves many learners from one small machine, so a configuration is
checked *before* anything is allocated: its parameter count and the memory of one full-context
analysis forward pass are estimated with plain integer arithmetic and compared with a budget.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.validators import ValidationError

__all__ = ["TransformerConfig", "BYTES_PER_FLOAT", "format_bytes"]

BYTES_PER_FLOAT = 4  # float32 throughout

#: Defaults allow GPT-2-small scale (about 124M parameters at 1024 tokens).
DEFAULT_MAX_PARAMETERS = 200_000_000
DEFAULT_MAX_ACTIVATION_BYTES = 4 * 1024**3


def format_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1024 or unit == "TB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


@dataclass(frozen=True)
class TransformerConfig:
    """Configuration of the attention-only interpretable transformer (the spec's fields).

    ``use_cache``, ``bos_token_id`` and ``eos_token_id`` are kept for parity with GPT-2's config;
    the analysis model always recomputes the whole sequence (no key/value cache).
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
    max_parameters: int = DEFAULT_MAX_PARAMETERS
    max_activation_bytes: int = DEFAULT_MAX_ACTIVATION_BYTES

    def __post_init__(self) -> None:
        for name in ("vocab_size", "n_positions", "n_embd", "n_layer", "n_head",
                     "max_parameters", "max_activation_bytes"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValidationError(
                    f"{name} must be a whole number; got {value!r} ({type(value).__name__})."
                )
            if value <= 0:
                raise ValidationError(f"{name} must be positive; got {value}.")
        if self.n_embd % self.n_head:
            raise ValidationError(
                f"n_embd ({self.n_embd}) must be divisible by n_head ({self.n_head}) so every "
                f"head gets the same width d_head = n_embd / n_head. Try n_embd = "
                f"{self.n_head * max(1, round(self.n_embd / self.n_head))}."
            )
        if self.n_embd % 2:
            raise ValidationError(
                f"n_embd must be even for sinusoidal positions (sine and cosine come in pairs); "
                f"got {self.n_embd}."
            )
        for name in ("bos_token_id", "eos_token_id"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValidationError(f"{name} must be a whole number; got {value!r}.")
        if not isinstance(self.init_std, (int, float)) or not self.init_std > 0:
            raise ValidationError(f"init_std must be a positive number; got {self.init_std!r}.")

        params = self.estimate_parameters()
        if params > self.max_parameters:
            raise ValidationError(
                f"This model would have about {params:,} parameters; the limit here is "
                f"{self.max_parameters:,}. Use fewer layers, a smaller width (n_embd) or a "
                f"smaller vocabulary."
            )
        act = self.estimate_activation_bytes()
        if act > self.max_activation_bytes:
            raise ValidationError(
                f"An analysis forward pass at full context ({self.n_positions} tokens) would need "
                f"about {format_bytes(act)} of memory; the limit here is "
                f"{format_bytes(self.max_activation_bytes)}. Use fewer layers or heads, a smaller "
                f"width, or a shorter context (n_positions)."
            )

    # -- derived sizes -------------------------------------------------------------------------
    @property
    def d_head(self) -> int:
        return self.n_embd // self.n_head

    def estimate_parameters(self) -> int:
        """Trainable parameters: W_E, per layer W_Q/W_K/W_V/W_O (4·d² in all), W_U.

        Sinusoidal positions are a fixed buffer, not parameters.
        """
        d = self.n_embd
        return 2 * self.vocab_size * d + self.n_layer * 4 * d * d

    def estimate_activation_bytes(self) -> int:
        """Upper estimate of one analysis forward pass, batch 1, at ``n_positions`` tokens.

        Counts the weights, the position buffer, every residual stream, per layer the queries,
        keys, values and mixed values, scores and weights (``[head, seq, seq]`` each), the
        layer output, one transient ``[head, seq, d_model]`` per-head output, and the logits.
        """
        t, d, h, L, v = self.n_positions, self.n_embd, self.n_head, self.n_layer, self.vocab_size
        floats = (
            self.estimate_parameters()
            + t * d  # position buffer
            + (L + 1) * t * d  # residual streams
            + L * (5 * t * d + 2 * h * t * t)  # q, k, v, z, layer output; scores, weights
            + h * t * d  # one layer's per-head outputs, built on demand
            + t * v  # logits
        )
        return floats * BYTES_PER_FLOAT

    def with_limits(self, *, max_parameters: int, max_activation_bytes: int) -> "TransformerConfig":
        """The same model under another budget (validated again)."""
        from dataclasses import replace

        return replace(self, max_parameters=max_parameters,
                       max_activation_bytes=max_activation_bytes)
