"""The Residual stream page, headless through AppTest."""

import math
import re

import pytest
from streamlit.testing.v1 import AppTest

from core.config import TransformerConfig
from core.model import build_model

from .conftest import apply_form as apply
from .conftest import open_random


@pytest.fixture
def page():
    """The page on the spec's random model and example ids."""
    return open_random("residual_stream")


def all_text(at: AppTest) -> str:
    parts = [m.value for m in at.markdown] + [m.value for m in at.metric]
    return " ".join(str(p) for p in parts)


def test_default_run_shows_every_section_with_real_numbers(page):
    assert not page.exception and not page.error
    assert [h.value for h in page.header][0] == "1. What each layer does to the stream"
    assert page.header[5].value.startswith("6. ")
    table = page.dataframe[0].value
    assert list(table["layer"]) == [0, 1, 2, 3]
    # Independent check of layer 0's preservation ratio on the default model and input.
    cfg = TransformerConfig(vocab_size=1000, n_positions=128, n_embd=256, n_layer=4, n_head=8)
    streams = build_model(cfg, seed=0).analyze([1, 15, 27, 89, 156, 234, 445, 567])["analysis"][
        "residual_streams"
    ]
    x0, x1 = streams[0].double().flatten(), streams[1].double().flatten()
    expected = float(x0 @ x1 / (x0.norm() * x1.norm()))
    assert table["preservation_ratio"][0] == pytest.approx(expected, abs=1e-9)
    cap = next(m for m in page.metric if m.label == "Cap: min(tokens, d_model)")
    assert cap.value == "8"  # 8 tokens, d_model 256
    assert not re.search(r"\bnan\b", all_text(page), re.IGNORECASE)


def test_bad_input_shows_an_error_not_an_exception(page):
    page.text_area(key="lab_w_tokens").set_value("4, 5, 6.5")
    page = apply(page)
    assert not page.exception
    assert "'6.5', is not a whole number" in page.error[0].value
    assert page.header[5].value.startswith("6. ")  # still the last accepted input


def test_one_layer_one_token_has_no_nan(page):
    page.number_input(key="lab_w_n_layer").set_value(1)
    page.text_area(key="lab_w_tokens").set_value("42")
    page = apply(page)
    assert not page.exception and not page.error
    assert list(page.dataframe[0].value["layer"]) == [0]
    assert next(m for m in page.metric if m.label == "Cap: min(tokens, d_model)").value == "1"
    assert not re.search(r"\b(nan|inf|infinity)\b", all_text(page), re.IGNORECASE)
    for m in page.metric:
        if m.value.replace(".", "", 1).replace("%", "").isdigit():
            assert math.isfinite(float(m.value.rstrip("%")))


def test_changed_model_changes_the_page(page):
    before = page.dataframe[0].value["total_change"][0]
    page.select_slider(key="lab_w_init_std").set_value(0.3)
    page.number_input(key="lab_w_n_layer").set_value(2)
    page = apply(page)
    assert not page.exception and not page.error
    after = page.dataframe[0].value
    assert list(after["layer"]) == [0, 1]
    assert after["total_change"][0] > before  # larger weights write more into the stream


def test_spectrum_stream_can_be_chosen(page):
    page.selectbox(key="residual_spectrum_stream").set_value("x0")
    page = page.run()
    assert not page.exception
    # x0 = token + position embeddings of 8 tokens: rank at most 8, and at least 1.
    rank = int(next(m for m in page.metric if m.label == "Effective rank").value)
    assert 1 <= rank <= 8


def test_information_coefficients_are_one_at_x0(page):
    table = next(d.value for d in page.dataframe if "token_coefficient" in d.value.columns)
    assert table["token_coefficient"][0] == pytest.approx(1.0, abs=1e-6)
    assert table["position_coefficient"][0] == pytest.approx(1.0, abs=1e-6)


def test_top10_energy_share_is_gone(page):
    assert not any("Top-10" in m.label for m in page.metric)
