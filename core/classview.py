"""The class view's numbers (no streamlit): every learner's attempts, scores per item and
objective, pass rates, the items most often missed, essays to review, and the CSV export.

Every score here is the *reviewed* score where an instructor reviewed an item (the automatic one
otherwise), recomputed with :func:`core.assessment.with_reviews`, so the class view, the export
and the learner's own report always agree.
"""

from __future__ import annotations

import csv
import math
import re
from dataclasses import dataclass
from typing import Any

import pandas as pd

from core.assessment import GradeResult, with_reviews
from core.assessment.schema import Bank
from core.store import Attempt, Learner, LearnerStore, clean_name


@dataclass(frozen=True)
class ClassData:
    """Everything the class view shows, read once per refresh."""

    learners: dict[int, Learner]
    attempts: list[Attempt]
    results: dict[int, GradeResult]  # attempt id → result with reviews applied
    banks: dict[str, Bank]

    @classmethod
    def load(cls, store: LearnerStore, banks: dict[str, Bank]) -> ClassData:
        learners = {x.id: x for x in store.all_learners()}
        attempts = [a for a in store.attempts() if a.bank_id in banks]
        reviews = store.reviews([a.id for a in attempts]) if attempts else {}
        results = {}
        for a in attempts:
            try:
                result = GradeResult.from_dict(a.result)
                if a.id in reviews:
                    result = with_reviews(banks[a.bank_id], result, reviews[a.id])
            except (KeyError, TypeError, ValueError):  # stored before the bank changed
                continue
            results[a.id] = result
        return cls(learners, [a for a in attempts if a.id in results], results, banks)

    def label(self, learner_id: int) -> str:
        """How a learner is named: their name, else their sign-in, then their number (two
        learners may choose the same name), e.g. ``"Ada Lovelace (#12)"``. Names are cleaned
        again here (``core.store.clean_name``), so a name stored before names were cleaned
        cannot hide or reorder text either. Plain text: the class view shows it as such."""
        who = self.learners.get(learner_id)
        name = clean_name(who.display_name or who.identity) if who is not None else None
        return f"{name} (#{learner_id})" if name else f"learner #{learner_id}"


def attempts_table(data: ClassData) -> pd.DataFrame:
    """One row per attempt, newest first: who, which bank, when, score, passed, reviewed."""
    rows = []
    for a in data.attempts:
        r = data.results[a.id]
        rows.append(
            {
                "attempt": a.id,
                "learner": data.label(a.learner_id),
                "learner id": a.learner_id,
                "bank": a.bank_id,
                "submitted (UTC)": _utc(a.submitted_at),
                "score": round(r.score, 4),
                "passed": "yes" if r.passed else "no",
                "reviewed": "yes" if r.reviewed else "no",
            }
        )
    columns = [
        "attempt",
        "learner",
        "learner id",
        "bank",
        "submitted (UTC)",
        "score",
        "passed",
        "reviewed",
    ]
    return pd.DataFrame(rows, columns=columns).iloc[::-1].reset_index(drop=True)


def learners_table(data: ClassData) -> pd.DataFrame:
    """One row per learner who submitted anything: best score per bank and what they passed."""
    best: dict[int, dict[str, GradeResult]] = {}
    for a in data.attempts:
        r = data.results[a.id]
        mine = best.setdefault(a.learner_id, {})
        if a.bank_id not in mine or r.score > mine[a.bank_id].score:
            mine[a.bank_id] = r
    rows = []
    for learner_id, by_bank in sorted(best.items()):
        row: dict[str, Any] = {
            "learner": data.label(learner_id),
            "learner id": learner_id,
            "attempts": sum(1 for a in data.attempts if a.learner_id == learner_id),
        }
        for bank_id in data.banks:
            r = by_bank.get(bank_id)
            row[f"{bank_id} best"] = None if r is None else round(r.score, 4)
            row[f"{bank_id} passed"] = "—" if r is None else ("yes" if r.passed else "no")
        rows.append(row)
    return pd.DataFrame(rows)


def pass_rates(data: ClassData) -> pd.DataFrame:
    """Per bank: learners who attempted it, learners who passed (any attempt), the pass rate."""
    rows = []
    for bank_id, bank in data.banks.items():
        tried: set[int] = set()
        passed: set[int] = set()
        for a in data.attempts:
            if a.bank_id == bank_id:
                tried.add(a.learner_id)
                if data.results[a.id].passed:
                    passed.add(a.learner_id)
        rows.append(
            {
                "bank": bank_id,
                "title": bank.title,
                "learners attempted": len(tried),
                "learners passed": len(passed),
                "pass rate": (len(passed) / len(tried)) if tried else None,
            }
        )
    return pd.DataFrame(rows)


def latest_attempts(data: ClassData) -> list[Attempt]:
    """Each learner's latest attempt of each bank (the one that says where they stand now)."""
    latest: dict[tuple[int, str], Attempt] = {}
    for a in data.attempts:
        latest[(a.learner_id, a.bank_id)] = a  # attempts are oldest first
    return list(latest.values())


def item_table(data: ClassData) -> pd.DataFrame:
    """Per item over every learner's latest attempt: mean score, share with full marks, share
    missed (scored 0), sorted with the most often missed first."""
    scores: dict[tuple[str, str], list[float]] = {}
    for a in latest_attempts(data):
        for item_id, r in data.results[a.id].items.items():
            scores.setdefault((a.bank_id, item_id), []).append(r.score)
    rows = []
    for (bank_id, item_id), xs in scores.items():
        bank = data.banks[bank_id]
        item = bank.item(item_id) if item_id in bank.item_ids else None
        rows.append(
            {
                "bank": bank_id,
                "item": item_id,
                "topic": getattr(item, "topic", "") or "",
                "objective": getattr(item, "objective", ""),
                "type": getattr(item, "type", ""),
                "learners": len(xs),
                "mean score": math.fsum(xs) / len(xs),
                "full marks": sum(1 for x in xs if x >= 1 - 1e-9) / len(xs),
                "missed (0)": sum(1 for x in xs if x <= 1e-9) / len(xs),
            }
        )
    columns = [
        "bank",
        "item",
        "topic",
        "objective",
        "type",
        "learners",
        "mean score",
        "full marks",
        "missed (0)",
    ]
    df = pd.DataFrame(rows, columns=columns)
    return df.sort_values(["mean score", "bank", "item"]).reset_index(drop=True)


def objective_table(data: ClassData) -> pd.DataFrame:
    """Per learner and objective: the points-weighted mastery over their latest attempts."""
    earned: dict[tuple[int, str], float] = {}
    points: dict[tuple[int, str], float] = {}
    for a in latest_attempts(data):
        for r in data.results[a.id].items.values():
            key = (a.learner_id, r.objective)
            earned[key] = earned.get(key, 0.0) + r.earned
            points[key] = points.get(key, 0.0) + r.points
    rows = [
        {
            "learner": data.label(lid),
            "learner id": lid,
            "objective": lo,
            "mastery": earned[(lid, lo)] / points[(lid, lo)],
        }
        for (lid, lo) in sorted(points)
        if points[(lid, lo)] > 0
    ]
    return pd.DataFrame(rows, columns=["learner", "learner id", "objective", "mastery"])


def essays(data: ClassData) -> list[dict[str, Any]]:
    """Every answered essay of every attempt, newest first, with its automatic and reviewed
    scores and the claims the grader found, missed and saw contradicted."""
    out = []
    for a in reversed(data.attempts):
        result = data.results[a.id]
        for item_id, r in result.items.items():
            if r.type != "essay" or not r.answered:
                continue
            d = r.details
            out.append(
                {
                    "attempt": a.id,
                    "learner": data.label(a.learner_id),
                    "learner id": a.learner_id,
                    "bank": a.bank_id,
                    "item": item_id,
                    "topic": r.topic,
                    "answer": str(r.response or ""),
                    "automatic score": r.automatic_score if r.reviewed else r.score,
                    "score": r.score,
                    "reviewed": r.reviewed,
                    "note": r.review_note,
                    "found": [c["name"] for c in d.get("concepts_found", [])],
                    "missing": [c["name"] for c in d.get("concepts_missing", [])],
                    "contradicted": [c["name"] for c in d.get("concepts_contradicted", [])],
                    "points": r.points,
                    "submitted (UTC)": _utc(a.submitted_at),
                }
            )
    return out


#: A cell starting with one of these is a formula to a spreadsheet (OWASP, CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
#: A separator inside a cell followed by a formula character: a spreadsheet that splits on that
#: separator (";" in many European locales) would start a formula cell there.
_SEPARATED_FORMULA = re.compile(r"([,;\t|])(?=[=+\-@])")


def csv_safe(value: Any) -> Any:
    """A text cell a spreadsheet will show as text, whatever separator it splits on: one that
    starts like a formula gets a leading single quote (OWASP's rule), and so does every formula
    character that follows a separator inside it. Numbers and other values are unchanged."""
    if not isinstance(value, str):
        return value
    value = _SEPARATED_FORMULA.sub(r"\1'", value)
    return "'" + value if value.startswith(FORMULA_STARTS) else value


def export_csv(data: ClassData) -> str:
    """One row per attempt: who, bank, when, score, passed, reviewed, then every item's score
    (reviewed where reviewed). Learner text is not exported (it can be long and private), and
    every text cell is made safe to open in a spreadsheet (:func:`csv_safe`)."""
    rows = []
    for a in data.attempts:
        r = data.results[a.id]
        row = {
            "attempt": a.id,
            "learner": data.label(a.learner_id),
            "learner id": a.learner_id,
            "bank": a.bank_id,
            "submitted_utc": _utc(a.submitted_at),
            "score": round(r.score, 6),
            "passed": r.passed,
            "reviewed": r.reviewed,
        }
        for item_id, ir in r.items.items():
            row[f"item:{item_id}"] = round(ir.score, 6)
        for lo, m in r.objective_mastery.items():
            row[f"objective:{lo}"] = round(m, 6)
        rows.append({k: csv_safe(v) for k, v in row.items()})
    # Every text cell in quotes: a name with a separator in it (",", or ";" where a spreadsheet
    # splits on semicolons) stays one cell, so nothing after it can start a formula cell.
    return pd.DataFrame(rows).to_csv(index=False, quoting=csv.QUOTE_NONNUMERIC)


def _utc(t) -> str:
    return t.strftime("%Y-%m-%d %H:%M") if t is not None else ""
