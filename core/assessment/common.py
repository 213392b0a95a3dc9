"""Small pieces every grader shares: key access on results, the "not answered" wording, and
the messages for an answer of the wrong type."""

from __future__ import annotations

from typing import Any

from core.validators import ValidationError

NOT_ANSWERED = "Not answered."


class KeyAccess:
    """``result["score"]`` works as well as ``result.score``."""

    def __getitem__(self, key: str) -> Any:
        try:
            return getattr(self, key)
        except AttributeError:
            raise KeyError(key) from None

    def get(self, key: str, default: Any = None) -> Any:
        return getattr(self, key, default)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key in getattr(self, "__dataclass_fields__", {})


def clamp01(x: float) -> float:
    return 0.0 if x <= 0 else 1.0 if x >= 1 else x


def shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def type_error(item_id: str, expected: str, value: Any) -> ValidationError:
    return ValidationError(f"Answer to '{item_id}' must be {expected}; got {type(value).__name__}.")


def dedupe(xs: list[str]) -> list[str]:
    return list(dict.fromkeys(xs))
