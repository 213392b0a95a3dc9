"""The "Circuits in a trained model" page, headless through AppTest.

Every number checked here is recomputed in the test from ``core`` on a model loaded
independently with :func:`core.model.load_trained` (not through the page's caches).
"""

from __future__ import annotations

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from core.ablation import ablate_head, ablation_table
from core.attribution import head_logit_attribution
from core.direct_path import direct_path_top
from core.head_scores import induction_scores
from core.model import load_trained
from core.ov_circuit import ov_top
from core.positional_qk import positional_pattern
from core.trace import trace_interpretable
from ui import controls

from .conftest import apply_form, open_page

HEADINGS = [
    "1. The direct path as a bigram table",
    "2. Previous-token and induction heads",
    "3. The full OV circuit: which heads copy",
    "4. Positional QK of layer-0 heads",
    "5. Q-, K- and V-composition",
    "6. Direct logit attribution",
    "7. Ablation: a head's total effect",
]


@pytest.fixture(scope="module")
def first_run() -> AppTest:
    return open_page("circuits")


@pytest.fixture
def page() -> AppTest:
    return open_page("circuits")


def _settings(at: AppTest):
    return at.session_state[controls.SETTINGS_KEY]


_MODELS: dict[str, object] = {}


def _model(at: AppTest):
    """The page's model, loaded again from its files (a separate object from the page's)."""
    name = _settings(at).key.name
    if name not in _MODELS:
        _MODELS[name] = load_trained(name)[0]
    return _MODELS[name]


def _table(at: AppTest, column: str):
    """The first data table that has ``column``."""
    for frame in at.dataframe:
        if column in frame.value.columns:
            return frame.value
    raise AssertionError(f"no table with a {column!r} column")


def _tables(at: AppTest, column: str) -> list:
    return [f.value for f in at.dataframe if column in f.value.columns]


def _metric(at: AppTest, label_start: str) -> str:
    return next(m.value for m in at.metric if m.label.startswith(label_start))


def _readings(at: AppTest) -> list[str]:
    return [m.value for m in at.markdown if m.value.startswith("**Reading:**")]


# -- the page as a whole -----------------------------------------------------------------------
def test_every_section_renders_without_an_error(first_run):
    assert not first_run.exception
    assert not first_run.error
    assert [h.value for h in first_run.header] == HEADINGS
    assert _settings(first_run).key.is_trained
    # One interpretation sentence per analysis at least (section 2 has two).
    assert len(_readings(first_run)) >= 8


def test_dla_terms_add_up_to_the_logit(first_run):
    error = float(_metric(first_run, "Sum error"))
    assert error <= 1e-4
    table = _table(first_run, "contribution")
    logit = float(_metric(first_run, "Logit of"))
    assert table["contribution"].sum() == pytest.approx(logit, abs=1e-3)


# -- pickers change the numbers to what core computes ------------------------------------------
def test_direct_path_token_picker_shows_core_values(page):
    ids = _settings(page).token_ids
    other = list(dict.fromkeys(ids))[3]
    page.selectbox(key="circ_dp_token").set_value(other)
    page = page.run()
    assert not page.exception
    expected = direct_path_top(_model(page), int(other), 10)
    shown = _table(page, "probability")
    assert list(shown["token_id"]) == [r["id"] for r in expected]
    np.testing.assert_allclose(shown["logit"], [r["logit"] for r in expected], rtol=1e-9)
    np.testing.assert_allclose(shown["probability"], [r["prob"] for r in expected], rtol=1e-9)


def test_direct_path_any_token_box_is_encoded_by_the_tokenizer(page):
    from core.model import TextTokenizer

    page.text_input(key="circ_dp_any").set_value(" the")
    page = page.run()
    the = TextTokenizer().encode(" the")[0]
    expected = direct_path_top(_model(page), the, 10)
    assert list(_table(page, "probability")["token_id"]) == [r["id"] for r in expected]
    assert "share" in _tables(page, "share")[0].columns  # the corpus list is shown too


def test_ov_head_and_token_pickers_show_core_values(page):
    ids = _settings(page).token_ids
    token = list(dict.fromkeys(ids))[1]
    page.selectbox(key="circ_ov_layer").set_value(0)
    page.selectbox(key="circ_ov_head").set_value(1)
    page.selectbox(key="circ_ov_token").set_value(token)
    page = page.run()
    assert not page.exception
    expected = ov_top(_model(page), 0, 1, int(token), 10)
    shown = _table(page, "logit_effect")
    assert list(shown["token_id"]) == [r["id"] for r in expected]
    np.testing.assert_allclose(shown["logit_effect"], [r["logit"] for r in expected], rtol=1e-9)


def test_positional_head_picker_shows_core_pattern(page):
    page.selectbox(key="circ_pos_head").set_value(1)
    page = page.run()
    expected = positional_pattern(_model(page), 0, 1, 32)["pattern"]
    shown = _table(page, "key_position")
    row = shown[(shown["query_position"] == "5") & (shown["key_position"] == "4")]
    assert float(row["weight"].iloc[0]) == pytest.approx(expected[5, 4], rel=1e-9)
    assert len(shown) == 32 * 33 // 2  # only the visible (causal) cells


def test_dla_position_picker_shows_core_attribution(page):
    ids = _settings(page).token_ids
    page.selectbox(key="circ_dla_position").set_value(3)
    page = page.run()
    assert not page.exception
    model = _model(page)
    expected = head_logit_attribution(
        model, trace_interpretable(model, list(ids)), 3, int(ids[4])
    )  # default target: the actual next token
    assert float(_metric(page, "Logit of")) == pytest.approx(expected["logit"], abs=1e-4)
    np.testing.assert_allclose(
        _table(page, "contribution")["contribution"], expected["values"], atol=1e-9
    )
    assert float(_metric(page, "Sum error")) <= 1e-4


def test_ablation_mode_and_head_pickers_show_core_loss_change(page):
    ids = list(_settings(page).token_ids)
    page.selectbox(key="circ_abl_layer").set_value(0)
    page.selectbox(key="circ_abl_head").set_value(2)
    page.radio(key="circ_abl_mode").set_value("mean")
    page = page.run()
    assert not page.exception
    model = _model(page)
    expected = ablate_head(model, ids, 0, 2, "mean")
    assert float(_metric(page, "Change in loss")) == pytest.approx(expected["delta"], abs=1e-4)
    assert float(_metric(page, "Loss before")) == pytest.approx(expected["loss_before"], abs=1e-4)
    per_position = _table(page, "position")
    np.testing.assert_allclose(
        per_position["loss_change"], expected["per_position_delta"], atol=1e-9
    )
    table = next(t for t in _tables(page, "loss_change") if "layer" in t.columns)
    grid = ablation_table(model, ids, "mean")
    np.testing.assert_allclose(table["loss_change"].to_numpy(), grid.ravel(), atol=1e-9)


# -- inputs and models -------------------------------------------------------------------------
def test_repeated_random_tokens_show_an_induction_head(page):
    from ui.controls import SOURCE_REPEAT

    page.radio(key="lab_w_source").set_value(SOURCE_REPEAT)
    page = apply_form(page)
    assert not page.exception and not page.error
    ids = list(_settings(page).token_ids)
    model = _model(page)
    expected = induction_scores(trace_interpretable(model, ids).attention, ids)
    shown = _table(page, "induction_score")
    np.testing.assert_allclose(shown["induction_score"].to_numpy(), expected.ravel(), atol=1e-9)
    l, h = np.unravel_index(int(np.argmax(expected)), expected.shape)
    reading = next(r for r in _readings(page) if "earlier copy" in r)
    assert f"Head {l}.{h}" in reading and f"{expected[l, h]:.2f}" in reading
    assert any(
        s.value.startswith(
            f"Attention pattern of the head with the highest induction score, {l}.{h}"
        )
        for s in page.subheader
    )


def test_input_without_repeats_says_so_and_suggests_the_preset(page):
    from ui.controls import SOURCE_TYPED

    page.radio(key="lab_w_source").set_value(SOURCE_TYPED)
    page.text_area(key="lab_w_tokens").set_value("10, 11, 12, 13, 14, 15")
    page = apply_form(page)
    assert not page.exception and not page.error
    info = " ".join(i.value for i in page.info)
    assert "No token repeats" in info and "repeated twice" in info
    assert not _tables(page, "induction_score")


def test_random_weights_say_nothing_is_learned(page):
    page.selectbox(key="lab_w_model").set_value("random")
    page = apply_form(page)
    assert not page.exception and not page.error
    assert not _settings(page).key.is_trained
    assert any("Nothing is learned" in w.value for w in page.warning)
    assert [h.value for h in page.header] == HEADINGS
    # At the spec's weight scale every head attends almost uniformly: all marked ≈U.
    prev = _table(page, "previous_token_score")
    assert prev["near_uniform"].all()
    assert float(_metric(page, "Sum error")) <= 1e-4


def test_random_weights_with_another_vocabulary_skip_the_corpus_comparison(page):
    from ui.controls import SOURCE_TYPED

    page.selectbox(key="lab_w_model").set_value("random")
    page.number_input(key="lab_w_vocab").set_value(1000)
    page.number_input(key="lab_w_n_layer").set_value(2)
    page.radio(key="lab_w_source").set_value(SOURCE_TYPED)
    page.text_area(key="lab_w_tokens").set_value("5, 6, 7, 5, 6, 7")
    page = apply_form(page)
    assert not page.exception and not page.error
    assert _settings(page).key.config.vocab_size == 1000
    assert any("needs the bundled 4,096-token vocabulary" in i.value for i in page.info)
    assert [h.value for h in page.header] == HEADINGS


def test_a_tiny_random_model_on_one_token_still_renders(page):
    from ui.controls import SOURCE_TYPED

    page.selectbox(key="lab_w_model").set_value("random")
    page.number_input(key="lab_w_n_layer").set_value(1)
    page.number_input(key="lab_w_n_positions").set_value(8)
    page.radio(key="lab_w_source").set_value(SOURCE_TYPED)
    page.text_area(key="lab_w_tokens").set_value("42")
    page = apply_form(page)
    assert not page.exception and not page.error
    assert _settings(page).token_ids == (42,)
    assert [h.value for h in page.header] == HEADINGS
    info = " ".join(i.value for i in page.info)
    assert "one layer" in info and "at least two tokens" in info
    assert float(_metric(page, "Sum error")) <= 1e-4


def test_composition_earlier_layer_picker_shows_core_scores(page):
    """A 3-layer random model: the writing layer can be 0 or 1, and the table follows it."""
    from core.composition import composition_scores
    from core.config import TransformerConfig
    from core.model import build_model

    page.selectbox(key="lab_w_model").set_value("random")
    page.number_input(key="lab_w_n_layer").set_value(3)
    page.number_input(key="lab_w_n_head").set_value(4)
    page.number_input(key="lab_w_n_embd").set_value(64)
    page = apply_form(page)
    assert not page.exception and not page.error
    assert page.selectbox(key="circ_comp_layer").options == ["0", "1"]
    page.selectbox(key="circ_comp_layer").set_value(1)
    page = page.run()
    assert not page.exception
    key = _settings(page).key
    cfg = TransformerConfig(vocab_size=4096, n_positions=256, n_embd=64, n_layer=3, n_head=4)
    assert key.config == cfg
    expected = composition_scores(build_model(cfg, seed=key.seed), 1)
    table = _tables(page, "composition")[1]  # Q, K, V: the K table
    assert list(table["earlier_head"].unique()) == [f"L1 H{h}" for h in range(4)]
    np.testing.assert_allclose(
        table["composition"].to_numpy(), np.asarray(expected["k"]).ravel(), atol=1e-9
    )
    reading = next(r for r in _readings(page) if "composition is" in r)
    assert "head 1." in reading  # names the writing head by its real layer


def test_the_induction_circuit_link_is_stated_on_the_repeated_preset(page):
    """On random tokens repeated twice the reading names the K-composition between the writing
    layer's strongest previous-token head and the induction head, recomputed here from core."""
    from core.composition import composition_scores
    from core.head_scores import previous_token_scores
    from ui.controls import SOURCE_REPEAT

    page.radio(key="lab_w_source").set_value(SOURCE_REPEAT)
    page = apply_form(page)
    assert not page.exception and not page.error
    model = _model(page)
    ids = list(_settings(page).token_ids)
    trace = trace_interpretable(model, ids)
    ind = induction_scores(trace.attention, ids)
    lb, b = np.unravel_index(int(np.argmax(ind)), ind.shape)
    earlier = int(page.selectbox(key="circ_comp_layer").value)
    prev = previous_token_scores(trace.attention)
    a = int(np.argmax(prev[earlier]))
    comp = composition_scores(model, earlier)
    k = float(np.asarray(comp["k"])[a, comp["later_layers"].index(int(lb)), b])
    reading = next(r for r in _readings(page) if "composition is" in r)
    assert (
        f"the keys of induction head {lb}.{b} (score {ind[lb, b]:.2f}) read what head "
        f"{earlier}.{a} wrote"
    ) in reading
    assert f"K-composition {k:.2f}, {k / comp['baseline']['k']:.1f} × the baseline" in reading
