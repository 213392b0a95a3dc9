"""Checkpoints and the final assessment, answered through the widgets as a learner would.

Right answers come from the YAML banks (the answer key) and the model essays and code written
for the grader tests; the page code never sees them.
"""

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.assessment import bank_path, load_bank
from core.assessment.live import answer_key
from tests.unit.test_assessment_banks import GOOD_CODE, MODEL_ANSWERS
from ui.assessment_ui import FlowKeys

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 180


def answer_right(at: AppTest, bank, prefix: str) -> None:
    for item in bank.items:
        key = f"{prefix}{item.id}"
        if item.type == "multiple_choice":
            at.radio(key=key).set_value(item.correct)
        elif item.type == "model_choice":
            at.radio(key=key).set_value(answer_key(item).correct)
        elif item.type == "model_number":
            at.number_input(key=key).set_value(float(answer_key(item).correct))
        elif item.type == "multiple_select":
            for box in at.checkbox:
                if box.key.startswith(key + "__"):
                    box.set_value(box.label in item.correct)
        elif item.type == "essay":
            at.text_area(key=key).set_value(MODEL_ANSWERS[item.id])
        elif item.type == "coding":
            at.text_area(key=key).set_value(GOOD_CODE)


def answer_wrong(at: AppTest, bank, prefix: str) -> None:
    for item in bank.items:
        key = f"{prefix}{item.id}"
        if item.type == "multiple_choice":
            wrong = next(o.text for o in item.options if o.text != item.correct)
            at.radio(key=key).set_value(wrong)
        elif item.type == "model_choice":
            key_ = answer_key(item)
            at.radio(key=key).set_value(next(o for o in key_.options if o != key_.correct))
        elif item.type == "model_number":
            at.number_input(key=key).set_value(float(answer_key(item).correct) + 1)
        elif item.type == "multiple_select":
            for box in at.checkbox:
                if box.key.startswith(key + "__"):
                    box.set_value(True)  # every box: never pays
        elif item.type == "essay":
            at.text_area(key=key).set_value("Transformers are big. I like them a lot.")
        elif item.type == "coding":
            at.text_area(key=key).set_value("def broken(:\n    pass\n")


def submit(at: AppTest, label: str) -> AppTest:
    next(b for b in at.button if b.label == label).click()
    return at.run()


def sidebar_text(at: AppTest) -> str:
    return " ".join(m.value for m in at.sidebar.markdown)


@pytest.fixture
def architecture():
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    at.switch_page("pages/architecture.py")
    return at.run()


def test_checkpoint_answered_right_passes_and_updates_progress(architecture):
    at = architecture
    bank = load_bank(bank_path("checkpoint_1"))
    assert "Checkpoint 1 (Architecture): not attempted" in sidebar_text(at)
    answer_right(at, bank, FlowKeys("checkpoint_1").prefix(0))
    at = submit(at, "Submit answers")
    assert not at.exception
    assert any("Passed: 100%" in s.value for s in at.success)
    assert "Checkpoint 1 (Architecture): passed, best 100%" in sidebar_text(at)


def test_checkpoint_answered_wrong_explains_and_allows_retry(architecture):
    at = architecture
    bank = load_bank(bank_path("checkpoint_1"))
    answer_wrong(at, bank, FlowKeys("checkpoint_1").prefix(0))
    at = submit(at, "Submit answers")
    assert not at.exception
    warning = next(w.value for w in at.warning if "Not passed yet" in w.value)
    assert "Not passed yet: 0%" in warning
    # Every question's explanation from the bank is shown after submitting.
    shown = " ".join(i.value for i in at.info)
    for item in bank.items:
        assert item.explanation.split(".")[0][:40].replace("*", "") in shown.replace("\\", "")
    assert "Checkpoint 1 (Architecture): not passed yet, best 0%" in sidebar_text(at)
    at = submit(at, "Try again")
    assert not at.exception
    # Fresh attempt: new, empty widgets.
    assert at.radio(key=FlowKeys("checkpoint_1").item(1, bank.items[0].id)).value is None


def test_checkpoint_2_on_the_residual_page():
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    at.switch_page("pages/residual_stream.py")
    at = at.run()
    bank = load_bank(bank_path("checkpoint_2"))
    answer_right(at, bank, FlowKeys("checkpoint_2").prefix(0))
    at = submit(at, "Submit answers")
    assert not at.exception
    assert any("Passed: 100%" in s.value for s in at.success)


@pytest.fixture
def final():
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    at.switch_page("pages/assessment.py")
    return at.run()


def test_final_assessment_with_good_answers_passes(final):
    at = final
    bank = load_bank(bank_path("summative"))
    assert [i.id for i in bank.items] == [
        "complete_transformer_implementation",
        "residual_stream_analysis",
        "production_scaling",
        "qk_ov_circuits",
    ]
    answer_right(at, bank, FlowKeys("summative").prefix(0))
    at = submit(at, "Review my answers")
    assert not at.exception
    assert at.header[0].value == "Review your answers"
    assert not at.warning  # everything answered
    at = submit(at, "Submit final answers")
    assert not at.exception
    assert any(
        "Passed: 100%" in s.value and "Ready for advanced circuit analysis" in s.value
        for s in at.success
    )
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Overall score"] == "100%"
    assert metrics["Implementation"] == "100%" and metrics["Conceptual"] == "100%"
    assert "Final assessment: passed, best 100%" in sidebar_text(at)
    assert len(at.get("download_button")) == 2


def test_final_assessment_with_poor_answers_fails_with_focus_areas(final):
    at = final
    bank = load_bank(bank_path("summative"))
    answer_wrong(at, bank, FlowKeys("summative").prefix(0))
    at = submit(at, "Review my answers")
    at = submit(at, "Submit final answers")
    assert not at.exception
    warning = next(w.value for w in at.warning if "Not passed" in w.value)
    assert "Additional study recommended" in warning
    assert any(s.value == "Focus areas" for s in at.subheader)
    focus = next(m.value for m in at.markdown if m.value.startswith("- "))
    assert "LO1" in focus or "LO2" in focus or "LO3" in focus
    # The syntax error is reported with its line, and the code scored 0.
    assert "line 1" in " ".join(m.value for m in at.markdown)
    at = submit(at, "Retake the assessment")
    assert not at.exception
    assert at.text_area(key=FlowKeys("summative").item(1, "production_scaling")).value == ""


def test_review_can_go_back_to_edit_without_losing_answers(final):
    at = final
    at.text_area(key=FlowKeys("summative").item(0, "qk_ov_circuits")).set_value(
        "My draft answer about QK and OV."
    )
    at = submit(at, "Review my answers")
    assert any("Not answered yet" in w.value for w in at.warning)
    assert "My draft answer about QK and OV." in [t.value for t in at.text]
    at = submit(at, "Edit my answers")
    assert (
        at.text_area(key=FlowKeys("summative").item(0, "qk_ov_circuits")).value
        == "My draft answer about QK and OV."
    )


def test_broken_bank_shows_a_message_and_the_page_keeps_working(monkeypatch, tmp_path):
    import ui.assessment_ui as ui_assessment

    broken = tmp_path / "checkpoint_1.yaml"
    broken.write_text("id: checkpoint_1\ntitle: [unclosed\n")
    monkeypatch.setattr(ui_assessment, "bank_path", lambda bank_id: broken)
    ui_assessment.cached_bank.clear()
    try:
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
        at.switch_page("pages/architecture.py")
        at = at.run()
        assert not at.exception
        message = next(e.value for e in at.error if "could not be loaded" in e.value)
        assert "checkpoint_1.yaml" in message
        assert any(h.value == "7. The exact path decomposition" for h in at.header)
    finally:
        ui_assessment.cached_bank.clear()


def test_question_headings_render_without_literal_bold_markers():
    """A bold marker cannot span a blank line: only the one-line heading is bold, the prompt
    (several paragraphs and a numbered list in the coding question) is plain Markdown."""
    from core.assessment import CHECKPOINT_IDS, SUMMATIVE_ID, public_view
    from ui.assessment_ui import question_markdown

    for bank_id in (*CHECKPOINT_IDS, SUMMATIVE_ID):
        for n, item in enumerate(public_view(load_bank(bank_path(bank_id)))["items"], start=1):
            text = question_markdown(n, item)
            assert text.startswith(f"**Question {n}** (")
            for paragraph in text.split("\n\n"):
                assert paragraph.replace("\\*", "").count("**") % 2 == 0, (item["id"], paragraph)
    markdown_it = pytest.importorskip("markdown_it")
    coding = public_view(load_bank(bank_path(SUMMATIVE_ID)))["items"][0]
    assert coding["type"] == "coding" and "\n\n" in coding["prompt"].strip()
    html = markdown_it.MarkdownIt("commonmark").render(question_markdown(1, coding))
    assert "**" not in html
    assert "<strong>Question 1</strong>" in html and "<ol>" in html


def test_code_box_limit_is_the_grader_limit_and_the_template_is_unanswered(final):
    from core.assessment import MAX_CODE_CHARS

    at = final
    key = FlowKeys("summative").item(0, "complete_transformer_implementation")
    assert at.text_area(key=key).proto.max_chars == MAX_CODE_CHARS
    assert any(
        m.value.startswith("**Question 1** (4 points, LO1)\n\nImplement") for m in at.markdown
    )
    at = submit(at, "Review my answers")  # nothing changed: the code box holds the template
    assert not at.exception
    warning = next(w.value for w in at.warning if "Not answered yet" in w.value)
    assert "question 1" in warning
    at = submit(at, "Edit my answers")
    template = (
        load_bank(bank_path("summative")).item("complete_transformer_implementation").template
    )
    assert at.text_area(key=key).value == template


def test_essay_result_shows_model_answer_and_claims_as_an_estimate(architecture):
    at = architecture
    bank = load_bank(bank_path("checkpoint_1"))
    answer_right(at, bank, FlowKeys("checkpoint_1").prefix(0))
    negated = (
        "Leaving them out does not make the logits an exact sum of per-head terms, and "
        "paths through several heads are not products of weight matrices. The MLPs are "
        "not non-linear either, and nothing is lost compared with GPT-2 in any way."
    )
    at.text_area(key=FlowKeys("checkpoint_1").item(0, "cp1_attention_only")).set_value(negated)
    at = submit(at, "Submit answers")
    assert not at.exception
    shown = " ".join(m.value for m in at.markdown) + " ".join(c.value for c in at.caption)
    assert "(automatic estimate)" in shown
    assert "Rubric claims" in shown
    assert "negated in your answer" in shown and "An exact, additive decomposition" in shown
    item = bank.item("cp1_attention_only")
    assert any(
        i.value.startswith("**Model answer.**")
        and item.explanation[:30].replace("*", "") in i.value.replace("\\", "")
        for i in at.info
    )


def _final_with_code(monkeypatch, setting: str | None, code: str) -> AppTest:
    if setting is None:
        monkeypatch.delenv("LAB_RUN_CODE", raising=False)
    else:
        monkeypatch.setenv("LAB_RUN_CODE", setting)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    at.switch_page("pages/assessment.py")
    at = at.run()
    key = FlowKeys("summative").item(0, "complete_transformer_implementation")
    at.text_area(key=key).set_value(code)
    at = submit(at, "Review my answers")
    return submit(at, "Submit final answers")


def _tables(at: AppTest) -> list:
    return [t.value for t in at.table]


def test_code_runs_when_the_instructor_turns_it_on_and_each_test_is_listed(monkeypatch):
    from tests.unit.test_coding_tests import SEQUENTIAL

    at = _final_with_code(monkeypatch, "on", SEQUENTIAL)
    assert not at.exception
    shown = " ".join(m.value for m in at.markdown)
    assert "Tests run in a sandbox: 6 of 10 passed" in shown
    table = next(t for t in _tables(at) if "test" in t.columns)
    row = table.set_index("test").loc["attention_layer: reordering the heads changes nothing"]
    assert row["result"] == "❌ failed" and "do all heads read the same x?" in row.iloc[1]
    assert (table["result"] == "✅ passed").sum() == 6
    assert "Traceback" not in shown
    at = submit(at, "Retake the assessment")
    assert any("Code is run: the instructor turned running code on" in c.value for c in at.caption)
    assert (
        at.text_area(key=FlowKeys("summative").item(1, "complete_transformer_implementation")).label
        == "Your code for question 1 (run in a sandbox when you submit)"
    )


def test_code_is_not_run_on_a_hosted_copy_and_the_result_says_so(monkeypatch):
    from tests.unit.test_coding_tests import SEQUENTIAL

    at = _final_with_code(monkeypatch, None, SEQUENTIAL)  # AppTest sends no localhost Host
    assert not at.exception
    shown = " ".join(m.value for m in at.markdown)
    assert "(not run: graded on structure)" in shown
    assert "Not run: the structure of your code" in shown
    table = next(t for t in _tables(at) if "rubric item" in t.columns)
    missing = table[table["status"] == "❌ missing"]
    assert list(missing["rubric item"]) == [
        "Heads of a layer all read the same input (no head reads another's output)"
    ]
    assert "Tests run in a sandbox" not in shown
    at = submit(at, "Retake the assessment")
    assert any("Code is not run: this is a hosted copy" in c.value for c in at.caption)
    assert (
        at.text_area(key=FlowKeys("summative").item(1, "complete_transformer_implementation")).label
        == "Your code for question 1 (read, not run)"
    )
