"""Assessment engine: load a question bank, grade responses, explain the result.

Public API (the pages and checks rely on these names)::

    bank = load_bank("assessments/checkpoint_1.yaml")        # or load_bank(bank_path("summative"))
    view = public_view(bank)                                 # render this before submission
    result = grade(bank, {"item_id": answer, ...})           # GradeResult
    result.score, result.passed, result.items["item_id"].score, result.to_dict()
    report_markdown(bank, result)                            # a downloadable report
    GRADING_RULES_MARKDOWN                                   # "How this is graded"

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

import functools
import json
import math
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from core.assessment_code import MAX_CODE_CHARS, analyze_code, same_as_template, too_long_message
from core.assessment_schema import (
    CATEGORIES,
    MAX_ESSAY_WORDS,
    OBJECTIVES,
    Bank,
    CodingItem,
    EssayItem,
    MultipleChoiceItem,
    MultipleSelectItem,
)
from core.assessment_text import (
    PatternSet,
    analyse_claims,
    prose_check,
    subject_matches,
    text_stats,
    truncate_words,
)
from core.assessment_yaml import MAX_BANK_BYTES, load_bank
from core.lesson import LESSON
from core.validators import ValidationError

__all__ = [
    "load_bank",
    "load_banks",
    "bank_path",
    "BANK_DIR",
    "CHECKPOINT_IDS",
    "SUMMATIVE_ID",
    "public_view",
    "grade",
    "grade_item",
    "GradeResult",
    "ItemResult",
    "report_markdown",
    "escape_markdown",
    "GRADING_RULES_MARKDOWN",
    "KEYWORD_LIST_CAP",
    "CONTRADICTION_PENALTY",
    "MAX_ESSAY_WORDS",
    "MAX_ESSAY_CHARS",
    "MAX_CODE_CHARS",
    "MAX_BANK_BYTES",
    "Bank",
]

#: The folder of the shipped banks (``assessments/`` at the repository root).
BANK_DIR = Path(__file__).resolve().parent.parent / "assessments"
#: Bank ids of the three in-page checkpoints (LO1, LO2, LO3) and of the final assessment.
CHECKPOINT_IDS: tuple[str, ...] = ("checkpoint_1", "checkpoint_2", "checkpoint_3")
SUMMATIVE_ID = "summative"

#: An essay that reads as a keyword list scores at most this (the pass mark is 0.85).
KEYWORD_LIST_CAP = 0.4
#: A rubric concept whose contradiction the essay states earns nothing and, in addition, takes
#: this share of its weight off the earned weight (a wrong claim is worse than a missing one).
CONTRADICTION_PENALTY = 0.5
#: Text beyond this many characters is not looked at (3,000 words fit easily).
MAX_ESSAY_CHARS = 60_000

NOT_ANSWERED = "Not answered."


def bank_path(bank_id: str) -> Path:
    """``assessments/<bank_id>.yaml`` of the shipped banks."""
    if not isinstance(bank_id, str) or not bank_id.replace("_", "").isalnum():
        raise ValidationError(f"Unknown question bank {bank_id!r}.")
    return BANK_DIR / f"{bank_id}.yaml"


def load_banks(directory: str | Path = BANK_DIR) -> dict[str, Bank]:
    """Every ``*.yaml`` bank in ``directory`` by bank id; bank ids and item ids must be unique
    across the banks. Raises :class:`ValidationError` on the first broken bank (pages that must
    keep working when one bank is broken load banks one by one with :func:`load_bank`)."""
    banks: dict[str, Bank] = {}
    owner: dict[str, str] = {}
    for path in sorted(Path(directory).glob("*.yaml")):
        bank = load_bank(path)
        if bank.id in banks:
            raise ValidationError(f"Question bank '{bank.source}': the bank id '{bank.id}' is also "
                                  f"used by '{banks[bank.id].source}'.")
        for item_id in bank.item_ids:
            if item_id in owner:
                raise ValidationError(f"Question bank '{bank.source}': item '{item_id}', field 'id': the "
                                      f"id is also used in bank '{owner[item_id]}'; ids must be "
                                      f"unique across banks.")
            owner[item_id] = bank.id
        banks[bank.id] = bank
    return banks


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

class _KeyAccess:
    """``result["score"]`` works as well as ``result.score``."""

    def __getitem__(self, key: str) -> Any:
        try:
            return getattr(self, key)
        except AttributeError:
            raise KeyError(key) from None


@dataclass(frozen=True)
class ItemResult(_KeyAccess):
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
    details: dict[str, Any]  # type-specific, see grade_item
    response: Any = None  # the learner's answer as submitted (plain text; display as text)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class GradeResult(_KeyAccess):
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


# --- per-type graders ------------------------------------------------------------------------

def _clamp01(x: float) -> float:
    return 0.0 if x <= 0 else 1.0 if x >= 1 else x


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _type_error(item_id: str, expected: str, value: Any) -> ValidationError:
    return ValidationError(f"Answer to '{item_id}' must be {expected}; got "
                           f"{type(value).__name__}.")


def _grade_multiple_choice(item: MultipleChoiceItem, answer: Any):
    if answer is not None and not isinstance(answer, str):
        raise _type_error(item.id, "one option's text (a string)", answer)
    texts = [o.text for o in item.options]
    selected = answer if answer not in (None, "") else None
    if selected is not None and selected not in texts:
        raise ValidationError(f"Answer to '{item.id}': {_shown(selected)} is not one of its "
                              f"options.")
    options = [
        {"text": o.text, "selected": o.text == selected, "correct": o.text == item.correct,
         "feedback": o.feedback}
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
        raise _type_error(item.id, "a list of option texts", answer)
    texts = [o.text for o in item.options]
    for a in answer:
        if not isinstance(a, str):
            raise ValidationError(f"Answer to '{item.id}' must list option texts; one entry is a "
                                  f"{type(a).__name__}.")
        if a not in texts:
            raise ValidationError(f"Answer to '{item.id}': {_shown(a)} is not one of its options.")
    ticked = set(answer)  # duplicates count once
    correct = set(item.correct)
    k = len(correct)
    w = len(texts) - k
    c = len(ticked & correct)
    x = len(ticked - correct)
    if item.scoring == "exact":
        score = 1.0 if ticked == correct else 0.0
    else:
        score = _clamp01(c / k - x / w)
    options = []
    for o in item.options:
        is_correct, is_ticked = o.text in correct, o.text in ticked
        verdict = {(True, True): "correct, ticked", (True, False): "correct, missed",
                   (False, True): "wrong, ticked", (False, False): "wrong, left blank"}[
            (is_correct, is_ticked)]
        options.append({"text": o.text, "selected": is_ticked, "correct": is_correct,
                        "verdict": verdict, "feedback": o.feedback})
    details = {"selected": [t for t in texts if t in ticked], "correct_answers": list(item.correct),
               "scoring": item.scoring, "correct_ticked": c, "wrong_ticked": x,
               "n_correct": k, "n_wrong": w, "options": options}
    answered = bool(ticked)
    if not answered:
        return 0.0, f"{NOT_ANSWERED} No option was ticked.", details, False
    if item.scoring == "exact":
        fb = ("All correct options and no wrong ones: full marks." if score == 1.0 else
              f"This item needs exactly the correct set (all or nothing): you ticked {c} of {k} "
              f"correct options and {x} of {w} wrong ones.")
    else:
        fb = (f"You ticked {c} of {k} correct options (+{c}/{k}) and {x} of {w} wrong options "
              f"(−{x}/{w}): score {score:.2f}.")
        if c == k and x == 0:
            fb = f"All {k} correct options and no wrong ones: full marks."
    missed = [o.text for o in item.options if o.text in correct and o.text not in ticked]
    wrong = [o.text for o in item.options if o.text in ticked and o.text not in correct]
    if missed:
        fb += " Missed: " + "; ".join(missed) + "."
    if wrong:
        fb += " Wrongly ticked: " + "; ".join(wrong) + "."
    return score, fb, details, True


@functools.lru_cache(maxsize=256)
def _essay_patterns(item: EssayItem) -> tuple[PatternSet, PatternSet]:
    """The item's subject and predicate phrasings, compiled once per item. Predicate labels are
    ``(concept index, kind, claim index)`` with kind ``claim``, ``contra`` or ``keyword``."""
    subjects: list[tuple[Any, str]] = []
    predicates: list[tuple[Any, str]] = []
    for ci, concept in enumerate(item.rubric):
        for kind, claims in (("claim", concept.claims), ("contra", concept.contradictions)):
            for k, claim in enumerate(claims):
                subjects += [(None, p) for p in claim.subject]
                predicates += [((ci, kind, k), p) for p in claim.predicate]
        if not concept.claims:
            predicates += [((ci, "keyword", 0), kw) for kw in concept.keywords]
    return PatternSet.build(subjects), PatternSet.build(predicates)


def _match_rubric(item: EssayItem, text: str):
    """Concepts found / missing / contradicted, and the share of the text's terms that are rubric
    phrasings. A concept whose contradiction is stated earns nothing, even if it is also stated
    correctly elsewhere; a claim stated only in negated clauses earns nothing."""
    subjects, predicates = _essay_patterns(item)
    analysis = analyse_claims(text, subjects, predicates)
    affirmed: dict[int, list[str]] = {}
    negated: dict[int, list[str]] = {}
    against: dict[int, list[str]] = {}
    for hit in analysis.hits:
        ci, kind, k = hit.label
        concept = item.rubric[ci]
        claim = None if kind == "keyword" else \
            (concept.claims if kind == "claim" else concept.contradictions)[k]
        if claim is not None and claim.subject:
            ok = subject_matches(hit.subject, claim.subject_seqs)
            if not ok and kind != "contra":  # lenient for credit, strict for contradictions
                ok = any(subject_matches(o, claim.subject_seqs) for o in hit.others)
            if not ok:
                continue
        if kind == "contra":
            if not hit.negated and not hit.hedged:
                against.setdefault(ci, []).append(hit.clause)
        elif hit.negated:
            negated.setdefault(ci, []).append(hit.clause)
        else:
            affirmed.setdefault(ci, []).append(hit.clause)
    found, missing, contradicted = [], [], []
    for ci, c in enumerate(item.rubric):
        if ci in against:
            contradicted.append({"name": c.name, "weight": c.weight, "reason": "contradicted",
                                 "evidence": _dedupe(against[ci])})
        elif ci in affirmed:
            found.append({"name": c.name, "weight": c.weight, "matched": _dedupe(affirmed[ci])})
        elif ci in negated:
            contradicted.append({"name": c.name, "weight": c.weight, "reason": "negated",
                                 "evidence": _dedupe(negated[ci])})
        else:
            missing.append({"name": c.name, "weight": c.weight, "hint": c.hint})
    share = analysis.covered_terms / analysis.total_terms if analysis.total_terms else 0.0
    return found, missing, contradicted, share


def _dedupe(xs: list[str]) -> list[str]:
    return list(dict.fromkeys(xs))


def _grade_essay(item: EssayItem, answer: Any):
    if answer is not None and not isinstance(answer, str):
        raise _type_error(item.id, "text (a string)", answer)
    text = answer or ""
    notes: list[str] = []
    char_cut = len(text) > MAX_ESSAY_CHARS
    if char_cut:
        notes.append(f"Your answer is {len(text):,} characters long; only the first "
                     f"{MAX_ESSAY_CHARS:,} were read.")
        text = text[:MAX_ESSAY_CHARS]
    graded, n_words = truncate_words(text, MAX_ESSAY_WORDS)
    truncated = char_cut or n_words > MAX_ESSAY_WORDS
    if n_words > MAX_ESSAY_WORDS:
        many = f"at least {n_words:,}" if char_cut else f"{n_words:,}"
        notes.append(f"Your answer has {many} words; only the first {MAX_ESSAY_WORDS:,} were "
                     f"graded.")
    stats = text_stats(graded)
    words = stats.words
    details: dict[str, Any] = {
        "word_count": n_words, "words_graded": words, "min_words": item.min_words,
        "words_missing": max(0, item.min_words - words), "truncated": truncated,
    }
    if words == 0:
        details.update(length_credit=0.0, rubric_coverage=0.0, concepts_found=[],
                       concepts_missing=[{"name": c.name, "weight": c.weight, "hint": c.hint}
                                         for c in item.rubric],
                       concepts_contradicted=[], model_answer=item.explanation,
                       automatic_estimate=True,
                       keyword_list=False, keyword_list_reasons=[], capped=False,
                       sentences=0, function_word_share=0.0, distinct_word_share=0.0,
                       rubric_word_share=0.0)
        return 0.0, NOT_ANSWERED, details, False

    found, missing, contradicted, rubric_share = _match_rubric(item, graded)
    total_weight = math.fsum(c.weight for c in item.rubric)
    penalty = CONTRADICTION_PENALTY * math.fsum(
        c["weight"] for c in contradicted if c["reason"] == "contradicted")
    coverage = _clamp01((math.fsum(f["weight"] for f in found) - penalty) / total_weight)
    length_credit = min(1.0, words / item.min_words)
    check = prose_check(stats, rubric_share)
    raw_score = coverage * length_credit
    score = min(raw_score, KEYWORD_LIST_CAP) if check.is_keyword_list else raw_score
    details.update(
        length_credit=length_credit, rubric_coverage=coverage, concepts_found=found,
        concepts_missing=missing, concepts_contradicted=contradicted,
        model_answer=item.explanation, automatic_estimate=True,
        keyword_list=check.is_keyword_list,
        keyword_list_reasons=list(check.reasons), capped=check.is_keyword_list and raw_score > score,
        sentences=stats.sentences, function_word_share=stats.function_share,
        distinct_word_share=stats.distinct_share, rubric_word_share=rubric_share,
    )

    parts: list[str] = []
    if words < item.min_words:
        parts.append(f"You wrote {words} words; full length credit needs {item.min_words} "
                     f"({item.min_words - words} more), so length credit is {length_credit:.2f}.")
    else:
        parts.append(f"Length: {words} words (minimum {item.min_words}): full length credit.")
    if found:
        parts.append("Concepts covered: " + "; ".join(f["name"] for f in found) + ".")
    if contradicted:
        parts.append("Claims that earn nothing because the answer contradicts or negates them: "
                     + "; ".join(f"{c['name']} ({c['reason']})" for c in contradicted) + ".")
    if missing:
        parts.append("Concepts missing: " + "; ".join(
            m["name"] + (f" — {m['hint']}" if m["hint"] else "") for m in missing) + ".")
    if not found and not contradicted:
        parts.append("None of the rubric's concepts appear, so the answer earns no credit; "
                     "answer the question that was asked.")
    parts.append(f"Rubric coverage {coverage:.2f} × length credit {length_credit:.2f} = "
                 f"{raw_score:.2f}. This is an automatic estimate: compare your answer with the "
                 f"model answer and the claims listed.")
    if check.is_keyword_list:
        parts.append("This reads as a list of keywords rather than an explanation: "
                     + "; ".join(check.reasons)
                     + f". Explain the ideas in full sentences; until then the score is capped at "
                       f"{KEYWORD_LIST_CAP:.2f}.")
    parts.extend(notes)
    return score, " ".join(parts), details, True


def _grade_coding(item: CodingItem, answer: Any):
    if answer is not None and not isinstance(answer, str):
        raise _type_error(item.id, "code as text (a string)", answer)
    code = answer or ""
    unchanged = same_as_template(code, item.template)
    details: dict[str, Any] = {"parsed": False, "syntax_error": None, "rubric_found": [],
                               "rubric_missing": [], "time_limit_minutes": item.time_limit_minutes,
                               "executed": False, "unchanged_template": unchanged,
                               "too_long": False}
    if not code.strip() or unchanged:
        reason = "the template is unchanged" if unchanged else "not answered"
        details["rubric_missing"] = [{"check": r.check, "description": r.label,
                                      "weight": r.weight, "reason": reason}
                                     for r in item.rubric]
        if unchanged:
            return 0.0, (f"{NOT_ANSWERED} This is the starting template, unchanged (whitespace "
                         f"aside), so it counts as not answered and scores 0. Write your "
                         f"implementation into it."), details, False
        return 0.0, NOT_ANSWERED, details, False
    if len(code) > MAX_CODE_CHARS:
        details["too_long"] = True
        details["rubric_missing"] = [{"check": r.check, "description": r.label,
                                      "weight": r.weight, "reason": "the code was too long to grade"}
                                     for r in item.rubric]
        return 0.0, f"The code was not graded: {too_long_message(len(code))}.", details, True
    analysis = analyze_code(code, [r.check for r in item.rubric])
    if not analysis.parsed:
        details["syntax_error"] = {"line": analysis.error_line, "message": analysis.error}
        details["rubric_missing"] = [{"check": r.check, "description": r.label,
                                      "weight": r.weight, "reason": "the code was not parsed"}
                                     for r in item.rubric]
        reason = analysis.error.rstrip(".?! ")
        return 0.0, (f"The code could not be graded: {reason}. Fix it and resubmit; the rubric is "
                     f"checked only on code that parses (it is never run)."), details, True
    details["parsed"] = True
    total = math.fsum(r.weight for r in item.rubric)
    earned = 0.0
    for r in item.rubric:
        res = analysis.checks[r.check]
        entry = {"check": r.check, "description": r.label, "weight": r.weight}
        if res.found:
            earned += r.weight
            details["rubric_found"].append(entry | {"evidence": res.detail})
        else:
            details["rubric_missing"].append(entry | {"reason": res.detail})
    score = earned / total
    fb = [f"Structural rubric (the code is read, never run): {len(details['rubric_found'])} of "
          f"{len(item.rubric)} items found, {earned:g} of {total:g} weight."]
    if details["rubric_found"]:
        fb.append("Found: " + "; ".join(e["description"] for e in details["rubric_found"]) + ".")
    if details["rubric_missing"]:
        fb.append("Missing: " + "; ".join(f"{e['description']} — {e['reason']}"
                                          for e in details["rubric_missing"]) + ".")
    return score, " ".join(fb), details, True


_GRADERS = {
    "multiple_choice": _grade_multiple_choice,
    "multiple_select": _grade_multiple_select,
    "essay": _grade_essay,
    "coding": _grade_coding,
}


def grade_item(item: Any, answer: Any) -> ItemResult:
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
    score, feedback, details, answered = grader(item, answer)
    score = _clamp01(float(score))
    response = list(answer) if isinstance(answer, (set, frozenset, tuple)) else answer
    return ItemResult(
        id=item.id, type=item.type, objective=item.objective, category=item.category,
        topic=item.label, points=item.points, score=score, earned=score * item.points,
        answered=answered, feedback=feedback, explanation=item.explanation, details=details,
        response=response,
    )


def _weighted(results: list[ItemResult]) -> float | None:
    total = math.fsum(r.points for r in results)
    if not results or total <= 0:
        return None
    return math.fsum(r.earned for r in results) / total


def _objective_text(lo: str) -> str:
    for o in LESSON.objectives:
        if o.id == lo:
            return f"{lo} — {o.text} (the {LESSON.page(o.page).title} page)"
    return lo


def _improvement_areas(bank: Bank, items: dict[str, ItemResult],
                       mastery: dict[str, float]) -> list[str]:
    areas: list[str] = []
    for lo, m in mastery.items():
        if m < bank.passing_threshold - 1e-9:
            areas.append(f"{_objective_text(lo)}: mastery {m:.0%}")
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
                specific.append(f"{r.topic}: shorten the code to at most {MAX_CODE_CHARS:,} "
                                f"characters")
            elif r.details["syntax_error"]:
                specific.append(f"{r.topic}: make the code parse ({r.details['syntax_error']['message']})")
            else:
                specific += [f"{r.topic}: {c['description']}" for c in r.details["rubric_missing"]]
        else:
            specific.append(r.topic)
        for s in specific:
            if s not in seen:
                seen.add(s)
                areas.append(s)
    return areas


def grade(bank: Bank, responses: Mapping[str, Any]) -> GradeResult:
    """Grade ``responses`` (item id → answer) against ``bank``.

    Answers: multiple_choice → the chosen option's text; multiple_select → a list of option
    texts (duplicates count once); essay and coding → a string. A missing id, ``None``, an empty
    string, an empty list or code identical to the template (whitespace aside) is "not answered"
    (score 0). Raises :class:`ValidationError` for an
    id that is not in the bank, an answer of the wrong type, or an option text that is not an
    option of that item.
    """
    if not isinstance(bank, Bank):
        raise ValidationError(f"Expected a question bank; got {type(bank).__name__}.")
    if not isinstance(responses, Mapping):
        raise ValidationError(f"Responses must map item ids to answers; got "
                              f"{type(responses).__name__}.")
    known = set(bank.item_ids)
    for key in responses:
        if not isinstance(key, str) or key not in known:
            raise ValidationError(f"Unknown question id {_shown(key)} for bank '{bank.id}'; its ids "
                                  f"are {', '.join(bank.item_ids)}.")
    items = {item.id: grade_item(item, responses.get(item.id)) for item in bank.items}
    results = list(items.values())
    total = math.fsum(r.points for r in results)
    earned = math.fsum(r.earned for r in results)
    score = _clamp01(earned / total)
    passed = score >= bank.passing_threshold - 1e-9
    category_scores = {c: s for c in CATEGORIES
                       if (s := _weighted([r for r in results if r.category == c])) is not None}
    mastery = {lo: s for lo in OBJECTIVES
               if (s := _weighted([r for r in results if r.objective == lo])) is not None}
    if bank.kind == "summative":
        verdict = "Ready for advanced circuit analysis" if passed else "Additional study recommended"
    else:
        verdict = "Checkpoint passed" if passed else "Not yet passed: read the explanations and retry"
    return GradeResult(
        bank_id=bank.id, title=bank.title, kind=bank.kind, score=score, passed=passed,
        passing_threshold=bank.passing_threshold, earned_points=earned, total_points=total,
        answered=sum(1 for r in results if r.answered), n_items=len(results), items=items,
        implementation_score=category_scores.get("implementation"),
        conceptual_score=category_scores.get("conceptual"),
        production_readiness=category_scores.get("production"),
        category_scores=category_scores, objective_mastery=mastery,
        improvement_areas=_improvement_areas(bank, items, mastery), verdict=verdict,
    )


# --- report ----------------------------------------------------------------------------------

_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|#~])")


def escape_markdown(text: str) -> str:
    """Backslash-escape Markdown syntax so ``text`` renders literally (``__init__`` stays
    ``__init__`` instead of turning bold). Use it before passing feedback to ``st.markdown``."""
    return _MD_SPECIAL.sub(r"\\\1", text)


def _fence(text: str) -> str:
    """Learner text as a fenced block, so it renders as plain text whatever it contains."""
    longest = 0
    run = 0
    for ch in text:
        run = run + 1 if ch == "`" else 0
        longest = max(longest, run)
    fence = "`" * max(3, longest + 1)
    return f"{fence}text\n{text}\n{fence}"


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{x:.0%}"


def _cell(text: str) -> str:
    return escape_markdown(text).replace("\n", " ")


def report_markdown(bank: Bank, result: GradeResult) -> str:
    """A readable Markdown report of ``result`` (for download). Learner text appears only inside
    fenced code blocks."""
    if not isinstance(bank, Bank) or not isinstance(result, GradeResult):
        raise ValidationError("report_markdown needs a question bank and its GradeResult.")
    if result.bank_id != bank.id:
        raise ValidationError(f"This result belongs to bank '{result.bank_id}', not '{bank.id}'.")
    out: list[str] = [f"# {bank.title}: results", ""]
    status = "PASSED" if result.passed else "NOT PASSED"
    out += [f"**Score: {result.score:.1%}** ({result.earned_points:g} of {result.total_points:g} "
            f"points) — pass mark {result.passing_threshold:.0%}: **{status}**. {result.verdict}.",
            "", f"Answered {result.answered} of {result.n_items} questions.", ""]
    out += ["## Scores by category", "", "| Category | Score |", "|---|---|",
            f"| Implementation | {_pct(result.implementation_score)} |",
            f"| Conceptual | {_pct(result.conceptual_score)} |",
            f"| Production readiness | {_pct(result.production_readiness)} |", "",
            "(— means this assessment has no question of that category.)", ""]
    out += ["## Mastery by learning objective", "", "| Objective | Mastery |", "|---|---|"]
    out += [f"| {_cell(_objective_text(lo))} | {m:.0%} |"
            for lo, m in result.objective_mastery.items()]
    out.append("")
    out += ["## Improvement areas", ""]
    out += [f"- {escape_markdown(a)}" for a in result.improvement_areas] or [
        "- None: every question earned full marks."]
    out.append("")
    out += ["## Questions", ""]
    for n, item in enumerate(bank.items, start=1):
        r = result.items[item.id]
        out += [f"### {n}. {r.topic} — {r.score:.0%} ({r.earned:g} of {r.points:g} points)", "",
                f"*{item.type.replace('_', ' ')} · {item.objective} · {item.category}*", "",
                item.prompt.strip(), ""]
        if item.type in ("multiple_choice", "multiple_select"):
            out += ["| Option | Yours | Correct | Feedback |", "|---|---|---|---|"]
            for o in r.details["options"]:
                out.append(f"| {_cell(o['text'])} | {'✔' if o['selected'] else ''} | "
                           f"{'✔' if o['correct'] else ''} | {_cell(o['feedback'] or '')} |")
            out.append("")
        elif r.response:
            out += ["Your answer:", "", _fence(str(r.response)), ""]
        if item.type == "essay" and r.answered:
            d = r.details
            out += [f"- Words: {d['words_graded']} (minimum {d['min_words']}); length credit "
                    f"{d['length_credit']:.2f}; rubric coverage {d['rubric_coverage']:.2f}",
                    "- Concepts found: " + (escape_markdown(", ".join(
                        c["name"] for c in d["concepts_found"])) or "none"),
                    "- Concepts missing: " + (escape_markdown(", ".join(
                        c["name"] for c in d["concepts_missing"])) or "none"),
                    "- Negated or contradicted: " + (escape_markdown(", ".join(
                        f"{c['name']} ({c['reason']})"
                        for c in d.get("concepts_contradicted", []))) or "none"),
                    "- The essay score is an automatic estimate.",
                    ""]
        if item.type == "coding" and r.answered:
            d = r.details
            out += [f"- Found: {escape_markdown(e['description'])} ({escape_markdown(e['evidence'])})"
                    for e in d["rubric_found"]]
            out += [f"- Missing: {escape_markdown(e['description'])} — "
                    f"{escape_markdown(e['reason'])}" for e in d["rubric_missing"]]
            out.append("")
        out += [f"**Feedback.** {escape_markdown(r.feedback)}", "",
                f"**Explanation.** {r.explanation}", ""]
    out += ["---", "", GRADING_RULES_MARKDOWN]
    return "\n".join(out)


GRADING_RULES_MARKDOWN = f"""\
### How this is graded

Every question has points. Your **score** is the points you earned divided by the points
available (an unanswered question earns 0), and you **pass** when it reaches the pass mark
(85 % unless the question bank says otherwise). Category scores (implementation, conceptual,
production readiness) and the mastery of each learning objective are the same calculation over
that group's questions only.

**Multiple choice (one answer).** Full points for the correct option, none otherwise.

**Multiple select (tick all that apply).** Partial credit with a penalty: with *k* correct and
*w* wrong options, each correct option you tick adds 1/*k*, each wrong option you tick subtracts
1/*w*, and the result is kept between 0 and 1. Ticking every box therefore earns 0, and all
correct options plus one of two wrong ones earns 1 − 1/2 = 0.5. A question may instead be marked
*all or nothing*: full points only for exactly the correct set.

**Essays** (the score is an automatic estimate). Two things are measured and multiplied:
*length credit* = your words ÷ the minimum (at most 1; you are told how many words are missing)
and *rubric coverage* = the weighted share of the rubric's claims your answer makes. A claim is
a subject and what is said of it ("the QK circuit → decides where a position attends"); it counts
when both appear, in any of many phrasings, in the same clause (or the subject in an earlier
one: "… It decides where …"). A claim in a negated clause ("QK does not decide …", "it is not
true that …") earns nothing, and a claim your answer contradicts (the subject with a wrong
predicate, such as "QK decides what is written") earns nothing and takes off {CONTRADICTION_PENALTY:.0%} of its weight.
After grading you see the model answer and the claims found, missing, negated or contradicted.
An answer that is a list of keywords rather than sentences (too few sentences, almost no
ordinary connecting words, heavy repetition, or mostly rubric terms) is capped at
{KEYWORD_LIST_CAP:.0%}, and the feedback says why.
Only the first {MAX_ESSAY_WORDS:,} words are graded.

**Code.** Your code is **never run**; it is read as a syntax tree. Code that does not parse
scores 0 and you are shown the line of the syntax error. Otherwise each rubric item found earns
its weight: an `nn.Module` subclass; `__init__` that builds the components;
`forward(self, input_ids, return_analysis=False)`; residual-stream tracking; per-head attention;
QK/OV circuit methods; an information-flow (path decomposition) method. The feedback lists each
item as found (with its line) or missing (with the reason). The starting template, unchanged,
counts as not answered and scores 0. Code longer than {MAX_CODE_CHARS:,} characters is not graded
(the answer box stops there). The time limit is advisory only.

The correct answers and rubrics are shown only after you submit.
"""


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
            print(f"ok   {path}: '{bank.id}', {len(bank.items)} items, "
                  f"{math.fsum(i.points for i in bank.items):g} points")
    if not argv and not failed:
        try:
            load_banks(BANK_DIR)
        except ValidationError as exc:
            failed += 1
            print(f"FAIL {exc}")
    return 1 if failed else 0


if __name__ == "__main__":  # pragma: no cover
    import sys

    raise SystemExit(_main(sys.argv[1:]))
