"""Essay rubrics of claims: subject + predicate in one clause, negation, contradiction.

The item below is built here (not read from the shipped banks), so these tests pin the grader's
behaviour, not the banks' wording."""

from __future__ import annotations

import pytest
from pydantic import ValidationError as PydanticError

from core.assessment import CONTRADICTION_PENALTY, grade_item
from core.assessment.schema import EssayItem
from core.assessment.text import GAP, PatternSet, analyse_claims, expand_pattern, match_pattern

QK = ["QK", "{the |}query-key circuit"]
OV = ["OV", "{the |}value-output circuit"]
WHERE = ["{decide|decides|choose|chooses} ... where", "attention pattern"]
WHAT = ["{decide|decides} what ... {moved|written|copied}", "{move|moves|copy|copies} information"]


def _item(**overrides):
    data = {
        "id": "qkov",
        "type": "essay",
        "objective": "LO1",
        "category": "conceptual",
        "prompt": "QK vs OV?",
        "explanation": "QK decides where to attend; OV what is moved.",
        "min_words": 5,
        "rubric": [
            {
                "name": "QK decides where",
                "weight": 1,
                "claims": [{"subject": QK, "predicate": WHERE}],
                "contradictions": [
                    {"label": "QK decides what is moved", "subject": QK, "predicate": WHAT}
                ],
            },
            {
                "name": "OV moves information",
                "weight": 1,
                "claims": [{"subject": OV, "predicate": WHAT}],
                "contradictions": [{"subject": OV, "predicate": WHERE}],
            },
            {
                "name": "Identity kept",
                "weight": 1,
                "claims": [
                    {"subject": ["identity"], "predicate": ["{not|never} lost", "still there"]}
                ],
                "contradictions": [{"subject": ["identity"], "predicate": ["lost", "destroyed"]}],
            },
        ],
    }
    data.update(overrides)
    return EssayItem.model_validate(data)


ITEM = _item()


def _names(r, key):
    return [c["name"] for c in r.details[key]]


def test_both_claims_in_one_sentence_bind_to_their_own_subjects():
    r = grade_item(ITEM, "QK decides where to attend and OV decides what is moved.")
    assert _names(r, "concepts_found") == ["QK decides where", "OV moves information"]
    assert r.details["concepts_contradicted"] == []


def test_swapped_roles_are_contradictions_that_cost_weight():
    r = grade_item(ITEM, "QK decides what is moved and OV decides where to attend, as usual.")
    assert r.details["concepts_found"] == []
    assert [(c["name"], c["reason"]) for c in r.details["concepts_contradicted"]] == [
        ("QK decides where", "contradicted"),
        ("OV moves information", "contradicted"),
    ]
    assert r.score == 0.0
    assert "contradicts" in r.feedback and "QK decides where" in r.feedback


def test_contradiction_penalty_is_a_share_of_the_weight():
    r = grade_item(
        ITEM,
        "In my view QK decides where to attend in the sentence. OV decides "
        "where to look, I think. The identity of the token is still there.",
    )
    assert not r.details["keyword_list"]
    # found 2 of 3, one contradicted: (2 − penalty × 1) / 3
    assert r.score == pytest.approx((2 - CONTRADICTION_PENALTY) / 3)


@pytest.mark.parametrize(
    "text",
    [
        "QK does not decide where to attend at all.",
        "QK doesn't decide where a token attends, really.",
        "QK never decides where anything goes in the model.",
        "It is not true that QK decides where to attend.",
        "It is not true that OV copies information and QK decides where to attend.",
        "QK no longer decides where to attend in this model.",
        "This does not mean that QK decides where to attend.",
    ],
)
def test_negated_claims_earn_nothing_and_are_named(text):
    r = grade_item(ITEM, text)
    assert "QK decides where" not in _names(r, "concepts_found")
    assert ("QK decides where", "negated") in [
        (c["name"], c["reason"]) for c in r.details["concepts_contradicted"]
    ]


def test_negation_stays_in_its_clause():
    r = grade_item(ITEM, "QK does not move information, but it decides where to attend.")
    assert _names(r, "concepts_found") == ["QK decides where"]
    assert r.details["concepts_contradicted"] == []  # the negated wrong claim costs nothing


def test_not_only_is_not_a_negation():
    r = grade_item(ITEM, "QK not only decides where to attend; it also sets the scale.")
    assert _names(r, "concepts_found") == ["QK decides where"]


def test_a_phrase_that_contains_its_own_negator_is_matched_as_written():
    r = grade_item(ITEM, "The identity is not lost, it is simply outweighed by the rest.")
    assert _names(r, "concepts_found") == ["Identity kept"]
    r = grade_item(ITEM, "Sadly the identity is lost once the later layers write over it.")
    assert _names(r, "concepts_contradicted") == ["Identity kept"]


def test_a_hypothetical_clause_is_not_held_against_the_answer():
    r = grade_item(
        ITEM,
        "The identity is still there. The only way the identity could be "
        "destroyed is if a layer wrote its exact negative.",
    )
    assert _names(r, "concepts_found") == ["Identity kept"]


def test_the_subject_carries_to_the_next_sentence():
    r = grade_item(
        ITEM, "Consider the query-key circuit of a head. It decides where each position looks."
    )
    assert _names(r, "concepts_found") == ["QK decides where"]


def test_a_predicate_without_its_subject_earns_nothing():
    r = grade_item(ITEM, "The attention pattern is computed with a softmax over the scores.")
    assert r.details["concepts_found"] == []


def test_coordinated_subjects_share_a_negation():
    item = _item(
        rubric=[
            {"name": "More layers", "claims": [{"predicate": ["more layers", "more parameters"]}]}
        ]
    )
    r = grade_item(item, "Here more layers and more parameters do not change anything.")
    assert r.details["concepts_found"] == []


def test_keyword_concepts_still_work_and_respect_negation():
    item = _item(rubric=[{"name": "Pattern", "keywords": ["attention pattern"]}])
    assert grade_item(item, "It computes the attention pattern for every head.").score == 1.0
    r = grade_item(item, "It does not compute the attention pattern for any head.")
    assert r.score == 0.0 and _names(r, "concepts_contradicted") == ["Pattern"]


def test_details_carry_the_model_answer_and_say_the_score_is_an_estimate():
    r = grade_item(ITEM, "QK decides where to attend and OV decides what is moved.")
    assert r.details["model_answer"] == ITEM.explanation
    assert r.details["automatic_estimate"] is True
    assert "automatic estimate" in r.feedback


def test_feedback_never_quotes_the_learner():
    r = grade_item(ITEM, "QK decides what is moved <script>alert(1)</script> always.")
    assert "<script>" not in r.feedback
    assert any("script" in e for c in r.details["concepts_contradicted"] for e in c["evidence"])


# --- patterns and schema ----------------------------------------------------------------------


def test_pattern_alternatives_and_gaps():
    (pat,) = expand_pattern("{decide|choose} ... where{ to|}")
    assert pat[1] == GAP
    assert match_pattern(["it", "decid", "exact", "wher", "to"], pat) == [(1, 4)]
    assert match_pattern(["choos", "a", "b", "c", "d", "e", "f", "wher"], pat) == []  # gap > 5


def test_analyse_claims_reports_binding_and_polarity():
    subj = PatternSet.build([(None, "QK"), (None, "OV")])
    pred = PatternSet.build([("where", "where")])
    hits = analyse_claims("OV is simple; QK does not say where.", subj, pred).hits
    assert [(h.subject, h.negated) for h in hits] == [(("qk",), True)]


@pytest.mark.parametrize(
    "rubric,message",
    [
        ([{"name": "A", "claims": [{"predicate": ["{a|b"]}]}], "unbalanced"),
        ([{"name": "A", "claims": [{"predicate": ["{a ... b|c}"]}]}], "inside braces"),
        ([{"name": "A", "claims": [{"predicate": ["..."]}]}], "no letters"),
        ([{"name": "A"}], "needs 'claims'"),
        ([{"name": "A", "claims": [{"subject": ["x"]}]}], "predicate"),
    ],
)
def test_bad_claims_are_refused_with_a_message(rubric, message):
    with pytest.raises(PydanticError, match=message):
        _item(rubric=rubric)


def test_a_single_string_is_accepted_for_subject_and_predicate():
    item = _item(rubric=[{"name": "A", "claims": [{"subject": "QK", "predicate": "where"}]}])
    assert item.rubric[0].claims[0].subject == ("QK",)
