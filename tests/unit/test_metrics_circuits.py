"""Entropy against hand-made patterns; circuit views and parameter table against direct sums."""

import math

import pytest
import torch

from core.circuits import circuit_view, parameter_breakdown
from core.config import TransformerConfig
from core.metrics import attention_row_entropy, layer_head_entropy, per_head_entropy
from core.model import build_model
from core.validators import ValidationError


def test_one_hot_rows_have_zero_entropy():
    w = torch.eye(5).expand(2, 3, 5, 5)
    assert torch.equal(per_head_entropy(w), torch.zeros(3, dtype=torch.float64))


def test_uniform_row_over_n_has_entropy_ln_n():
    for n in (1, 2, 7):
        row = torch.full((1, 1, 1, n), 1.0 / n)
        assert per_head_entropy(row).item() == pytest.approx(math.log(n), abs=1e-6)


def test_causal_uniform_head_averages_row_entropies():
    seq = 6
    w = torch.tril(torch.ones(seq, seq))
    w = (w / w.sum(-1, keepdim=True))[None, None]  # row i uniform over i + 1 keys
    expected = sum(math.log(i + 1) for i in range(seq)) / seq
    assert per_head_entropy(w).item() == pytest.approx(expected, abs=1e-6)


def test_mean_of_entropies_not_entropy_of_mean():
    # Head 0 looks at key 0, head 1 at key 1: each is certain (entropy 0); their average is not.
    w = torch.zeros(1, 2, 1, 2)
    w[0, 0, 0, 0] = 1
    w[0, 1, 0, 1] = 1
    assert torch.equal(per_head_entropy(w), torch.zeros(2, dtype=torch.float64))
    assert attention_row_entropy(w.mean(1))[0, 0].item() == pytest.approx(math.log(2))


def test_layer_head_entropy_stacks_layers():
    a = torch.eye(3)[None, None].expand(1, 2, 3, 3)
    b = torch.full((1, 2, 3, 3), 1 / 3)
    out = layer_head_entropy([a, b])
    assert out.shape == (2, 2)
    torch.testing.assert_close(
        out, torch.tensor([[0.0, 0.0], [math.log(3)] * 2], dtype=torch.float64)
    )
    with pytest.raises(ValidationError):
        layer_head_entropy([])


def test_parameter_table_adds_up():
    cfg = TransformerConfig(vocab_size=321, n_positions=64, n_embd=48, n_layer=3, n_head=6)
    model = build_model(cfg)
    rows = parameter_breakdown(model)
    counts = {r["component"]: r["parameters"] for r in rows}
    assert counts["Token embedding W_E"] == counts["Unembedding W_U"] == 321 * 48
    assert counts["Attention W_Q (all layers)"] == 3 * 48 * 48
    assert counts["Positions W_pos (sinusoidal, fixed)"] == 0
    assert sum(counts.values()) == 2 * 321 * 48 + 3 * 4 * 48 * 48


def test_circuit_view_matches_direct_computation():
    cfg = TransformerConfig(
        vocab_size=60, n_positions=32, n_embd=32, n_layer=2, n_head=4, init_std=0.2
    )
    model = build_model(cfg, seed=3)
    ids = torch.tensor([[5, 9, 5, 12, 40]])
    view = circuit_view(model, 1, 2, ids)
    assert view["tokens"] == [5, 9, 12, 40]
    W_E = model.W_E.detach().double()
    W_U = model.W_U.detach().double()
    L = model.layers[1]
    W_Q, W_K = L.W_Q[2].detach().double(), L.W_K[2].detach().double()
    W_V, W_O = L.W_V[2].detach().double(), L.W_O[2].detach().double()
    e = W_E[[5, 9, 12, 40]]
    qk_expected = (e @ W_Q.T) @ (e @ W_K.T).T / math.sqrt(8)
    torch.testing.assert_close(
        torch.from_numpy(view["qk_tokens"]), qk_expected, atol=1e-5, rtol=1e-4
    )
    ov_expected = W_U[[5, 9, 12, 40]] @ W_O @ W_V @ e.T
    torch.testing.assert_close(
        torch.from_numpy(view["ov_tokens"]), ov_expected, atol=1e-5, rtol=1e-4
    )
    # W_Qᵀ W_K has rank d_head = 8: 8 non-zero singular values, then (numerically) zeros.
    sv = view["qk_singular_values"]
    assert len(sv) == 16 and view["rank_cap"] == 8
    assert all(sv[:8] > 1e-3) and all(sv[8:] < 1e-5)
    expected_sv = torch.linalg.svdvals(W_Q.T @ W_K)[:16]
    torch.testing.assert_close(torch.from_numpy(sv), expected_sv, atol=1e-5, rtol=1e-4)
