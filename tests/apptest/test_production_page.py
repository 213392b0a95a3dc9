"""The Production mapping page, headless, offline (HF_HUB_OFFLINE=1), with the bundled model.

The page is a ``render()`` function (app.py hands it to ``st.navigation`` at url path
"production"); AppTest runs it through app.py's navigation (tests/apptest/conftest.py).
"""

from pathlib import Path

import pytest
import torch

from core.assessment import bank_path, load_bank
from core.production import BUNDLED_DIR
from tests.apptest.test_assessment_pages import answer_right, submit
from ui.assessment_ui import FlowKeys

from .conftest import open_page

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 240


def _metric(at, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


@pytest.fixture
def page(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return open_page("production", timeout=TIMEOUT)


def _load_hub_id(page, hub_id: str):
    page.radio(key="prod_kind").set_value(page.radio(key="prod_kind").options[1])
    page.text_input(key="prod_hub").set_value(hub_id)
    next(b for b in page.button if b.label == "Load model").click()
    return page.run()


def test_the_page_is_registered_at_production():
    from core.lesson import LESSON

    page = LESSON.page("production")
    assert page.title == "Production mapping"
    import pages.production as module

    assert callable(module.render)


def test_default_run_shows_the_bundled_model(page):
    assert not page.exception and not page.error
    headers = [h.value for h in page.header]
    assert headers[:5] == [
        "1. Choose a model",
        "2. The two architectures side by side",
        "3. Your sentence through the production model",
        "4. The residual stream of a production model",
        "5. What stays exact in GPT-2, and what does not",
    ]
    assert headers[5].startswith("Checkpoint 3")
    assert "the bundled tiny GPT-2" in page.success[0].value
    ratio = _metric(page, "Ratio")
    assert ratio.endswith("×") and float(ratio[:-1]) > 1


def test_both_identities_are_shown_as_measured_numbers(page):
    stream_error = float(_metric(page, "max |x_L − (x0 + Σ attention + Σ MLP)|"))
    assert 0 <= stream_error < 1e-5
    logit = float(_metric(page, "Its logit (model)"))
    total = float(_metric(page, "Σ contributions"))
    assert float(_metric(page, "|difference|")) < 1e-5
    assert total == pytest.approx(logit, abs=1e-4)
    text = " ".join(m.value for m in page.markdown)
    assert "do not make this decomposition approximate" in text
    assert "*paths through* later components" in text
    assert "direct effect, not a total effect" in text


def test_top_predictions_and_logit_match_the_model(page):
    from transformers import AutoTokenizer, GPT2LMHeadModel

    text = page.text_input(key="prod_text").value
    tok = AutoTokenizer.from_pretrained(BUNDLED_DIR, local_files_only=True)
    model = GPT2LMHeadModel.from_pretrained(
        BUNDLED_DIR, local_files_only=True, dtype=torch.float32
    ).eval()
    with torch.no_grad():
        logits = model(torch.tensor([tok(text)["input_ids"]])).logits[0, -1]
    expected = torch.softmax(logits.double(), -1).topk(5).indices.tolist()
    shown = next(df.value for df in page.dataframe if "token_id" in df.value.columns)
    assert list(shown["token_id"]) == expected
    assert float(_metric(page, "Its logit (model)")) == pytest.approx(
        float(logits[expected[0]]), abs=1e-4
    )
    attribution = next(df.value for df in page.dataframe if "contribution" in df.value.columns)
    assert list(attribution["component"])[:3] == ["embeddings", "attention 0", "MLP 0"]
    assert attribution["contribution"].sum() == pytest.approx(float(logits[expected[0]]), abs=1e-4)


def test_tables_are_wrapping_tables_with_the_corrected_facts(page):
    architecture, parameters, table = (t.value for t in page.table)
    assert "W_U is W_E" in architecture.loc["tied_embeddings", "Production (GPT-2 family)"]
    assert list(parameters.index) == [
        "token embeddings",
        "positions",
        "attention",
        "MLP",
        "LayerNorm",
        "unembedding",
    ]
    assert parameters.loc["MLP", "Share of production"].endswith("%")
    assert list(table.index)[:2] == ["Token embeddings", "Positions"]
    assert "45.5 %" in table.loc["MLP", "What it means"]
    assert "stays exactly" in table.loc["LayerNorm", "What it means"]
    assert "W_Eᵀ" not in table.to_string()


def test_sentence_too_long_shows_an_error(page):
    page.text_input(key="prod_text").set_value("word " * 200)
    page = page.run()
    assert not page.exception
    assert "the limit here is 48" in page.error[0].value


def test_hub_id_offline_is_refused_and_the_bundled_model_stays(page):
    page = _load_hub_id(page, "distilgpt2")
    assert not page.exception
    message = page.error[0].value
    assert "Not loaded" in message and "bundled model works offline" in message
    assert "the bundled tiny GPT-2" in page.success[0].value


def test_the_hub_box_reveals_nothing_about_server_folders(page):
    messages = []
    for probe in ("/root", "/nope", str(ROOT), "../models"):
        page = _load_hub_id(page, probe)
        assert not page.exception
        messages.append(page.error[0].value)
    assert len(set(messages)) == 1
    assert "not a Hugging Face model id" in messages[0]
    assert "folder" not in messages[0].split("Still showing")[0].replace("server", "")


def test_no_folder_option_without_a_local_connection(page):
    # AppTest has no browser connection: like a remote learner, it gets no folder option.
    assert len(page.radio(key="prod_kind").options) == 2
    assert not [t for t in page.text_input if t.key == "prod_folder"]


def test_a_local_learner_can_load_a_folder(monkeypatch, tmp_path):
    from transformers import AutoTokenizer, GPT2LMHeadModel

    import pages.production as module

    GPT2LMHeadModel.from_pretrained(BUNDLED_DIR).save_pretrained(tmp_path)
    AutoTokenizer.from_pretrained(BUNDLED_DIR).save_pretrained(tmp_path)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(module, "local_folders_allowed", lambda: True)
    at = open_page("production", timeout=TIMEOUT)
    options = at.radio(key="prod_kind").options
    assert len(options) == 3
    at.radio(key="prod_kind").set_value(options[2])
    at.text_input(key="prod_folder").set_value(str(tmp_path))
    next(b for b in at.button if b.label == "Load model").click()
    at = at.run()
    assert not at.exception and not at.error
    assert f"the model in {tmp_path}" in at.success[0].value


def test_checkpoint_3_can_be_passed(page):
    bank = load_bank(bank_path("checkpoint_3"))
    answer_right(page, bank, FlowKeys("checkpoint_3").prefix(0))
    page = submit(page, "Submit answers")
    assert not page.exception
    assert any("Passed: 100%" in s.value for s in page.success)


def test_induction_scores_use_the_shared_code_and_need_a_repeat(page):
    from core.head_scores import induction_scores, uniform_induction
    from core.production import analyze_text, load_production_model
    from core.trace import strongest_head

    # A sentence that repeats no token: the page says so instead of showing scores.
    page.text_input(key="prod_text").set_value("A quick brown fox jumps")
    page = page.run()
    assert not page.exception and not page.error
    assert any("repeats no token" in i.value for i in page.info)
    assert not any("induction_score" in d.value.columns for d in page.dataframe)
    text = "The cat sat on the mat. The cat sat on the mat."
    page.text_input(key="prod_text").set_value(text)
    page = page.run()
    assert not page.exception and not page.error
    model, tokenizer = load_production_model()
    res = analyze_text(model, tokenizer, text)
    scores = induction_scores(res["attentions"], res["ids"])
    layer, head, best = strongest_head(scores)
    shown = " ".join(m.value for m in page.markdown)
    assert (
        f"Highest score: head {layer}.{head} with {best:.2f}, against "
        f"{uniform_induction(res['ids']):.3f}"
    ) in shown
    table = next(d.value for d in page.dataframe if "induction_score" in d.value.columns)
    assert table["induction_score"].max() == pytest.approx(best, abs=1e-9)
