"""Every refusal in the lab goes through :class:`ValidationError`.

Messages are written for a learner: they name the offending value and say what is accepted.
Validation happens once, at the boundary (the model's ``forward``, a text box), never per head.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import torch

__all__ = [
    "ValidationError",
    "validate_token_ids",
    "validate_tensor",
    "parse_token_text",
    "MAX_TOKEN_TEXT_CHARS",
]

#: A text box longer than this is refused before it is split (nobody types 20,000 characters of ids).
MAX_TOKEN_TEXT_CHARS = 20_000

_INT_DTYPES = {torch.int8, torch.int16, torch.int32, torch.int64, torch.uint8}


class ValidationError(ValueError):
    """Bad input, with a message a learner can act on."""


def _range_text(vocab_size: int) -> str:
    return f"accepted ids are 0 to {vocab_size - 1} (vocab_size = {vocab_size})"


def validate_token_ids(input_ids: Any, vocab_size: int, n_positions: int) -> torch.Tensor:
    """Check token ids and return them as a ``[batch, seq]`` int64 tensor.

    Accepts a tensor or a (nested) list of ints, 1-D ``[seq]`` or 2-D ``[batch, seq]``.
    """
    if isinstance(input_ids, torch.Tensor):
        ids = input_ids
    elif isinstance(input_ids, (list, tuple)):
        flat = _flatten(input_ids)
        bad = next((v for v in flat if isinstance(v, bool) or not isinstance(v, int)), None)
        if bad is not None:
            raise ValidationError(
                f"Token ids must be whole numbers; got {bad!r} ({type(bad).__name__})."
            )
        if any(abs(v) >= 2**63 for v in flat):
            huge = next(v for v in flat if abs(v) >= 2**63)
            raise ValidationError(f"Token id {huge} is out of range: {_range_text(vocab_size)}.")
        try:
            ids = torch.tensor(input_ids, dtype=torch.int64)
        except (ValueError, TypeError) as exc:
            raise ValidationError(
                "Token ids must form a rectangular list: every sequence in a batch needs the same "
                "length."
            ) from exc
    else:
        raise ValidationError(
            f"Token ids must be a tensor or a list of whole numbers; got {type(input_ids).__name__}."
        )

    if ids.dtype == torch.bool or ids.dtype not in _INT_DTYPES:
        raise ValidationError(
            f"Token ids must have an integer dtype (e.g. torch.long); got {ids.dtype}."
        )
    if ids.dim() == 1:
        ids = ids.unsqueeze(0)
    if ids.dim() != 2:
        raise ValidationError(
            f"Token ids must be 1-D [seq] or 2-D [batch, seq]; got {ids.dim()}-D with shape "
            f"{tuple(ids.shape)}."
        )
    if ids.numel() == 0:
        raise ValidationError(
            f"Token ids are empty (shape {tuple(ids.shape)}): give at least one token."
        )
    seq = ids.shape[1]
    if seq > n_positions:
        raise ValidationError(
            f"The sequence has {seq} tokens; this model accepts at most {n_positions} "
            f"(n_positions)."
        )
    ids = ids.to(torch.int64)
    lo, hi = int(ids.min()), int(ids.max())
    if lo < 0 or hi >= vocab_size:
        offending = (ids < 0) | (ids >= vocab_size)
        b, s = (int(i) for i in offending.nonzero()[0])
        where = f"position {s}" if ids.shape[0] == 1 else f"batch {b}, position {s}"
        raise ValidationError(
            f"Token id {int(ids[b, s])} at {where} is out of range: {_range_text(vocab_size)}."
        )
    return ids


def _flatten(values: Any) -> list:
    out: list = []
    stack = [values]
    while stack:
        item = stack.pop()
        if isinstance(item, (list, tuple)):
            stack.extend(reversed(item))
        else:
            out.append(item)
    return out


def validate_tensor(
    tensor: Any,
    name: str = "tensor",
    *,
    ndim: int | Sequence[int] | None = None,
    finite: bool = True,
) -> torch.Tensor:
    """Check that ``tensor`` is a floating tensor of the expected rank with finite values."""
    if not isinstance(tensor, torch.Tensor):
        raise ValidationError(f"{name} must be a torch.Tensor; got {type(tensor).__name__}.")
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if tensor.dim() not in allowed:
            want = " or ".join(f"{n}-D" for n in allowed)
            raise ValidationError(
                f"{name} must be {want}; got {tensor.dim()}-D with shape {tuple(tensor.shape)}."
            )
    if tensor.numel() == 0:
        raise ValidationError(f"{name} is empty (shape {tuple(tensor.shape)}).")
    if finite and tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
        n_bad = int((~torch.isfinite(tensor)).sum())
        raise ValidationError(f"{name} contains {n_bad} NaN or infinite value(s).")
    return tensor


_SPLIT = re.compile(r"[\s,;]+")
_INT_TEXT = re.compile(r"[+-]?\d+")
_FLOAT_TEXT = re.compile(r"[+-]?(\d+\.\d*|\.\d+|\d+(\.\d*)?[eE][+-]?\d+)")


def parse_token_text(text: Any, vocab_size: int, max_tokens: int) -> list[int]:
    """Parse token ids typed into a text box, e.g. ``"1, 15, 27"``.

    Commas, spaces, semicolons and newlines all separate ids. Returns a list of ints or raises
    :class:`ValidationError` saying which entry was wrong and what is accepted.
    """
    if not isinstance(text, str):
        raise ValidationError(f"Expected text; got {type(text).__name__}.")
    if len(text) > MAX_TOKEN_TEXT_CHARS:
        raise ValidationError(
            f"The input is {len(text):,} characters long; the limit is "
            f"{MAX_TOKEN_TEXT_CHARS:,}. Enter at most {max_tokens} token ids."
        )
    parts = [p for p in _SPLIT.split(text.strip()) if p]
    if not parts:
        raise ValidationError(
            "Enter at least one token id, e.g. 1, 15, 27 (whole numbers separated by commas "
            "or spaces)."
        )
    if len(parts) > max_tokens:
        raise ValidationError(
            f"You entered {len(parts)} token ids; at most {max_tokens} are accepted here."
        )
    ids: list[int] = []
    for i, part in enumerate(parts, start=1):
        shown = part if len(part) <= 24 else part[:21] + "..."
        if not _INT_TEXT.fullmatch(part):
            hint = (
                " Token ids are whole numbers, without a decimal point."
                if _FLOAT_TEXT.fullmatch(part)
                else ""
            )
            raise ValidationError(
                f"Entry {i}, '{shown}', is not a whole number.{hint} Use ids like 1, 15, 27; "
                f"{_range_text(vocab_size)}."
            )
        digits = part.lstrip("+-")
        if len(digits) > 18:  # far beyond any vocabulary; avoid converting giant numbers
            raise ValidationError(
                f"Entry {i}, '{shown}', is out of range: {_range_text(vocab_size)}."
            )
        value = int(part)
        if not 0 <= value < vocab_size:
            raise ValidationError(
                f"Entry {i}, {value}, is out of range: {_range_text(vocab_size)}."
            )
        ids.append(value)
    return ids
