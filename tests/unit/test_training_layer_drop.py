"""The training script's LayerDrop option (used in the search for a layer-0 previous-token head)."""

from argparse import Namespace

import torch

from core.config import TransformerConfig
from core.model import build_model
from training.train_interpretable import active_layers, layer_drop_at, lm_loss


def test_drop_rate_is_constant_then_falls_linearly_to_zero():
    args = Namespace(layer_drop=0.75, layer_drop_anneal=0.5, steps=1000)
    assert layer_drop_at(0, args) == 0.75 and layer_drop_at(499, args) == 0.75
    assert abs(layer_drop_at(750, args) - 0.375) < 1e-12
    assert layer_drop_at(1000, args) == 0.0
    assert layer_drop_at(10, Namespace(layer_drop=0.0, layer_drop_anneal=0.5, steps=1000)) == 0.0


def test_layer_zero_always_runs():
    gen = torch.Generator().manual_seed(0)
    assert active_layers(4, 1.0, gen) == [True, False, False, False]
    assert active_layers(4, 0.0, gen) == [True, True, True, True]
    draws = [active_layers(4, 0.5, gen) for _ in range(400)]
    assert all(d[0] for d in draws)
    kept = sum(sum(d[1:]) for d in draws) / (3 * len(draws))
    assert 0.4 < kept < 0.6


def test_skipping_a_layer_equals_a_model_whose_layer_writes_nothing():
    cfg = TransformerConfig(
        vocab_size=50, n_positions=16, n_embd=16, n_layer=3, n_head=2, init_std=0.5
    )  # large enough that every layer changes the loss
    model = build_model(cfg, seed=3)
    x = torch.randint(0, 50, (2, 12), generator=torch.Generator().manual_seed(1))
    assert torch.allclose(lm_loss(model, x, [True, True, True]), lm_loss(model, x))
    silenced = build_model(cfg, seed=3)
    with torch.no_grad():
        silenced.layers[1].W_O.zero_()  # layer 1 adds exactly zero to the stream
    assert torch.allclose(lm_loss(model, x, [True, False, True]), lm_loss(silenced, x), atol=1e-6)
    assert not torch.allclose(lm_loss(model, x, [True, False, True]), lm_loss(model, x))


# -- progressive growth (--start-layers) ---------------------------------------------------------
def test_a_model_started_small_is_exactly_its_first_layers_until_it_grows():
    from training.train_interpretable import growing_layers, start_small

    cfg = TransformerConfig(
        vocab_size=50, n_positions=16, n_embd=16, n_layer=4, n_head=2, init_std=0.5
    )
    model = build_model(cfg, seed=5)
    x = torch.randint(0, 50, (2, 12), generator=torch.Generator().manual_seed(2))
    whole_before = lm_loss(model, x)
    assert start_small(model, 2) is False
    # Layers 2 and 3 now add nothing: the full model, the model running only its first two
    # layers, and the untouched model with layers 2 and 3 skipped all give the same loss.
    first_two = growing_layers(4, 2)
    assert first_two == [True, True, False, False]
    untouched = build_model(cfg, seed=5)
    assert torch.allclose(lm_loss(model, x), lm_loss(untouched, x, first_two), atol=1e-6)
    assert torch.allclose(lm_loss(model, x, first_two), lm_loss(model, x), atol=1e-6)
    assert not torch.allclose(lm_loss(model, x), whole_before)
    # Skipped layers get no gradient, so the optimiser leaves them alone before growth.
    lm_loss(model, x, first_two).backward()
    assert model.layers[2].W_Q.grad is None and model.layers[3].W_O.grad is None
    assert model.layers[0].W_Q.grad is not None


def test_starting_at_full_depth_changes_nothing():
    from training.train_interpretable import start_small

    cfg = TransformerConfig(vocab_size=50, n_positions=16, n_embd=16, n_layer=2, n_head=2)
    model, same = build_model(cfg, seed=1), build_model(cfg, seed=1)
    assert start_small(model, None) is True and start_small(model, 2) is True
    assert all(
        torch.equal(a, b) for a, b in zip(model.state_dict().values(), same.state_dict().values())
    )


def test_growth_waits_for_both_halves_of_the_circuit():
    from training.train_interpretable import circuit_formed

    args = Namespace(grow_induction=0.4, grow_previous=0.5)
    assert circuit_formed({"induction": 0.9, "previous_token_l0": 0.55}, args)
    assert not circuit_formed({"induction": 0.9, "previous_token_l0": 0.3}, args)
    assert not circuit_formed({"induction": 0.1, "previous_token_l0": 0.8}, args)
