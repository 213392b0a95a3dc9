"""Typed details of one graded item, by question type (``ItemResult.details``).

Each class is a frozen dataclass; ``details["field"]`` and ``details.get("field")`` work as well
as ``details.field`` (pages and reports read them either way), and ``dataclasses.asdict`` turns
them into plain JSON-ready data. Lists inside hold plain dicts, one per option, concept, rubric
check or test, with the keys documented on each field.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from core.assessment.common import KeyAccess


@dataclass(frozen=True)
class ChoiceDetails(KeyAccess):
    """multiple_choice: the option chosen and the key; ``options``: [{text, selected, correct,
    feedback}]."""

    selected: str | None = None
    correct_answer: str | None = None
    options: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class SelectDetails(KeyAccess):
    """multiple_select: what was ticked and the counts behind the partial-credit formula;
    ``options``: [{text, selected, correct, verdict, feedback}]."""

    selected: list[str] = field(default_factory=list)
    correct_answers: list[str] = field(default_factory=list)
    scoring: str = "partial"
    correct_ticked: int = 0
    wrong_ticked: int = 0
    n_correct: int = 0
    n_wrong: int = 0
    options: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class EssayDetails(KeyAccess):
    """essay: length credit × rubric coverage, the claims found [{name, weight, matched}],
    missing [{name, weight, hint}] and contradicted [{name, weight, reason, evidence}], and the
    prose check (``keyword_list`` and its measurements)."""

    word_count: int = 0
    words_graded: int = 0
    min_words: int = 0
    words_missing: int = 0
    truncated: bool = False
    length_credit: float = 0.0
    rubric_coverage: float = 0.0
    concepts_found: list[dict[str, Any]] = field(default_factory=list)
    concepts_missing: list[dict[str, Any]] = field(default_factory=list)
    concepts_contradicted: list[dict[str, Any]] = field(default_factory=list)
    model_answer: str = ""
    automatic_estimate: bool = True
    keyword_list: bool = False
    keyword_list_reasons: list[str] = field(default_factory=list)
    capped: bool = False
    sentences: int = 0
    function_word_share: float = 0.0
    distinct_word_share: float = 0.0
    rubric_word_share: float = 0.0


@dataclass(frozen=True)
class CodingDetails(KeyAccess):
    """coding: ``executed`` (run in the sandbox) with ``tests`` [{name, title, status, message}],
    or read as a syntax tree with ``rubric_found`` [{check, description, weight, evidence}] and
    ``rubric_missing`` [{check, description, weight, reason}]; ``not_run_reason`` says why an
    item with tests was not run."""

    executed: bool = False
    tests: list[dict[str, Any]] = field(default_factory=list)
    not_run_reason: str | None = None
    sandbox_message: str | None = None
    parsed: bool = False
    syntax_error: dict[str, Any] | None = None
    rubric_found: list[dict[str, Any]] = field(default_factory=list)
    rubric_missing: list[dict[str, Any]] = field(default_factory=list)
    time_limit_minutes: int | None = None
    unchanged_template: bool = False
    too_long: bool = False


@dataclass(frozen=True)
class LiveChoiceDetails(KeyAccess):
    """model_choice: the computed key, the model it came from and the numbers behind it."""

    selected: str | None = None
    correct_answer: str | None = None
    options: list[dict[str, Any]] = field(default_factory=list)
    model: str = ""
    evidence: str = ""


@dataclass(frozen=True)
class LiveNumberDetails(KeyAccess):
    """model_number: the number given, the computed key and the tolerance."""

    value: float | None = None
    correct_answer: float | int | None = None
    tolerance: float = 0.0
    model: str = ""
    evidence: str = ""


DETAILS_BY_TYPE: dict[str, type] = {
    "multiple_choice": ChoiceDetails,
    "multiple_select": SelectDetails,
    "essay": EssayDetails,
    "coding": CodingDetails,
    "model_choice": LiveChoiceDetails,
    "model_number": LiveNumberDetails,
}

Details = (
    ChoiceDetails
    | SelectDetails
    | EssayDetails
    | CodingDetails
    | LiveChoiceDetails
    | LiveNumberDetails
)


def typed_details(item_type: str, raw: dict[str, Any]) -> Details:
    """The grader's dict as its type's dataclass; a key the type does not declare is an error
    in the grader, not in the learner's answer, so it raises ``TypeError``."""
    cls = DETAILS_BY_TYPE[item_type]
    known = {f.name for f in fields(cls)}
    unknown = set(raw) - known
    if unknown:
        raise TypeError(f"{cls.__name__} has no field(s) {', '.join(sorted(unknown))}")
    return cls(**raw)
