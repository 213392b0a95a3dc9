"""Final assessment: all summative questions, a review step, then the graded report."""

from datetime import datetime, timezone

import pandas as pd
import streamlit as st

from core.assessment import SUMMATIVE_ID, escape_markdown, grade, public_view, report_markdown
from core.lesson import LESSON
from core.validators import ValidationError
from ui import charts
from ui.assessment_ui import (
    answer_widgets,
    clear_answers,
    collect_answer,
    grading_rules,
    load_bank_or_error,
    record,
    show_item_result,
)
from ui.layout import chart_with_table


def render() -> None:
    ss = st.session_state
    st.title("Final assessment")
    bank = load_bank_or_error(SUMMATIVE_ID)
    if bank is None:
        st.stop()
    view = public_view(bank)
    items = view["items"]
    stage = ss.setdefault("final_stage", "answer")
    attempt = ss.setdefault("final_attempt", 0)
    prefix = f"final_{attempt}_"
    answers: dict = ss.setdefault("final_answers", {})
    objective_text = {o.id: o.text for o in LESSON.objectives}

    st.markdown(
        f"{escape_markdown(view.get('intro') or '')}\n\n"
        f"{len(items)} questions, {view['total_points']:g} points in all; pass mark "
        f"**{view['passing_threshold']:.0%}**. Answer, review your answers, then submit. Nothing is "
        "timed: the suggested time on the coding question is only a guide."
    )
    grading_rules()

    def _to_review() -> None:
        ss["final_answers"] = {item["id"]: collect_answer(item, f"{prefix}{item['id']}")
                               for item in items}
        ss["final_stage"] = "review"

    def _to_answer() -> None:
        ss["final_stage"] = "answer"

    def _submit_final() -> None:
        try:
            result = grade(bank, ss.get("final_answers", {}))
        except ValidationError as err:
            ss["final_error"] = str(err)
            return
        ss["final_error"] = None
        ss["final_result"] = result
        ss["final_stage"] = "result"
        record(SUMMATIVE_ID, result.score, result.passed)

    def _retake() -> None:
        clear_answers(items, prefix)
        ss["final_attempt"] = attempt + 1
        ss["final_answers"] = {}
        ss["final_stage"] = "answer"
        ss.pop("final_result", None)


    if stage == "answer":
        with st.form(f"final_form_{attempt}"):
            for n, item in enumerate(items, start=1):
                answer_widgets(item, n, f"{prefix}{item['id']}", initial=answers.get(item["id"]))
                st.divider()
            st.form_submit_button("Review my answers", type="primary", on_click=_to_review)

    elif stage == "review":
        st.header("Review your answers", divider="gray")
        st.markdown("Check each answer before you submit. Submitting grades everything at once; "
                    "you can retake the assessment afterwards.")
        unanswered = [n for n, item in enumerate(items, start=1)
                      if not answers.get(item["id"])]
        if unanswered:
            st.warning("Not answered yet: " + ", ".join(f"question {n}" for n in unanswered)
                       + ". Unanswered questions score 0.")
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
                words = len(str(answer).split())
                st.text(str(answer))
                if item["type"] == "essay":
                    st.caption(f"{words} words (minimum {item['min_words']}).")
        if ss.get("final_error"):
            st.error(f"Your answers could not be graded: {ss['final_error']}")
        c1, c2 = st.columns(2)
        c1.button("Edit my answers", key="final_edit", on_click=_to_answer)
        c2.button("Submit final answers", type="primary", key="final_submit", on_click=_submit_final)

    else:  # result
        result = ss.get("final_result")
        if result is None:  # cannot happen through the buttons; recover quietly
            ss["final_stage"] = "answer"
            st.button("Start the assessment", on_click=_to_answer)
            st.stop()
        st.header("Your result", divider="gray")
        (st.success if result.passed else st.warning)(
            f"**{'Passed' if result.passed else 'Not passed'}: {result.score:.0%}** "
            f"({result.earned_points:g} of {result.total_points:g} points; pass mark "
            f"{result.passing_threshold:.0%}). **{escape_markdown(result.verdict)}**")

        def pct(x):
            return "no questions" if x is None else f"{x:.0%}"

        m = st.columns(4)
        m[0].metric("Overall score", pct(result.score))
        m[1].metric("Implementation", pct(result.implementation_score))
        m[2].metric("Conceptual", pct(result.conceptual_score))
        m[3].metric("Production readiness", pct(result.production_readiness))
        chart, table = charts.mastery_chart(result.objective_mastery, result.passing_threshold,
                                            objective_text)
        chart_with_table(chart, table, table_label="mastery per objective", expanded=True)
        if result.improvement_areas:
            st.subheader("Focus areas" if not result.passed else "Worth another look")
            st.markdown("\n".join(f"- {escape_markdown(a)}" for a in result.improvement_areas))
        st.subheader("Question by question")
        for n, item in enumerate(items, start=1):
            r = result.items[item["id"]]
            with st.expander(f"Question {n}: {r.score:.0%} ({r.earned:g} of {r.points:g} points)",
                             expanded=r.score < 1):
                show_item_result(item, n, r)
                details = r.details if isinstance(r.details, dict) else {}
                rows = [{"rubric item": x["description"], "status": "found",
                         "evidence or reason": x.get("evidence", "")}
                        for x in details.get("rubric_found", [])]
                rows += [{"rubric item": x["description"], "status": "missing",
                          "evidence or reason": x.get("reason", "")}
                         for x in details.get("rubric_missing", [])]
                if rows:
                    st.dataframe(pd.DataFrame(rows), hide_index=True)
        stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M")
        d1, d2 = st.columns(2)
        d1.download_button("Download the report (Markdown)", report_markdown(bank, result),
                           file_name=f"transformer-lab-assessment-{stamp}.md",
                           mime="text/markdown")
        d2.download_button("Download the result (JSON)", result.to_json(),
                           file_name=f"transformer-lab-assessment-{stamp}.json",
                           mime="application/json")
        st.button("Retake the assessment", key="final_retake", on_click=_retake)


if __name__ == "__main__":  # run as a script only by the legacy pages-directory mode
    from ui.shell import reroute_to_app

    reroute_to_app()
