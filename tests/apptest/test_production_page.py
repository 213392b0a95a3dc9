"""The Production mapping page, headless, offline (HF_HUB_OFFLINE=1), with the bundled model."""

from pathlib import Path

import pytest
import torch
from streamlit.testing.v1 import AppTest

from core.assessment import bank_path, load_bank
from core.production import BUNDLED_DIR
from tests.apptest.test_assessment_pages import answer_right, submit

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 240


@pytest.fixture
def page(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    at.switch_page("pages/production.py")
    return at.run()


def test_default_run_shows_the_bundled_model(page):
    assert not page.exception and not page.error
    headers = [h.value for h in page.header]
    assert headers[:4] == ["1. Choose a model", "2. The two architectures side by side",
                           "3. Your sentence through the production model",
                           "4. The residual stream of a production model"]
    assert headers[4].startswith("Checkpoint 3")
    assert "the bundled tiny GPT-2" in page.success[0].value
    ratio = next(m for m in page.metric if m.label == "Ratio")
    assert ratio.value.endswith("×") and float(ratio.value[:-1]) > 1


def test_top_predictions_match_the_model(page):
    from transformers import AutoTokenizer, GPT2LMHeadModel

    text = page.text_input(key="prod_text").value
    tok = AutoTokenizer.from_pretrained(BUNDLED_DIR, local_files_only=True)
    model = GPT2LMHeadModel.from_pretrained(BUNDLED_DIR, local_files_only=True,
                                            dtype=torch.float32).eval()
    with torch.no_grad():
        logits = model(torch.tensor([tok(text)["input_ids"]])).logits[0, -1]
    expected = torch.softmax(logits.double(), -1).topk(5).indices.tolist()
    shown = next(df.value for df in page.dataframe if "token_id" in df.value.columns)
    assert list(shown["token_id"]) == expected


def test_sentence_too_long_shows_an_error(page):
    page.text_input(key="prod_text").set_value("word " * 200)
    page = page.run()
    assert not page.exception
    assert "the limit here is 48" in page.error[0].value


def test_hub_id_offline_is_refused_and_the_bundled_model_stays(page):
    page.radio(key="prod_kind").set_value(page.radio(key="prod_kind").options[1])
    page.text_input(key="prod_hub").set_value("distilgpt2")
    next(b for b in page.button if b.label == "Load model").click()
    page = page.run()
    assert not page.exception
    message = page.error[0].value
    assert "Not loaded" in message and "bundled model works offline" in message
    assert "the bundled tiny GPT-2" in page.success[0].value


def test_checkpoint_3_can_be_passed(page):
    bank = load_bank(bank_path("checkpoint_3"))
    answer_right(page, bank, "cp_checkpoint_3_0_")
    page = submit(page, "Submit answers")
    assert not page.exception
    assert any("Passed: 100%" in s.value for s in page.success)
