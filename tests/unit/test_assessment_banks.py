"""The shipped banks in assessments/: they load, match the spec, and can be answered in full."""

import pytest

from core.assessment import (
    BANK_DIR,
    CHECKPOINT_IDS,
    SUMMATIVE_ID,
    bank_path,
    grade,
    grade_item,
    load_bank,
    load_banks,
)
from core.assessment.live import answer_key
from core.assessment.structure import INTERFACE_FUNCTIONS
from tests.unit.test_coding_tests import CORRECT


@pytest.fixture(scope="module")
def banks():
    return load_banks()


def test_all_shipped_banks_load(banks):
    assert set(banks) == {*CHECKPOINT_IDS, SUMMATIVE_ID}
    for bank_id in banks:
        assert bank_path(bank_id) == BANK_DIR / f"{bank_id}.yaml"
        assert load_bank(bank_path(bank_id)).id == bank_id  # file name = bank id


def test_item_ids_are_unique_across_banks(banks):
    ids = [i for bank in banks.values() for i in bank.item_ids]
    assert len(ids) == len(set(ids))


def test_every_item_has_an_explanation(banks):
    for bank in banks.values():
        for item in bank.items:
            assert len(item.explanation.split()) >= 15, item.id


def test_every_choice_option_has_feedback_in_the_checkpoints_and_spec_item(banks):
    for bank in banks.values():
        for item in bank.items:
            for option in getattr(item, "options", ()):
                assert option.feedback, (item.id, option.text)


@pytest.mark.parametrize("bank_id, objective", list(zip(CHECKPOINT_IDS, ("LO1", "LO2", "LO3"))))
def test_checkpoints_serve_their_objective_with_mixed_types(banks, bank_id, objective):
    bank = banks[bank_id]
    assert bank.kind == "checkpoint" and bank.objective == objective
    assert bank.passing_threshold == 0.85
    assert len(bank.items) >= 3
    assert len({i.type for i in bank.items}) >= 2
    assert all(i.objective == objective for i in bank.items)


def test_summative_is_the_spec_assessment(banks):
    bank = banks[SUMMATIVE_ID]
    assert bank.kind == "summative" and bank.passing_threshold == 0.85
    assert bank.item_ids == (
        "complete_transformer_implementation",
        "residual_stream_analysis",
        "production_scaling",
        "qk_ov_circuits",
    )
    code = bank.item("complete_transformer_implementation")
    assert code.type == "coding" and code.time_limit_minutes == 45
    assert code.category == "implementation"
    assert code.tests == "transformer_functions"
    for name, params in INTERFACE_FUNCTIONS.items():
        assert f"def {name}({', '.join(params)}):" in code.template
    assert {r.check for r in code.rubric} == {
        *(f"defines_{name}" for name in INTERFACE_FUNCTIONS),
        "causal_softmax",
        "heads_read_same_input",
    }

    ms = bank.item("residual_stream_analysis")
    assert ms.type == "multiple_select" and ms.scoring == "partial"
    assert [o.text for o in ms.options] == [
        "Linear additive structure",
        "High-dimensional representation",
        "Non-linear transformations",
        "Communication channel between layers",
        "Gradient flow improvement",
        "Information preservation capabilities",
    ]
    assert set(ms.correct) == {
        "Linear additive structure",
        "High-dimensional representation",
        "Communication channel between layers",
        "Information preservation capabilities",
    }

    prod = bank.item("production_scaling")
    assert prod.type == "essay" and prod.min_words == 150 and prod.category == "production"
    assert {c.name for c in prod.rubric} == {
        "Component mapping",
        "Transfer of analysis techniques",
        "Scaling considerations",
        "Limitations",
    }
    qkov = bank.item("qk_ov_circuits")
    assert qkov.type == "essay" and qkov.min_words == 100


# Model answers: real prose, written the way a learner would, each covering its rubric.
MODEL_ANSWERS = {
    "production_scaling": (
        "Simplified transformers are a lens on production systems rather than a replacement for "
        "them. Most components map directly: GPT-2 also has token embeddings, attention heads "
        "that read from and write to a residual stream, and an unembedding, but it adds MLP "
        "blocks, LayerNorm before each block, learned position embeddings and tied embeddings. "
        "Because of this correspondence, the analysis techniques transfer: we can compute "
        "attention patterns and per-head entropy, extract QK and OV circuits from each head's "
        "weights, and apply the same residual stream analysis to the hidden states of the "
        "production model. Scaling changes the picture, though. A large model has many more "
        "layers and heads, hundreds of millions or billions of parameters, and attention whose "
        "cost grows quadratically with context length, so inspecting every path becomes "
        "expensive and we must prioritise. There are also limitations: the stream of GPT-2 is "
        "still an exact sum of every attention and MLP output, but the MLPs and LayerNorm are "
        "non-linear, so paths through several components no longer expand into products of "
        "weights, and features stored in superposition are harder to interpret. The simplified "
        "model teaches the concepts; applying them to production models needs care."
    ),
    "qk_ov_circuits": (
        "The QK and OV circuits split what an attention head does into two independent jobs. "
        "The QK circuit, the matrix W_Q^T W_K, is a bilinear form on the residual stream: it "
        "scores every pair of query and key positions, and after the softmax these scores become "
        "the attention pattern, so QK decides where each position attends and how much. The OV "
        "circuit, W_O W_V, decides what information is moved once the pattern is fixed: it takes "
        "the stream at each attended position, transforms it, and the result is written into "
        "the residual stream at the query position. Because the two circuits use separate "
        "weights, we can study them separately: the same pattern could move very different "
        "content, and the same content could be fetched by a different pattern."
    ),
    "cp1_attention_only": (
        "Without LayerNorm and MLPs every component only adds its output to the residual "
        "stream, so the logits split exactly into one term per path, and a path through several "
        "heads expands into a product of weight matrices. LayerNorm would divide what each block "
        "reads by the stream's norm and the MLPs are non-linear, so paths through them would no "
        "longer expand like that, even though the stream itself would still add up. The cost is "
        "a much less capable model that is not how production models like GPT-2 work."
    ),
    "cp2_similarity_vs_loss": (
        "Not necessarily. Each layer adds its output to the stream and nothing is overwritten in "
        "place, so the initial embedding is still present as one term of the sum unless a head "
        "wrote against it. The cosine falls because the terms added later have grown larger in "
        "norm and dominate the direction of the stream. A regression or a linear projection onto "
        "the token's embedding can still read the identity out."
    ),
    "cp3_transfer": (
        "Attention patterns and the entropy of each head carry over unchanged, because GPT-2's "
        "heads compute a softmax pattern just like ours, and we can still measure norm growth, "
        "similarity and effective rank on its hidden states. The stream itself still adds up "
        "exactly, but the path analysis needs care: LayerNorm divides what every block reads by "
        "the stream's norm, and the MLPs add non-linear contributions, so paths through later "
        "blocks no longer expand into products of weights."
    ),
}

OFF_TOPIC = (
    "Bread is one of the oldest prepared foods. To bake a simple loaf you mix flour, water, salt "
    "and yeast, knead the dough until it is smooth and elastic, and let it rise in a warm place "
    "until it has doubled in size. Then you shape it, let it prove again, and bake it in a hot "
    "oven until the crust is brown and the loaf sounds hollow when you tap the bottom. Good bread "
    "needs patience more than skill, and every baker develops their own habits over time, from "
    "the choice of flour to the length of the rise. Some bakers swear by a slow overnight rise in "
    "the fridge, others by a long sourdough starter fed every morning with fresh flour and water."
)


def _essays(banks):
    return [(bank, item) for bank in banks.values() for item in bank.items if item.type == "essay"]


def test_every_essay_has_a_model_answer(banks):
    assert {item.id for _, item in _essays(banks)} == set(MODEL_ANSWERS)


@pytest.mark.parametrize("item_id", sorted(MODEL_ANSWERS))
def test_model_answer_gets_full_marks(banks, item_id):
    item = next(i for _, i in _essays(banks) if i.id == item_id)
    r = grade_item(item, MODEL_ANSWERS[item_id])
    assert r.details["words_graded"] >= item.min_words
    assert r.details["concepts_missing"] == [], r.feedback
    assert r.details["keyword_list"] is False, r.details["keyword_list_reasons"]
    assert r.score == pytest.approx(1.0)


@pytest.mark.parametrize("item_id", sorted(MODEL_ANSWERS))
def test_off_topic_answer_scores_zero(banks, item_id):
    item = next(i for _, i in _essays(banks) if i.id == item_id)
    assert grade_item(item, OFF_TOPIC).score == 0.0


#: A correct answer to the coding item's function interface (also used by the page tests).
GOOD_CODE = CORRECT


@pytest.mark.parametrize("run_code", [False, True], ids=["read", "run"])
def test_good_answers_pass_the_summative(banks, run_code):
    bank = banks[SUMMATIVE_ID]
    result = grade(
        bank,
        run_code=run_code,
        responses={
            "complete_transformer_implementation": GOOD_CODE,
            "residual_stream_analysis": [
                "Linear additive structure",
                "High-dimensional representation",
                "Communication channel between layers",
                "Information preservation capabilities",
            ],
            "production_scaling": MODEL_ANSWERS["production_scaling"],
            "qk_ov_circuits": MODEL_ANSWERS["qk_ov_circuits"],
        },
    )
    assert result.score == pytest.approx(1.0) and result.passed
    assert result.items["complete_transformer_implementation"].details["executed"] is run_code
    assert result.implementation_score == pytest.approx(1.0)
    assert result.conceptual_score == pytest.approx(1.0)
    assert result.production_readiness == pytest.approx(1.0)
    assert result.verdict == "Ready for advanced circuit analysis"


def test_poor_answers_fail_the_summative_with_focus_areas(banks):
    bank = banks[SUMMATIVE_ID]
    # the template with a comment added: an answer, but no function is implemented
    code = bank.item("complete_transformer_implementation").template + "\n# TODO\n"
    result = grade(
        bank,
        {
            "complete_transformer_implementation": code,  # 0 × 4
            "residual_stream_analysis": [
                "Non-linear transformations",
                "Gradient flow improvement",
            ],  # 0 × 2
            "production_scaling": OFF_TOPIC,  # 0 × 3
            "qk_ov_circuits": "QK is attention and OV is output.",  # see below
        },
    )
    # "QK is attention and OV is output." mentions no rubric phrase → 0 × 3
    assert result.answered == 4 and result.score == 0.0
    assert not result.passed
    assert result.verdict == "Additional study recommended"
    areas = result.improvement_areas
    assert any(a.startswith("LO1") for a in areas)
    assert any(a.startswith("LO2") for a in areas)
    assert any(a.startswith("LO3") for a in areas)
    assert any("Scaling considerations" in a for a in areas)
    assert any("QK/OV" in a or "QK and OV" in a for a in areas)


@pytest.mark.parametrize("bank_id", CHECKPOINT_IDS)
def test_checkpoint_right_and_wrong(banks, bank_id):
    bank = banks[bank_id]
    right, wrong = {}, {}
    for item in bank.items:
        if item.type == "multiple_choice":
            right[item.id] = item.correct
            wrong[item.id] = next(o.text for o in item.options if o.text != item.correct)
        elif item.type == "multiple_select":
            right[item.id] = list(item.correct)
            wrong[item.id] = [o.text for o in item.options if o.text not in item.correct]
        elif item.type == "model_choice":
            key = answer_key(item)
            right[item.id] = key.correct
            wrong[item.id] = next(o for o in key.options if o != key.correct)
        elif item.type == "model_number":
            right[item.id] = answer_key(item).correct
            wrong[item.id] = answer_key(item).correct + item.tolerance + 1
        else:
            right[item.id] = MODEL_ANSWERS[item.id]
            wrong[item.id] = OFF_TOPIC
    good, bad = grade(bank, right), grade(bank, wrong)
    assert good.score == pytest.approx(1.0) and good.passed
    assert bad.score == 0.0 and not bad.passed
    assert bad.improvement_areas[0].startswith(bank.objective)


def test_readme_example_is_a_valid_bank(tmp_path):
    readme = (BANK_DIR / "README.md").read_text(encoding="utf-8")
    example = readme.split("```yaml\n", 1)[1].split("```", 1)[0]
    path = tmp_path / "checkpoint_example.yaml"
    path.write_text(example, encoding="utf-8")
    bank = load_bank(path)
    assert bank.item_ids == ("ex_rank_cap", "ex_properties", "ex_essay")
    # and it grades as the README says: all correct plus one of one wrong → 1 − 1/1 = 0
    r = grade(
        bank, {"ex_properties": ["Additive", "Shared by all layers", "Reset after every layer"]}
    )
    assert r.items["ex_properties"].score == 0.0


# --- facts the banks must state correctly (DESIGN.md: "Facts to get right") -------------------


def _statements(bank):
    """(where, text) for every sentence a learner reads: prompts, options, feedback,
    explanations, rubric summaries, concept names and hints. Rubric keywords are phrases to
    match, not statements, and are left out."""
    import re

    out = [(bank.id, bank.title), (bank.id, bank.intro or "")]
    for item in bank.items:
        out += [
            (item.id, item.prompt),
            (item.id, item.explanation),
            (item.id, getattr(item, "rubric_summary", None) or ""),
        ]
        for option in getattr(item, "options", ()):
            out += [(item.id, option.text), (item.id, option.feedback or "")]
        for entry in getattr(item, "rubric", ()):
            out += [
                (item.id, getattr(entry, "name", "") or ""),
                (item.id, getattr(entry, "hint", "") or ""),
                (item.id, getattr(entry, "description", "") or ""),
            ]
    sentences = []
    for where, text in out:
        for sentence in re.split(r"(?<=[.!?])\s+", " ".join(text.split())):
            if sentence:
                sentences.append((where, sentence))
    return sentences


def test_heads_in_sequence_item_says_the_sum_identity_still_holds(banks):
    item = banks["checkpoint_1"].item("cp1_sequential_heads_bug")
    assert item.type == "multiple_choice"
    key = item.correct
    assert "still holds" in key and "Σ head outputs" in key
    assert "order" in key and "x_l" in key  # what the bug does break
    claims_broken = next(o.text for o in item.options if "breaks the identity" in o.text)
    assert claims_broken != key


def test_no_statement_says_the_seed_bug_breaks_the_decomposition(banks):
    import re

    for bank in banks.values():
        for where, sentence in _statements(bank):
            if re.search(
                r"\b(seed|sequential|chain of heads|before the next head)", sentence, re.I
            ):
                assert not re.search(
                    r"\bbreaks? (the )?(exact |per-layer )?(path )?"
                    r"(decomposition|identity|sum)",
                    sentence,
                ), (where, sentence)


def test_no_statement_says_layernorm_or_mlps_make_the_sum_approximate(banks):
    import re

    for bank in banks.values():
        for where, sentence in _statements(bank):
            if re.search(r"LayerNorm|layer norm|MLP", sentence) and not re.search(
                r"\b(not|never) make", sentence
            ):  # "would not make it …"
                assert not re.search(
                    r"approximat|no longer exact|not exact|break[s]? (the|that) "
                    r"(exact )?(sum|split|decomposition)",
                    sentence,
                ), (where, sentence)


def test_layernorm_concept_of_the_transfer_essay_does_not_reward_approximate(banks):
    item = banks["checkpoint_3"].item("cp3_transfer")
    concept = next(c for c in item.rubric if "LayerNorm" in c.name)
    assert not {k for k in concept.keywords if "approximat" in k or "exact" in k}
    assert "frozen" in concept.hint and "exactly" in concept.hint


def test_no_statement_says_nothing_erases_the_stream(banks):
    import re

    for bank in banks.values():
        for where, sentence in _statements(bank):
            assert not re.search(
                r"\bnothing\b[^.]*\b(erases?|removes?|deletes?)\b", sentence, re.I
            ), (where, sentence)


def test_tied_unembedding_is_w_e_itself_not_its_transpose(banks):
    import re

    for bank in banks.values():
        for where, sentence in _statements(bank):
            assert not re.search(r"W_U\s*=\s*W_E\s*(ᵀ|\^T|\.T)", sentence), (where, sentence)
    tied = next(o for o in banks["checkpoint_3"].item("cp3_components").options if "tied" in o.text)
    assert "W_U = W_E)" in tied.text and "[vocab, d_model]" in tied.feedback


def test_how_much_of_a_part_is_left_is_a_regression_not_a_cosine(banks):
    item = banks["checkpoint_2"].item("cp2_information_types")
    assert item.correct.startswith("Regress")
    cosine = next(o for o in item.options if o.text.startswith("Take its cosine"))
    assert "mixes direction with relative size" in cosine.feedback


def test_ablation_measures_total_not_direct_effect(banks):
    item = banks["checkpoint_1"].item("cp1_path_decomposition")
    ablation = next(o for o in item.options if "removing the head" in o.text)
    assert ablation.text not in item.correct
    assert "direct contribution" in ablation.feedback and "total effect" in ablation.feedback
