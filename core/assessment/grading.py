"""Results of grading (typed) and the grader for a whole bank; multiple-choice and
multiple-select graders live here, essays in ``essay``, code in ``coding``.

Answers: multiple_choice → the option text; multiple_select → a list of option texts; essay and
coding → a string. ``None``, an empty string or an empty list means "not answered" (score 0), and
so does code that differs from the item's template only in whitespace.
Anything else of the wrong type, an unknown item id or an option text that is not an option
raises :class:`core.validators.ValidationError`.

Scores are fractions in [0, 1]. Item scores are combined weighted by the items' ``points``. No
streamlit here; learner-written text never appears in ``feedback`` strings (only in ``response``),
so feedback can be rendered as Markdown safely.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any

from core.assessment.coding import MAX_CODE_CHARS, grade_coding
from core.assessment.common import NOT_ANSWERED, KeyAccess, clamp01, shown, type_error
from core.assessment.essay import grade_essay
from core.assessment.live import answer_key
from core.assessment.results import Details, typed_details
from core.assessment.schema import (
    CATEGORIES,
    OBJECTIVES,
    Bank,
    ModelChoiceItem,
    ModelNumberItem,
    MultipleChoiceItem,
    MultipleSelectItem,
)
from core.lesson import LESSON
from core.validators import ValidationError


def public_view(bank: Bank) -> dict[str, Any]:
    """What a page may render before submission: prompts, options, templates, word minimums,
    points, objectives, categories. No correct answers, option feedback, explanations, rubric
    concepts or keywords (so the answer key cannot leak into the page).

    ``{"id", "title", "kind", "objective", "passing_threshold", "intro", "total_points",
    "items": [{"id", "type", "prompt", "objective", "category", "points", "topic",
    "options" (choice types), "scoring" (multiple_select), "min_words" (essay),
    "template", "time_limit_minutes" (coding)}]}``
    """
    if not isinstance(bank, Bank):
        raise ValidationError(f"Expected a question bank; got {type(bank).__name__}.")
    return bank.public()


# --- results ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ItemResult(KeyAccess):
    """One graded item. ``result["score"]`` works as well as ``result.score``."""

    id: str
    type: str
    objective: str
    category: str
    topic: str
    points: float
    score: float  # 0–1
    earned: float  # score × points
    answered: bool
    feedback: str  # what was right and wrong, in sentences (no learner text)
    explanation: str  # the bank's explanation, shown after answering
    details: Details  # typed per question type (core.assessment.results)
    response: Any = None  # the learner's answer as submitted (plain text; display as text)
    reviewed: bool = False  # an instructor confirmed or overrode the automatic score
    automatic_score: float | None = None  # the grader's score, kept when a review changed it
    review_note: str = ""  # the instructor's note (plain text)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ItemResult:
        """The inverse of :meth:`to_dict` (a stored result read back)."""
        data = dict(d)
        data["details"] = typed_details(data["type"], dict(data.get("details") or {}))
        return cls(**data)


@dataclass(frozen=True)
class GradeResult(KeyAccess):
    """The graded submission of one bank. ``result["score"]`` works as well as ``result.score``.

    * ``score``: earned points / total points (unanswered items count 0), in [0, 1].
    * ``passed``: ``score >= passing_threshold``.
    * ``items``: item id → :class:`ItemResult`, in bank order.
    * ``implementation_score`` / ``conceptual_score`` / ``production_readiness``: the same
      points-weighted score over the items of category implementation / conceptual / production;
      ``None`` when the bank has no item of that category (nothing was measured).
    * ``category_scores``: the three above by category name (only categories present).
    * ``objective_mastery``: LO id → points-weighted score over that objective's items (only
      objectives the bank has items for).
    * ``improvement_areas``: sentences, most important first: objectives below the pass mark, then
      the specific concepts / rubric items / questions that lost points. Empty when every item
      scored full marks.
    """

    bank_id: str
    title: str
    kind: str
    score: float
    passed: bool
    passing_threshold: float
    earned_points: float
    total_points: float
    answered: int
    n_items: int
    items: dict[str, ItemResult]
    implementation_score: float | None
    conceptual_score: float | None
    production_readiness: float | None
    category_scores: dict[str, float]
    objective_mastery: dict[str, float]
    improvement_areas: list[str]
    verdict: str

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data (the items as dicts, in bank order)."""
        d = asdict(self)
        d["items"] = {k: v.to_dict() for k, v in self.items.items()}
        return d

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> GradeResult:
        """The inverse of :meth:`to_dict` (a stored result read back)."""
        data = dict(d)
        data["items"] = {k: ItemResult.from_dict(v) for k, v in data["items"].items()}
        return cls(**data)

    @property
    def reviewed(self) -> bool:
        return any(r.reviewed for r in self.items.values())


# --- per-type graders ------------------------------------------------------------------------


def _grade_multiple_choice(item: MultipleChoiceItem, answer: Any):
    if answer is not None and not isinstance(answer, str):
        raise type_error(item.id, "one option's text (a string)", answer)
    texts = [o.text for o in item.options]
    selected = answer if answer not in (None, "") else None
    if selected is not None and selected not in texts:
        raise ValidationError(
            f"Answer to '{item.id}': {shown(selected)} is not one of its options."
        )
    options = [
        {
            "text": o.text,
            "selected": o.text == selected,
            "correct": o.text == item.correct,
            "feedback": o.feedback,
        }
        for o in item.options
    ]
    details = {"selected": selected, "correct_answer": item.correct, "options": options}
    if selected is None:
        return 0.0, f"{NOT_ANSWERED} The correct answer is: {item.correct}", details, False
    chosen = next(o for o in item.options if o.text == selected)
    if selected == item.correct:
        fb = "Correct."
    else:
        fb = f"Not quite. The correct answer is: {item.correct}"
    if chosen.feedback:
        fb += f" {chosen.feedback}"
    return (1.0 if selected == item.correct else 0.0), fb, details, True


def _grade_multiple_select(item: MultipleSelectItem, answer: Any):
    if answer is None:
        answer = []
    if isinstance(answer, (str, bytes)) or not isinstance(answer, (list, tuple, set, frozenset)):
        raise type_error(item.id, "a list of option texts", answer)
    texts = [o.text for o in item.options]
    for a in answer:
        if not isinstance(a, str):
            raise ValidationError(
                f"Answer to '{item.id}' must list option texts; one entry is a {type(a).__name__}."
            )
        if a not in texts:
            raise ValidationError(f"Answer to '{item.id}': {shown(a)} is not one of its options.")
    ticked = set(answer)  # duplicates count once
    correct = set(item.correct)
    k = len(correct)
    w = len(texts) - k
    c = len(ticked & correct)
    x = len(ticked - correct)
    if item.scoring == "exact":
        score = 1.0 if ticked == correct else 0.0
    else:
        score = clamp01(c / k - x / w)
    options = []
    for o in item.options:
        is_correct, is_ticked = o.text in correct, o.text in ticked
        verdict = {
            (True, True): "correct, ticked",
            (True, False): "correct, missed",
            (False, True): "wrong, ticked",
            (False, False): "wrong, left blank",
        }[(is_correct, is_ticked)]
        options.append(
            {
                "text": o.text,
                "selected": is_ticked,
                "correct": is_correct,
                "verdict": verdict,
                "feedback": o.feedback,
            }
        )
    details = {
        "selected": [t for t in texts if t in ticked],
        "correct_answers": list(item.correct),
        "scoring": item.scoring,
        "correct_ticked": c,
        "wrong_ticked": x,
        "n_correct": k,
        "n_wrong": w,
        "options": options,
    }
    answered = bool(ticked)
    if not answered:
        return 0.0, f"{NOT_ANSWERED} No option was ticked.", details, False
    if item.scoring == "exact":
        fb = (
            "All correct options and no wrong ones: full marks."
            if score == 1.0
            else f"This item needs exactly the correct set (all or nothing): you ticked {c} of {k} "
            f"correct options and {x} of {w} wrong ones."
        )
    else:
        fb = (
            f"You ticked {c} of {k} correct options (+{c}/{k}) and {x} of {w} wrong options "
            f"(−{x}/{w}): score {score:.2f}."
        )
        if c == k and x == 0:
            fb = f"All {k} correct options and no wrong ones: full marks."
    missed = [o.text for o in item.options if o.text in correct and o.text not in ticked]
    wrong = [o.text for o in item.options if o.text in ticked and o.text not in correct]
    if missed:
        fb += " Missed: " + "; ".join(missed) + "."
    if wrong:
        fb += " Wrongly ticked: " + "; ".join(wrong) + "."
    return score, fb, details, True


def _grade_model_choice(item: ModelChoiceItem, answer: Any):
    key = answer_key(item)
    if answer is not None and not isinstance(answer, str):
        raise type_error(item.id, "one option's text (a string)", answer)
    selected = answer if answer not in (None, "") else None
    if selected is not None and selected not in key.options:
        raise ValidationError(
            f"Answer to '{item.id}': {shown(selected)} is not one of its options."
        )
    options = [
        {"text": o, "selected": o == selected, "correct": o == key.correct, "feedback": ""}
        for o in key.options
    ]
    details = {
        "selected": selected,
        "correct_answer": key.correct,
        "options": options,
        "model": item.model,
        "evidence": key.evidence,
    }
    if selected is None:
        return 0.0, f"{NOT_ANSWERED} The answer is {key.correct}. {key.evidence}", details, False
    if selected == key.correct:
        return 1.0, f"Correct. {key.evidence}", details, True
    return 0.0, f"Not quite: the answer is {key.correct}. {key.evidence}", details, True


def _as_number(item_id: str, answer: Any) -> float | None:
    if answer is None or (isinstance(answer, str) and not answer.strip()):
        return None
    if isinstance(answer, bool):
        raise type_error(item_id, "a number", answer)
    if isinstance(answer, (int, float)):
        value = float(answer)
    elif isinstance(answer, str):
        try:
            value = float(answer.strip().replace(",", ""))
        except ValueError:
            raise ValidationError(
                f"Answer to '{item_id}' must be a number such as 12 or 0.5; got {shown(answer)}."
            ) from None
    else:
        raise type_error(item_id, "a number", answer)
    if not math.isfinite(value):
        raise ValidationError(
            f"Answer to '{item_id}' must be a finite number; got {shown(answer)}."
        )
    return value


def _grade_model_number(item: ModelNumberItem, answer: Any):
    key = answer_key(item)
    value = _as_number(item.id, answer)
    correct = float(key.correct)
    details = {
        "value": value,
        "correct_answer": key.correct,
        "tolerance": item.tolerance,
        "model": item.model,
        "evidence": key.evidence,
    }
    if value is None:
        return 0.0, f"{NOT_ANSWERED} The answer is {key.correct:g}. {key.evidence}", details, False
    within = abs(value - correct) <= item.tolerance + 1e-12
    tol = f" (answers within ±{item.tolerance:g} count)" if item.tolerance else ""
    if within:
        return 1.0, f"Correct{tol}. {key.evidence}", details, True
    return (
        0.0,
        (f"Not quite: you answered {value:g}; the answer is {key.correct:g}{tol}. {key.evidence}"),
        details,
        True,
    )


_GRADERS = {
    "multiple_choice": _grade_multiple_choice,
    "multiple_select": _grade_multiple_select,
    "essay": grade_essay,
    "model_choice": _grade_model_choice,
    "model_number": _grade_model_number,
    "coding": grade_coding,
}


def grade_item(item: Any, answer: Any, *, run_code: bool = False) -> ItemResult:
    """Grade one item of a bank. See :func:`grade` for the answer types.

    ``details`` by type:

    * multiple_choice: ``selected``, ``correct_answer``, ``options`` [{text, selected, correct,
      feedback}]
    * multiple_select: ``selected``, ``correct_answers``, ``scoring``, ``correct_ticked``,
      ``wrong_ticked``, ``n_correct``, ``n_wrong``, ``options`` [{text, selected, correct,
      verdict, feedback}]
    * essay: ``word_count``, ``words_graded``, ``min_words``, ``words_missing``, ``truncated``,
      ``length_credit``, ``rubric_coverage``, ``concepts_found`` [{name, weight, matched}],
      ``concepts_missing`` [{name, weight, hint}], ``concepts_contradicted`` [{name, weight,
      reason ("negated" | "contradicted"), evidence (the clauses, as read)}], ``model_answer``,
      ``automatic_estimate`` (True), ``keyword_list``, ``keyword_list_reasons``,
      ``capped`` (+ the measured ``sentences``, ``function_word_share``, ``distinct_word_share``,
      ``rubric_word_share``)
    * coding: ``parsed``, ``syntax_error`` ({line, message} or None), ``rubric_found``
      [{check, description, weight, evidence}], ``rubric_missing`` [{check, description, weight,
      reason}], ``time_limit_minutes``, ``executed`` (always False), ``unchanged_template``
      (the answer is the template, whitespace aside: not answered), ``too_long`` (over
      ``MAX_CODE_CHARS``: not graded)
    """
    grader = _GRADERS.get(getattr(item, "type", None))
    if grader is None:
        raise ValidationError(f"Cannot grade {type(item).__name__}: not a question-bank item.")
    if item.type == "coding":
        score, feedback, details, answered = grade_coding(item, answer, run_code=run_code)
    else:
        score, feedback, details, answered = grader(item, answer)
    score = clamp01(float(score))
    details = typed_details(item.type, details)
    response = list(answer) if isinstance(answer, (set, frozenset, tuple)) else answer
    return ItemResult(
        id=item.id,
        type=item.type,
        objective=item.objective,
        category=item.category,
        topic=item.label,
        points=item.points,
        score=score,
        earned=score * item.points,
        answered=answered,
        feedback=feedback,
        explanation=item.explanation,
        details=details,
        response=response,
    )


def _weighted(results: list[ItemResult]) -> float | None:
    total = math.fsum(r.points for r in results)
    if not results or total <= 0:
        return None
    return math.fsum(r.earned for r in results) / total


def objective_text(lo: str) -> str:
    for o in LESSON.objectives:
        if o.id == lo:
            return f"{lo} — {o.text} (the {LESSON.page(o.page).title} page)"
    return lo


def _improvement_areas(
    bank: Bank, items: dict[str, ItemResult], mastery: dict[str, float]
) -> list[str]:
    areas: list[str] = []
    for lo, m in mastery.items():
        if m < bank.passing_threshold - 1e-9:
            areas.append(f"{objective_text(lo)}: mastery {m:.0%}")
    seen: set[str] = set(areas)
    for item in bank.items:
        r = items[item.id]
        if r.score >= 1.0 - 1e-9:
            continue
        specific: list[str] = []
        if not r.answered:
            specific.append(f"{r.topic}: not answered")
        elif r.type == "essay":
            specific += [f"{r.topic}: {c['name']}" for c in r.details["concepts_missing"]]
            if r.details["words_missing"]:
                specific.append(f"{r.topic}: write at least {r.details['min_words']} words")
            if r.details["keyword_list"]:
                specific.append(f"{r.topic}: explain in full sentences, not a keyword list")
        elif r.type == "coding":
            if r.details.get("too_long"):
                specific.append(
                    f"{r.topic}: shorten the code to at most {MAX_CODE_CHARS:,} characters"
                )
            elif r.details["syntax_error"]:
                specific.append(
                    f"{r.topic}: make the code parse ({r.details['syntax_error']['message']})"
                )
            else:
                specific += [f"{r.topic}: {c['description']}" for c in r.details["rubric_missing"]]
        else:
            specific.append(r.topic)
        for s in specific:
            if s not in seen:
                seen.add(s)
                areas.append(s)
    return areas


def grade(bank: Bank, responses: Mapping[str, Any], *, run_code: bool = False) -> GradeResult:
    """Grade ``responses`` (item id → answer) against ``bank``.

    Answers: multiple_choice → the chosen option's text; multiple_select → a list of option
    texts (duplicates count once); essay and coding → a string. A missing id, ``None``, an empty
    string, an empty list or code identical to the template (whitespace aside) is "not answered"
    (score 0). Raises :class:`ValidationError` for an
    id that is not in the bank, an answer of the wrong type, or an option text that is not an
    option of that item.

    ``run_code``: run coding items that have ``tests`` in the sandbox (the deployment's policy,
    :func:`core.assessment.policy.code_execution`); False reads code without running it.
    """
    if not isinstance(bank, Bank):
        raise ValidationError(f"Expected a question bank; got {type(bank).__name__}.")
    if not isinstance(responses, Mapping):
        raise ValidationError(
            f"Responses must map item ids to answers; got {type(responses).__name__}."
        )
    known = set(bank.item_ids)
    for key in responses:
        if not isinstance(key, str) or key not in known:
            raise ValidationError(
                f"Unknown question id {shown(key)} for bank '{bank.id}'; its ids "
                f"are {', '.join(bank.item_ids)}."
            )
    items = {
        item.id: grade_item(item, responses.get(item.id), run_code=run_code) for item in bank.items
    }
    return combine(bank, items)


def combine(bank: Bank, items: dict[str, ItemResult]) -> GradeResult:
    """The bank's result from its graded items (scores, pass, categories, objectives, advice)."""
    results = list(items.values())
    total = math.fsum(r.points for r in results)
    earned = math.fsum(r.earned for r in results)
    score = clamp01(earned / total)
    passed = score >= bank.passing_threshold - 1e-9
    category_scores = {
        c: s
        for c in CATEGORIES
        if (s := _weighted([r for r in results if r.category == c])) is not None
    }
    mastery = {
        lo: s
        for lo in OBJECTIVES
        if (s := _weighted([r for r in results if r.objective == lo])) is not None
    }
    if bank.kind == "summative":
        verdict = (
            "Ready for advanced circuit analysis" if passed else "Additional study recommended"
        )
    else:
        verdict = (
            "Checkpoint passed" if passed else "Not yet passed: read the explanations and retry"
        )
    return GradeResult(
        bank_id=bank.id,
        title=bank.title,
        kind=bank.kind,
        score=score,
        passed=passed,
        passing_threshold=bank.passing_threshold,
        earned_points=earned,
        total_points=total,
        answered=sum(1 for r in results if r.answered),
        n_items=len(results),
        items=items,
        implementation_score=category_scores.get("implementation"),
        conceptual_score=category_scores.get("conceptual"),
        production_readiness=category_scores.get("production"),
        category_scores=category_scores,
        objective_mastery=mastery,
        improvement_areas=_improvement_areas(bank, items, mastery),
        verdict=verdict,
    )


def with_reviews(
    bank: Bank, result: GradeResult, reviews: Mapping[str, tuple[float, str]]
) -> GradeResult:
    """``result`` with an instructor's reviewed scores: item id → (score in [0, 1], note).

    A reviewed item keeps its automatic score in ``automatic_score`` and says so in its
    feedback; every total, category, objective and the pass are recomputed from the new scores.
    Raises :class:`ValidationError` for an unknown item or a score outside [0, 1].
    """
    items = dict(result.items)
    for item_id, (score, note) in reviews.items():
        if item_id not in items:
            raise ValidationError(f"Unknown question id {shown(item_id)} for bank '{bank.id}'.")
        if not isinstance(score, (int, float)) or not 0 <= score <= 1 or math.isnan(score):
            raise ValidationError(
                f"A reviewed score is a fraction from 0 to 1; got {shown(score)}."
            )
        r = items[item_id]
        automatic = r.automatic_score if r.reviewed else r.score
        change = (
            "confirmed the automatic score"
            if abs(score - automatic) < 1e-9
            else f"changed the automatic score of {automatic:.0%} to {score:.0%}"
        )
        items[item_id] = replace(
            r,
            score=float(score),
            earned=float(score) * r.points,
            reviewed=True,
            automatic_score=automatic,
            review_note=note or "",
            feedback=f"Reviewed by your instructor, who {change}. {r.feedback}",
        )
    return combine(bank, items)
