"""Streamlit side of the assessment: checkpoint blocks, answer widgets, results, progress.

Grading lives in ``core.assessment``; this module only collects answers, calls ``grade`` and
shows what comes back. Questions are rendered from ``public_view`` (no answer key); learner text
is only ever shown as plain text (``st.text`` / ``st.code``), never as Markdown or HTML.
"""

from __future__ import annotations

import random
from typing import Any

import streamlit as st

from core.assessment import (
    CHECKPOINT_IDS,
    GRADING_RULES_MARKDOWN,
    MAX_CODE_CHARS,
    MAX_ESSAY_CHARS,
    SUMMATIVE_ID,
    bank_path,
    escape_markdown,
    grade,
    load_bank,
    public_view,
)
from core.assessment.structure import same_as_template
from core.validators import ValidationError

PROGRESS_KEY = "lab_progress"  # bank id → {"score": float, "passed": bool, "attempts": int}
CHECKPOINT_PAGES = {"checkpoint_1": "Architecture", "checkpoint_2": "Residual stream",
                    "checkpoint_3": "Production mapping"}


@st.cache_resource(show_spinner=False)
def cached_bank(bank_id: str):
    """The bank, loaded once for all sessions (banks are frozen, read-only objects)."""
    return load_bank(bank_path(bank_id))


def load_bank_or_error(bank_id: str):
    """The bank, or None after showing the loader's message (the rest of the page still works)."""
    try:
        return cached_bank(bank_id)
    except ValidationError as err:
        st.error(f"**This question bank could not be loaded.** {err}\n\nThe rest of the page "
                 f"works; an instructor can fix the file and reload.", icon="⚠️")
    except OSError as err:
        st.error(f"**The question bank file could not be read** ({err.strerror}). The rest of "
                 f"the page works.", icon="⚠️")
    return None


def progress() -> dict[str, dict[str, Any]]:
    return st.session_state.setdefault(PROGRESS_KEY, {})


def record(bank_id: str, score: float, passed: bool) -> None:
    entry = progress().setdefault(bank_id, {"score": 0.0, "passed": False, "attempts": 0})
    entry["attempts"] += 1
    entry["score"] = max(entry["score"], score)
    entry["passed"] = entry["passed"] or passed


def progress_panel() -> None:
    """Checkpoints passed and the final assessment's status (text, not colour only).

    Answers are graded in widget callbacks, before the script reruns, so this panel (drawn in
    the sidebar before the page) already includes an attempt submitted a moment ago.
    """
    p = progress()
    passed = sum(1 for b in CHECKPOINT_IDS if p.get(b, {}).get("passed"))
    st.markdown("**Your progress**")
    st.progress(passed / len(CHECKPOINT_IDS),
                text=f"{passed} of {len(CHECKPOINT_IDS)} checkpoints passed")
    lines = []
    for i, bank_id in enumerate(CHECKPOINT_IDS, start=1):
        entry = p.get(bank_id)
        if entry is None:
            state = "not attempted"
        else:
            state = (f"{'passed' if entry['passed'] else 'not passed yet'}, best "
                     f"{entry['score']:.0%}")
        lines.append(f"- Checkpoint {i} ({CHECKPOINT_PAGES[bank_id]}): {state}")
    final = p.get(SUMMATIVE_ID)
    lines.append("- Final assessment: " + (
        "not taken" if final is None else
        f"{'passed' if final['passed'] else 'not passed'}, best {final['score']:.0%}"))
    st.markdown("\n".join(lines))


# -- answering ------------------------------------------------------------------------------------
def display_options(item: dict[str, Any]) -> list[str]:
    """Options in a stable shuffled order per item (the bank's order may start with the key)."""
    options = list(item["options"])
    random.Random(f"options:{item['id']}").shuffle(options)
    return options


def question_markdown(n: int, item: dict[str, Any]) -> str:
    """The question's heading and prompt as Markdown.

    Only the one-line heading is bold: a prompt may span several paragraphs (a numbered list in
    the coding question), and a bold marker cannot span a blank line, so wrapping the whole
    prompt in ``**`` showed the markers literally.
    """
    points = item["points"]
    pts = f"{points:g} point{'s' if points != 1 else ''}"
    prompt = escape_markdown(item["prompt"].strip())
    return f"**Question {n}** ({pts}, {item['objective']})\n\n{prompt}"


def answer_widgets(item: dict[str, Any], n: int, key: str,
                   initial: Any = None) -> None:
    """Widgets for one item; their values live in ``st.session_state`` under ``key``-prefixed keys.

    ``initial`` (a previous answer) pre-fills widgets that are not in session state yet.
    """
    ss = st.session_state
    kind = item["type"]
    st.markdown(question_markdown(n, item))
    if kind == "multiple_choice":
        options = display_options(item)
        if key not in ss and initial in options:
            ss[key] = initial
        st.radio(f"Answer to question {n} (choose one)", options, index=None, key=key)
    elif kind == "multiple_select":
        st.caption("Tick every statement that is true (several may be).")
        for j, option in enumerate(display_options(item)):
            box = f"{key}__{j}"
            if box not in ss and initial is not None:
                ss[box] = option in initial
            st.checkbox(option, key=box)
    elif kind == "essay":
        if key not in ss and initial:
            ss[key] = initial
        st.text_area(f"Your answer to question {n} (at least {item['min_words']} words)",
                     key=key, height=180, max_chars=MAX_ESSAY_CHARS,
                     help=f"Write in full sentences; a list of keywords is capped. At most "
                          f"{MAX_ESSAY_CHARS:,} characters.")
    elif kind == "coding":
        if key not in ss:
            ss[key] = initial if initial else item.get("template", "")
        limit = item.get("time_limit_minutes")
        if limit:
            st.caption(f"Suggested time: about {limit} minutes. This is advisory only: there "
                       f"is no timer and nothing is cut off.")
        st.text_area(f"Your code for question {n} (it is read, never run)", key=key,
                     height=360, max_chars=MAX_CODE_CHARS,
                     help=f"At most {MAX_CODE_CHARS:,} characters (longer code is not graded). "
                          f"The template alone counts as not answered.")


def collect_answer(item: dict[str, Any], key: str) -> Any:
    """The learner's answer from the widgets. Code still identical to the template (whitespace
    aside) is collected as "" (not answered), as the grader counts it, so the review step lists
    it as unanswered and going back to edit restores the template."""
    ss = st.session_state
    kind = item["type"]
    if kind == "multiple_select":
        return [opt for j, opt in enumerate(display_options(item)) if ss.get(f"{key}__{j}")]
    value = ss.get(key)
    if kind == "coding" and same_as_template(value or "", item.get("template", "")):
        return ""
    if kind in ("essay", "coding"):
        return value or ""
    return value


def clear_answers(items: list[dict[str, Any]], prefix: str) -> None:
    ss = st.session_state
    for item in items:
        key = f"{prefix}{item['id']}"
        ss.pop(key, None)
        for j in range(len(item.get("options", []))):
            ss.pop(f"{key}__{j}", None)


# -- results ----------------------------------------------------------------------------------------
def show_item_result(item: dict[str, Any], n: int, result: Any) -> None:
    verdict = ("correct" if result.score >= 1 else "partly correct" if result.score > 0
               else "not correct" if result.answered else "not answered")
    details = result.details if isinstance(result.details, dict) else {}
    is_essay = item.get("type") == "essay" and "concepts_found" in details
    estimate = " (automatic estimate)" if is_essay and result.answered else ""
    st.markdown(f"**Question {n}: {result.score:.0%}{estimate} ({result.earned:g} of "
                f"{result.points:g} points), {verdict}.**")
    st.markdown(escape_markdown(result.feedback))
    if is_essay and result.answered:
        essay_claims(details)
    options = result.details.get("options") if isinstance(result.details, dict) else None
    if options:
        lines = []
        for opt in options:
            mark = "ticked" if opt.get("selected") else "not ticked"
            truth = "true" if opt.get("correct") else "false"
            line = f"- {escape_markdown(opt['text'])} ({mark}; this statement is {truth})"
            if opt.get("feedback"):
                line += f": {escape_markdown(opt['feedback'])}"
            lines.append(line)
        st.markdown("\n".join(lines))
    if result.explanation:
        label = "**Model answer.** " if is_essay else ""
        st.info(label + escape_markdown(result.explanation), icon="💡")


def essay_claims(details: dict[str, Any]) -> None:
    """The rubric's claims found / missing / contradicted, so a learner can check the estimate."""
    st.caption("Essay scores are automatic estimates: the grader looks for the rubric's claims "
               "(a subject and what is said of it, in one clause) and ignores claims that are "
               "negated or contradicted. Compare your answer with the model answer below.")
    found = details.get("concepts_found", [])
    missing = details.get("concepts_missing", [])
    against = details.get("concepts_contradicted", [])
    lines = [f"- ✅ found: {escape_markdown(c['name'])}" for c in found]
    for c in against:
        why = "contradicted by" if c.get("reason") == "contradicted" else "negated in"
        quote = "; ".join(f"“{escape_markdown(e)}”" for e in c.get("evidence", [])[:2])
        lines.append(f"- ❌ {why} your answer: {escape_markdown(c['name'])}"
                     + (f" ({quote})" if quote else ""))
    for c in missing:
        hint = f" — {escape_markdown(c['hint'])}" if c.get("hint") else ""
        lines.append(f"- ➖ missing: {escape_markdown(c['name'])}{hint}")
    if lines:
        st.markdown("**Rubric claims**\n\n" + "\n".join(lines))


def grading_rules() -> None:
    with st.expander("How this is graded"):
        st.markdown(GRADING_RULES_MARKDOWN)


# -- checkpoint block ----------------------------------------------------------------------------
def checkpoint(bank_id: str) -> None:
    """The checkpoint at the end of a lesson page: answer, submit, score, explanations, retry."""
    ss = st.session_state
    bank = load_bank_or_error(bank_id)
    if bank is None:
        return
    view = public_view(bank)
    attempt = ss.setdefault(f"cp_attempt_{bank_id}", 0)
    prefix = f"cp_{bank_id}_{attempt}_"
    result_key = f"cp_result_{bank_id}"
    st.header(view["title"], divider="gray")
    if view.get("intro"):
        st.markdown(escape_markdown(view["intro"]))
    st.caption(f"Pass mark {view['passing_threshold']:.0%}. Your answers stay on this page "
               f"until you try again.")
    grading_rules()
    with st.form(f"form_{bank_id}_{attempt}"):
        for n, item in enumerate(view["items"], start=1):
            answer_widgets(item, n, f"{prefix}{item['id']}")
            st.divider()
        st.form_submit_button("Submit answers", type="primary", on_click=_submit_checkpoint,
                              args=(bank_id, prefix))
    error = ss.get(f"cp_error_{bank_id}")
    if error:
        st.error(f"Your answers could not be graded: {error}")
    result = ss.get(result_key)
    if result is None:
        return
    verdict = "Passed" if result.passed else "Not passed yet"
    (st.success if result.passed else st.warning)(
        f"**{verdict}: {result.score:.0%}** ({result.earned_points:g} of "
        f"{result.total_points:g} points; pass mark {result.passing_threshold:.0%}). "
        f"{escape_markdown(result.verdict)}")
    for n, item in enumerate(view["items"], start=1):
        with st.expander(f"Question {n}: {result.items[item['id']].score:.0%}",
                         expanded=result.items[item['id']].score < 1):
            show_item_result(item, n, result.items[item["id"]])
    st.button("Try again", key=f"retry_{bank_id}", on_click=_retry_checkpoint,
              args=(bank_id, prefix),
              help="Clears your answers for a fresh attempt; your best score is kept.")


def _submit_checkpoint(bank_id: str, prefix: str) -> None:
    """Form callback: grade before the rerun, so the page and the sidebar show the result."""
    ss = st.session_state
    bank = cached_bank(bank_id)
    view = public_view(bank)
    responses = {item["id"]: collect_answer(item, f"{prefix}{item['id']}")
                 for item in view["items"]}
    try:
        result = grade(bank, responses)
    except ValidationError as err:
        ss[f"cp_error_{bank_id}"] = str(err)
        return
    ss[f"cp_error_{bank_id}"] = None
    ss[f"cp_result_{bank_id}"] = result
    record(bank_id, result.score, result.passed)


def _retry_checkpoint(bank_id: str, prefix: str) -> None:
    ss = st.session_state
    clear_answers(public_view(cached_bank(bank_id))["items"], prefix)
    ss[f"cp_attempt_{bank_id}"] = ss.get(f"cp_attempt_{bank_id}", 0) + 1
    ss.pop(f"cp_result_{bank_id}", None)
