"""The shared sidebar: model choice (trained by default, random as a baseline), text input
through the bundled tokenizer, presets, and the Residual page's trained-versus-random section."""

from dataclasses import replace

import numpy as np
import pytest

from core.lesson import repeated_random_ids
from core.model import TRAINED_MODELS, TextTokenizer, build_model, load_trained
from ui.controls import (
    DEFAULT_MODEL,
    MAX_INPUT_TOKENS,
    NAME_SENTENCE,
    RANDOM,
    REPEAT_HALF_LENGTH,
    SOURCE_NAME,
    SOURCE_REPEAT,
    SOURCE_TEXT,
    WIKI_SENTENCE,
    trained_config,
)

from .conftest import apply_form, choose_random, open_page

pytestmark = pytest.mark.skipif(not TRAINED_MODELS, reason="no trained model shipped")

TOKENIZER = TextTokenizer()


def metric(at, label):
    return next(m for m in at.metric if m.label == label).value


def infos(at):
    return " ".join(i.value for i in at.info)


def ids_box(at):
    return [int(t) for t in at.text_area(key="lab_w_tokens").value.split(",")]


def test_tokenizer_vocabulary_constant_matches_the_file():
    assert TextTokenizer.VOCAB_SIZE == TOKENIZER.vocab_size == 4096


def test_default_is_the_trained_lesson_model_on_a_wikitext_sentence():
    at = open_page("architecture")
    assert not at.exception and not at.error
    cfg = trained_config(DEFAULT_MODEL)
    assert at.selectbox(key="lab_w_model").value == DEFAULT_MODEL
    assert metric(at, "Layers") == str(cfg.n_layer)
    assert metric(at, "Heads per layer") == str(cfg.n_head)
    assert "**Trained weights**" in infos(at) and "**Random weights**" not in infos(at)
    assert ids_box(at) == TOKENIZER.encode(WIKI_SENTENCE)
    # The sidebar shows the tokens the text became.
    caption = at.sidebar.caption[-1].value
    assert f"{len(TOKENIZER.encode(WIKI_SENTENCE))} tokens" in caption
    assert "␣battleship" in caption


def test_typed_text_is_tokenized_and_run():
    at = open_page("architecture")
    text = "The river flows through the city of York."
    at.radio(key="lab_w_source").set_value(SOURCE_TEXT)
    at.text_area(key="lab_w_text").set_value(text)
    at = apply_form(at)
    assert not at.exception and not at.error
    assert ids_box(at) == TOKENIZER.encode(text)
    shown = at.sidebar.caption[-1].value
    assert "␣York" in shown and f"{len(TOKENIZER.encode(text))} tokens" in shown


@pytest.mark.parametrize(
    "text, message",
    [
        ("   ", "The text box is empty"),
        ("word " * 80, "this page accepts at most 64"),
    ],
)
def test_bad_text_is_refused_with_a_reason_and_kept(text, message):
    at = open_page("architecture")
    before = ids_box(at)
    at.radio(key="lab_w_source").set_value(SOURCE_TEXT)
    at.text_area(key="lab_w_text").set_value(text)
    at = apply_form(at)
    assert not at.exception
    assert message in at.error[0].value
    assert at.text_area(key="lab_w_text").value == text  # kept to fix
    assert ids_box(at) == before  # the last accepted input still runs


def test_text_needs_the_tokenizer_vocabulary_on_random_weights():
    at = choose_random(open_page("architecture"))  # vocabulary 1,000
    at.radio(key="lab_w_source").set_value(SOURCE_TEXT)
    at.text_area(key="lab_w_text").set_value("Hello there")
    at = apply_form(at)
    assert not at.exception
    assert "Set Vocabulary size to 4096" in at.error[0].value


def test_presets_fill_the_input():
    at = open_page("architecture")
    at.radio(key="lab_w_source").set_value(SOURCE_NAME)
    at = apply_form(at)
    assert not at.exception and not at.error
    assert ids_box(at) == TOKENIZER.encode(NAME_SENTENCE)
    assert at.text_area(key="lab_w_text").value == NAME_SENTENCE
    at.radio(key="lab_w_source").set_value(SOURCE_REPEAT)
    at = apply_form(at)
    assert not at.exception and not at.error
    ids = ids_box(at)
    assert ids == repeated_random_ids(4096, REPEAT_HALF_LENGTH, 0)
    assert len(ids) == 2 * REPEAT_HALF_LENGTH <= MAX_INPUT_TOKENS


@pytest.mark.parametrize("name", [*TRAINED_MODELS, RANDOM])
def test_every_model_choice_runs_and_says_what_it_is(name):
    at = open_page("architecture")
    at.selectbox(key="lab_w_model").set_value(name)
    at = apply_form(at)
    assert not at.exception and not at.error
    if name == RANDOM:
        assert "**Random weights**" in infos(at) and "**Trained weights**" not in infos(at)
        assert metric(at, "Layers") == "4"  # the spec's 4 layers × 8 heads
        assert metric(at, "Heads per layer") == "8"
    else:
        cfg = trained_config(name)
        assert "Trained weights" in infos(at)
        assert metric(at, "Layers") == str(cfg.n_layer)
        assert metric(at, "Heads per layer") == str(cfg.n_head)


def _growth_and_similarity(model, ids):
    streams = [s[0].double() for s in model.analyze(ids)["analysis"]["residual_streams"]]
    norms = [float(s.norm(dim=-1).mean()) for s in streams]
    x0, xl = streams[0].flatten(), streams[-1].flatten()
    return norms[-1] / norms[0], float(x0 @ xl / (x0.norm() * xl.norm()))


def test_residual_page_compares_trained_and_random_on_the_same_input():
    at = open_page("residual_stream")
    assert not at.exception and not at.error
    assert "Trained weights" in at.info[0].value  # the weights note comes first
    ids = TOKENIZER.encode(WIKI_SENTENCE)
    trained, _ = load_trained(DEFAULT_MODEL)
    random = build_model(replace(trained.config, init_std=0.02), seed=0)
    g_t, s_t = _growth_and_similarity(trained, ids)
    g_r, s_r = _growth_and_similarity(random, ids)
    assert metric(at, "‖x_L‖/‖x0‖, trained") == f"{g_t:.3g}×"
    assert metric(at, "‖x_L‖/‖x0‖, random") == f"{g_r:.3g}×"
    assert float(metric(at, "Similarity of x_L to x0, trained")) == pytest.approx(s_t, abs=1e-3)
    assert float(metric(at, "Similarity of x_L to x0, random")) == pytest.approx(s_r, abs=1e-3)
    # Both models' rows are in the charts' tables.
    tables = [
        d.value
        for d in at.dataframe
        if any("random (same shape)" in str(c) for c in d.value.columns)
    ]
    assert len(tables) >= 4
    assert all(np.isfinite(t.select_dtypes("number").to_numpy()).all() for t in tables)


def test_residual_comparison_explains_a_vocabulary_mismatch():
    at = apply_form(choose_random(open_page("residual_stream")))
    assert not at.exception and not at.error
    assert "cannot run on both" in infos(at)
