"""``python -m core.assessment [bank.yaml ...]``: check question banks before publishing them."""

from __future__ import annotations

import math
import sys
from pathlib import Path

from core.assessment.loader import BANK_DIR, load_bank, load_banks
from core.validators import ValidationError


def _main(argv: list[str]) -> int:
    """``python -m core.assessment [bank.yaml ...]``: check banks (all shipped banks by default)."""
    paths = [Path(a) for a in argv] or sorted(BANK_DIR.glob("*.yaml"))
    failed = 0
    for path in paths:
        try:
            bank = load_bank(path)
        except ValidationError as exc:
            failed += 1
            print(f"FAIL {exc}")
        else:
            print(
                f"ok   {path}: '{bank.id}', {len(bank.items)} items, "
                f"{math.fsum(i.points for i in bank.items):g} points"
            )
    if not argv and not failed:
        try:
            load_banks(BANK_DIR)
        except ValidationError as exc:
            failed += 1
            print(f"FAIL {exc}")
    return 1 if failed else 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(_main(sys.argv[1:]))
