"""Streamlit side of the assessment: one flow for the checkpoints and the final assessment
(answer → [review →] result → try again), its widget keys built in one place (:class:`FlowKeys`),
answer widgets, results and progress.

Grading lives in ``core.assessment``; this module only collects answers, calls ``grade`` and
shows what comes back. Questions are rendered from ``public_view`` (no answer key); learner text
is only ever shown as plain text (``st.text`` / ``st.code``), never as Markdown or HTML.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pandas as pd
import streamlit as st

from core.assessment import (
    CHECKPOINT_IDS,
    GRADING_RULES_MARKDOWN,
    MAX_CODE_CHARS,
    MAX_ESSAY_CHARS,
    SUMMATIVE_ID,
    ExecutionPolicy,
    GradeResult,
    bank_path,
    code_execution,
    escape_markdown,
    grade,
    load_bank,
    public_view,
    report_markdown,
    with_reviews,
)
from core.assessment.structure import same_as_template
from core.lesson import LESSON
from core.locality import is_local_peer
from core.validators import ValidationError
from ui import charts, persistence
from ui.layout import chart_with_table

PROGRESS_KEY = "lab_progress"  # bank id → {"score": float, "passed": bool, "attempts": int}
CHECKPOINT_PAGES = {
    "checkpoint_1": "Architecture",
    "checkpoint_2": "Residual stream",
    "checkpoint_3": "Production mapping",
}


@st.cache_resource(show_spinner=False)
def cached_bank(bank_id: str):
    """The bank, loaded once for all sessions (banks are frozen, read-only objects)."""
    return load_bank(bank_path(bank_id))


def load_bank_or_error(bank_id: str):
    """The bank, or None after showing the loader's message (the rest of the page still works)."""
    try:
        return cached_bank(bank_id)
    except ValidationError as err:
        st.error(
            f"**This question bank could not be loaded.** {err}\n\nThe rest of the page "
            f"works; an instructor can fix the file and reload.",
            icon="⚠️",
        )
    except OSError as err:
        st.error(
            f"**The question bank file could not be read** ({err.strerror}). The rest of "
            f"the page works.",
            icon="⚠️",
        )
    return None


def progress() -> dict[str, dict[str, Any]]:
    return st.session_state.setdefault(PROGRESS_KEY, {})


def record(bank_id: str, score: float, passed: bool) -> None:
    entry = progress().setdefault(bank_id, {"score": 0.0, "passed": False, "attempts": 0})
    entry["attempts"] += 1
    entry["score"] = max(entry["score"], score)
    entry["passed"] = entry["passed"] or passed


#: The sidebar's progress panel is a keyed fragment, so a submission can redraw it on its own.
PROGRESS_FRAGMENT = "lab_progress_panel"


@st.fragment(key=PROGRESS_FRAGMENT)
def progress_panel() -> None:
    """Checkpoints passed and the final assessment's status (text, not colour only).

    Answers are graded in widget callbacks, before the script reruns, so this panel (drawn in
    the sidebar before the page) already includes an attempt submitted a moment ago.
    """
    p = progress()
    passed = sum(1 for b in CHECKPOINT_IDS if p.get(b, {}).get("passed"))
    st.markdown("**Your progress**")
    st.progress(
        passed / len(CHECKPOINT_IDS), text=f"{passed} of {len(CHECKPOINT_IDS)} checkpoints passed"
    )
    lines = []
    for i, bank_id in enumerate(CHECKPOINT_IDS, start=1):
        entry = p.get(bank_id)
        if entry is None:
            state = "not attempted"
        else:
            state = (
                f"{'passed' if entry['passed'] else 'not passed yet'}, best {entry['score']:.0%}"
            )
        lines.append(f"- Checkpoint {i} ({CHECKPOINT_PAGES[bank_id]}): {state}")
    final = p.get(SUMMATIVE_ID)
    lines.append(
        "- Final assessment: "
        + (
            "not taken"
            if final is None
            else f"{'passed' if final['passed'] else 'not passed'}, best {final['score']:.0%}"
        )
    )
    st.markdown("\n".join(lines))


# -- keys and policy -------------------------------------------------------------------------------
@dataclass(frozen=True)
class FlowKeys:
    """Every ``st.session_state`` key of one bank's flow. Tests import this instead of spelling
    keys by hand."""

    bank_id: str

    @property
    def attempt(self) -> str:
        return f"asmt_{self.bank_id}_attempt"

    @property
    def stage(self) -> str:
        return f"asmt_{self.bank_id}_stage"

    @property
    def answers(self) -> str:
        return f"asmt_{self.bank_id}_answers"

    @property
    def result(self) -> str:
        return f"asmt_{self.bank_id}_result"

    @property
    def error(self) -> str:
        return f"asmt_{self.bank_id}_error"

    @property
    def draft(self) -> str:
        """item id → the answer as last typed or chosen (kept across pages, reloads, restarts)."""
        return f"asmt_{self.bank_id}_draft"

    @property
    def attempt_id(self) -> str:
        """The stored attempt behind the result shown (None while it waits to be saved)."""
        return f"asmt_{self.bank_id}_attempt_id"

    @property
    def submission(self) -> str:
        """The key of the latest press of Submit (it makes storing the attempt idempotent)."""
        return f"asmt_{self.bank_id}_submission"

    @property
    def flow_state(self) -> str:
        """The database key of where this flow stands (attempt number, stage, attempt id)."""
        return f"flow:{self.bank_id}"

    def draft_state(self, item_id: str) -> str:
        """The database key of one item's draft answer."""
        return f"draft:{self.bank_id}:{item_id}"

    def prefix(self, attempt: int) -> str:
        return f"asmt_{self.bank_id}_{attempt}_"

    def item(self, attempt: int, item_id: str) -> str:
        """The widget key of an item's answer (multiple-select boxes add ``__<j>``)."""
        return f"{self.prefix(attempt)}{item_id}"

    def box(self, attempt: int, item_id: str, j: int) -> str:
        return f"{self.item(attempt, item_id)}__{j}"


#: Every session key of this module starts with one of these (a learner switch clears them).
SESSION_PREFIXES = ("asmt_", PROGRESS_KEY)


def current_attempt(bank_id: str) -> int:
    return st.session_state.get(FlowKeys(bank_id).attempt, 0)


def _setting() -> Any:
    """The instructor's run-code setting: ``LAB_RUN_CODE`` or ``run_code`` in secrets.toml."""
    env = os.environ.get("LAB_RUN_CODE")
    if env is not None:
        return env
    try:
        return st.secrets.get("run_code")
    except Exception:  # noqa: BLE001 - no secrets file, or one that does not parse
        return None


def execution_policy() -> ExecutionPolicy:
    """Whether learner code runs for this request: for a browser on this machine by default
    (the TCP peer, never a header: ``core.locality``), on a hosted copy when the instructor
    says so."""
    try:
        local = is_local_peer(st.context.ip_address, st.context.headers.to_dict())
    except Exception:  # noqa: BLE001 - no request context (e.g. a test harness): not local
        local = False
    return code_execution(local, _setting())


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


def code_box_label(n: int, item: dict[str, Any], policy: ExecutionPolicy) -> str:
    if item.get("tests") and policy.enabled:
        return f"Your code for question {n} (run in a sandbox when you submit)"
    return f"Your code for question {n} (read, not run)"


def answer_widgets(
    item: dict[str, Any],
    n: int,
    key: str,
    initial: Any = None,
    policy: ExecutionPolicy | None = None,
    on_change=None,
    args: tuple = (),
) -> None:
    """Widgets for one item; their values live in ``st.session_state`` under ``key``-prefixed keys.

    ``initial`` (a previous answer or draft) pre-fills widgets that are not in session state
    yet; ``on_change(*args)`` runs when the learner changes the answer.
    """
    ss = st.session_state
    cb = {"on_change": on_change, "args": args}
    kind = item["type"]
    st.markdown(question_markdown(n, item))
    if kind in ("multiple_choice", "model_choice"):
        options = display_options(item)
        if key not in ss and initial in options:
            ss[key] = initial
        if kind == "model_choice":
            st.caption(
                f"The answer is computed from the shipped model {item['model']}'s weights "
                f"when the question bank loads; you can find it on the lesson's pages."
            )
        st.radio(f"Answer to question {n} (choose one)", options, index=None, key=key, **cb)
    elif kind == "model_number":
        if key not in ss and isinstance(initial, (int, float)):
            ss[key] = float(initial)
        tol = item.get("tolerance") or 0
        st.caption(
            f"The answer is computed from the shipped model {item['model']}'s weights "
            f"when the question bank loads" + (f"; answers within ±{tol:g} count." if tol else ".")
        )
        st.number_input(
            f"Answer to question {n} (a number)", value=None, step=1.0, format="%g", key=key, **cb
        )
    elif kind == "multiple_select":
        st.caption("Tick every statement that is true (several may be).")
        for j, option in enumerate(display_options(item)):
            box = f"{key}__{j}"
            if box not in ss and initial is not None:
                ss[box] = option in initial
            st.checkbox(option, key=box, **cb)
    elif kind == "essay":
        if key not in ss and initial:
            ss[key] = initial
        st.text_area(
            f"Your answer to question {n} (at least {item['min_words']} words)",
            key=key,
            height=180,
            max_chars=MAX_ESSAY_CHARS,
            **cb,
            help=f"Write in full sentences; a list of keywords is capped. At most "
            f"{MAX_ESSAY_CHARS:,} characters.",
        )
    elif kind == "coding":
        policy = policy or execution_policy()
        if key not in ss:
            ss[key] = initial if initial else item.get("template", "")
        if item.get("interface"):
            with st.expander("The interface to implement", expanded=True):
                st.markdown(item["interface"])
            st.caption(policy.reason)
            if policy.problem:
                st.warning(policy.problem)
        limit = item.get("time_limit_minutes")
        if limit:
            st.caption(
                f"Suggested time: about {limit} minutes. This is advisory only: there "
                f"is no timer and nothing is cut off."
            )
        st.text_area(
            code_box_label(n, item, policy),
            key=key,
            height=360,
            max_chars=MAX_CODE_CHARS,
            **cb,
            help=f"At most {MAX_CODE_CHARS:,} characters (longer code is not graded). "
            f"The template alone counts as not answered.",
        )


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
    verdict = (
        "correct"
        if result.score >= 1
        else "partly correct"
        if result.score > 0
        else "not correct"
        if result.answered
        else "not answered"
    )
    details = result.details
    is_essay = item.get("type") == "essay" and "concepts_found" in details
    estimate = " (automatic estimate)" if is_essay and result.answered else ""
    not_run = (
        " (not run: graded on structure)"
        if item.get("tests") and result.answered and not details.get("executed")
        else ""
    )
    st.markdown(
        f"**Question {n}: {result.score:.0%}{estimate}{not_run} ({result.earned:g} of "
        f"{result.points:g} points), {verdict}.**"
    )
    st.markdown(escape_markdown(result.feedback))
    if is_essay and result.answered:
        essay_claims(details)
    if item.get("type") == "coding" and result.answered:
        coding_results(details)
    options = details.get("options")
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


def coding_results(details: dict[str, Any]) -> None:
    """Each test with its result (run), or each structural check (not run), as a table."""
    tests = details.get("tests") or []
    if details.get("executed") and tests:
        mark = {"passed": "✅ passed", "failed": "❌ failed", "not run": "➖ not run"}
        rows = [
            {
                "test": t["title"],
                "result": mark.get(t["status"], t["status"]),
                "what was checked, or expected and what came back": t["message"],
            }
            for t in tests
        ]
        st.markdown(
            f"**Tests run in a sandbox: {sum(t['status'] == 'passed' for t in tests)} "
            f"of {len(tests)} passed**"
        )
        st.table(pd.DataFrame(rows))
        return
    rows = [
        {
            "rubric item": x["description"],
            "status": "✅ found",
            "evidence or reason": x.get("evidence", ""),
        }
        for x in details.get("rubric_found", [])
    ]
    rows += [
        {
            "rubric item": x["description"],
            "status": "❌ missing",
            "evidence or reason": x.get("reason", ""),
        }
        for x in details.get("rubric_missing", [])
    ]
    if rows:
        title = (
            "**Not run: the structure of your code, read as a syntax tree**"
            if details.get("not_run_reason")
            else "**Structural rubric (the code is read)**"
        )
        st.markdown(title)
        st.table(pd.DataFrame(rows))


def essay_claims(details: dict[str, Any]) -> None:
    """The rubric's claims found / missing / contradicted, so a learner can check the estimate."""
    st.caption(
        "Essay scores are automatic estimates: the grader looks for the rubric's claims "
        "(a subject and what is said of it, in one clause) and ignores claims that are "
        "negated or contradicted. Compare your answer with the model answer below."
    )
    found = details.get("concepts_found", [])
    missing = details.get("concepts_missing", [])
    against = details.get("concepts_contradicted", [])
    lines = [f"- ✅ found: {escape_markdown(c['name'])}" for c in found]
    for c in against:
        why = "contradicted by" if c.get("reason") == "contradicted" else "negated in"
        quote = "; ".join(f"“{escape_markdown(e)}”" for e in c.get("evidence", [])[:2])
        lines.append(
            f"- ❌ {why} your answer: {escape_markdown(c['name'])}"
            + (f" ({quote})" if quote else "")
        )
    for c in missing:
        hint = f" — {escape_markdown(c['hint'])}" if c.get("hint") else ""
        lines.append(f"- ➖ missing: {escape_markdown(c['name'])}{hint}")
    if lines:
        st.markdown("**Rubric claims**\n\n" + "\n".join(lines))


def grading_rules() -> None:
    with st.expander("How this is graded"):
        st.markdown(GRADING_RULES_MARKDOWN)


# -- the flow (checkpoints and the final assessment) ----------------------------------------------
# Answers are drafts from the first click or keystroke: each change is kept in the session
# (FlowKeys.draft, which outlives the widgets when the learner visits another page) and saved to
# the learner's record, so a reload, a restart or another device restores it. The flow runs as a
# fragment: changing an answer reruns the checkpoint, not the whole lesson page.
# Fragment keys: a submission reruns its own flow and the sidebar's progress panel, nothing else
# (st.rerun with keys, from the Submit button's callback).
CHECKPOINT_FRAGMENT = "lab_checkpoint_flow"
FINAL_FRAGMENT = "lab_final_flow"


def _items(bank_id: str) -> list[dict[str, Any]]:
    return public_view(cached_bank(bank_id))["items"]


def _drafts(bank_id: str) -> dict[str, Any]:
    return st.session_state.setdefault(FlowKeys(bank_id).draft, {})


def _save_flow(bank_id: str) -> None:
    ss, k = st.session_state, FlowKeys(bank_id)
    persistence.remember(
        {
            k.flow_state: {
                "attempt": ss.get(k.attempt, 0),
                "stage": ss.get(k.stage, "answer"),
                "attempt_id": ss.get(k.attempt_id),
            }
        }
    )


def _on_draft(bank_id: str, attempt: int, item: dict[str, Any]) -> None:
    """An answer changed: keep it as the item's draft, in the session and the record."""
    k = FlowKeys(bank_id)
    answer = collect_answer(item, k.item(attempt, item["id"]))
    _drafts(bank_id)[item["id"]] = answer
    persistence.remember({k.draft_state(item["id"]): answer})


def _blank(answer: Any) -> Any:
    """No answer, however a widget says it (None, "", an empty list)."""
    return None if answer is None or answer == "" or answer == [] else answer


def _collect(bank_id: str, attempt: int) -> dict[str, Any]:
    """The answers in the widgets. Only those this tab changed since its drafts were last
    saved or loaded are written: another tab's newer draft of an item this tab never touched
    stays as it is."""
    k = FlowKeys(bank_id)
    answers = {
        item["id"]: collect_answer(item, k.item(attempt, item["id"])) for item in _items(bank_id)
    }
    drafts = _drafts(bank_id)
    changed = {i: a for i, a in answers.items() if _blank(a) != _blank(drafts.get(i))}
    st.session_state[k.answers] = answers
    st.session_state[k.draft] = dict(answers)
    if changed:
        persistence.remember({k.draft_state(i): a for i, a in changed.items()})
    return answers


def _on_review(bank_id: str, attempt: int) -> None:
    _collect(bank_id, attempt)
    st.session_state[FlowKeys(bank_id).stage] = "review"
    _save_flow(bank_id)


def _on_edit(bank_id: str) -> None:
    st.session_state[FlowKeys(bank_id).stage] = "answer"
    _save_flow(bank_id)


def _on_submit(bank_id: str, attempt: int, run_code: bool, from_widgets: bool) -> None:
    """Grade before the rerun, so the page and the sidebar already show the result."""
    ss, k = st.session_state, FlowKeys(bank_id)
    answers = _collect(bank_id, attempt) if from_widgets else ss.get(k.answers, {})
    try:
        result = grade(cached_bank(bank_id), answers, run_code=run_code)
    except ValidationError as err:
        ss[k.error] = str(err)
        return
    ss[k.error] = None
    ss[k.result] = result
    ss[k.stage] = "result"
    ss[k.submission] = key = persistence.submission_key(bank_id, attempt, answers)
    ss[k.attempt_id] = persistence.record_attempt(bank_id, answers, result.to_dict(), key)
    _save_flow(bank_id)
    record(bank_id, result.score, result.passed)
    # Redraw the result and the sidebar's progress: only those two fragments rerun, not the page.
    st.rerun(
        [FINAL_FRAGMENT if bank_id == SUMMATIVE_ID else CHECKPOINT_FRAGMENT, PROGRESS_FRAGMENT]
    )


def _on_retry(bank_id: str, attempt: int) -> None:
    ss, k = st.session_state, FlowKeys(bank_id)
    items = _items(bank_id)
    clear_answers(items, k.prefix(attempt))
    ss[k.attempt] = attempt + 1
    ss[k.answers] = {}
    ss[k.draft] = {}
    ss[k.stage] = "answer"
    ss[k.attempt_id] = None
    ss.pop(k.submission, None)
    ss.pop(k.result, None)
    ss.pop(k.error, None)
    persistence.remember({k.draft_state(item["id"]): None for item in items})
    _save_flow(bank_id)


def _link_saved_attempt(bank_id: str) -> None:
    """A submission that waited for the database is stored now: link the result shown to it
    (so a reload shows it and the instructor's review reaches it)."""
    ss, k = st.session_state, FlowKeys(bank_id)
    if ss.get(k.stage) != "result" or ss.get(k.attempt_id) is not None:
        return
    attempt_id = persistence.saved_attempt(ss.get(k.submission))
    if attempt_id is not None:
        ss[k.attempt_id] = attempt_id
        _save_flow(bank_id)


def restore(record: persistence.LoadedRecord) -> None:
    """Take over this module's part of a loaded learner record: progress, drafts and where each
    flow stands. A record that replaces another learner's first clears this module's keys."""
    if record.replaces:
        forget()
    restore_progress(record.progress)
    restore_flows(record)


def forget() -> None:
    """Drop every session key of this module (the previous learner's answers and results)."""
    ss = st.session_state
    for key in list(ss.keys()):
        if isinstance(key, str) and key.startswith(SESSION_PREFIXES):
            del ss[key]


def restore_progress(stored: dict[str, dict[str, Any]]) -> None:
    """Best score, pass and attempts from the record, merged with this session's."""
    p = progress()
    for bank_id, entry in stored.items():
        mine = p.get(bank_id)
        if mine is None:
            p[bank_id] = dict(entry)
        else:
            p[bank_id] = {
                "score": max(mine["score"], entry["score"]),
                "passed": mine["passed"] or entry["passed"],
                "attempts": max(mine["attempts"], entry["attempts"]),
            }


def restore_flows(record: persistence.LoadedRecord) -> None:
    """Where each checkpoint and the final assessment stood, with drafts and the last result.
    A flow this session already started is left as it is."""
    ss = st.session_state
    state = record.state
    for bank_id in (*CHECKPOINT_IDS, SUMMATIVE_ID):
        k = FlowKeys(bank_id)
        if k.attempt in ss:
            continue
        flow = state.get(k.flow_state) or {}
        prefix = f"draft:{bank_id}:"
        drafts = {key[len(prefix) :]: v for key, v in state.items() if key.startswith(prefix)}
        ss[k.attempt] = int(flow.get("attempt", 0))
        ss[k.draft] = drafts
        stage = flow.get("stage", "answer")
        if stage == "result":
            attempt = record.attempt(flow.get("attempt_id"))
            try:
                if attempt is None:
                    raise LookupError("no stored attempt of this learner")
                ss[k.result] = GradeResult.from_dict(attempt.result)
                ss[k.answers] = dict(attempt.answers)
                ss[k.attempt_id] = attempt.id
            except (LookupError, TypeError, ValueError):  # e.g. stored before a bank changed
                stage = "answer"
        elif stage == "review":
            ss[k.answers] = dict(drafts)
        ss[k.stage] = stage if stage in ("answer", "review", "result") else "answer"


def _with_reviews(bank, bank_id: str, result):
    """The result with the instructor's reviewed scores, if any (the sidebar follows)."""
    reviews = persistence.reviews_for(st.session_state.get(FlowKeys(bank_id).attempt_id))
    if not reviews:
        return result
    try:
        reviewed = with_reviews(bank, result, reviews)
    except ValidationError:  # a review of a question the bank no longer has
        return result
    entry = progress().get(bank_id)
    if entry is not None and reviewed.score > entry["score"]:
        entry["score"] = reviewed.score
        entry["passed"] = entry["passed"] or reviewed.passed
    return reviewed


def _answer_widgets(
    bank_id: str, view: dict[str, Any], attempt: int, policy: ExecutionPolicy
) -> None:
    k = FlowKeys(bank_id)
    drafts = _drafts(bank_id)
    for n, item in enumerate(view["items"], start=1):
        answer_widgets(
            item,
            n,
            k.item(attempt, item["id"]),
            initial=drafts.get(item["id"]),
            policy=policy,
            on_change=_on_draft,
            args=(bank_id, attempt, item),
        )
        st.divider()


def _show_error(bank_id: str) -> None:
    error = st.session_state.get(FlowKeys(bank_id).error)
    if error:
        st.error(f"Your answers could not be graded: {error}")


def checkpoint(bank_id: str) -> None:
    """The checkpoint at the end of a lesson page: answer, submit, score, explanations, retry."""
    bank = load_bank_or_error(bank_id)
    if bank is None:
        return
    _checkpoint_flow(bank_id)


@st.fragment(key=CHECKPOINT_FRAGMENT)
def _checkpoint_flow(bank_id: str) -> None:
    ss, k = st.session_state, FlowKeys(bank_id)
    bank = cached_bank(bank_id)
    view = public_view(bank)
    attempt = ss.setdefault(k.attempt, 0)
    policy = execution_policy()
    st.header(view["title"], divider="gray")
    if view.get("intro"):
        st.markdown(escape_markdown(view["intro"]))
    st.caption(
        f"Pass mark {view['passing_threshold']:.0%}. Your answers are saved as you give "
        f"them and stay on this page until you try again."
    )
    grading_rules()
    _link_saved_attempt(bank_id)
    _answer_widgets(bank_id, view, attempt, policy)
    st.button(
        "Submit answers",
        type="primary",
        key=f"submit_{bank_id}_{attempt}",
        on_click=_on_submit,
        args=(bank_id, attempt, policy.enabled, True),
    )
    _show_error(bank_id)
    persistence.save_status()  # a failed save is said here, in the fragment that tried
    result = ss.get(k.result)
    if result is None:
        return
    result = _with_reviews(bank, bank_id, result)
    verdict = "Passed" if result.passed else "Not passed yet"
    (st.success if result.passed else st.warning)(
        f"**{verdict}: {result.score:.0%}** ({result.earned_points:g} of "
        f"{result.total_points:g} points; pass mark {result.passing_threshold:.0%}). "
        f"{escape_markdown(result.verdict)}"
    )
    for n, item in enumerate(view["items"], start=1):
        r = result.items[item["id"]]
        with st.expander(f"Question {n}: {r.score:.0%}", expanded=r.score < 1):
            show_item_result(item, n, r)
    st.button(
        "Try again",
        key=f"retry_{bank_id}",
        on_click=_on_retry,
        args=(bank_id, attempt),
        help="Clears your answers for a fresh attempt; your best score is kept.",
    )


def final_assessment(bank_id: str = SUMMATIVE_ID) -> None:
    """The final assessment: answer every question, review, submit, then the graded report."""
    bank = load_bank_or_error(bank_id)
    if bank is None:
        return
    _final_flow(bank_id)


@st.fragment(key=FINAL_FRAGMENT)
def _final_flow(bank_id: str) -> None:
    ss, k = st.session_state, FlowKeys(bank_id)
    bank = cached_bank(bank_id)
    view = public_view(bank)
    items = view["items"]
    attempt = ss.setdefault(k.attempt, 0)
    stage = ss.setdefault(k.stage, "answer")
    policy = execution_policy()
    st.markdown(
        f"{escape_markdown(view.get('intro') or '')}\n\n"
        f"{len(items)} questions, {view['total_points']:g} points in all; pass mark "
        f"**{view['passing_threshold']:.0%}**. Answer, review your answers, then submit. Your "
        "answers are saved as you give them. Nothing is timed: the suggested time on the coding "
        "question is only a guide."
    )
    grading_rules()
    _link_saved_attempt(bank_id)
    persistence.save_status()  # a failed save is said here, in the fragment that tried
    if stage == "answer":
        _answer_widgets(bank_id, view, attempt, policy)
        st.button(
            "Review my answers",
            type="primary",
            key=f"review_{bank_id}_{attempt}",
            on_click=_on_review,
            args=(bank_id, attempt),
        )
    elif stage == "review":
        _review(bank_id, items)
        _show_error(bank_id)
        c1, c2 = st.columns(2)
        c1.button("Edit my answers", key=f"edit_{bank_id}", on_click=_on_edit, args=(bank_id,))
        c2.button(
            "Submit final answers",
            type="primary",
            key=f"submit_{bank_id}",
            on_click=_on_submit,
            args=(bank_id, attempt, policy.enabled, False),
        )
    else:
        result = ss.get(k.result)
        if result is None:  # cannot happen through the buttons; recover quietly
            ss[k.stage] = "answer"
            st.button("Start the assessment", on_click=_on_edit, args=(bank_id,))
            return
        _final_result(bank, items, _with_reviews(bank, bank_id, result))
        st.button(
            "Retake the assessment",
            key=f"retry_{bank_id}",
            on_click=_on_retry,
            args=(bank_id, attempt),
        )


def _review(bank_id: str, items: list[dict[str, Any]]) -> None:
    answers = st.session_state.get(FlowKeys(bank_id).answers, {})
    st.header("Review your answers", divider="gray")
    st.markdown(
        "Check each answer before you submit. Submitting grades everything at once; "
        "you can retake the assessment afterwards."
    )
    unanswered = [n for n, item in enumerate(items, start=1) if not answers.get(item["id"])]
    if unanswered:
        st.warning(
            "Not answered yet: "
            + ", ".join(f"question {n}" for n in unanswered)
            + ". Unanswered questions score 0."
        )
    for n, item in enumerate(items, start=1):
        prompt = " ".join(item["prompt"].split())  # one line: the review shows the gist
        short = prompt if len(prompt) <= 160 else prompt[:159].rsplit(" ", 1)[0] + " …"
        st.markdown(f"**Question {n}:** {escape_markdown(short)}")
        answer = answers.get(item["id"])
        if not answer:
            st.text("(no answer)")
        elif isinstance(answer, list):
            st.text("\n".join(f"☑ {a}" for a in answer))
        elif item["type"] == "coding":
            st.code(answer, language=None)
        else:
            st.text(str(answer))
            if item["type"] == "essay":
                st.caption(f"{len(str(answer).split())} words (minimum {item['min_words']}).")


def _final_result(bank, items: list[dict[str, Any]], result) -> None:
    objective_text = {o.id: o.text for o in LESSON.objectives}
    st.header("Your result", divider="gray")
    (st.success if result.passed else st.warning)(
        f"**{'Passed' if result.passed else 'Not passed'}: {result.score:.0%}** "
        f"({result.earned_points:g} of {result.total_points:g} points; pass mark "
        f"{result.passing_threshold:.0%}). **{escape_markdown(result.verdict)}**"
    )

    def pct(x):
        return "no questions" if x is None else f"{x:.0%}"

    m = st.columns(4)
    m[0].metric("Overall score", pct(result.score))
    m[1].metric("Implementation", pct(result.implementation_score))
    m[2].metric("Conceptual", pct(result.conceptual_score))
    m[3].metric("Production readiness", pct(result.production_readiness))
    chart, table = charts.mastery_chart(
        result.objective_mastery, result.passing_threshold, objective_text
    )
    chart_with_table(chart, table, table_label="mastery per objective", expanded=True)
    if result.improvement_areas:
        st.subheader("Focus areas" if not result.passed else "Worth another look")
        st.markdown("\n".join(f"- {escape_markdown(a)}" for a in result.improvement_areas))
    st.subheader("Question by question")
    for n, item in enumerate(items, start=1):
        r = result.items[item["id"]]
        with st.expander(
            f"Question {n}: {r.score:.0%} ({r.earned:g} of {r.points:g} points)",
            expanded=r.score < 1,
        ):
            show_item_result(item, n, r)
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M")
    d1, d2 = st.columns(2)
    d1.download_button(
        "Download the report (Markdown)",
        report_markdown(bank, result),
        file_name=f"transformer-lab-assessment-{stamp}.md",
        mime="text/markdown",
    )
    d2.download_button(
        "Download the result (JSON)",
        result.to_json(),
        file_name=f"transformer-lab-assessment-{stamp}.json",
        mime="application/json",
    )
