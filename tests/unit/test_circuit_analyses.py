"""Circuit analyses (core/head_scores, direct_path, ov_circuit, positional_qk, composition),
each checked against an independent computation: naive loops, explicit vocab × vocab matrices,
hand-built weights with a known answer, and the model's own forward pass."""

from __future__ import annotations

import collections
import copy
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from core.composition import composition_score, composition_scores, random_baseline
from core.config import TransformerConfig
from core.direct_path import (
    BIGRAMS_FILE,
    CorpusBigrams,
    bigram_agreement,
    direct_path_top,
    load_corpus_bigrams,
)
from core.head_scores import (
    induction_scores,
    induction_targets,
    previous_token_scores,
    uniform_induction,
)
from core.model import build_model, load_trained
from core.ov_circuit import copying_scores, ov_eigenvalues, ov_top
from core.positional_qk import positional_pattern
from core.trace import previous_token_scores as trace_previous_token_scores
from core.trace import trace_interpretable, uniform_previous_token
from core.validators import ValidationError
from tests.unit.reference import sinusoid

SMALL = TransformerConfig(
    vocab_size=50, n_positions=32, n_embd=16, n_layer=2, n_head=2, init_std=0.3
)


@pytest.fixture(scope="module")
def small():
    return build_model(SMALL, seed=3)


@pytest.fixture(scope="module")
def trained():
    return load_trained("attn-only-2l")


def random_attention(rng, layers, heads, seq):
    """Random causal attention [layer, head, query, key]: rows sum to 1, 0 above the diagonal."""
    a = rng.random((layers, heads, seq, seq)) * np.tril(np.ones((seq, seq)))
    return a / a.sum(axis=-1, keepdims=True)


def repeated_random(seed=0, n=25, vocab=4096):
    half = np.random.default_rng(seed).choice(np.arange(100, vocab), n, replace=False).tolist()
    return half + half


def w64(t):
    return t.detach().double().numpy()


# -- head scores ---------------------------------------------------------------------------------
def test_previous_token_score_is_the_mean_of_the_first_subdiagonal():
    a = random_attention(np.random.default_rng(0), 2, 3, 7)
    expected = np.zeros((2, 3))
    for l in range(2):
        for h in range(3):
            expected[l, h] = sum(a[l, h, i, i - 1] for i in range(1, 7)) / 6
    assert np.allclose(previous_token_scores(a), expected, atol=1e-15)
    assert np.array_equal(previous_token_scores(np.ones((2, 3, 1, 1))), np.zeros((2, 3)))


def test_the_trace_function_delegates_to_the_same_score(small):
    trace = trace_interpretable(small, [1, 2, 3, 4, 5])
    assert np.array_equal(
        trace_previous_token_scores(trace), previous_token_scores(trace.attention)
    )


def naive_targets(ids):
    out = []
    for i in range(len(ids)):
        keys = [j + 1 for j in range(i) if ids[j] == ids[i] and j + 1 < i]
        if keys:
            out.append((i, keys))
    return out


@pytest.mark.parametrize("seed", range(5))
def test_induction_targets_match_a_naive_double_loop(seed):
    ids = np.random.default_rng(seed).integers(0, 6, size=30).tolist()
    assert induction_targets(ids) == naive_targets(ids)


def test_induction_targets_on_a_hand_example():
    # A B A A: query 2 (A) → key 1; query 3 (A): occurrence 0 → key 1, occurrence 2 → key 3 = i
    # (excluded: that is the previous token, not induction).
    assert induction_targets([7, 8, 7, 7]) == [(2, [1]), (3, [1])]
    assert induction_targets([1, 2, 3]) == []


def test_induction_score_on_handmade_attention():
    ids = [5, 6, 5, 6]  # targets: query 2 → [1], query 3 → [2]
    a = np.zeros((1, 2, 4, 4))
    a[0, 0] = np.eye(4)  # attends to itself: induction score 0
    a[0, 0, 2] = [0, 0.75, 0.25, 0]  # 0.75 on the target of query 2
    a[0, 0, 3] = [0, 0, 0.5, 0.5]  # 0.5 on the target of query 3
    a[0, 1] = np.tril(np.ones((4, 4))) / np.arange(1, 5)[:, None]  # uniform
    scores = induction_scores(a, ids)
    assert scores[0, 0] == pytest.approx((0.75 + 0.5) / 2)
    assert scores[0, 1] == pytest.approx((1 / 3 + 1 / 4) / 2)
    assert uniform_induction(ids) == pytest.approx((1 / 3 + 1 / 4) / 2)


def test_induction_score_on_a_repeated_random_sequence_is_the_offset_diagonal():
    """25 tokens × 2: query 25 + j (j = 0 … 24) has one target, j + 1 (the last query, 49, is
    scored too: its target 25 lies before it)."""
    ids = repeated_random(1)
    a = random_attention(np.random.default_rng(2), 2, 3, 50)
    expected = np.mean([a[:, :, 25 + j, j + 1] for j in range(25)], axis=0)
    assert np.allclose(induction_scores(a, ids), expected, atol=1e-14)
    assert uniform_induction(ids) == pytest.approx(np.mean([1 / (26 + j) for j in range(25)]))


def test_no_repeat_means_no_induction_score():
    a = random_attention(np.random.default_rng(0), 1, 1, 4)
    assert induction_scores(a, [1, 2, 3, 4]) is None
    assert uniform_induction([1, 2, 3, 4]) is None
    with pytest.raises(ValidationError):
        induction_scores(a, [1, 2, 3])  # 4 positions of attention, 3 tokens


def test_trained_model_has_a_layer1_induction_head(trained):
    model, _ = trained
    ids = repeated_random(0)
    scores = induction_scores(trace_interpretable(model, ids).attention, ids)
    assert scores[1].max() >= 0.4
    assert int(scores[1].argmax()) == 2
    assert scores[1].max() > 10 * uniform_induction(ids)


# -- direct path ------------------------------------------------------------------------------
def test_direct_path_top_is_a_one_token_forward_without_the_position_part(small):
    t = 17
    silent = copy.deepcopy(small)  # every head writes nothing: the final stream is x0
    with torch.no_grad():
        for layer in silent.layers:
            layer.W_O.zero_()
        full = silent(torch.tensor([[t]]))["logits"][0, 0].double()  # x0 = W_E[t] + W_pos[0]
        position_part = F.linear(small.W_pos[:1].double(), small.W_U.double())[0]
    row = full - position_part
    expected = torch.softmax(row, dim=0)
    top = direct_path_top(small, t, k=5)
    assert [d["id"] for d in top] == torch.argsort(row, descending=True)[:5].tolist()
    for d in top:
        assert d["logit"] == pytest.approx(float(row[d["id"]]), abs=1e-5)
        assert d["prob"] == pytest.approx(float(expected[d["id"]]), abs=1e-6)
    with pytest.raises(ValidationError, match="0 to 49"):
        direct_path_top(small, 50)


def counted(stream):
    """Independent recount with collections.Counter: (pair counts, previous-token counts)."""
    pairs = collections.Counter(zip(stream[:-1], stream[1:]))
    prev = collections.Counter(stream[:-1])
    return pairs, prev


def test_bigram_script_counts_like_a_counter():
    from training.bigram_counts import bigram_tables

    stream = np.random.default_rng(0).integers(0, 12, size=500)
    tables = bigram_tables(stream, vocab=12, top_k=4)
    pairs, prev = counted(stream.tolist())
    for a in range(12):
        assert tables["prev_count"][a] == prev[a]
        succ = sorted((c, b) for (x, b), c in pairs.items() if x == a)
        want = sorted(succ, key=lambda p: (-p[0], p[1]))[:4]  # most frequent, then smaller id
        got = [(int(c), int(b)) for b, c in zip(tables["succ_ids"][a], tables["succ_counts"][a])]
        assert got[: len(want)] == [(c, b) for c, b in want]
        assert all(b == -1 and c == 0 for c, b in got[len(want) :])


def test_the_shipped_bigram_file_is_small_and_consistent():
    assert BIGRAMS_FILE.stat().st_size < 1_000_000
    bigrams = load_corpus_bigrams()
    assert bigrams.succ_ids.shape == bigrams.succ_counts.shape == (4096, 20)
    assert "CC BY-SA 3.0" in bigrams.licence
    assert bigrams.prev_count.sum() == bigrams.n_bigrams
    assert np.all(bigrams.succ_counts.sum(axis=1) <= bigrams.prev_count)
    assert np.all(np.diff(bigrams.succ_counts, axis=1) <= 0)  # most frequent first
    top = int(np.argmax(bigrams.prev_count))
    succ = bigrams.successors(top, 3)
    assert len(succ) == 3 and succ[0][2] == pytest.approx(succ[0][1] / bigrams.prev_count[top])


def test_bigram_agreement_on_a_handmade_table(small):
    """Corpus whose most frequent successor is the direct-path argmax for exactly the even
    tokens (found with the model's own forward pass, minus the position part)."""
    with torch.no_grad():
        x = small.W_E.double()  # one-token inputs without their position
        argmax = (x @ small.W_U.double().T).argmax(dim=1).numpy()
    vocab = SMALL.vocab_size
    succ_ids = np.full((vocab, 5), -1)
    succ_counts = np.zeros((vocab, 5), dtype=int)
    for t in range(vocab):
        best = argmax[t] if t % 2 == 0 else (argmax[t] + 1) % vocab
        succ_ids[t, 0], succ_counts[t, 0] = best, 100
    corpus = CorpusBigrams(
        prev_count=np.full(vocab, 100),
        succ_ids=succ_ids,
        succ_counts=succ_counts,
        n_bigrams=100 * vocab,
    )
    out = bigram_agreement(small, corpus, min_count=50)
    assert out["n_tokens"] == vocab and out["top1"] == pytest.approx(0.5)
    values, counts = np.unique(succ_ids[:, 0], return_counts=True)
    assert out["best_constant_top1"] == pytest.approx(counts.max() / vocab)


def test_trained_direct_path_beats_the_trivial_baselines(trained):
    model, _ = trained
    out = bigram_agreement(model, load_corpus_bigrams())
    # Measured: top1 0.49 over 1,894 tokens; unigram guess 0.07, best constant guess 0.13.
    assert out["n_tokens"] > 1000
    assert out["top1"] >= 3 * out["unigram_baseline_top1"]
    assert out["top1"] >= 2 * out["best_constant_top1"]
    assert out["top5_overlap"] > 0.3


# -- OV circuit -------------------------------------------------------------------------------
def full_ov(model, l, h):
    """The explicit vocab × vocab matrix W_U · W_O W_V · W_Eᵀ (small models only)."""
    blk = model.layers[l]
    return w64(model.W_U) @ w64(blk.W_O[h]) @ w64(blk.W_V[h]) @ w64(model.W_E).T


@pytest.mark.parametrize("l,h", [(0, 0), (1, 1)])
def test_ov_eigenvalues_match_the_explicit_vocab_matrix(small, l, h):
    explicit = np.linalg.eigvals(full_ov(small, l, h))
    d_head = SMALL.d_head
    want = explicit[np.argsort(-np.abs(explicit))][:d_head]
    got = ov_eigenvalues(small, l, h)
    assert got.shape == (SMALL.n_embd,)
    assert np.abs(got[d_head:]).max() < 1e-8 * np.abs(got[0])  # rank ≤ d_head
    key = lambda z: (round(z.real, 6), round(z.imag, 6))  # noqa: E731
    assert np.allclose(sorted(got[:d_head], key=key), sorted(want, key=key), atol=1e-8)


def with_tied_projection_ov(model, sign):
    """A copy whose full OV circuit in layer 0 head 0 is ±W_E P W_Eᵀ (P a projection): PSD (or
    negative semi-definite), so every nonzero eigenvalue is positive (negative)."""
    m = copy.deepcopy(model)
    d, dh = m.config.n_embd, m.config.d_head
    with torch.no_grad():
        m.unembedding.weight.copy_(m.token_embedding.weight)
        m.layers[0].W_V[0].copy_(torch.eye(d)[:dh])
        m.layers[0].W_O[0].copy_(sign * torch.eye(d)[:, :dh])
    return m


def test_copying_score_of_a_copying_and_an_anti_copying_head(small):
    up = copying_scores(with_tied_projection_ov(small, +1.0))
    down = copying_scores(with_tied_projection_ov(small, -1.0))
    assert up["eigen_score"][0, 0] == pytest.approx(1.0, abs=1e-9)
    assert down["eigen_score"][0, 0] == pytest.approx(-1.0, abs=1e-9)
    assert up["positive_share"][0, 0] == 1.0 and down["positive_share"][0, 0] == 0.0
    assert up["self_top1"][0, 0] > 0.5 and down["self_top1"][0, 0] < 0.1


def test_self_top1_matches_the_explicit_matrix(small):
    out = copying_scores(small)
    assert out["self_top1_chance"] == 1 / 50 and len(out["sample_ids"]) == 50
    for l in range(2):
        for h in range(2):
            m = full_ov(small, l, h)
            assert out["self_top1"][l, h] == np.mean(m.argmax(axis=0) == np.arange(50))
            lam = np.linalg.eigvals(m)
            assert out["eigen_score"][l, h] == pytest.approx(
                lam.real.sum() / np.abs(lam).sum(), abs=1e-9
            )


def test_random_heads_do_not_copy():
    cfg = TransformerConfig(vocab_size=4096, n_positions=64, n_embd=128, n_layer=2, n_head=4)
    out = copying_scores(build_model(cfg, seed=1))
    assert np.abs(out["eigen_score"]).mean() < 0.25
    assert out["self_top1"].max() < 0.02


def test_trained_model_has_copying_heads(trained):
    model, _ = trained
    out = copying_scores(model)
    # The induction head (L1H2) copies what it attends to.
    assert out["eigen_score"][1, 2] > 0.9 and out["self_top1"][1, 2] > 0.5


def test_ov_top_is_a_column_of_the_explicit_matrix(small):
    col = full_ov(small, 1, 0)[:, 7]
    top = ov_top(small, 1, 0, 7, k=4)
    assert [d["id"] for d in top] == np.argsort(-col)[:4].tolist()
    assert np.allclose([d["logit"] for d in top], np.sort(col)[::-1][:4], atol=1e-9)
    with pytest.raises(ValidationError):
        ov_top(small, 2, 0, 7)
    with pytest.raises(ValidationError):
        ov_top(small, 0, 0, -1)


# -- positional QK ----------------------------------------------------------------------------
def test_positional_scores_against_an_explicit_loop(small):
    n = 6
    pos = sinusoid(n, SMALL.n_embd).numpy()
    blk = small.layers[0]
    q, k = pos @ w64(blk.W_Q[1]).T, pos @ w64(blk.W_K[1]).T
    out = positional_pattern(small, 0, 1, n)
    for i in range(n):
        raw = [float(q[i] @ k[j]) / math.sqrt(SMALL.d_head) for j in range(i + 1)]
        assert np.allclose(out["scores"][i, : i + 1], raw, atol=1e-6)
        assert np.isnan(out["scores"][i, i + 1 :]).all()
        p = np.exp(np.array(raw) - max(raw))
        assert np.allclose(out["pattern"][i, : i + 1], p / p.sum(), atol=1e-6)
        assert np.all(out["pattern"][i, i + 1 :] == 0)
    with pytest.raises(ValidationError):
        positional_pattern(small, 0, 1, 33)


def test_trained_previous_token_head_prefers_the_previous_position(trained):
    model, _ = trained
    out = positional_pattern(model, 0, 2, 64)
    assert out["previous_share"] >= 0.5
    assert out["previous_attention"] > 5 * out["uniform_previous"]
    assert out["uniform_previous"] == pytest.approx(uniform_previous_token(64))


def test_random_model_positional_patterns_are_near_uniform():
    cfg = TransformerConfig(vocab_size=256, n_positions=64, n_embd=128, n_layer=2, n_head=4)
    model = build_model(cfg, seed=0)
    for h in range(4):
        out = positional_pattern(model, 0, h, 64)
        assert out["previous_attention"] == pytest.approx(out["uniform_previous"], abs=0.01)


# -- composition ------------------------------------------------------------------------------
def test_composition_scores_match_the_formulas(small):
    out = composition_scores(small, 0)
    assert out["later_layers"] == [1] and out["k"].shape == (2, 1, 2)
    for a in range(2):
        ov_a = w64(small.layers[0].W_O[a]) @ w64(small.layers[0].W_V[a])
        for b in range(2):
            b1 = small.layers[1]
            qk_b = w64(b1.W_Q[b]).T @ w64(b1.W_K[b])
            ov_b = w64(b1.W_O[b]) @ w64(b1.W_V[b])
            fro = lambda m: math.sqrt((m**2).sum())  # noqa: E731
            assert out["q"][a, 0, b] == pytest.approx(fro(qk_b.T @ ov_a) / fro(qk_b) / fro(ov_a))
            assert out["k"][a, 0, b] == pytest.approx(fro(qk_b @ ov_a) / fro(qk_b) / fro(ov_a))
            assert out["v"][a, 0, b] == pytest.approx(fro(ov_b @ ov_a) / fro(ov_b) / fro(ov_a))


def test_composition_score_on_hand_matrices():
    e = np.zeros((4, 4))
    e[0, 0] = 1.0
    other = np.zeros((4, 4))
    other[1, 1] = 2.0
    assert composition_score(e, e) == 1.0  # rank 1, same direction: the maximum
    assert composition_score(e, other) == 0.0  # reads a direction nobody writes
    assert composition_score(np.eye(4), np.eye(4)) == pytest.approx(0.5)  # 2 / (2 · 2)
    assert composition_score(np.zeros((4, 4)), e) == 0.0


def set_head(model, layer, head, **weights):
    with torch.no_grad():
        for name, value in weights.items():
            getattr(model.layers[layer], name)[head].copy_(value)


def test_k_composition_is_zero_for_orthogonal_spaces_and_high_when_aligned(small):
    d, dh = SMALL.n_embd, SMALL.d_head  # 16, 8
    low, high = torch.eye(d)[:dh], torch.eye(d)[dh:]  # [d_head, d_model] readers of each half
    m = copy.deepcopy(small)
    set_head(m, 0, 0, W_V=low, W_O=low.T)  # head A writes only into dims 0 … 7
    set_head(m, 1, 0, W_K=high)  # head B's keys read only dims 8 … 15
    set_head(m, 1, 1, W_Q=low, W_K=low)  # head B' reads exactly what A writes: QK = OV_A = P
    # A rank-1 writer (head A') and the rank-1 reader B' of the same direction: the maximum, 1.
    e0 = torch.zeros(dh, d)
    e0[0, 0] = 1.0
    set_head(m, 0, 1, W_V=e0, W_O=e0.T)
    out = composition_scores(m, 0)
    assert out["k"][0, 0, 0] == pytest.approx(0.0, abs=1e-12)
    assert out["k"][0, 0, 1] == pytest.approx(1 / math.sqrt(dh))  # ‖P‖ / (‖P‖ ‖P‖)
    assert out["k"][1, 0, 0] == pytest.approx(0.0, abs=1e-12)  # A' writes into dim 0 only
    assert out["k"][1, 0, 1] == pytest.approx(1 / math.sqrt(dh))  # ‖P e0e0ᵀ‖ = 1, ‖P‖ = √8
    set_head(m, 1, 1, W_Q=e0, W_K=e0)  # B' now reads dim 0 only: QK = e0 e0ᵀ
    aligned = composition_scores(m, 0)
    assert aligned["k"][1, 0, 1] == pytest.approx(1.0)
    assert aligned["k"][1, 0, 1] > 3 * aligned["baseline"]["k"]


def test_random_baseline_is_reproducible_and_plausible():
    first = random_baseline.__wrapped__(128, 32)
    again = random_baseline.__wrapped__(128, 32)
    assert first == again
    # An independent Monte Carlo (torch, another seed) agrees within a few standard errors.
    g = torch.Generator().manual_seed(123)
    vals = []
    for _ in range(50):
        w = [torch.randn(32, 128, generator=g, dtype=torch.float64) for _ in range(4)]
        qk_b, ov_a = w[0].T @ w[1], w[3].T @ w[2]
        vals.append(
            float(
                torch.linalg.norm(qk_b @ ov_a) / torch.linalg.norm(qk_b) / torch.linalg.norm(ov_a)
            )
        )
    assert first["k"] == pytest.approx(np.mean(vals), abs=0.01)
    for key in ("q", "k", "v"):
        assert 0.02 < first[key] < 0.3


def test_trained_induction_head_k_composes_with_the_previous_token_head(trained):
    model, _ = trained
    out = composition_scores(model, 0)
    k = out["k"][2, 0]  # A = L0H2 (previous-token head) → every head of layer 1
    assert int(np.argmax(k)) == 2 and k[2] > 2.5 * out["baseline"]["k"]


# -- no analysis changes the model ----------------------------------------------------------------
def test_no_analysis_mutates_the_model(small):
    before = {k: v.clone() for k, v in small.state_dict().items()}
    training = small.training
    ids = [1, 2, 3, 1, 2, 3]
    induction_scores(trace_interpretable(small, ids).attention, ids)
    direct_path_top(small, 3)
    copying_scores(small)
    ov_top(small, 0, 1, 4)
    positional_pattern(small, 1, 0, 8)
    composition_scores(small, 0)
    bigram_agreement(
        small, CorpusBigrams(np.full(50, 60), np.zeros((50, 5), int), np.ones((50, 5), int), 3000)
    )
    after = small.state_dict()
    assert before.keys() == after.keys()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert small.training == training
