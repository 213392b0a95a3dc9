"""Every refusal: config, token ids, tensors and the token-id text box."""

import math

import pytest
import torch

from core.config import TransformerConfig
from core.model import build_model
from core.validators import ValidationError, parse_token_text, validate_tensor, validate_token_ids

SMALL = dict(vocab_size=100, n_positions=16, n_embd=8, n_layer=1, n_head=2)


def test_validation_error_is_a_value_error():
    assert issubclass(ValidationError, ValueError)


def test_spec_defaults_are_gpt2_small_shaped():
    cfg = TransformerConfig()
    assert (cfg.vocab_size, cfg.n_positions, cfg.n_embd, cfg.n_layer, cfg.n_head) == (
        50257, 1024, 768, 12, 12)
    assert cfg.bos_token_id == cfg.eos_token_id == 50256 and cfg.use_cache is True
    assert cfg.d_head == 64


@pytest.mark.parametrize("field", ["vocab_size", "n_positions", "n_embd", "n_layer", "n_head"])
@pytest.mark.parametrize("value", [0, -3])
def test_sizes_must_be_positive(field, value):
    with pytest.raises(ValidationError, match=f"{field} must be positive; got {value}"):
        TransformerConfig(**{**SMALL, field: value})


@pytest.mark.parametrize("value", [2.0, "8", True, None])
def test_sizes_must_be_whole_numbers(value):
    with pytest.raises(ValidationError, match="n_layer must be a whole number"):
        TransformerConfig(**{**SMALL, "n_layer": value})


def test_width_must_divide_by_heads():
    with pytest.raises(ValidationError, match=r"n_embd \(10\) must be divisible by n_head \(3\)"):
        TransformerConfig(**{**SMALL, "n_embd": 10, "n_head": 3})


def test_width_must_be_even_for_sinusoids():
    with pytest.raises(ValidationError, match="n_embd must be even"):
        TransformerConfig(**{**SMALL, "n_embd": 9, "n_head": 3})


def test_parameter_budget_names_estimate_and_limit():
    # 96 layers of width 8192: 96 * 4 * 8192^2 + 2 * 50257 * 8192 parameters.
    expected = 96 * 4 * 8192**2 + 2 * 50257 * 8192
    with pytest.raises(ValidationError) as err:
        TransformerConfig(n_layer=96, n_embd=8192, n_head=64)
    msg = str(err.value)
    assert f"{expected:,}" in msg and f"{200_000_000:,}" in msg


def test_parameter_estimate_matches_the_built_model():
    cfg = TransformerConfig(vocab_size=123, n_positions=20, n_embd=24, n_layer=3, n_head=4)
    assert cfg.estimate_parameters() == sum(p.numel() for p in build_model(cfg).parameters())


def test_activation_budget_refuses_long_contexts_with_numbers():
    # Parameters are tiny; 4 layers * 16 heads * 8192^2 scores and weights are not.
    with pytest.raises(ValidationError, match=r"8192 tokens.*GB.*limit here is 4\.0 GB"):
        TransformerConfig(vocab_size=100, n_positions=8192, n_embd=64, n_layer=4, n_head=16)


def test_custom_budget_is_respected():
    with pytest.raises(ValidationError, match="limit here is 1,000"):
        TransformerConfig(**SMALL, max_parameters=1_000)
    cfg = TransformerConfig(**SMALL)
    with pytest.raises(ValidationError, match="limit here is 1.0 KB"):
        cfg.with_limits(max_parameters=10**9, max_activation_bytes=1024)


# -- token ids at the model boundary -----------------------------------------------------------
@pytest.fixture(scope="module")
def model():
    return build_model(TransformerConfig(**SMALL), seed=0)


def test_accepts_1d_2d_and_lists(model):
    assert validate_token_ids([1, 2, 3], 100, 16).shape == (1, 3)
    assert validate_token_ids([[1, 2], [3, 4]], 100, 16).shape == (2, 2)
    assert validate_token_ids(torch.tensor([5, 6], dtype=torch.int32), 100, 16).dtype == torch.int64
    assert model([1, 2, 3])["logits"].shape == (1, 3, 100)


@pytest.mark.parametrize("bad, pattern", [
    (torch.tensor([1.0, 2.0]), "integer dtype"),
    (torch.tensor([True, False]), "integer dtype"),
    (torch.zeros(1, 2, 3, dtype=torch.long), "1-D .* or 2-D .*got 3-D"),
    (torch.zeros(1, 0, dtype=torch.long), "empty"),
    ([], "empty"),
    ([1, 2.5], "whole numbers; got 2.5"),
    ([[1, 2], [3]], "rectangular"),
    ("1, 2", "tensor or a list"),
])
def test_rejects_malformed_ids(model, bad, pattern):
    with pytest.raises(ValidationError, match=pattern):
        model(bad)


def test_out_of_range_names_value_position_and_range(model):
    with pytest.raises(ValidationError,
                       match=r"Token id 100 at position 2 is out of range: accepted ids are 0 to 99"):
        model(torch.tensor([[4, 5, 100, 7]]))
    with pytest.raises(ValidationError, match=r"Token id -1 at batch 1, position 0"):
        model(torch.tensor([[4, 5], [-1, 2]]))
    with pytest.raises(ValidationError, match=r"Token id 99999999999999999999 .*out of range"):
        model([1, 99999999999999999999])


def test_too_long_names_length_and_limit(model):
    with pytest.raises(ValidationError, match=r"17 tokens; this model accepts at most 16"):
        model(torch.zeros(1, 17, dtype=torch.long))


def test_validate_tensor_rank_and_finiteness():
    with pytest.raises(ValidationError, match="stream must be 3-D; got 2-D"):
        validate_tensor(torch.zeros(2, 2), "stream", ndim=3)
    with pytest.raises(ValidationError, match="2 NaN or infinite"):
        validate_tensor(torch.tensor([1.0, math.nan, math.inf]), "stream")
    with pytest.raises(ValidationError, match="must be a torch.Tensor"):
        validate_tensor([1.0], "stream")
    t = torch.ones(2, 3, 4)
    assert validate_tensor(t, "stream", ndim=(3, 4)) is t


def test_bad_layer_or_head_index_for_circuits(model):
    with pytest.raises(ValidationError, match="layer must be a whole number from 0 to 0; got 1"):
        model.get_qk_circuit(1, 0)
    with pytest.raises(ValidationError, match="head must be a whole number from 0 to 1; got -1"):
        model.get_ov_circuit(0, -1)


# -- the text box ------------------------------------------------------------------------------
def test_text_with_any_separators_parses():
    assert parse_token_text(" 1, 15 ,27;89\n156  +7", 1000, 10) == [1, 15, 27, 89, 156, 7]


@pytest.mark.parametrize("text, pattern", [
    ("", "Enter at least one token id"),
    ("  , ;", "Enter at least one token id"),
    ("1, two, 3", r"Entry 2, 'two', is not a whole number"),
    ("1, 2.5", r"Entry 2, '2.5', is not a whole number\. Token ids are whole numbers, without a decimal"),
    ("1e3", r"'1e3', is not a whole number\. Token ids are whole numbers"),
    ("5, -3", r"Entry 2, -3, is out of range: accepted ids are 0 to 999"),
    ("1000", r"Entry 1, 1000, is out of range"),
    ("1, " + "9" * 5000, r"Entry 2, '9{21}\.\.\.', is out of range"),
    (", ".join(["1"] * 11), "You entered 11 token ids; at most 10"),
    ("1," * 20_001, "characters long"),
    ("0x10", "is not a whole number"),
])
def test_text_box_refusals(text, pattern):
    with pytest.raises(ValidationError, match=pattern):
        parse_token_text(text, 1000, 10)


def test_text_box_needs_text():
    with pytest.raises(ValidationError, match="Expected text"):
        parse_token_text(None, 10, 5)
