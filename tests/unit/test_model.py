"""The interpretable transformer against an independent float64 reference and its own identities."""

import math

import pytest
import torch

from core.config import TransformerConfig
from core.model import InterpretableTransformer, build_model, result_nbytes
from tests.unit.reference import reference_forward, sinusoid

# (layers, d_model, heads, vocab, seq, batch, init_std): several shapes, sharp enough patterns
CONFIGS = [
    (1, 8, 2, 11, 5, 1, 0.3),
    (2, 16, 4, 37, 7, 2, 0.2),
    (3, 24, 3, 50, 9, 1, 0.15),
    (4, 32, 8, 64, 6, 3, 0.12),
]


def make(layers, d, heads, vocab, seq, batch, std, seed=0):
    cfg = TransformerConfig(
        vocab_size=vocab, n_positions=32, n_embd=d, n_layer=layers, n_head=heads, init_std=std
    )
    model = build_model(cfg, seed=seed)
    ids = torch.randint(0, vocab, (batch, seq), generator=torch.Generator().manual_seed(seed + 1))
    return model, ids


@pytest.fixture(params=CONFIGS, ids=lambda c: "L{}-d{}-H{}-V{}-s{}-b{}".format(*c[:6]))
def case(request):
    model, ids = make(*request.param)
    return model, ids, model.analyze(ids), reference_forward(model, ids)


def test_residual_streams_match_reference(case):
    model, ids, out, ref = case
    streams = out["analysis"]["residual_streams"]
    assert len(streams) == model.config.n_layer + 1
    for mine, theirs in zip(streams, ref["streams"]):
        assert mine.shape == (ids.shape[0], ids.shape[1], model.config.n_embd)
        torch.testing.assert_close(mine.double(), theirs, atol=1e-5, rtol=1e-5)


def test_stream_zero_is_token_plus_position(case):
    model, ids, out, _ = case
    expected = model.token_embedding.weight.detach().double()[ids] + sinusoid(
        ids.shape[1], model.config.n_embd
    )
    torch.testing.assert_close(
        out["analysis"]["residual_streams"][0].double(), expected, atol=1e-6, rtol=0
    )


def test_attention_weights_and_head_outputs_match_reference(case):
    model, ids, out, ref = case
    for la, w_ref, h_ref in zip(out["analysis"]["layer_analyses"], ref["weights"], ref["heads"]):
        torch.testing.assert_close(la["attention_weights"].double(), w_ref, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(la["head_outputs"].double(), h_ref, atol=1e-5, rtol=1e-5)


def test_logits_match_reference_and_plain_forward(case):
    model, ids, out, ref = case
    torch.testing.assert_close(out["logits"].double(), ref["logits"], atol=1e-5, rtol=1e-5)
    with torch.no_grad():
        plain = model(ids)
    assert set(plain) == {"logits"}
    torch.testing.assert_close(plain["logits"], out["logits"], atol=1e-5, rtol=1e-5)


def test_final_stream_is_direct_path_plus_every_head(case):
    model, ids, out, _ = case
    decomp = out["analysis"]["path_decomposition"]
    heads = [la["head_outputs"] for la in out["analysis"]["layer_analyses"]]
    rebuilt = decomp["direct_path"].double() + sum(h.double().sum(1) for h in heads)
    final = out["analysis"]["residual_streams"][-1].double()
    torch.testing.assert_close(rebuilt, final, atol=1e-5, rtol=0)
    W_U = model.unembedding.weight.detach().double()
    torch.testing.assert_close(out["logits"].double(), final @ W_U.T, atol=1e-5, rtol=1e-5)
    # The decomposition's own measurement agrees and is small.
    assert 0 <= decomp["reconstruction_error"] < 1e-5
    assert 0 <= decomp["logit_reconstruction_error"] < 1e-5
    for layer_sum, h in zip(decomp["layer_contributions"], decomp["head_contributions"]):
        torch.testing.assert_close(layer_sum.double(), h.double().sum(1), atol=1e-5, rtol=0)


def test_direct_path_splits_into_token_and_position(case):
    model, ids, out, _ = case
    decomp = out["analysis"]["path_decomposition"]
    torch.testing.assert_close(
        decomp["token_embedding"] + decomp["positional_embedding"],
        decomp["direct_path"],
        atol=0,
        rtol=0,
    )


def test_heads_recomputed_from_qk_and_ov_circuits(case):
    model, ids, out, _ = case
    d_head = model.config.d_head
    seq = ids.shape[1]
    future = torch.ones(seq, seq, dtype=torch.bool).triu(1)
    for l, la in enumerate(out["analysis"]["layer_analyses"]):
        x = la["input_stream"].double()  # [batch, seq, d_model]
        for h in range(model.config.n_head):
            QK = model.get_qk_circuit(l, h).double()
            OV = model.get_ov_circuit(l, h).double()
            assert QK.shape == OV.shape == (model.config.n_embd, model.config.n_embd)
            scores = x @ QK @ x.transpose(1, 2) / math.sqrt(d_head)
            scores = scores.masked_fill(future, float("-inf"))
            A = torch.softmax(scores, dim=-1)
            torch.testing.assert_close(
                la["attention_weights"][:, h].double(), A, atol=1e-5, rtol=1e-5
            )
            torch.testing.assert_close(
                la["attention_scores"][:, h].double(), scores, atol=1e-5, rtol=1e-5
            )
            head_out = A @ x @ OV.T
            torch.testing.assert_close(
                la["head_outputs"][:, h].double(), head_out, atol=1e-5, rtol=1e-5
            )


def test_attention_rows_sum_to_one_and_future_is_exactly_zero(case):
    model, ids, out, _ = case
    seq = ids.shape[1]
    above = torch.ones(seq, seq, dtype=torch.bool).triu(1)
    for la in out["analysis"]["layer_analyses"]:
        w = la["attention_weights"]
        assert w.shape == (ids.shape[0], model.config.n_head, seq, seq)
        torch.testing.assert_close(w.sum(-1), torch.ones(w.shape[:-1]), atol=1e-6, rtol=0)
        assert torch.all(w[..., above] == 0.0)
        assert torch.all(la["attention_scores"][..., above] == float("-inf"))


def test_permuting_heads_leaves_layer_output_unchanged():
    model, ids = make(2, 24, 6, 30, 8, 2, 0.2)
    before = model.analyze(ids)
    perm = torch.tensor([3, 0, 5, 1, 4, 2])
    with torch.no_grad():
        for layer in model.layers:
            for name in ("W_Q", "W_K", "W_V", "W_O"):
                getattr(layer, name).copy_(getattr(layer, name)[perm])
    after = model.analyze(ids)
    for s0, s1 in zip(
        before["analysis"]["residual_streams"], after["analysis"]["residual_streams"]
    ):
        torch.testing.assert_close(s1, s0, atol=1e-6, rtol=1e-5)
    w0 = before["analysis"]["layer_analyses"][0]["attention_weights"]
    w1 = after["analysis"]["layer_analyses"][0]["attention_weights"]
    torch.testing.assert_close(w1, w0[:, perm])


def test_same_seed_same_weights_other_seed_differs():
    cfg = TransformerConfig(vocab_size=20, n_positions=16, n_embd=8, n_layer=1, n_head=2)
    a, b, c = build_model(cfg, 7), build_model(cfg, 7), build_model(cfg, 8)
    for pa, pb, pc in zip(a.parameters(), b.parameters(), c.parameters()):
        assert torch.equal(pa, pb)
        assert not torch.equal(pa, pc)
    assert not a.training


def test_weights_have_the_configured_scale():
    cfg = TransformerConfig(
        vocab_size=500, n_positions=16, n_embd=64, n_layer=2, n_head=4, init_std=0.05
    )
    stds = [float(p.detach().std()) for p in build_model(cfg, 1).parameters()]
    assert all(abs(s - 0.05) < 0.005 for s in stds)


def test_unembedding_is_linear_without_bias_and_shapes():
    cfg = TransformerConfig(vocab_size=40, n_positions=16, n_embd=12, n_layer=2, n_head=3)
    model = InterpretableTransformer(cfg)
    assert isinstance(model.unembedding, torch.nn.Linear) and model.unembedding.bias is None
    assert model.layers[0].W_Q.shape == (3, 4, 12) and model.layers[0].W_O.shape == (3, 12, 4)
    out = model(torch.tensor([1, 2, 3]))
    assert out["logits"].shape == (1, 3, 40)


def test_analysis_holds_only_what_it_cannot_rederive():
    model, ids = make(2, 32, 8, 50, 10, 1, 0.1)
    out = model.analyze(ids)
    held = result_nbytes(out)
    la = out["analysis"]["layer_analyses"][0]
    decomp = out["analysis"]["path_decomposition"]
    assert la["head_outputs"].shape == (1, 8, 10, 32)
    assert la["attention_scores"].shape == (1, 8, 10, 10)
    assert la["layer_output"].shape == (1, 10, 32)
    assert len(decomp["layer_contributions"]) == 2
    # Derived entries are computed on access, never cached in the result.
    assert result_nbytes(out) == held
    # Expected holdings, counted by hand (float32): logits [10, 50]; streams x0..x2 [10, 32];
    # token embeddings [10, 32]; position rows [10, 32]; per layer q, k, v, z [8, 10, 4] and
    # weights [8, 10, 10]; input ids (int64).
    floats = 10 * 50 + 3 * 10 * 32 + 10 * 32 + 10 * 32 + 2 * (4 * 8 * 10 * 4 + 8 * 10 * 10)
    # q, k and v are views of one projection each; the projection outputs are [10, 32] each.
    assert held == floats * 4 + 10 * 8


def test_derived_entries_equal_the_forward_pass():
    model, ids = make(2, 16, 4, 20, 6, 2, 0.2)
    out = model.analyze(ids)
    for la in out["analysis"]["layer_analyses"]:
        torch.testing.assert_close(
            la["input_stream"] + la["layer_output"], la["output_stream"], atol=0, rtol=0
        )
        torch.testing.assert_close(la["head_outputs"].sum(1), la["layer_output"], atol=1e-6, rtol=0)
    pos = out["analysis"]["path_decomposition"]["positional_embedding"]
    assert pos.untyped_storage().nbytes() == 6 * 16 * 4  # only the rows in use, not all of W_pos
