"""Every refusal: config, token ids, tensors and the token-id text box."""

import math
import re

import pytest
import torch

from core.config import DEFAULT_BUDGET, ResourceBudget, TransformerConfig
from core.model import build_model
from core.validators import ValidationError, parse_token_text, validate_tensor, validate_token_ids

SMALL = dict(vocab_size=100, n_positions=16, n_embd=8, n_layer=1, n_head=2)


def test_validation_error_is_a_value_error():
    assert issubclass(ValidationError, ValueError)


def test_spec_defaults_are_gpt2_small_shaped():
    cfg = TransformerConfig()
    assert (cfg.vocab_size, cfg.n_positions, cfg.n_embd, cfg.n_layer, cfg.n_head) == (
        50257,
        1024,
        768,
        12,
        12,
    )
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


@pytest.mark.parametrize("n_embd, n_head", [(10, 3), (9, 3), (250, 4), (255, 5), (100, 7)])
def test_suggested_widths_are_accepted(n_embd, n_head):
    """Every width the refusal suggests must itself be valid: divisible by n_head and even."""
    with pytest.raises(ValidationError) as err:
        TransformerConfig(**{**SMALL, "n_embd": n_embd, "n_head": n_head})
    suggested = [int(w) for w in re.findall(r"e\.g\. (\d+)(?: or (\d+))?", str(err.value))[0] if w]
    assert suggested
    for width in suggested:
        assert width % n_head == 0 and width % 2 == 0
        TransformerConfig(**{**SMALL, "n_embd": width, "n_head": n_head})  # accepted


def test_d_model_is_the_lesson_name_for_n_embd():
    assert TransformerConfig(**SMALL).d_model == SMALL["n_embd"]


def test_parameter_budget_names_estimate_and_limit():
    # 96 layers of width 8192: 96 * 4 * 8192^2 + 2 * 50257 * 8192 parameters.
    expected = 96 * 4 * 8192**2 + 2 * 50257 * 8192
    config = TransformerConfig(n_layer=96, n_embd=8192, n_head=64)  # a config is only a value
    with pytest.raises(ValidationError) as err:
        DEFAULT_BUDGET.check(config)
    msg = str(err.value)
    assert f"{expected:,}" in msg and f"{200_000_000:,}" in msg
    with pytest.raises(ValidationError, match=f"{expected:,}"):
        build_model(config)  # refused before anything is allocated


def test_parameter_estimate_matches_the_built_model():
    cfg = TransformerConfig(vocab_size=123, n_positions=20, n_embd=24, n_layer=3, n_head=4)
    model = build_model(cfg)
    assert cfg.estimate_parameters() == sum(p.numel() for p in model.parameters())
    # Kept bytes: float32 parameters plus the [n_positions, d_model] position buffer.
    assert cfg.estimate_model_bytes() == 4 * (cfg.estimate_parameters() + 20 * 24)


def test_activation_budget_refuses_long_contexts_with_numbers():
    # Parameters are tiny; 4 layers * 16 heads * 8192^2 scores and weights are not.
    cfg = TransformerConfig(vocab_size=100, n_positions=8192, n_embd=64, n_layer=4, n_head=16)
    with pytest.raises(ValidationError, match=r"8192 tokens.*GB.*limit here is 4\.0 GB"):
        DEFAULT_BUDGET.check(cfg)
    # The same model analysed on at most 64 tokens fits.
    assert ResourceBudget(analysis_tokens=64).check(cfg) is cfg


def test_custom_budget_is_respected():
    cfg = TransformerConfig(**SMALL)
    with pytest.raises(ValidationError, match="limit here is 1,000"):
        ResourceBudget(max_parameters=1_000).check(cfg)
    with pytest.raises(ValidationError, match="limit here is 1.0 KB"):
        ResourceBudget(max_activation_bytes=1024).check(cfg)
    with pytest.raises(ValidationError, match="keep about .* limit here is 1.0 KB"):
        ResourceBudget(max_model_bytes=1024).check(cfg)
    with pytest.raises(ValidationError, match="limit here is 1,000"):
        build_model(cfg, budget=ResourceBudget(max_parameters=1_000))


def test_overflowing_stream_is_refused_with_a_message():
    # 12 layers at weight scale 0.5: the stream grows ~60x per layer and overflows float32.
    cfg = TransformerConfig(
        vocab_size=100, n_positions=16, n_embd=256, n_layer=12, n_head=8, init_std=0.5
    )
    model = build_model(cfg, seed=0)
    with pytest.raises(ValidationError, match=r"overflowed after layer \d+.*weight scale 0.5"):
        model.analyze([1, 2, 3, 4])


# -- token ids at the model boundary -----------------------------------------------------------
@pytest.fixture(scope="module")
def model():
    return build_model(TransformerConfig(**SMALL), seed=0)


def test_accepts_1d_2d_and_lists(model):
    assert validate_token_ids([1, 2, 3], 100, 16).shape == (1, 3)
    assert validate_token_ids([[1, 2], [3, 4]], 100, 16).shape == (2, 2)
    assert validate_token_ids(torch.tensor([5, 6], dtype=torch.int32), 100, 16).dtype == torch.int64
    assert model([1, 2, 3])["logits"].shape == (1, 3, 100)


@pytest.mark.parametrize(
    "bad, pattern",
    [
        (torch.tensor([1.0, 2.0]), "integer dtype"),
        (torch.tensor([True, False]), "integer dtype"),
        (torch.zeros(1, 2, 3, dtype=torch.long), "1-D .* or 2-D .*got 3-D"),
        (torch.zeros(1, 0, dtype=torch.long), "empty"),
        ([], "empty"),
        ([1, 2.5], "whole numbers; got 2.5"),
        ([[1, 2], [3]], "rectangular"),
        ("1, 2", "tensor or a list"),
    ],
)
def test_rejects_malformed_ids(model, bad, pattern):
    with pytest.raises(ValidationError, match=pattern):
        model(bad)


def test_out_of_range_names_value_position_and_range(model):
    with pytest.raises(
        ValidationError,
        match=r"Token id 100 at position 2 is out of range: accepted ids are 0 to 99",
    ):
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


@pytest.mark.parametrize(
    "text, pattern",
    [
        ("", "Enter at least one token id"),
        ("  , ;", "Enter at least one token id"),
        ("1, two, 3", r"Entry 2, 'two', is not a whole number"),
        (
            "1, 2.5",
            r"Entry 2, '2.5', is not a whole number\. Token ids are whole numbers, without a decimal",
        ),
        ("1e3", r"'1e3', is not a whole number\. Token ids are whole numbers"),
        ("5, -3", r"Entry 2, -3, is out of range: accepted ids are 0 to 999"),
        ("1000", r"Entry 1, 1000, is out of range"),
        ("1, " + "9" * 5000, r"Entry 2, '9{21}\.\.\.', is out of range"),
        (", ".join(["1"] * 11), "You entered 11 token ids; at most 10"),
        ("1," * 20_001, "characters long"),
        ("0x10", "is not a whole number"),
    ],
)
def test_text_box_refusals(text, pattern):
    with pytest.raises(ValidationError, match=pattern):
        parse_token_text(text, 1000, 10)


def test_text_box_needs_text():
    with pytest.raises(ValidationError, match="Expected text"):
        parse_token_text(None, 10, 5)
