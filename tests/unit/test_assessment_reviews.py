"""Stored results read back, and an instructor's reviewed scores applied to a result."""

import json

import pytest

from core.assessment import GradeResult, grade, load_bank, report_markdown, with_reviews
from core.validators import ValidationError
from tests.unit.test_assessment import SMALL_BANK


@pytest.fixture
def small(tmp_path):
    path = tmp_path / "small.yaml"
    path.write_text(SMALL_BANK, encoding="utf-8")
    return load_bank(path)


ANSWERS = {
    "mc_impl": "B",
    "ms_concept": ["P"],
    "essay_concept": "Short.",
    "mc_prod": "X",
    "ms_exact": ["U", "V"],
}


def test_a_result_survives_a_trip_through_json(small):
    result = grade(small, ANSWERS)
    back = GradeResult.from_dict(json.loads(result.to_json()))
    assert back == result
    assert type(back.items["essay_concept"].details) is type(result.items["essay_concept"].details)


def test_a_reviewed_essay_score_changes_every_total(small):
    result = grade(small, ANSWERS)
    # Points: mc_impl 2, ms_concept 3, essay 1, mc_prod 1, ms_exact 1 (8 in all).
    # Earned before: 2 (B) + 3 × 0.5 (P of P, Q; no wrong tick) + essay (too short, some credit
    # or none) + 0 + 1.
    essay_before = result.items["essay_concept"].score
    assert result.earned_points == pytest.approx(2 + 1.5 + essay_before + 1)
    reviewed = with_reviews(small, result, {"essay_concept": (1.0, "Clear enough.")})
    r = reviewed.items["essay_concept"]
    assert r.reviewed and r.score == 1.0 and r.earned == 1.0
    assert r.automatic_score == essay_before and r.review_note == "Clear enough."
    assert r.feedback.startswith("Reviewed by your instructor, who changed the automatic score")
    assert reviewed.earned_points == pytest.approx(2 + 1.5 + 1 + 1)
    assert reviewed.score == pytest.approx(5.5 / 8)
    # LO2 holds ms_concept (3 points, 0.5) and the essay (1 point, now 1.0).
    assert reviewed.objective_mastery["LO2"] == pytest.approx((3 * 0.5 + 1 * 1.0) / 4)
    assert reviewed.conceptual_score == pytest.approx((1.5 + 1.0) / 4)
    assert reviewed.reviewed and not result.reviewed
    # Reviewing again starts from the automatic score, not from the first review.
    again = with_reviews(small, reviewed, {"essay_concept": (essay_before, "")})
    assert again.items["essay_concept"].automatic_score == essay_before
    assert "confirmed the automatic score" in again.items["essay_concept"].feedback
    assert again.score == pytest.approx(result.score)


def test_a_review_can_fail_or_pass_the_attempt(small):
    everything = {
        "mc_impl": "B",
        "ms_concept": ["P", "Q"],
        "mc_prod": "Y",
        "ms_exact": ["U", "V"],
        "essay_concept": "Short.",
    }
    result = grade(small, everything)
    essay = result.items["essay_concept"].score
    assert result.score == pytest.approx((7 + essay) / 8)
    to_zero = with_reviews(small, result, {"essay_concept": (0.0, "")})
    assert to_zero.score == pytest.approx(7 / 8)
    assert to_zero.passed == (small.passing_threshold <= 7 / 8)
    full = with_reviews(small, result, {"essay_concept": (1.0, "")})
    assert full.score == 1.0 and full.passed


def test_the_report_shows_the_reviewed_score(small):
    reviewed = with_reviews(small, grade(small, ANSWERS), {"essay_concept": (0.75, "Good *point*")})
    text = report_markdown(small, reviewed)
    assert "Reviewed by your instructor" in text
    assert r"Good \*point\*" in text  # the note is escaped like every other text


@pytest.mark.parametrize(
    "reviews, message",
    [
        ({"nope": (1.0, "")}, "Unknown question id"),
        ({"essay_concept": (1.5, "")}, "fraction from 0 to 1"),
        ({"essay_concept": (float("nan"), "")}, "fraction from 0 to 1"),
    ],
)
def test_bad_reviews_are_refused(small, reviews, message):
    with pytest.raises(ValidationError, match=message):
        with_reviews(small, grade(small, ANSWERS), reviews)
