"""The app and the Architecture page, run headless with streamlit.testing (AppTest)."""

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.config import TransformerConfig
from ui.controls import APP_MAX_PARAMETERS

TIMEOUT = 120
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def page():
    return AppTest.from_file(str(ROOT / "pages/architecture.py"), default_timeout=TIMEOUT).run()


def _form_apply(at: AppTest) -> AppTest:
    next(b for b in at.button if b.label == "Apply").click()
    return at.run()


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
    assert headers[7].startswith("Checkpoint 1")
    # Reconstruction error metric: a small number printed in scientific notation.
    err = next(m for m in page.metric if m.label.startswith("Sum of parts"))
    assert float(err.value) < 1e-5
    # The default model's parameter count is shown and equals the config's estimate.
    params = next(m for m in page.metric if m.label == "Parameters")
    # 2 * 1000 * 256 (W_E, W_U) + 4 layers * 4 * 256^2 (W_Q, W_K, W_V, W_O)
    assert params.value == "1.56 M" and params.help == f"Exactly {2 * 1000 * 256 + 4 * 4 * 256**2:,} parameters."


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
    expected = TransformerConfig(n_layer=96, n_embd=8192, n_head=64, vocab_size=1000,
                                 n_positions=128, max_parameters=10**12,
                                 max_activation_bytes=10**15).estimate_parameters()
    message = page.error[0].value
    assert f"{expected:,}" in message and f"{APP_MAX_PARAMETERS:,}" in message
    params = next(m for m in page.metric if m.label == "Layers")
    assert params.value == "4"  # still the previous, accepted model


def test_changing_the_model_and_preset_updates_the_page(page):
    page.number_input(key="lab_w_n_layer").set_value(2)
    page.number_input(key="lab_w_n_head").set_value(4)
    page.radio(key="lab_w_source").set_value(page.radio(key="lab_w_source").options[2])  # random sequence repeated twice
    page = _form_apply(page)
    assert not page.exception and not page.error
    assert next(m for m in page.metric if m.label == "Layers").value == "2"
    ids = [int(t) for t in page.text_area(key="lab_w_tokens").value.split(",")]
    assert len(ids) == 16 and ids[:8] == ids[8:]
    assert page.selectbox(key="arch_head").options == ["0", "1", "2", "3"]


def test_spec_preset_refused_for_small_vocabulary(page):
    page.number_input(key="lab_w_vocab").set_value(100)
    page.radio(key="lab_w_source").set_value(page.radio(key="lab_w_source").options[1])
    page = _form_apply(page)
    assert not page.exception
    assert "uses token ids up to 567" in page.error[0].value


def test_switching_head_does_not_rerun_the_forward_pass(monkeypatch):
    import ui.controls

    calls = []
    original = ui.controls.architecture_report
    monkeypatch.setattr(ui.controls, "architecture_report",
                        lambda *a, **k: calls.append(1) or original(*a, **k))
    ui.controls.get_report.clear()
    page = AppTest.from_file(str(ROOT / "pages/architecture.py"), default_timeout=TIMEOUT).run()
    assert calls == [1]  # the first run computes the forward pass once
    page.selectbox(key="arch_head").set_value(3)
    page.selectbox(key="arch_layer").set_value(2)
    page = page.run()
    assert not page.exception
    assert page.header[5].value == "6. QK and OV circuits of layer 2, head 3"
    assert calls == [1]  # switching head and layer reused the cached pass
