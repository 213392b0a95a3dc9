"""The bundled tiny GPT-2 (models/tiny-gpt2-wikitext2): loads offline as a real GPT-2, behaves like one.

These tests read the committed files directly with transformers, independently of core's loader, so a
broken bundle is reported as such and not as a loader bug.
"""

import json
import math
from pathlib import Path

import pytest
import torch

BUNDLED = Path(__file__).resolve().parents[2] / "models" / "tiny-gpt2-wikitext2"
MAX_BYTES = 20 * 1024 * 1024
SENTENCE = "The cat sat on the mat, didn't it?"


@pytest.fixture(scope="module")
def bundle():
    """(model, tokenizer) loaded from the bundled folder with the hub switched off."""
    from transformers import AutoTokenizer, GPT2LMHeadModel

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HF_HUB_OFFLINE", "1")
        mp.setenv("TRANSFORMERS_OFFLINE", "1")
        model = GPT2LMHeadModel.from_pretrained(
            BUNDLED, dtype=torch.float32, attn_implementation="eager", local_files_only=True
        ).eval()
        tokenizer = AutoTokenizer.from_pretrained(BUNDLED, local_files_only=True)
    return model, tokenizer


@pytest.fixture(scope="module")
def outputs(bundle):
    model, tokenizer = bundle
    ids = tokenizer(SENTENCE, return_tensors="pt")["input_ids"]
    with torch.no_grad():
        out = model(input_ids=ids, output_attentions=True, output_hidden_states=True)
    return ids, out


def test_bundle_is_small_enough_to_commit():
    files = [p for p in BUNDLED.iterdir() if p.is_file()]
    assert any(p.name == "model.safetensors" for p in files)
    assert not any(p.suffix in {".bin", ".pt", ".pth"} for p in files), (
        "weights only as safetensors"
    )
    assert sum(p.stat().st_size for p in files) <= MAX_BYTES


def test_model_card_and_metrics_ship_with_the_weights():
    card = (BUNDLED / "README.md").read_text(encoding="utf-8")
    for needle in ("WikiText-2", "CC BY-SA 3.0", "train_tiny_gpt2.py", "perplexity"):
        assert needle in card
    metrics = json.loads((BUNDLED / "metrics.json").read_text(encoding="utf-8"))
    assert math.isclose(
        metrics["held_out_perplexity"], math.exp(metrics["held_out_loss"]), rel_tol=1e-3
    )


def test_config_is_a_gpt2_with_the_mlp_width_left_implicit(bundle):
    model, tokenizer = bundle
    cfg = model.config
    assert cfg.model_type == "gpt2"
    assert cfg.n_inner is None  # GPT-2's convention: the MLP is 4 * n_embd wide
    assert model.transformer.h[0].mlp.c_fc.weight.shape == (cfg.n_embd, 4 * cfg.n_embd)
    assert cfg.n_embd % cfg.n_head == 0
    assert cfg.vocab_size == len(tokenizer)


def test_embeddings_are_tied(bundle):
    model, _ = bundle
    assert model.lm_head.weight.data_ptr() == model.transformer.wte.weight.data_ptr()


def test_end_of_text_is_bos_and_eos(bundle):
    _, tokenizer = bundle
    assert tokenizer.eos_token == tokenizer.bos_token == "<|endoftext|>"
    assert tokenizer.convert_tokens_to_ids("<|endoftext|>") == tokenizer.eos_token_id


def test_tokenizer_round_trips_ordinary_text(bundle):
    _, tokenizer = bundle
    for text in (
        SENTENCE,
        "In 1995, the band released their first album (on vinyl) - 12 songs.",
        "Ünïcødé → bytes, ☕ and 東京 survive byte-level BPE.",
    ):
        ids = tokenizer.encode(text, add_special_tokens=False)
        assert tokenizer.decode(ids) == text


def test_tokenizer_keeps_common_words_whole(bundle):
    _, tokenizer = bundle
    tokens = tokenizer.tokenize(" the city of London")
    assert tokens == ["Ġthe", "Ġcity", "Ġof", "ĠLondon"]


def test_logits_are_finite_with_the_vocab_on_the_last_axis(bundle, outputs):
    model, _ = bundle
    ids, out = outputs
    assert out.logits.shape == (1, ids.shape[1], model.config.vocab_size)
    assert out.logits.dtype == torch.float32
    assert torch.isfinite(out.logits).all()


def test_attentions_one_per_layer_causal_and_normalised(bundle, outputs):
    model, _ = bundle
    ids, out = outputs
    T = ids.shape[1]
    assert len(out.attentions) == model.config.n_layer
    for att in out.attentions:
        assert att.shape == (1, model.config.n_head, T, T)  # [batch, head, query, key]
        assert torch.allclose(att.sum(-1), torch.ones(1, model.config.n_head, T), atol=1e-5)
        future = torch.triu(torch.ones(T, T, dtype=torch.bool), diagonal=1)
        assert att[..., future].abs().max() == 0


def test_hidden_states_are_embeddings_plus_one_per_layer(bundle, outputs):
    model, _ = bundle
    ids, out = outputs
    assert len(out.hidden_states) == model.config.n_layer + 1
    for h in out.hidden_states:
        assert h.shape == (1, ids.shape[1], model.config.n_embd)
    # The first is the raw input to block 0: token embedding + position embedding.
    pos = torch.arange(ids.shape[1])
    expected = model.transformer.wte.weight[ids[0]] + model.transformer.wpe.weight[pos]
    assert torch.allclose(out.hidden_states[0][0], expected, atol=1e-6)


def test_model_is_trained_not_random(bundle):
    """An untrained model scores about ln(vocab) nats per token; this one must do far better on English."""
    model, tokenizer = bundle
    text = (
        "The city is the capital of the country and the largest city in the region. "
        "It was founded in the 19th century and has a population of about one million people."
    )
    ids = tokenizer(text, return_tensors="pt")["input_ids"]
    with torch.no_grad():
        logits = model(input_ids=ids).logits[0, :-1]
    loss = torch.nn.functional.cross_entropy(logits, ids[0, 1:]).item()
    assert loss < math.log(model.config.vocab_size) - 3.0


def test_the_bundle_is_far_under_the_production_size_limit(bundle):
    from core.production import MAX_PARAMETERS, parameter_count

    model, _ = bundle
    unique = sum(p.numel() for p in model.parameters())  # a tied weight counted once
    assert parameter_count(model.config) == unique
    assert unique < MAX_PARAMETERS / 10
