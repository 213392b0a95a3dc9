"""The class view for an instructor: who passed, scores per item and objective, the items most
often missed, essays to review (confirm or override the automatic score), a CSV export, and a
check of a new question bank before publishing it.

Access: an instructor signed in with Streamlit's authentication whose e-mail is listed in
secrets.toml (``[instructor] emails = [...]``), or anyone who types the instructor password
(``[instructor] password = "..."`` or ``LAB_INSTRUCTOR_PASSWORD``). With neither configured the
page says how to turn it on and shows nothing else. The numbers come from ``core.classview``.
"""

from __future__ import annotations

import hmac
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

import streamlit as st

from core.assessment import CHECKPOINT_IDS, SUMMATIVE_ID, escape_markdown, load_bank
from core.classview import (
    ClassData,
    attempts_table,
    essays,
    export_csv,
    item_table,
    learners_table,
    objective_table,
    pass_rates,
)
from core.lesson import LESSON
from core.throttle import (
    PASSWORD_PER_SESSION,
    PASSWORD_SERVER,
    SERVER_PASSWORD,
    Throttle,
    describe_wait,
)
from core.validators import ValidationError
from ui import charts, persistence
from ui.assessment_ui import cached_bank
from ui.layout import chart_with_table

ACCESS = "lab_instructor"  # the reviewer's name once access is granted (this session only)
PASSWORD_INPUT = "lab_w_instructor_password"
FAILED = "lab_instructor_failed"
THROTTLE = "lab_instructor_throttle"
SESSION_KEYS = (ACCESS, PASSWORD_INPUT, FAILED, THROTTLE)
LOG = logging.getLogger(__name__)


def _secret(section: str, key: str) -> Any:
    try:
        return st.secrets.get(section, {}).get(key)
    except Exception:  # noqa: BLE001 - no secrets file, or one that does not parse
        return None


def instructor_password() -> str | None:
    value = os.environ.get("LAB_INSTRUCTOR_PASSWORD") or _secret("instructor", "password")
    return str(value) if value else None


def instructor_emails() -> set[str]:
    value = _secret("instructor", "emails") or []
    if isinstance(value, str):
        value = [value]
    return {str(e).strip().lower() for e in value if str(e).strip()}


def reviewer() -> str | None:
    """Who is reviewing, if this session may see the class view."""
    ss = st.session_state
    if ss.get(ACCESS):
        return ss[ACCESS]
    signed_in = persistence.signed_in_identity()
    if signed_in and signed_in[0].strip().lower() in instructor_emails():
        return signed_in[0]
    return None


def _password_throttle() -> Throttle:
    return st.session_state.setdefault(THROTTLE, Throttle(PASSWORD_PER_SESSION))


def password_wait_s() -> float:
    """Seconds until this session may try the password again (0: now): the session's own
    throttle and the server's, whichever is longer."""
    return max(_password_throttle().wait_s(), SERVER_PASSWORD.wait_s())


def _on_password() -> None:
    ss = st.session_state
    expected = instructor_password()
    typed = ss.get(PASSWORD_INPUT) or ""
    ss[PASSWORD_INPUT] = ""
    wait = password_wait_s()
    if wait > 0:  # not even checked: a right password now would teach a guesser as much
        ss[FAILED] = f"Too many wrong passwords were tried. Try again in {describe_wait(wait)}."
        return
    if expected and hmac.compare_digest(typed.encode(), expected.encode()):
        ss[ACCESS] = "instructor (password)"
        ss[FAILED] = None
        LOG.info("The class view was opened with the instructor password")
        return
    _password_throttle().failed()
    SERVER_PASSWORD.failed()
    LOG.warning(
        "A wrong instructor password was tried (%d in this session, %d on the server "
        "in the last %d minutes)",
        _password_throttle().failures(),
        SERVER_PASSWORD.failures(),
        PASSWORD_SERVER.window_s // 60,
    )
    wait = password_wait_s()
    ss[FAILED] = (
        "That is not the instructor password. This page is for the instructor of a "
        "hosted class; learners find their own results on each page and in the final "
        "assessment."
        + (
            f" Too many wrong passwords were tried: the next try is "
            f"possible in {describe_wait(wait)}."
            if wait > 0
            else ""
        )
    )


def _gate() -> str | None:
    """The reviewer's name, or None after showing why the class view is closed."""
    who = reviewer()
    if who:
        return who
    password, emails = instructor_password(), instructor_emails()
    if not password and not emails:
        st.info(
            "The class view is off in this copy of the lab. To turn it on, an instructor "
            'adds to `.streamlit/secrets.toml` either `[instructor]` `password = "…"` (or '
            "sets the environment variable `LAB_INSTRUCTOR_PASSWORD`), or, with Streamlit's "
            'sign-in configured, `[instructor]` `emails = ["you@example.org"]`.'
        )
        return None
    st.markdown(
        "This page is for the instructor of a hosted class: it shows every learner's "
        "results. Learners find their own results on each page and in the final "
        "assessment."
    )
    if password:
        with st.form("lab_instructor_login"):
            st.text_input("Instructor password", type="password", key=PASSWORD_INPUT)
            st.form_submit_button("Open the class view", on_click=_on_password)
        wait = password_wait_s()
        if wait > 0:
            st.caption(
                f"Too many wrong passwords were tried: the next try is possible in "
                f"{describe_wait(wait)}."
            )
    if emails:
        st.caption("Instructors listed in the settings can also sign in with their account.")
    failed = st.session_state.get(FAILED)
    if failed:
        st.error(failed)
    return None


def class_view() -> None:
    who = _gate()
    if who is None:
        return
    store = persistence.get_store()
    if store is None:
        st.error(
            st.session_state.get(persistence.ERROR) or "The learner database cannot be reached."
        )
        st.caption("The class view reads the learner database; try again when it is back.")
        return
    st.caption(
        f"Reviewing as **{escape_markdown(who)}**. Learner records come from "
        f"{persistence.database_source()}: {escape_markdown(store.url)}."
    )
    st.button("Refresh", key="lab_class_refresh", help="Read the records again.")
    banks = {}
    for bank_id in (*CHECKPOINT_IDS, SUMMATIVE_ID):
        try:
            banks[bank_id] = cached_bank(bank_id)
        except (ValidationError, OSError) as err:
            st.warning(
                f"The bank {bank_id} could not be loaded, so its attempts are not shown: {err}"
            )
    try:
        data = ClassData.load(store, banks)
    except persistence.StoreUnavailable as err:
        st.error(str(err))
        return
    tabs = st.tabs(
        ["Overview", "Learners", "Questions", "Essays to review", "Export", "Check a question bank"]
    )
    with tabs[0]:
        _overview(data)
    with tabs[1]:
        _learners(data)
    with tabs[2]:
        _questions(data)
    with tabs[3]:
        _essays(data, store, who)
    with tabs[4]:
        _export(data)
    with tabs[5]:
        bank_check()


def _overview(data: ClassData) -> None:
    learners = {a.learner_id for a in data.attempts}
    c = st.columns(3)
    c[0].metric("Learners with a submission", len(learners))
    c[1].metric("Attempts", len(data.attempts))
    c[2].metric("Reviewed attempts", sum(1 for r in data.results.values() if r.reviewed))
    rates = pass_rates(data)
    chart, table = charts.pass_rate_chart(rates)
    chart_with_table(chart, table, table_label="pass rate per bank", expanded=True)
    st.subheader("Latest attempts")
    st.dataframe(attempts_table(data).head(50), hide_index=True)


def _learners(data: ClassData) -> None:
    table = learners_table(data)
    if table.empty:
        st.info("No learner has submitted anything yet.")
        return
    st.markdown("Best score per bank (reviewed scores count) and whether the learner passed.")
    st.dataframe(table, hide_index=True)
    st.subheader("Mastery per learning objective (latest attempts)")
    objectives = objective_table(data)
    wide = objectives.pivot_table(index="learner", columns="objective", values="mastery")
    st.dataframe(wide.style.format("{:.0%}"))
    st.caption(" · ".join(f"**{o.id}**: {escape_markdown(o.text)}" for o in LESSON.objectives))


def _questions(data: ClassData) -> None:
    items = item_table(data)
    if items.empty:
        st.info("No learner has submitted anything yet.")
        return
    st.markdown(
        "Every item over each learner's latest attempt, **most often missed first** "
        "(lowest mean score)."
    )
    st.dataframe(
        items.style.format(
            {"mean score": "{:.0%}", "full marks": "{:.0%}", "missed (0)": "{:.0%}"}
        ),
        hide_index=True,
    )


def _on_review(attempt_id: int, item_id: str, key: str, store, who: str) -> None:
    ss = st.session_state
    score = ss.get(f"{key}_score")
    note = ss.get(f"{key}_note") or ""
    if score is None:
        ss[f"{key}_msg"] = ("error", "Type the reviewed score, from 0 to 100 (per cent).")
        return
    try:
        store.save_review(attempt_id, item_id, float(score) / 100, who, note)
        ss[f"{key}_msg"] = (
            "success",
            f"Saved: {float(score):g}% for this answer. The learner "
            f"sees the reviewed score and your note.",
        )
    except (ValueError, persistence.StoreUnavailable) as err:
        ss[f"{key}_msg"] = ("error", str(err))


def _on_unreview(attempt_id: int, item_id: str, key: str, store) -> None:
    try:
        store.delete_review(attempt_id, item_id)
        st.session_state[f"{key}_msg"] = ("success", "The automatic score counts again.")
    except persistence.StoreUnavailable as err:
        st.session_state[f"{key}_msg"] = ("error", str(err))


def _essays(data: ClassData, store, who: str) -> None:
    rows = essays(data)
    if not rows:
        st.info("No essay answers yet.")
        return
    only_open = st.toggle("Only essays not reviewed yet", value=False, key="lab_essays_open")
    shown_rows = [r for r in rows if not (only_open and r["reviewed"])]
    st.caption(
        f"{len(shown_rows)} of {len(rows)} essay answers, newest first. Automatic scores "
        f"are estimates from the rubric's claims; confirm or override them here."
    )
    for r in shown_rows[:40]:
        status = (
            f"reviewed {r['score']:.0%} (automatic {r['automatic score']:.0%})"
            if r["reviewed"]
            else f"automatic {r['score']:.0%}"
        )
        # The title is Markdown to Streamlit, so it holds no learner text: the learner's
        # number, and the name below as plain text (a name could be a link or an image).
        title = (
            f"Learner #{r['learner id']} · {r['bank']} · {r['topic'] or r['item']} · "
            f"{status} · attempt {r['attempt']}"
        )
        key = f"lab_review_{r['attempt']}_{r['item']}"
        # Open after a save: the title (with the status) changed, so it is a new expander.
        with st.expander(title, expanded=f"{key}_msg" in st.session_state):
            st.text(f"Learner: {r['learner']}")
            st.markdown("**Answer** (as the learner wrote it)")
            st.text(r["answer"])
            st.markdown(
                "**Claims found:** "
                + (escape_markdown(", ".join(r["found"])) or "none")
                + "  \n**Claims missing:** "
                + (escape_markdown(", ".join(r["missing"])) or "none")
                + "  \n**Negated or contradicted:** "
                + (escape_markdown(", ".join(r["contradicted"])) or "none")
            )
            st.session_state.setdefault(f"{key}_score", round(r["score"] * 100, 1))
            st.session_state.setdefault(f"{key}_note", r["note"])
            c1, c2 = st.columns([1, 3])
            c1.number_input(
                "Reviewed score (%)", min_value=0.0, max_value=100.0, step=5.0, key=f"{key}_score"
            )
            c2.text_input("Note to the learner (optional)", key=f"{key}_note", max_chars=500)
            b1, b2 = st.columns(2)
            b1.button(
                "Save the reviewed score",
                key=f"{key}_save",
                on_click=_on_review,
                args=(r["attempt"], r["item"], key, store, who),
            )
            if r["reviewed"]:
                b2.button(
                    "Remove the review",
                    key=f"{key}_remove",
                    on_click=_on_unreview,
                    args=(r["attempt"], r["item"], key, store),
                )
            msg = st.session_state.pop(f"{key}_msg", None)
            if msg:
                (st.success if msg[0] == "success" else st.error)(msg[1])
    if len(shown_rows) > 40:
        st.caption("The 40 newest are shown; the export has every attempt.")


def _export(data: ClassData) -> None:
    st.markdown(
        "One row per attempt: learner, bank, time, score, passed, reviewed, then every "
        "item's score and every objective's mastery (reviewed scores count). Answers "
        "are not exported."
    )
    st.download_button(
        "Download the class results (CSV)",
        export_csv(data),
        file_name="transformer-lab-class-results.csv",
        mime="text/csv",
        disabled=not data.attempts,
    )


def bank_check() -> None:
    """Check a question bank file with the same loader (and messages) the app uses."""
    st.markdown(
        "Upload a question bank (YAML) to check it before you publish it in "
        "`assessments/`: the same loader the app uses reads it and says exactly what "
        "is wrong, or summarises it."
    )
    upload = st.file_uploader(
        "Question bank to check (.yaml)", type=["yaml", "yml"], key="lab_bank_upload"
    )
    if upload is None:
        return
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / Path(upload.name).name
        path.write_bytes(upload.getvalue())
        try:
            bank = load_bank(path)
        except ValidationError as err:
            st.error(f"**Not ready to publish.** {err}")
            return
    total = sum(i.points for i in bank.items)
    st.success(
        f"**{escape_markdown(bank.title)}** (id `{bank.id}`, {bank.kind}): "
        f"{len(bank.items)} questions, {total:g} points, pass mark "
        f"{bank.passing_threshold:.0%}. It loads without errors."
    )
    st.dataframe(
        [
            {
                "id": i.id,
                "type": i.type,
                "objective": i.objective,
                "category": i.category,
                "points": i.points,
            }
            for i in bank.items
        ],
        hide_index=True,
    )
