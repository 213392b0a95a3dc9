"""The app and the Architecture page, run headless with streamlit.testing (AppTest)."""

import pytest
from streamlit.testing.v1 import AppTest

from core.config import TransformerConfig
from core.model import build_model
from core.report import sequential_comparison
from ui.controls import APP_BUDGET, SOURCE_REPEAT, SOURCE_SPEC

from .conftest import ROOT, TIMEOUT, open_random
from .conftest import apply_form as _form_apply


@pytest.fixture
def page():
    """The page on the spec's random model and example ids (the random-weights controls)."""
    return open_random("architecture")


def test_app_entry_runs_home_without_exception():
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT).run()
    assert not at.exception
    assert at.title[0].value == "Transformer Architecture Lab"
    assert "02.2 High-Level Transformer Architecture" in [s.value for s in at.subheader]
    objectives = at.table[0].value
    assert list(objectives["Objective"]) == ["LO1", "LO2", "LO3"]


def test_default_run_is_clean_and_shows_every_block(page):
    assert not page.exception and not page.error
    headers = [h.value for h in page.header]
    assert headers[6] == "7. The exact path decomposition"
    assert headers[7].startswith("8. Heads in sequence")
    assert headers[8].startswith("Checkpoint 1")
    # Reconstruction error metric: a small number printed in scientific notation.
    err = next(m for m in page.metric if m.label.startswith("Sum of parts"))
    assert float(err.value) < 1e-5
    # The default model's parameter count is shown and equals the config's estimate.
    params = next(m for m in page.metric if m.label == "Parameters")
    # 2 * 1000 * 256 (W_E, W_U) + 4 layers * 4 * 256^2 (W_Q, W_K, W_V, W_O)
    assert (
        params.value == "1.56 M"
        and params.help == f"Exactly {2 * 1000 * 256 + 4 * 4 * 256**2:,} parameters."
    )


def test_bad_tokens_show_an_error_not_an_exception(page):
    page.text_area(key="lab_w_tokens").set_value("1, 15, banana, 27")
    page = _form_apply(page)
    assert not page.exception
    assert len(page.error) == 1
    assert "'banana', is not a whole number" in page.error[0].value
    # The learner's text is kept so it can be fixed, and the page still shows the last model.
    assert page.text_area(key="lab_w_tokens").value == "1, 15, banana, 27"
    assert page.header[6].value == "7. The exact path decomposition"


def test_out_of_range_token_names_the_range(page):
    page.text_area(key="lab_w_tokens").set_value("3, 1000")
    page = _form_apply(page)
    assert not page.exception
    assert "Entry 2, 1000, is out of range: accepted ids are 0 to 999" in page.error[0].value


def test_over_budget_model_is_refused_with_estimate_and_limit(page):
    page.number_input(key="lab_w_n_layer").set_value(96)
    page.number_input(key="lab_w_n_embd").set_value(8192)
    page.number_input(key="lab_w_n_head").set_value(64)
    page = _form_apply(page)
    assert not page.exception
    expected = TransformerConfig(
        n_layer=96, n_embd=8192, n_head=64, vocab_size=1000, n_positions=128
    ).estimate_parameters()
    message = page.error[0].value
    assert f"{expected:,}" in message and f"{APP_BUDGET.max_parameters:,}" in message
    params = next(m for m in page.metric if m.label == "Layers")
    assert params.value == "4"  # still the previous, accepted model


def test_changing_the_model_and_preset_updates_the_page(page):
    page.number_input(key="lab_w_n_layer").set_value(2)
    page.number_input(key="lab_w_n_head").set_value(4)
    page.radio(key="lab_w_source").set_value(SOURCE_REPEAT)
    page = _form_apply(page)
    assert not page.exception and not page.error
    assert next(m for m in page.metric if m.label == "Layers").value == "2"
    ids = [int(t) for t in page.text_area(key="lab_w_tokens").value.split(",")]
    assert len(ids) == 40 and ids[:20] == ids[20:]
    assert page.selectbox(key="arch_head").options == ["0", "1", "2", "3"]


def test_spec_preset_refused_for_small_vocabulary(page):
    page.number_input(key="lab_w_vocab").set_value(100)
    page.radio(key="lab_w_source").set_value(SOURCE_SPEC)
    page = _form_apply(page)
    assert not page.exception
    assert "uses token ids up to 567" in page.error[0].value


def test_switching_head_does_not_rerun_the_forward_pass(monkeypatch):
    import ui.controls

    calls = []
    original = ui.controls.architecture_report
    monkeypatch.setattr(
        ui.controls, "architecture_report", lambda *a, **k: calls.append(1) or original(*a, **k)
    )
    ui.controls.get_report.clear()
    page = open_random("architecture")
    assert calls == [1, 1]  # once for the default model, once for the applied random one
    page.selectbox(key="arch_head").set_value(3)
    page.selectbox(key="arch_layer").set_value(2)
    page = page.run()
    assert not page.exception
    assert page.header[5].value == "6. QK and OV circuits of layer 2, head 3"
    assert calls == [1, 1]  # switching head and layer reused the cached pass


def test_emptied_number_box_is_refused_not_replaced(page):
    page.number_input(key="lab_w_n_layer").set_value(None)
    page = _form_apply(page)
    assert not page.exception
    assert "Layers is empty" in page.error[0].value
    assert next(m for m in page.metric if m.label == "Layers").value == "4"  # unchanged


def test_overflowing_model_is_refused_and_the_last_one_kept(page):
    page.number_input(key="lab_w_n_layer").set_value(12)
    page.select_slider(key="lab_w_init_std").set_value(0.5)
    page = _form_apply(page)
    assert not page.exception
    assert "overflowed" in page.error[0].value and "weight scale" in page.error[0].value
    assert next(m for m in page.metric if m.label == "Layers").value == "4"


def test_sequential_versus_parallel_numbers_are_shown(page):
    cfg = TransformerConfig(vocab_size=1000, n_positions=128, n_embd=256, n_layer=4, n_head=8)
    expected = sequential_comparison(build_model(cfg, seed=0), [1, 15, 27, 89, 156, 234, 445, 567])
    metrics = {m.label: m.value for m in page.metric}
    assert float(metrics["Sequential vs parallel: relative difference"]) == pytest.approx(
        expected["output_difference"], rel=1e-2
    )
    assert float(metrics["Sequential: sum identity error"]) < 1e-5
    assert float(metrics["Parallel: swap heads 0 and 1"]) < 1e-6
    assert float(metrics["Sequential: swap heads 0 and 1"]) > 1e-4


def test_parameter_caption_states_what_the_table_shows(page):
    # Defaults: attention 4 * 4 * 256^2 of 2 * 1000 * 256 + 4 * 4 * 256^2 parameters.
    attention = 4 * 4 * 256**2 / (2 * 1000 * 256 + 4 * 4 * 256**2)
    caption = " ".join(c.value for c in page.caption)
    assert f"attention holds {attention:.0%} of the parameters" in caption


def test_app_entry_lists_every_lesson_page():
    from core.lesson import LESSON

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT).run()
    assert not at.exception
    assert [p.slug for p in LESSON.pages] == [
        "home",
        "architecture",
        "residual_stream",
        "circuits",
        "production",
        "assessment",
    ]
