"""Every essay item of the shipped banks, graded on answer sets written as learners write
(``tests/fixtures/essays/<item_id>.yaml``): correct answers in several voices score at least
CORRECT_MIN, wrong ones (swapped roles, wrong conclusion, negation, off-topic, keyword salad) at
most WRONG_MAX."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from core.assessment import BANK_DIR, grade_item, load_banks

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "essays"
CORRECT_MIN = 0.6
WRONG_MAX = 0.4


def _essay_items():
    banks = load_banks(BANK_DIR)
    return {item.id: item for bank in banks.values() for item in bank.items if item.type == "essay"}


ITEMS = _essay_items()


def _answers(kind: str):
    for item_id in sorted(ITEMS):
        path = FIXTURES / f"{item_id}.yaml"
        if not path.exists():
            continue
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        for entry in data[kind]:
            label = entry.get("voice") or entry.get("kind")
            yield pytest.param(item_id, entry["text"], id=f"{item_id}-{label}")


def test_every_essay_item_has_an_answer_set_of_five_plus_five():
    for item_id in ITEMS:
        path = FIXTURES / f"{item_id}.yaml"
        assert path.exists(), f"no answer set for essay item {item_id}"
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        assert data["item"] == item_id
        assert len(data["correct"]) >= 5 and len(data["wrong"]) >= 5


@pytest.mark.parametrize("item_id,text", list(_answers("correct")))
def test_correct_answer_scores_at_least_the_target(item_id, text):
    r = grade_item(ITEMS[item_id], text)
    assert r.score >= CORRECT_MIN, r.feedback


@pytest.mark.parametrize("item_id,text", list(_answers("wrong")))
def test_wrong_answer_scores_at_most_the_target(item_id, text):
    r = grade_item(ITEMS[item_id], text)
    assert r.score <= WRONG_MAX, r.feedback
