"""The trace every analysis reads, the Architecture report and the heads-in-sequence comparison,
against the float64 reference in tests/unit/reference.py and hand-computed values."""

import math

import numpy as np
import pytest
import torch

from core.circuits import qk_score_terms
from core.config import TransformerConfig
from core.model import build_model, forward_heads_in_sequence
from core.report import architecture_report, head_outputs, sequential_comparison
from core.trace import (
    attention_entropy,
    component_sum_error,
    information_coefficients,
    previous_token_scores,
    stream_statistics,
    top_predictions,
    trace_interpretable,
    uniform_entropy,
    uniform_previous_token,
)
from tests.unit.reference import reference_forward, reference_sequential

IDS = [3, 17, 5, 17, 40, 2, 9]


@pytest.fixture(scope="module")
def model():
    cfg = TransformerConfig(
        vocab_size=50, n_positions=16, n_embd=24, n_layer=3, n_head=4, init_std=0.2
    )
    return build_model(cfg, seed=4)


@pytest.fixture(scope="module")
def trace(model):
    return trace_interpretable(model, IDS)


@pytest.fixture(scope="module")
def ref(model):
    return reference_forward(model, torch.tensor([IDS]))


def test_trace_holds_plain_arrays_and_no_model(trace):
    for name, value in vars(trace).items():
        assert not isinstance(value, (torch.Tensor, torch.nn.Module)), name
    assert trace.streams.shape == (4, len(IDS), 24)
    assert trace.attention.shape == (3, 4, len(IDS), len(IDS))
    assert trace.component_names == ("embeddings", "layer 0", "layer 1", "layer 2")


def test_trace_streams_and_attention_match_the_reference(trace, ref):
    for mine, theirs in zip(trace.streams, ref["streams"]):
        np.testing.assert_allclose(mine, theirs[0].numpy(), atol=1e-5)
    for l, w in enumerate(ref["weights"]):
        np.testing.assert_allclose(trace.attention[l], w[0].numpy(), atol=1e-6)


def test_components_sum_to_the_final_stream(trace, ref):
    assert component_sum_error(trace) < 1e-5
    # Each layer component is that layer's heads summed, as the reference computes it.
    for l, heads in enumerate(ref["heads"]):
        np.testing.assert_allclose(trace.components[l + 1], heads[0].sum(0).numpy(), atol=1e-5)


def test_information_coefficients_are_one_at_x0_and_recover_known_mixtures(trace):
    info = information_coefficients(trace)
    assert info["token_coefficient"][0] == pytest.approx(1.0, abs=1e-6)
    assert info["position_coefficient"][0] == pytest.approx(1.0, abs=1e-6)
    assert info["r_squared"][0] == pytest.approx(1.0, abs=1e-9)
    # A stream built as 2·token − 0.5·position must give exactly (2, −0.5).
    built = 2 * trace.token_part - 0.5 * trace.position_part
    fake = type(trace)(**{**vars(trace), "streams": np.stack([built])})
    got = information_coefficients(fake)
    assert got["token_coefficient"][0] == pytest.approx(2.0, abs=1e-9)
    assert got["position_coefficient"][0] == pytest.approx(-0.5, abs=1e-9)


def test_cosine_understates_a_small_part_that_is_fully_present(trace):
    info = information_coefficients(trace)
    tok, x0 = trace.token_part.ravel(), trace.streams[0].ravel()
    expected = tok @ x0 / (np.linalg.norm(tok) * np.linalg.norm(x0))
    assert info["token_cosine"][0] == pytest.approx(expected, abs=1e-12)
    assert info["token_cosine"][0] < 0.9 < info["token_coefficient"][0]


def test_uniform_baselines_by_hand():
    # 4 tokens: rows see 1, 2, 3, 4 keys.
    assert uniform_entropy(4) == pytest.approx((0 + math.log(2) + math.log(3) + math.log(4)) / 4)
    assert uniform_previous_token(4) == pytest.approx((1 / 2 + 1 / 3 + 1 / 4) / 3)
    assert uniform_previous_token(1) == 0.0


def test_entropy_and_previous_token_read_the_pattern(trace, ref):
    w = ref["weights"][1][0].numpy()  # layer 1, [head, q, k]
    h = 2
    rows = [-sum(p * math.log(p) for p in w[h, i, : i + 1] if p > 0) for i in range(len(IDS))]
    assert attention_entropy(trace)[1, h] == pytest.approx(np.mean(rows), abs=1e-6)
    prev = np.mean([w[h, i, i - 1] for i in range(1, len(IDS))])
    assert previous_token_scores(trace)[1, h] == pytest.approx(prev, abs=1e-6)


def test_top_predictions_are_sorted_probabilities(trace, ref):
    probs = torch.softmax(ref["logits"][0, -1], dim=-1)
    top = top_predictions(trace)
    assert [t["id"] for t in top] == probs.topk(len(top)).indices.tolist()
    assert top[0]["probability"] == pytest.approx(float(probs.max()), abs=1e-6)


def test_stream_statistics_match_a_direct_cosine(trace):
    stats = stream_statistics(trace)
    x0, x1 = trace.streams[0].ravel(), trace.streams[1].ravel()
    cos = x0 @ x1 / (np.linalg.norm(x0) * np.linalg.norm(x1))
    assert stats["layers"][0]["preservation_ratio"] == pytest.approx(cos, abs=1e-9)
    assert all(s["rank_cap"] == len(IDS) for s in stats["subspace"])


def test_head_outputs_and_shares(model, trace, ref):
    heads = head_outputs(model, trace)
    for l, theirs in enumerate(ref["heads"]):
        np.testing.assert_allclose(heads[l], theirs[0].numpy(), atol=1e-5)
    rep = architecture_report(model, trace)
    assert rep["reconstruction_error"] < 1e-5 and rep["logit_reconstruction_error"] < 1e-4
    # Shares along the final stream add up to exactly 1 over all parts.
    assert rep["direct_share"] + rep["head_shares"].sum() == pytest.approx(1.0, abs=1e-9)
    assert rep["layer_shares"] == pytest.approx(rep["head_shares"].sum(axis=1), abs=1e-9)


def test_sequential_heads_match_the_reference_and_keep_the_sum_identity(model):
    ids = torch.tensor([IDS])
    mine = forward_heads_in_sequence(model, ids, head_order=[2, 0, 3, 1])
    theirs = reference_sequential(model, ids, order=[2, 0, 3, 1])
    np.testing.assert_allclose(
        mine["final_stream"][0].double().numpy(), theirs["final_stream"].numpy(), atol=1e-5
    )
    rebuilt = theirs["embeddings"] + sum(theirs["head_outputs"])
    assert float((rebuilt - theirs["final_stream"]).abs().max()) < 1e-12  # identity holds


def test_sequential_comparison_numbers(model):
    ids = torch.tensor([IDS])
    cmp = sequential_comparison(model, IDS, swap=(0, 1))
    par = reference_forward(model, ids)["streams"][-1][0]
    seq = reference_sequential(model, ids)["final_stream"]
    swapped = reference_sequential(model, ids, order=[1, 0, 2, 3])["final_stream"]
    assert cmp["identity_error"] < 1e-5
    assert cmp["output_difference"] == pytest.approx(
        float((seq - par).norm() / par.norm()), rel=1e-4
    )
    assert cmp["order_effect_sequential"] == pytest.approx(
        float((swapped - seq).norm() / seq.norm()), rel=1e-3
    )
    assert cmp["order_effect_sequential"] > 1e-3  # order matters in sequence...
    assert cmp["order_effect_parallel"] < 1e-6  # ...and not in parallel


def test_qk_terms_add_up_to_the_scores(model, trace):
    for layer in (0, 2):
        terms = qk_score_terms(model, trace, layer, 1)
        expected_names = 4 if layer == 0 else 9
        assert len(terms["shares"]) == expected_names
        assert sum(terms["shares"].values()) == pytest.approx(1.0)
        # Independent: the scores from the reference's q·k / sqrt(d_head).
        qk = (
            model.layers[layer].W_Q[1].detach().double().T
            @ model.layers[layer].W_K[1].detach().double()
        ).numpy()
        x = trace.streams[layer]
        scores = x @ qk @ x.T / math.sqrt(model.config.d_head)
        total = sum(np.nan_to_num(t) for t in terms["terms"].values())
        causal = np.tril(np.ones_like(scores, dtype=bool))
        # x0 itself was summed in float32, so at layer 0 the parts match it to ~1e-7.
        np.testing.assert_allclose(total[causal], scores[causal], atol=1e-6)
        assert terms["sum_error"] < 1e-6
