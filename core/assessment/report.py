"""The downloadable Markdown report of a graded submission, and "How this is graded"."""

from __future__ import annotations

import re

from core.assessment.coding import MAX_CODE_CHARS
from core.assessment.essay import CONTRADICTION_PENALTY, KEYWORD_LIST_CAP
from core.assessment.grading import GradeResult, objective_text
from core.assessment.schema import MAX_ESSAY_WORDS, Bank
from core.validators import ValidationError

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
    out += [
        f"**Score: {result.score:.1%}** ({result.earned_points:g} of {result.total_points:g} "
        f"points) — pass mark {result.passing_threshold:.0%}: **{status}**. {result.verdict}.",
        "",
        f"Answered {result.answered} of {result.n_items} questions.",
        "",
    ]
    out += [
        "## Scores by category",
        "",
        "| Category | Score |",
        "|---|---|",
        f"| Implementation | {_pct(result.implementation_score)} |",
        f"| Conceptual | {_pct(result.conceptual_score)} |",
        f"| Production readiness | {_pct(result.production_readiness)} |",
        "",
        "(— means this assessment has no question of that category.)",
        "",
    ]
    out += ["## Mastery by learning objective", "", "| Objective | Mastery |", "|---|---|"]
    out += [
        f"| {_cell(objective_text(lo))} | {m:.0%} |" for lo, m in result.objective_mastery.items()
    ]
    out.append("")
    out += ["## Improvement areas", ""]
    out += [f"- {escape_markdown(a)}" for a in result.improvement_areas] or [
        "- None: every question earned full marks."
    ]
    out.append("")
    out += ["## Questions", ""]
    for n, item in enumerate(bank.items, start=1):
        r = result.items[item.id]
        out += [
            f"### {n}. {r.topic} — {r.score:.0%} ({r.earned:g} of {r.points:g} points)",
            "",
            f"*{item.type.replace('_', ' ')} · {item.objective} · {item.category}*",
            "",
            item.prompt.strip(),
            "",
        ]
        if item.type in ("multiple_choice", "multiple_select", "model_choice"):
            out += ["| Option | Yours | Correct | Feedback |", "|---|---|---|---|"]
            for o in r.details["options"]:
                out.append(
                    f"| {_cell(o['text'])} | {'✔' if o['selected'] else ''} | "
                    f"{'✔' if o['correct'] else ''} | {_cell(o['feedback'] or '')} |"
                )
            out.append("")
        elif r.response:
            out += ["Your answer:", "", _fence(str(r.response)), ""]
        if item.type == "essay" and r.answered:
            d = r.details
            out += [
                f"- Words: {d['words_graded']} (minimum {d['min_words']}); length credit "
                f"{d['length_credit']:.2f}; rubric coverage {d['rubric_coverage']:.2f}",
                "- Concepts found: "
                + (escape_markdown(", ".join(c["name"] for c in d["concepts_found"])) or "none"),
                "- Concepts missing: "
                + (escape_markdown(", ".join(c["name"] for c in d["concepts_missing"])) or "none"),
                "- Negated or contradicted: "
                + (
                    escape_markdown(
                        ", ".join(
                            f"{c['name']} ({c['reason']})"
                            for c in d.get("concepts_contradicted", [])
                        )
                    )
                    or "none"
                ),
                (
                    "- Reviewed by your instructor: the score above is the reviewed score "
                    f"(automatic estimate {r.automatic_score:.0%})."
                    + (f" Note: {escape_markdown(r.review_note)}" if r.review_note else "")
                    if r.reviewed
                    else "- The essay score is an automatic estimate."
                ),
                "",
            ]
        if item.type == "coding" and r.answered:
            d = r.details
            out += [
                f"- Found: {escape_markdown(e['description'])} ({escape_markdown(e['evidence'])})"
                for e in d["rubric_found"]
            ]
            out += [
                f"- Missing: {escape_markdown(e['description'])} — {escape_markdown(e['reason'])}"
                for e in d["rubric_missing"]
            ]
            out.append("")
        out += [
            f"**Feedback.** {escape_markdown(r.feedback)}",
            "",
            f"**Explanation.** {r.explanation}",
            "",
        ]
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

**Questions about the trained models.** Their answers are not typed into the question bank:
they are computed from the shipped model's weights when the bank loads (which head has the
highest score on the lesson's preset input, the rank of a head's OV circuit, the token the
direct path ranks first), so you can find them on the lesson's pages. A choice earns full points
when it is the computed one; a number when it lies within the stated tolerance (0 unless the
question says otherwise). The feedback shows the numbers the key came from.

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

**Code.** Where this copy of the app runs code (on by default when it runs on your own
machine; on a hosted copy only when the instructor turns it on), your functions are **run** in a
separate process with limits on time, memory and output, without network access, and compared
with a reference on several random seeds and shapes. The score is the share of tests passed;
each test is listed as passed, or as failed with what was expected and what came back. Some tests
check properties a reading cannot see: reordering a layer's heads changes nothing (every head
reads the same input), the QK and OV circuits are not swapped or transposed, and the
decomposition adds up to the final stream. Where code is **not run**, the result says so and the
code is read as a syntax tree instead: each rubric item found earns its weight (each function
defined, using its inputs, computing a product of them and returning a value; a causal mask and a softmax; no loop that feeds
one head's output to the next head), and code that does not parse scores 0 with the line of the
syntax error. The starting template, unchanged, counts as not answered and scores 0. Code longer
than {MAX_CODE_CHARS:,} characters is not graded (the answer box stops there). The suggested time
is advisory only.

The correct answers and rubrics are shown only after you submit.
"""
