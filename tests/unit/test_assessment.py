"""Grading: multiple choice, multiple select, essays, code, the totals, and the public view.

Every expected number is worked out by hand in the test (or its comment), never read from the
grader's own output.
"""

import json
import textwrap

import pytest

from core.assessment import (
    GRADING_RULES_MARKDOWN,
    KEYWORD_LIST_CAP,
    MAX_CODE_CHARS,
    MAX_ESSAY_WORDS,
    bank_path,
    escape_markdown,
    grade,
    grade_item,
    load_bank,
    public_view,
    report_markdown,
)
from core.assessment.schema import CodingItem
from core.validators import ValidationError

# --- a small bank whose totals are easy to compute by hand -----------------------------------

SMALL_BANK = """
id: small
title: "Small bank"
kind: summative
items:
  - id: mc_impl
    type: multiple_choice
    objective: LO1
    category: implementation
    points: 2
    prompt: "Pick B."
    options:
      - "A"
      - text: "B"
        feedback: "B is right because it is B."
      - text: "C"
        feedback: "C is a distractor."
    correct: "B"
    explanation: "B."
  - id: ms_concept
    type: multiple_select
    objective: LO2
    category: conceptual
    points: 3
    prompt: "Tick P and Q."
    options: ["P", "Q", "R", "S"]
    correct: ["P", "Q"]
    explanation: "P and Q."
  - id: essay_concept
    type: essay
    objective: LO2
    category: conceptual
    points: 1
    min_words: 10
    prompt: "Explain the attention pattern and the value."
    rubric:
      - name: "Pattern"
        weight: 3
        keywords: ["attention pattern"]
      - name: "Value"
        weight: 1
        keywords: ["value vector"]
    explanation: "Pattern and value."
  - id: mc_prod
    type: multiple_choice
    objective: LO3
    category: production
    points: 1
    prompt: "Pick Y."
    options: ["X", "Y"]
    correct: "Y"
    explanation: "Y."
  - id: ms_exact
    type: multiple_select
    objective: LO3
    category: production
    points: 1
    scoring: exact
    prompt: "Tick U and V."
    options: ["U", "V", "W"]
    correct: ["U", "V"]
    explanation: "U and V."
"""


@pytest.fixture
def small(tmp_path):
    path = tmp_path / "small.yaml"
    path.write_text(SMALL_BANK, encoding="utf-8")
    return load_bank(path)


@pytest.fixture(scope="module")
def summative():
    return load_bank(bank_path("summative"))


SPEC_CORRECT = [
    "Linear additive structure",
    "High-dimensional representation",
    "Communication channel between layers",
    "Information preservation capabilities",
]
SPEC_WRONG = ["Non-linear transformations", "Gradient flow improvement"]


def ms_score(summative, ticked):
    return grade_item(summative.item("residual_stream_analysis"), ticked).score


# --- multiple select (the spec's item: k = 4 correct, w = 2 wrong) ---------------------------


def test_multiple_select_exact_correct_set_scores_one(summative):
    assert ms_score(summative, SPEC_CORRECT) == pytest.approx(1.0)


def test_multiple_select_every_box_never_pays(summative):
    # 4 × 1/4 − 2 × 1/2 = 0
    score = ms_score(summative, SPEC_CORRECT + SPEC_WRONG)
    assert score <= 0.5
    assert score == pytest.approx(0.0)


def test_multiple_select_all_correct_plus_one_wrong_is_half(summative):
    # 4/4 − 1/2 = 0.5
    assert ms_score(summative, SPEC_CORRECT + SPEC_WRONG[:1]) == pytest.approx(0.5)


def test_multiple_select_three_of_four_correct(summative):
    # 3/4 − 0 = 0.75
    assert ms_score(summative, SPEC_CORRECT[:3]) == pytest.approx(0.75)


def test_multiple_select_duplicates_count_once(summative):
    # one correct option ticked three times: 1/4
    assert ms_score(summative, [SPEC_CORRECT[0]] * 3) == pytest.approx(0.25)


def test_multiple_select_penalty_is_clamped_at_zero(summative):
    # 1/4 − 2/2 = −0.75 → 0
    assert ms_score(summative, SPEC_CORRECT[:1] + SPEC_WRONG) == 0.0


def test_multiple_select_accepts_tuple_and_set(summative):
    assert ms_score(summative, tuple(SPEC_CORRECT[:2])) == pytest.approx(0.5)
    assert ms_score(summative, set(SPEC_CORRECT[:2])) == pytest.approx(0.5)


def test_multiple_select_per_option_feedback(summative):
    r = grade_item(summative.item("residual_stream_analysis"), SPEC_CORRECT[:3] + SPEC_WRONG[1:])
    verdicts = {o["text"]: o["verdict"] for o in r.details["options"]}
    assert verdicts["Linear additive structure"] == "correct, ticked"
    assert verdicts["Information preservation capabilities"] == "correct, missed"
    assert verdicts["Gradient flow improvement"] == "wrong, ticked"
    assert verdicts["Non-linear transformations"] == "wrong, left blank"
    assert all(o["feedback"] for o in r.details["options"])
    # 3/4 − 1/2 = 0.25
    assert r.score == pytest.approx(0.25)
    assert "3 of 4 correct" in r.feedback and "1 of 2 wrong" in r.feedback
    assert "Missed: Information preservation capabilities" in r.feedback


def test_multiple_select_exact_scoring_is_all_or_nothing(small):
    item = small.item("ms_exact")
    assert grade_item(item, ["U", "V"]).score == 1.0
    assert grade_item(item, ["U"]).score == 0.0
    assert grade_item(item, ["U", "V", "W"]).score == 0.0


def test_multiple_select_nothing_ticked_is_not_answered(summative):
    r = grade_item(summative.item("residual_stream_analysis"), [])
    assert r.score == 0.0 and not r.answered
    assert r.feedback.startswith("Not answered")


# --- multiple choice -------------------------------------------------------------------------


def test_multiple_choice_right_and_wrong(small):
    item = small.item("mc_impl")
    right = grade_item(item, "B")
    wrong = grade_item(item, "C")
    assert right.score == 1.0 and right.earned == 2.0
    assert wrong.score == 0.0 and wrong.earned == 0.0
    assert "B is right because it is B." in right.feedback
    assert "The correct answer is: B" in wrong.feedback
    assert "C is a distractor." in wrong.feedback  # feedback of the chosen option


# --- essays ----------------------------------------------------------------------------------


def test_essay_score_is_coverage_times_length_credit(small):
    item = small.item("essay_concept")  # min_words 10; Pattern weight 3, Value weight 1
    r = grade_item(item, "The attention pattern is sparse.")
    # 5 words → length credit 5/10; coverage 3/(3+1) → 0.5 × 0.75
    assert r.details["words_graded"] == 5
    assert r.details["length_credit"] == pytest.approx(0.5)
    assert r.details["rubric_coverage"] == pytest.approx(0.75)
    assert r.score == pytest.approx(0.375)


def test_essay_under_min_words_says_how_many_are_missing(small):
    r = grade_item(small.item("essay_concept"), "Each attention pattern moves a value vector.")
    # 7 words of 10: 3 missing; both concepts found → 1 × 0.7
    assert r.details["words_missing"] == 3
    assert "3 more" in r.feedback
    assert r.score == pytest.approx(0.7)


def test_essay_matches_inflections_and_case(small):
    r = grade_item(
        small.item("essay_concept"),
        "Attention Patterns decide it, and the Value Vectors carry what is moved here.",
    )
    assert {c["name"] for c in r.details["concepts_found"]} == {"Pattern", "Value"}


def test_essay_matches_whole_words_only(small):
    # "valued vectorisation" must not count as "value vector"; "attentionpattern" is one word
    r = grade_item(
        small.item("essay_concept"),
        "We valued vectorisation and an attentionpattern in this one long sentence.",
    )
    assert r.details["concepts_found"] == []
    assert r.score == 0.0


def test_essay_not_answered(small):
    for blank in (None, "", "   \n"):
        r = grade_item(small.item("essay_concept"), blank)
        assert r.score == 0.0 and not r.answered and r.feedback == "Not answered."


QK_ANSWER = (
    "The QK and OV circuits split what an attention head does into two independent jobs. "
    "The QK circuit, the matrix W_Q^T W_K, is a bilinear form on the residual stream: it scores "
    "every pair of query and key positions, and after the softmax these scores become the "
    "attention pattern, so QK decides where each position attends and how much. The OV circuit, "
    "W_O W_V, decides what information is moved once the pattern is fixed: it takes the stream "
    "at each attended position, transforms it, and the result is written into the residual "
    "stream at the query position. Because the two circuits use separate weights, we can study "
    "them separately: the same pattern could move very different content, and the same content "
    "could be fetched by a different pattern."
)


def test_real_paragraph_covering_the_rubric_gets_full_marks(summative):
    r = grade_item(summative.item("qk_ov_circuits"), QK_ANSWER)
    assert r.details["words_graded"] >= 100
    assert r.details["concepts_missing"] == []
    assert not r.details["keyword_list"]
    assert r.score == pytest.approx(1.0)


def test_short_good_answer_gets_proportionally_less(summative):
    first_half = QK_ANSWER.split(" The OV circuit")[0]  # 59 words, OV concept not yet reached
    r = grade_item(summative.item("qk_ov_circuits"), first_half)
    words = r.details["words_graded"]
    assert words == 59
    # concepts found: QK pattern (2), independent (1), matrices (1) of 6 → 4/6; length 59/100
    assert r.score == pytest.approx(4 / 6 * 59 / 100)
    assert "41 more" in r.feedback


def test_keyword_list_is_capped_below_the_pass_mark(summative):
    item = summative.item("qk_ov_circuits")
    keywords = ", ".join(
        [
            "QK",
            "where to attend",
            "attention pattern",
            "OV",
            "what information is moved",
            "copies information",
            "independent",
            "separate",
            "W_Q^T W_K",
            "W_O W_V",
            "bilinear",
            "low rank",
            "query key",
            "value output",
        ]
        * 5
    )
    r = grade_item(item, keywords)
    assert r.details["words_graded"] >= 100  # long enough for full length credit
    assert r.details["rubric_coverage"] == pytest.approx(1.0)  # every concept "covered"
    assert r.details["keyword_list"] is True
    assert r.score == pytest.approx(KEYWORD_LIST_CAP)
    assert KEYWORD_LIST_CAP <= 0.4
    assert "list of keywords" in r.feedback and "capped" in r.feedback


def test_repetition_padding_is_treated_as_a_keyword_list(summative):
    sentence = "QK decides where to attend and OV decides what information is moved. "
    r = grade_item(summative.item("qk_ov_circuits"), sentence * 10)  # 120 words, 12 distinct
    assert r.details["keyword_list"] is True
    assert "repeats itself" in r.feedback
    assert r.score <= KEYWORD_LIST_CAP


BREAD = (
    "Bread is one of the oldest prepared foods. To bake a simple loaf you mix flour, water, salt "
    "and yeast, knead the dough until it is smooth and elastic, and let it rise in a warm place "
    "until it has doubled in size. Then you shape it, let it prove again, and bake it in a hot "
    "oven until the crust is brown and the loaf sounds hollow when you tap the bottom. Good bread "
    "needs patience more than skill, and every baker develops their own habits over time, from "
    "the choice of flour to the length of the rise."
)


@pytest.mark.parametrize("item_id", ["qk_ov_circuits", "production_scaling"])
def test_off_topic_prose_scores_zero(summative, item_id):
    r = grade_item(summative.item(item_id), BREAD)
    assert r.details["concepts_found"] == []
    assert r.score == 0.0
    assert "None of the rubric's concepts" in r.feedback


def test_very_long_essay_is_capped_with_a_message(summative):
    text = (QK_ANSWER + " ") * 30  # 128 words × 30 = 3,840 words
    r = grade_item(summative.item("qk_ov_circuits"), text)
    assert r.details["word_count"] == 128 * 30
    assert r.details["words_graded"] == MAX_ESSAY_WORDS
    assert r.details["truncated"] is True
    assert f"only the first {MAX_ESSAY_WORDS:,} were graded" in r.feedback


def test_essay_feedback_names_found_and_missing_concepts(summative):
    r = grade_item(
        summative.item("qk_ov_circuits"), "The QK circuit decides where each position attends. " * 1
    )
    assert "Concepts covered: QK controls the attention pattern" in r.feedback
    assert "Concepts missing:" in r.feedback and "OV moves and transforms" in r.feedback


# --- code ------------------------------------------------------------------------------------

GOOD_CODE = textwrap.dedent("""
    import math
    import torch
    import torch.nn as nn
    import torch.nn.functional as F


    class MyTransformer(nn.Module):
        def __init__(self, config):
            super().__init__()
            self.n_head = config.n_head
            self.d_head = config.n_embd // config.n_head
            self.W_E = nn.Parameter(torch.randn(config.vocab_size, config.n_embd) * 0.02)
            self.W_Q = nn.Parameter(torch.randn(config.n_head, self.d_head, config.n_embd))
            self.W_K = nn.Parameter(torch.randn(config.n_head, self.d_head, config.n_embd))
            self.W_V = nn.Parameter(torch.randn(config.n_head, self.d_head, config.n_embd))
            self.W_O = nn.Parameter(torch.randn(config.n_head, config.n_embd, self.d_head))
            self.W_U = nn.Parameter(torch.randn(config.vocab_size, config.n_embd) * 0.02)

        def get_qk_circuit(self, head):
            return self.W_Q[head].T @ self.W_K[head]

        def get_ov_circuit(self, head):
            return self.W_O[head] @ self.W_V[head]

        def forward(self, input_ids, return_analysis=False):
            x = self.W_E[input_ids]
            residual_streams = [x]
            q = torch.einsum("bsd,hkd->bhsk", x, self.W_Q)
            k = torch.einsum("bsd,hkd->bhsk", x, self.W_K)
            v = torch.einsum("bsd,hkd->bhsk", x, self.W_V)
            pattern = F.softmax(q @ k.transpose(-1, -2) / math.sqrt(self.d_head), dim=-1)
            heads = torch.einsum("bhsk,hdk->bhsd", pattern @ v, self.W_O)
            x = x + heads.sum(dim=1)
            residual_streams.append(x)
            self.cache = {"residual_streams": residual_streams, "heads": heads}
            logits = x @ self.W_U.T
            if return_analysis:
                return logits, self.analyze_information_flow()
            return logits

        def analyze_information_flow(self):
            direct = self.cache["residual_streams"][0]
            return {"direct_path": direct, "head_paths": self.cache["heads"].unbind(dim=1)}
""")


#: A coding item with the class-based structural rubric (read, never run), defined here so these
#: tests do not depend on the shipped bank's wording.
STRUCTURAL_TEMPLATE = textwrap.dedent("""
    class YourTransformer(nn.Module):
        def __init__(self, config):
            super().__init__()
            # Your implementation here
            pass

        def forward(self, input_ids, return_analysis=False):
            # Return logits and optional analysis
            pass

        def analyze_information_flow(self):
            # Extract path decomposition
            pass
""")
STRUCTURAL_RUBRIC = [
    ("nn_module_subclass", 1),
    ("init_method", 1),
    ("forward_signature", 1),
    ("residual_stream_tracking", 2),
    ("per_head_attention", 2),
    ("qk_ov_circuits", 2),
    ("information_flow_method", 2),
]


@pytest.fixture(scope="module")
def coding_item():
    return CodingItem.model_validate(
        {
            "id": "structural_code",
            "type": "coding",
            "objective": "LO1",
            "category": "implementation",
            "points": 4,
            "topic": "A transformer class",
            "prompt": "Implement an interpretable transformer class.",
            "explanation": "See the lesson.",
            "template": STRUCTURAL_TEMPLATE,
            "time_limit_minutes": 45,
            "rubric": [{"check": c, "weight": w} for c, w in STRUCTURAL_RUBRIC],
        }
    )


def test_complete_code_meets_every_rubric_item(coding_item):
    r = grade_item(coding_item, GOOD_CODE)
    assert r.details["parsed"] is True
    assert r.details["rubric_missing"] == []
    assert len(r.details["rubric_found"]) == 7
    assert r.score == pytest.approx(1.0)


def _reindented(template: str) -> str:
    """The template with whitespace-only changes: tabs for 4 spaces, trailing spaces, blank
    lines, CRLF line ends."""
    lines = [line.replace("    ", "\t") + "   " for line in template.splitlines()]
    return "\n\n" + "\r\n".join(lines) + "\n\n\n"


@pytest.mark.parametrize("variant", ["as is", "whitespace only"])
def test_unchanged_template_is_not_answered_and_scores_zero(coding_item, variant):
    code = coding_item.template if variant == "as is" else _reindented(coding_item.template)
    assert code.split() == coding_item.template.split()  # no word differs
    r = grade_item(coding_item, code)
    assert r.score == 0.0 and r.earned == 0.0
    assert r.answered is False
    assert r.details["unchanged_template"] is True
    assert r.details["rubric_found"] == []
    assert "template" in r.feedback and "not answered" in r.feedback.lower()


def test_unchanged_template_counts_as_unanswered_in_the_totals(summative):
    item = summative.item("complete_transformer_implementation")
    result = grade(summative, {item.id: item.template}, run_code=True)
    assert result.answered == 0
    assert result.items[item.id].earned == 0.0
    assert f"{item.label}: not answered" in result.improvement_areas


def test_template_with_one_real_change_is_graded(coding_item):
    # a one-word change is an answer (it earns what the structure shows: the class only)
    code = coding_item.template.replace("# Your implementation here", "self.ready = True", 1)
    r = grade_item(coding_item, code)
    assert r.answered is True and r.details["unchanged_template"] is False
    # nn_module_subclass (1) and init_method (1) of total weight 1+1+1+2+2+2+2 = 11
    assert [e["check"] for e in r.details["rubric_found"]] == ["nn_module_subclass", "init_method"]
    assert r.score == pytest.approx(2 / 11)
    reasons = {e["check"]: e["reason"] for e in r.details["rubric_missing"]}
    assert "body is still empty" in reasons["forward_signature"]
    assert "stub" in reasons["information_flow_method"]


def test_code_over_the_limit_is_not_graded_and_says_why(coding_item):
    padding = "\n# " + "x" * 78
    code = GOOD_CODE + padding * ((MAX_CODE_CHARS - len(GOOD_CODE)) // len(padding) + 1)
    assert len(code) > MAX_CODE_CHARS
    r = grade_item(coding_item, code)
    assert r.score == 0.0 and r.answered is True
    assert r.details["too_long"] is True and r.details["parsed"] is False
    assert f"{len(code):,} characters" in r.feedback and f"{MAX_CODE_CHARS:,}" in r.feedback
    # the same code cut to exactly the limit is graded in full
    at_limit = code[:MAX_CODE_CHARS]
    assert grade_item(coding_item, at_limit).score == pytest.approx(1.0)


def test_code_with_a_syntax_error_scores_zero_and_names_the_line(coding_item):
    broken = GOOD_CODE.replace("def get_ov_circuit(self, head):", "def get_ov_circuit(self, head)")
    line = broken.splitlines().index("    def get_ov_circuit(self, head)") + 1
    r = grade_item(coding_item, broken)
    assert r.score == 0.0
    assert r.details["syntax_error"]["line"] == line
    assert f"line {line}" in r.feedback


def test_code_is_never_executed(coding_item, tmp_path):
    marker = tmp_path / "written.txt"
    marker2 = tmp_path / "via_os.txt"
    code = textwrap.dedent(f"""
        import os
        open({str(marker)!r}, "w").write("module level ran")
        os.system("touch {marker2}")
        __import__("os").makedirs({str(tmp_path / "made_dir")!r})

        class Evil(nn.Module):
            open({str(marker)!r}, "w").write("class body ran")

            def forward(self, input_ids, return_analysis=False):
                return open({str(marker)!r}, "w")
    """)
    r = grade_item(coding_item, code)
    assert r.details["parsed"] is True and r.details["executed"] is False
    assert not marker.exists()
    assert not marker2.exists()
    assert not (tmp_path / "made_dir").exists()


def test_forward_with_wrong_default_is_reported(coding_item):
    code = GOOD_CODE.replace("return_analysis=False", "return_analysis=True")
    r = grade_item(coding_item, code)
    reasons = {e["check"]: e["reason"] for e in r.details["rubric_missing"]}
    assert "default to False" in reasons["forward_signature"]
    # every other item still found: 11 − 1 = 10 of 11
    assert r.score == pytest.approx(10 / 11)


def test_sequential_stream_without_records_misses_tracking(coding_item):
    code = (
        GOOD_CODE.replace("residual_streams = [x]", "")
        .replace("residual_streams.append(x)", "")
        .replace('"residual_streams": residual_streams, ', "")
        .replace('self.cache["residual_streams"][0]', 'self.cache["heads"][0]')
    )
    r = grade_item(coding_item, code)
    reasons = {e["check"]: e["reason"] for e in r.details["rubric_missing"]}
    assert set(reasons) == {"residual_stream_tracking"}
    assert "not kept" in reasons["residual_stream_tracking"]


def test_code_not_answered(coding_item):
    r = grade_item(coding_item, "  ")
    assert r.score == 0.0 and not r.answered


# --- totals ----------------------------------------------------------------------------------


def test_totals_categories_and_mastery_by_hand(small):
    result = grade(
        small,
        {
            "mc_impl": "B",  # 1.0 × 2 points = 2
            "ms_concept": ["P"],  # 1/2 − 0 = 0.5 × 3 points = 1.5
            # essay_concept unanswered: 0 of 1
            "mc_prod": "X",  # 0 of 1
            "ms_exact": ["U", "V"],  # 1.0 × 1 = 1
        },
    )
    assert result.total_points == 8
    assert result.earned_points == pytest.approx(4.5)
    assert result.score == pytest.approx(4.5 / 8)
    assert result.passed is False
    assert result.implementation_score == pytest.approx(2 / 2)
    assert result.conceptual_score == pytest.approx(1.5 / 4)
    assert result.production_readiness == pytest.approx(1 / 2)
    assert result.objective_mastery == pytest.approx({"LO1": 1.0, "LO2": 1.5 / 4, "LO3": 0.5})
    assert result.answered == 4 and result.n_items == 5
    assert result.items["essay_concept"].feedback == "Not answered."
    assert result.items["ms_concept"].score == pytest.approx(0.5)
    areas = result.improvement_areas
    assert any(a.startswith("LO2") for a in areas) and any(a.startswith("LO3") for a in areas)
    assert not any(a.startswith("LO1") for a in areas)
    assert result.verdict == "Additional study recommended"


def test_all_correct_passes_with_no_improvement_areas(small):
    result = grade(
        small,
        {
            "mc_impl": "B",
            "ms_concept": ["P", "Q"],
            "mc_prod": "Y",
            "ms_exact": ["U", "V"],
            "essay_concept": "The attention pattern picks positions and each value vector is moved.",
        },
    )
    assert result.score == pytest.approx(1.0)
    assert result.passed is True
    assert result.improvement_areas == []
    assert result.verdict == "Ready for advanced circuit analysis"


def test_empty_responses_score_zero(small):
    result = grade(small, {})
    assert result.score == 0.0 and result.answered == 0 and not result.passed
    assert all(r.feedback.startswith("Not answered") for r in result.items.values())


def test_pass_mark_is_inclusive(tmp_path):
    # 17 of 20 points = 0.85 exactly (computed in floating point from the parts)
    bank = tmp_path / "b.yaml"
    bank.write_text(
        textwrap.dedent("""
        id: inclusive
        title: "Pass mark"
        kind: checkpoint
        objective: LO1
        items:
          - {id: a, type: multiple_choice, objective: LO1, category: conceptual, points: 17,
             prompt: "p", options: ["x", "y"], correct: "x", explanation: "e"}
          - {id: b, type: multiple_choice, objective: LO1, category: conceptual, points: 3,
             prompt: "p", options: ["x", "y"], correct: "x", explanation: "e"}
    """),
        encoding="utf-8",
    )
    result = grade(load_bank(bank), {"a": "x", "b": "y"})
    assert result.score == pytest.approx(0.85) and result.passed is True
    assert result.verdict == "Checkpoint passed"


def test_category_without_items_is_none(tmp_path):
    bank = tmp_path / "b.yaml"
    bank.write_text(
        textwrap.dedent("""
        id: only_conceptual
        title: "Only conceptual"
        kind: checkpoint
        objective: LO2
        items:
          - {id: a, type: multiple_choice, objective: LO2, category: conceptual,
             prompt: "p", options: ["x", "y"], correct: "x", explanation: "e"}
    """),
        encoding="utf-8",
    )
    result = grade(load_bank(bank), {"a": "x"})
    assert result.conceptual_score == 1.0
    assert result.implementation_score is None and result.production_readiness is None
    assert result.category_scores == {"conceptual": 1.0}
    assert result.objective_mastery == {"LO2": 1.0}


def test_result_is_json_and_subscriptable(small):
    result = grade(small, {"mc_impl": "B"})
    data = json.loads(result.to_json())
    assert data["score"] == pytest.approx(2 / 8)
    assert data["items"]["mc_impl"]["score"] == 1.0
    assert result["score"] == result.score
    assert result["items"]["mc_impl"]["feedback"] == result.items["mc_impl"].feedback
    assert list(data["items"]) == list(small.item_ids)
    with pytest.raises(KeyError):
        result["nope"]


# --- refusals --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "responses, fragment",
    [
        ({"no_such_item": "B"}, "Unknown question id 'no_such_item'"),
        ({"mc_impl": ["B"]}, "must be one option's text"),
        ({"mc_impl": 2}, "must be one option's text"),
        ({"mc_impl": "D"}, "'D' is not one of its options"),
        ({"ms_concept": "P"}, "must be a list of option texts"),
        ({"ms_concept": ["P", 3]}, "must list option texts"),
        ({"ms_concept": ["P", "Z"]}, "'Z' is not one of its options"),
        ({"essay_concept": 42}, "must be text"),
        ({"essay_concept": ["a", "list"]}, "must be text"),
    ],
)
def test_wrong_answers_are_refused(small, responses, fragment):
    with pytest.raises(ValidationError, match=fragment):
        grade(small, responses)


def test_wrong_code_type_is_refused(coding_item):
    with pytest.raises(ValidationError, match="code as text"):
        grade_item(coding_item, b"class A: pass")


def test_responses_must_be_a_mapping(small):
    with pytest.raises(ValidationError, match="Responses must map item ids"):
        grade(small, [("mc_impl", "B")])


def test_grade_needs_a_bank():
    with pytest.raises(ValidationError, match="Expected a question bank"):
        grade({"items": []}, {})


# --- what the page may show before and after ---------------------------------------------------


def _keys(obj):
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield k
            yield from _keys(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from _keys(v)


def test_public_view_hides_the_answer_key(summative, small):
    for bank in (summative, small):
        view = public_view(bank)
        keys = set(_keys(view))
        assert not keys & {
            "correct",
            "feedback",
            "explanation",
            "rubric",
            "keywords",
            "rubric_summary",
            "hint",
        }
        dumped = json.dumps(view, ensure_ascii=False)
        # what the learner is meant to see anyway: prompts, options, templates
        shown = json.dumps(
            [
                [i.prompt, getattr(i, "template", ""), [o.text for o in getattr(i, "options", ())]]
                for i in bank.items
            ],
            ensure_ascii=False,
        )
        for item in bank.items:
            assert len(item.explanation) < 12 or item.explanation not in dumped
            for concept in getattr(item, "rubric", ()):
                assert getattr(concept, "hint", None) is None or concept.hint not in dumped
                for kw in getattr(concept, "keywords", ()):
                    if len(kw) > 12 and kw not in shown:
                        assert kw not in dumped
        assert [i["id"] for i in view["items"]] == list(bank.item_ids)


def test_public_view_has_what_the_form_needs(summative):
    items = {i["id"]: i for i in public_view(summative)["items"]}
    assert items["residual_stream_analysis"]["options"][0] == "Linear additive structure"
    assert items["production_scaling"]["min_words"] == 150
    assert items["complete_transformer_implementation"]["time_limit_minutes"] == 45
    coding = items["complete_transformer_implementation"]
    bank_item = summative.item("complete_transformer_implementation")
    assert coding["template"] == bank_item.template and coding["tests"] == bank_item.tests
    from core.assessment.interface import INTERFACE_DOC, TEMPLATE

    assert coding["interface"] == INTERFACE_DOC and bank_item.template == TEMPLATE
    assert "rubric" not in coding and "explanation" not in coding  # no key before grading


def test_report_shows_scores_and_learner_text_as_plain_text(small):
    essay = "The attention pattern is sparse.\n```\n# not a heading\n<script>x</script>"
    result = grade(small, {"mc_impl": "B", "essay_concept": essay})
    md = report_markdown(small, result)
    assert "# Small bank: results" in md
    assert f"{result.score:.1%}" in md and "NOT PASSED" in md
    # the learner's text sits in a fence longer than any backtick run inside it
    assert "````text\n" + essay + "\n````" in md
    assert "How this is graded" in md


def test_report_refuses_a_result_of_another_bank(small, summative):
    with pytest.raises(ValidationError, match="belongs to bank"):
        report_markdown(summative, grade(small, {}))


def test_grading_rules_describe_what_the_graders_do(summative):
    """Each rule checked against the grader's behaviour, not against the constant it prints."""
    text = GRADING_RULES_MARKDOWN
    ms = summative.item("residual_stream_analysis")
    assert "Ticking every box therefore earns 0" in text
    assert grade_item(ms, [o.text for o in ms.options]).score == 0.0
    wrong = [o.text for o in ms.options if o.text not in ms.correct]
    assert len(wrong) == 2 and "one of two wrong ones earns 1 − 1/2 = 0.5" in text
    assert grade_item(ms, list(ms.correct) + wrong[:1]).score == pytest.approx(0.5)
    code = summative.item("complete_transformer_implementation")
    assert "**not run**" in text and "**run**" in text
    read = grade_item(code, code.template + "\n# started\n", run_code=False)
    assert read.feedback.startswith("Structural rubric") or "Not run" in read.feedback
    assert read.details["executed"] is False and read.details["not_run_reason"]


def test_escape_markdown_keeps_identifiers_literal():
    assert escape_markdown("__init__ | a*b") == "\\_\\_init\\_\\_ \\| a\\*b"


def test_report_escapes_feedback(summative):
    item = summative.item("complete_transformer_implementation")
    result = grade(summative, {item.id: item.template + "\n# first attempt\n"})
    feedback = result.items[item.id].feedback
    assert "attention_pattern" in feedback  # the structural feedback names the functions
    md = report_markdown(summative, result)
    assert feedback not in md and escape_markdown(feedback) in md


def test_shipped_bank_source_is_relative_to_the_repository(summative):
    assert summative.source == "assessments/summative.yaml"


def test_item_details_are_typed_per_question_type_and_serialise(summative):
    from core.assessment.results import DETAILS_BY_TYPE

    result = grade(
        summative,
        {"residual_stream_analysis": ["Linear additive structure"], "qk_ov_circuits": QK_ANSWER},
    )
    for item in summative.items:
        assert type(result.items[item.id].details) is DETAILS_BY_TYPE[item.type]
    essay = result.items["qk_ov_circuits"].details
    assert essay.min_words == essay["min_words"] == summative.item("qk_ov_circuits").min_words
    assert "concepts_found" in essay and "options" not in essay
    data = json.loads(result.to_json())
    ms = data["items"]["residual_stream_analysis"]["details"]
    assert ms["correct_ticked"] == 1 and ms["wrong_ticked"] == 0
    assert data["items"]["qk_ov_circuits"]["details"]["concepts_found"]
