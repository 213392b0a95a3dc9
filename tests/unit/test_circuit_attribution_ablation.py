"""Direct logit attribution (core/attribution) and head ablation (core/ablation), checked against
the model's own forward pass, the float64 reference and an edited copy of the model."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from core.ablation import ablate_head, ablation_table
from core.attribution import attribute, head_logit_attribution
from core.config import TransformerConfig
from core.model import build_model, load_trained
from core.trace import trace_interpretable
from core.validators import ValidationError
from tests.unit.reference import reference_forward, sinusoid

SMALL = TransformerConfig(
    vocab_size=50, n_positions=32, n_embd=16, n_layer=2, n_head=2, init_std=0.3
)


@pytest.fixture(scope="module")
def small():
    return build_model(SMALL, seed=5)


@pytest.fixture(scope="module")
def trained():
    return load_trained("attn-only-2l")[0]


def repeated_random(seed=0, n=25, vocab=4096):
    half = np.random.default_rng(seed).choice(np.arange(100, vocab), n, replace=False).tolist()
    return half + half


# -- attribution ------------------------------------------------------------------------------
def test_attribute_on_a_hand_example():
    out = attribute(np.array([[1.0, 2.0], [0.0, -1.0]]), ["a", "b"], np.array([3.0, 1.0]), 0.5)
    assert out == {"names": ["a", "b"], "values": [5.0, -1.0], "total": 4.5}
    with pytest.raises(ValidationError):
        attribute(np.zeros((2, 3)), ["a", "b"], np.zeros(2))
    with pytest.raises(ValidationError):
        attribute(np.zeros((2, 3)), ["a"], np.zeros(3))


@pytest.mark.parametrize("which", ["small", "trained"])
@pytest.mark.parametrize("position", [0, 3, -1])
def test_head_attribution_sums_to_the_models_logit(request, which, position):
    model = request.getfixturevalue(which)
    vocab = model.config.vocab_size
    ids = np.random.default_rng(7).integers(0, vocab, size=9).tolist()
    target = int(np.random.default_rng(8).integers(0, vocab))
    out = head_logit_attribution(model, trace_interpretable(model, ids), position, target)
    with torch.no_grad():
        own = float(model(torch.tensor([ids]))["logits"][0, position, target])
    assert out["names"][:2] == ["token embedding", "position embedding"]
    assert len(out["values"]) == 2 + model.config.n_layer * model.config.n_head
    assert abs(sum(out["values"]) - own) < 1e-4
    # The trace holds the float32 forward pass; the parts are rebuilt from it in float64.
    assert abs(out["logit"] - own) < 1e-4 and out["sum_error"] < 1e-5


def test_each_head_term_is_the_reference_heads_output_along_w_u(small):
    ids = [3, 14, 15, 9, 26, 5]
    ref = reference_forward(small, torch.tensor([ids]))
    w_u = small.W_U.detach().double()[11]
    out = head_logit_attribution(small, trace_interpretable(small, ids), 4, 11)
    values = dict(zip(out["names"], out["values"]))
    for l in range(2):
        for h in range(2):
            assert values[f"L{l}H{h}"] == pytest.approx(
                float(ref["heads"][l][0, h, 4] @ w_u), abs=1e-5
            )
    assert values["position embedding"] == pytest.approx(float(sinusoid(6, 16)[4] @ w_u), abs=1e-5)
    assert values["token embedding"] == pytest.approx(
        float(small.W_E.detach().double()[26] @ w_u), abs=1e-12
    )


def test_head_attribution_validates(small):
    trace = trace_interpretable(small, [1, 2, 3])
    for position, target in ((3, 0), (-4, 0), (0, 50), (0, -1), (True, 0)):
        with pytest.raises(ValidationError):
            head_logit_attribution(small, trace, position, target)


# -- ablation ---------------------------------------------------------------------------------
def own_loss(model, ids):
    """Per-position next-token loss from the model's ordinary forward pass."""
    with torch.no_grad():
        logits = model(torch.tensor([ids]))["logits"][0].double()
    return F.cross_entropy(logits[:-1], torch.tensor(ids[1:]), reduction="none").numpy()


@pytest.mark.parametrize("which", ["small", "trained"])
@pytest.mark.parametrize("layer,head", [(0, 1), (1, 0)])
def test_zero_ablation_equals_a_copy_with_that_heads_w_o_zeroed(request, which, layer, head):
    model = request.getfixturevalue(which)
    ids = (
        repeated_random(3)
        if which == "trained"
        else np.random.default_rng(1).integers(0, 50, size=12).tolist()
    )
    edited = copy.deepcopy(model)
    with torch.no_grad():
        edited.layers[layer].W_O[head].zero_()
    before, after = own_loss(model, ids), own_loss(edited, ids)
    out = ablate_head(model, ids, layer, head, "zero")
    assert out["loss_before"] == pytest.approx(before.mean(), abs=1e-5)
    assert out["loss_after"] == pytest.approx(after.mean(), abs=1e-5)
    assert out["delta"] == pytest.approx(after.mean() - before.mean(), abs=1e-5)
    assert out["per_position_delta"].shape == (len(ids) - 1,)
    assert np.allclose(out["per_position_delta"], after - before, atol=1e-5)


def test_mean_ablation_of_a_constant_head_changes_nothing(small):
    """Head L0H0 made to read only a direction orthogonal to every position row in use; on a
    one-token-repeated input its values are then equal at every position, so its output (a
    convex mix of equal values) is constant: replacing it by its mean is no change at all."""
    n, t = 6, 7
    m = copy.deepcopy(small)
    pos = sinusoid(n, SMALL.n_embd)  # [n, d_model]
    basis = torch.linalg.svd(pos, full_matrices=True).Vh[n:]  # orthogonal to positions 0 … 5
    with torch.no_grad():
        w_v = m.layers[0].W_V[0].double()
        m.layers[0].W_V[0].copy_((w_v @ basis.T @ basis).float())
    ids = [t] * n
    heads = trace_interpretable(m, ids)
    from core.report import head_outputs

    out0 = head_outputs(m, heads)[0, 0]
    assert np.abs(out0 - out0[0]).max() < 1e-5 and np.abs(out0).max() > 1e-2  # constant, not 0
    mean = ablate_head(m, ids, 0, 0, "mean")
    assert abs(mean["delta"]) < 1e-9
    assert abs(ablate_head(m, ids, 0, 0, "zero")["delta"]) > 1e-4  # zeroing it does change it


def test_ablation_table_matches_single_ablations(small):
    ids = np.random.default_rng(2).integers(0, 50, size=10).tolist()
    for mode in ("zero", "mean"):
        table = ablation_table(small, ids, mode)
        assert table.shape == (2, 2)
        for l in range(2):
            for h in range(2):
                assert table[l, h] == pytest.approx(
                    ablate_head(small, ids, l, h, mode)["delta"], abs=1e-12
                )


def test_trained_heads_matter_on_a_repeated_sequence(trained):
    ids = repeated_random(0)
    table = ablation_table(trained, ids)
    # The induction head and the previous-token head it keys on both cost nats when removed;
    # measured: L1H2 ≈ +2.8, L0H2 ≈ +4.3 (larger: it also feeds the induction head).
    assert table[1, 2] > 1.0 and table[0, 2] > 1.0
    assert table[0, 2] > table[1, 2]


def test_ablation_validates(small):
    for kwargs in ({"mode": "resample"}, {"layer": 2}, {"head": -1}, {"layer": 1.0}):
        args = {"layer": 0, "head": 0, "mode": "zero", **kwargs}
        with pytest.raises(ValidationError):
            ablate_head(small, [1, 2, 3], **args)
    with pytest.raises(ValidationError, match="at least 2 tokens"):
        ablate_head(small, [4], 0, 0)
    with pytest.raises(ValidationError):
        ablate_head(small, [1, 50], 0, 0)
    with pytest.raises(ValidationError, match="one sequence"):
        ablate_head(small, [[1, 2], [3, 4]], 0, 0)
    with pytest.raises(ValidationError):
        ablation_table(small, [1, 2], "nope")


def test_attribution_and_ablation_do_not_mutate_the_model(small):
    before = {k: v.clone() for k, v in small.state_dict().items()}
    ids = [1, 2, 3, 1, 2]
    head_logit_attribution(small, trace_interpretable(small, ids), -1, 3)
    ablate_head(small, ids, 0, 1, "mean")
    ablation_table(small, ids, "zero")
    after = small.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before) and not small.training
