"""Questions about the live model: keys computed from the shipped weights, checked here against
computations written independently (numpy on the raw weights, our own attention loop)."""

from __future__ import annotations

import textwrap

import numpy as np
import pytest
import torch

from core.assessment import bank_path, grade_item, load_bank, public_view
from core.assessment.live import answer_key
from core.lesson import REPEAT_HALF_LENGTH, repeated_random_ids
from core.model import load_trained
from core.validators import ValidationError


@pytest.fixture(scope="module")
def items():
    found = {}
    for bank_id in ("checkpoint_1", "checkpoint_2", "checkpoint_3"):
        bank = load_bank(bank_path(bank_id))
        live = [i for i in bank.items if i.type in ("model_choice", "model_number")]
        assert live, f"{bank_id} has no question about the live model"
        found.update({i.id: i for i in live})
    return found


def _numpy_weights(name):
    model, tok = load_trained(name)
    return model, tok, {k: v.detach().double().numpy() for k, v in model.state_dict().items()}


def test_every_checkpoint_has_a_live_item(items):
    assert {i.id for i in items.values()} >= {
        "cp1_live_ov_rank",
        "cp2_live_direct_path",
        "cp3_live_induction_head",
    }


def test_ov_rank_key_is_the_rank_of_the_raw_weight_product(items):
    item = items["cp1_live_ov_rank"]
    layer, head = item.params["layer"], item.params["head"]
    model, _, w = _numpy_weights(item.model)
    ov = w[f"layers.{layer}.W_O"][head] @ w[f"layers.{layer}.W_V"][head]
    s = np.linalg.svd(ov, compute_uv=False)
    rank = int((s > s[0] * 1e-10).sum())
    assert answer_key(item).correct == rank == model.config.d_head
    assert s[rank] < s[0] * 1e-12  # the rest really are zero in float64


def test_direct_path_key_is_the_argmax_of_the_embedding_row(items):
    item = items["cp2_live_direct_path"]
    _, tok, w = _numpy_weights(item.model)
    (token_id,) = tok.encode(item.params["token"])
    row = w["token_embedding.weight"][token_id] @ w["unembedding.weight"].T
    order = np.argsort(-row)
    key = answer_key(item)
    assert key.correct == "\u201c" + tok.decode([int(order[0])]) + "\u201d"
    assert key.options == tuple(
        "\u201c" + tok.decode([int(i)]) + "\u201d" for i in order[: item.params["k"]]
    )
    assert key.correct == "\u201c States\u201d"  # what the lesson's explanation says


def test_induction_key_matches_an_attention_loop_written_here(items):
    item = items["cp3_live_induction_head"]
    model, _, _ = _numpy_weights(item.model)
    layer = item.params["layer"]
    ids = repeated_random_ids(model.config.vocab_size, REPEAT_HALF_LENGTH, 0)
    n = REPEAT_HALF_LENGTH
    with torch.no_grad():
        out = model.analyze(torch.tensor([ids]))
    pattern = out["analysis"]["layer_analyses"][layer]["attention_weights"][0].numpy()
    # second copy position n + j attends to j + 1 (the token after the first occurrence)
    scores = np.array(
        [
            np.mean([pattern[h, n + j, j + 1] for j in range(n - 1)])
            for h in range(model.config.n_head)
        ]
    )
    assert answer_key(item).correct == f"head {layer}.{int(scores.argmax())}"
    assert scores.max() > 0.5


def test_public_view_shows_computed_options_but_no_key(items):
    view = public_view(load_bank(bank_path("checkpoint_3")))
    shown = next(i for i in view["items"] if i["id"] == "cp3_live_induction_head")
    assert shown["options"] == [f"head 1.{h}" for h in range(4)]
    assert "correct" not in shown and "explanation" not in shown


def test_grading_choice_and_number(items):
    choice = items["cp3_live_induction_head"]
    key = answer_key(choice)
    right = grade_item(choice, key.correct)
    assert right.score == 1.0 and "Computed from attn-only-2l" in right.feedback
    wrong = next(o for o in key.options if o != key.correct)
    assert grade_item(choice, wrong).score == 0.0
    assert not grade_item(choice, None).answered
    with pytest.raises(ValidationError, match="is not one of its options"):
        grade_item(choice, "head 7.7")

    number = items["cp1_live_ov_rank"]
    assert grade_item(number, 32).score == 1.0
    assert grade_item(number, "32").score == 1.0 and grade_item(number, 32.0).score == 1.0
    miss = grade_item(number, 256)
    assert miss.score == 0.0 and "you answered 256; the answer is 32" in miss.feedback
    assert not grade_item(number, "").answered
    with pytest.raises(ValidationError, match="must be a number such as 12"):
        grade_item(number, "thirty-two")
    with pytest.raises(ValidationError, match="must be a number"):
        grade_item(number, True)


BANK = textwrap.dedent("""\
    id: live_check
    title: "Live items"
    kind: summative
    items:
      - id: live_one
        type: {type}
        objective: LO1
        category: conceptual
        prompt: "A question."
        explanation: "Because."
        model: {model}
        compute: {compute}
        params: {params}
""")


@pytest.mark.parametrize(
    "type_, model, compute, params, message",
    [
        (
            "model_choice",
            "attn-only-9l",
            "top_head",
            "{score: induction, layer: 1}",
            "no shipped trained model 'attn-only-9l'",
        ),
        (
            "model_choice",
            "attn-only-2l",
            "best_head",
            "{score: induction, layer: 1}",
            "unknown computation 'best_head'; available: top_head",
        ),
        (
            "model_number",
            "attn-only-2l",
            "top_head",
            "{score: induction, layer: 1}",
            "gives a model_choice item, not model_number",
        ),
        ("model_choice", "attn-only-2l", "top_head", "{score: induction}", "missing layer"),
        (
            "model_choice",
            "attn-only-2l",
            "top_head",
            "{score: induction, layer: 5}",
            "layer must be 0 to 1 for attn-only-2l",
        ),
        (
            "model_choice",
            "attn-only-2l",
            "top_head",
            "{score: induction, layer: 0}",
            "needs an earlier layer",
        ),
        (
            "model_choice",
            "attn-only-2l",
            "top_head",
            "{score: previous_token, layer: 1}",
            "the key is ambiguous",
        ),
        (
            "model_choice",
            "attn-only-4l",
            "direct_path_top",
            "{token: ' Prime', k: 4}",
            "is 2 tokens for the bundled tokenizer",
        ),
    ],
)
def test_bad_live_items_refuse_to_load_with_a_reason(
    tmp_path, type_, model, compute, params, message
):
    path = tmp_path / "live_check.yaml"
    path.write_text(BANK.format(type=type_, model=model, compute=compute, params=params))
    with pytest.raises(ValidationError, match=message) as err:
        load_bank(path)
    assert "live_one" in str(err.value)
