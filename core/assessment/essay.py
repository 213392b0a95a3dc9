"""Essay grading: a rubric of claims (subject → what is said of it), checked clause by clause
with negation and contradiction, times length credit, with a cap for keyword lists.

The text analysis itself (terms, stems, clauses, negation) is in :mod:`core.assessment.text`.
"""

from __future__ import annotations

import functools
import math
from typing import Any

from core.assessment.common import NOT_ANSWERED, clamp01, dedupe, type_error
from core.assessment.schema import MAX_ESSAY_WORDS, EssayItem
from core.assessment.text import (
    PatternSet,
    analyse_claims,
    prose_check,
    subject_matches,
    text_stats,
    truncate_words,
)

#: An essay that reads as a keyword list scores at most this (the pass mark is 0.85).
KEYWORD_LIST_CAP = 0.4
#: A rubric concept whose contradiction the essay states earns nothing and, in addition, takes
#: this share of its weight off the earned weight (a wrong claim is worse than a missing one).
CONTRADICTION_PENALTY = 0.5
#: Text beyond this many characters is not looked at (3,000 words fit easily).
MAX_ESSAY_CHARS = 60_000


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
        claim = (
            None
            if kind == "keyword"
            else (concept.claims if kind == "claim" else concept.contradictions)[k]
        )
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
            contradicted.append(
                {
                    "name": c.name,
                    "weight": c.weight,
                    "reason": "contradicted",
                    "evidence": dedupe(against[ci]),
                }
            )
        elif ci in affirmed:
            found.append({"name": c.name, "weight": c.weight, "matched": dedupe(affirmed[ci])})
        elif ci in negated:
            contradicted.append(
                {
                    "name": c.name,
                    "weight": c.weight,
                    "reason": "negated",
                    "evidence": dedupe(negated[ci]),
                }
            )
        else:
            missing.append({"name": c.name, "weight": c.weight, "hint": c.hint})
    share = analysis.covered_terms / analysis.total_terms if analysis.total_terms else 0.0
    return found, missing, contradicted, share


def grade_essay(item: EssayItem, answer: Any):
    if answer is not None and not isinstance(answer, str):
        raise type_error(item.id, "text (a string)", answer)
    text = answer or ""
    notes: list[str] = []
    char_cut = len(text) > MAX_ESSAY_CHARS
    if char_cut:
        notes.append(
            f"Your answer is {len(text):,} characters long; only the first "
            f"{MAX_ESSAY_CHARS:,} were read."
        )
        text = text[:MAX_ESSAY_CHARS]
    graded, n_words = truncate_words(text, MAX_ESSAY_WORDS)
    truncated = char_cut or n_words > MAX_ESSAY_WORDS
    if n_words > MAX_ESSAY_WORDS:
        many = f"at least {n_words:,}" if char_cut else f"{n_words:,}"
        notes.append(
            f"Your answer has {many} words; only the first {MAX_ESSAY_WORDS:,} were graded."
        )
    stats = text_stats(graded)
    words = stats.words
    details: dict[str, Any] = {
        "word_count": n_words,
        "words_graded": words,
        "min_words": item.min_words,
        "words_missing": max(0, item.min_words - words),
        "truncated": truncated,
    }
    if words == 0:
        details.update(
            length_credit=0.0,
            rubric_coverage=0.0,
            concepts_found=[],
            concepts_missing=[
                {"name": c.name, "weight": c.weight, "hint": c.hint} for c in item.rubric
            ],
            concepts_contradicted=[],
            model_answer=item.explanation,
            automatic_estimate=True,
            keyword_list=False,
            keyword_list_reasons=[],
            capped=False,
            sentences=0,
            function_word_share=0.0,
            distinct_word_share=0.0,
            rubric_word_share=0.0,
        )
        return 0.0, NOT_ANSWERED, details, False

    found, missing, contradicted, rubric_share = _match_rubric(item, graded)
    total_weight = math.fsum(c.weight for c in item.rubric)
    penalty = CONTRADICTION_PENALTY * math.fsum(
        c["weight"] for c in contradicted if c["reason"] == "contradicted"
    )
    coverage = clamp01((math.fsum(f["weight"] for f in found) - penalty) / total_weight)
    length_credit = min(1.0, words / item.min_words)
    check = prose_check(stats, rubric_share)
    raw_score = coverage * length_credit
    score = min(raw_score, KEYWORD_LIST_CAP) if check.is_keyword_list else raw_score
    details.update(
        length_credit=length_credit,
        rubric_coverage=coverage,
        concepts_found=found,
        concepts_missing=missing,
        concepts_contradicted=contradicted,
        model_answer=item.explanation,
        automatic_estimate=True,
        keyword_list=check.is_keyword_list,
        keyword_list_reasons=list(check.reasons),
        capped=check.is_keyword_list and raw_score > score,
        sentences=stats.sentences,
        function_word_share=stats.function_share,
        distinct_word_share=stats.distinct_share,
        rubric_word_share=rubric_share,
    )

    parts: list[str] = []
    if words < item.min_words:
        parts.append(
            f"You wrote {words} words; full length credit needs {item.min_words} "
            f"({item.min_words - words} more), so length credit is {length_credit:.2f}."
        )
    else:
        parts.append(f"Length: {words} words (minimum {item.min_words}): full length credit.")
    if found:
        parts.append("Concepts covered: " + "; ".join(f["name"] for f in found) + ".")
    if contradicted:
        parts.append(
            "Claims that earn nothing because the answer contradicts or negates them: "
            + "; ".join(f"{c['name']} ({c['reason']})" for c in contradicted)
            + "."
        )
    if missing:
        parts.append(
            "Concepts missing: "
            + "; ".join(m["name"] + (f" — {m['hint']}" if m["hint"] else "") for m in missing)
            + "."
        )
    if not found and not contradicted:
        parts.append(
            "None of the rubric's concepts appear, so the answer earns no credit; "
            "answer the question that was asked."
        )
    parts.append(
        f"Rubric coverage {coverage:.2f} × length credit {length_credit:.2f} = "
        f"{raw_score:.2f}. This is an automatic estimate: compare your answer with the "
        f"model answer and the claims listed."
    )
    if check.is_keyword_list:
        parts.append(
            "This reads as a list of keywords rather than an explanation: "
            + "; ".join(check.reasons)
            + f". Explain the ideas in full sentences; until then the score is capped at "
            f"{KEYWORD_LIST_CAP:.2f}."
        )
    parts.extend(notes)
    return score, " ".join(parts), details, True
