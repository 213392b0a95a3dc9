"""core.production: loading (offline-safe), the architecture mapping, entropy, one sentence."""

import json
import math
import time

import pytest
import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

import core.production as production
from core.config import TransformerConfig
from core.production import (
    ProductionModelError,
    analyze_text,
    architecture_summary,
    attention_entropy,
    load_production_model,
    parameter_breakdown,
    previous_token_scores,
)
from core.validators import ValidationError

TEXT = "the cat sat on the mat and the dog sat on the log"


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    """A random GPT-2 with n_inner=None (the production default) and its own byte-level BPE."""
    d = tmp_path_factory.mktemp("tiny-gpt2")
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator([TEXT] * 20, trainers.BpeTrainer(
        vocab_size=300, special_tokens=["<|endoftext|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|endoftext|>",
                                   bos_token="<|endoftext|>")
    fast.save_pretrained(d)
    cfg = GPT2Config(n_layer=2, n_head=4, n_embd=32, n_positions=64, n_inner=None,
                     vocab_size=len(fast), bos_token_id=0, eos_token_id=0)
    torch.manual_seed(0)
    GPT2LMHeadModel(cfg).save_pretrained(d)
    return d


@pytest.fixture(scope="module")
def tiny(tiny_dir):
    return load_production_model(str(tiny_dir))


# -- entropy against hand-made patterns ----------------------------------------------------------
def test_entropy_one_hot_is_zero_and_uniform_is_ln_n():
    one_hot = torch.eye(6).expand(1, 3, 6, 6)
    uniform = torch.full((2, 3, 4, 5), 1 / 5)
    ent = attention_entropy((one_hot, uniform))
    assert ent.shape == (2, 3)
    assert torch.equal(ent[0], torch.zeros(3, dtype=torch.float64))
    assert ent[1].tolist() == pytest.approx([math.log(5)] * 3, abs=1e-6)


def test_entropy_is_the_mean_of_per_head_entropies_not_of_the_mean_pattern():
    w = torch.zeros(1, 2, 1, 2)
    w[0, 0, 0, 0] = 1
    w[0, 1, 0, 1] = 1  # two certain heads looking at different keys
    assert attention_entropy((w,)).tolist() == [[0.0, 0.0]]


def test_entropy_needs_the_tuple():
    with pytest.raises(ValidationError, match="tuple"):
        attention_entropy(torch.zeros(1, 1, 2, 2))


def test_previous_token_score_finds_a_previous_token_head():
    seq = 5
    prev = torch.zeros(1, 2, seq, seq)
    prev[0, 0, 0, 0] = 1
    for i in range(1, seq):
        prev[0, 0, i, i - 1] = 1  # head 0: always the previous token
    prev[0, 1] = torch.eye(seq)  # head 1: always itself
    assert previous_token_scores((prev,)).tolist() == [[1.0, 0.0]]


# -- loading ------------------------------------------------------------------------------------
def test_local_directory_loads_and_resolves_n_inner(tiny, tiny_dir):
    model, tokenizer = tiny
    assert not model.training
    assert json.loads((tiny_dir / "config.json").read_text())["n_inner"] is None
    summary = architecture_summary(model)
    assert summary["n_inner_in_config"] is None
    assert summary["production"]["n_inner"] == 4 * 32
    assert summary["production"]["mlp_ratio"] == 4.0
    assert summary["production"]["d_head"] == 8
    assert summary["interpretable"]["mlp_ratio"] == 0.0
    assert summary["production"]["tied_embeddings"].startswith("yes")
    assert tokenizer.decode(tokenizer(TEXT)["input_ids"]) == TEXT


def test_parameter_breakdown_adds_up(tiny):
    model, _ = tiny
    pb = parameter_breakdown(model)
    unique = {p.data_ptr(): p.numel() for p in model.parameters()}
    assert pb["production_total"] == sum(unique.values())
    rows = {r["component"]: r for r in pb["rows"]}
    v, d, L = model.config.vocab_size, 32, 2
    assert rows["MLP"]["production"] == L * (d * 4 * d + 4 * d + 4 * d * d + d)
    assert rows["unembedding"]["production"] == 0 and pb["tied"]
    expected_interp = TransformerConfig(vocab_size=v, n_positions=64, n_embd=d, n_layer=L,
                                        n_head=4).estimate_parameters()
    assert pb["interpretable_total"] == expected_interp
    assert pb["ratio"] == pytest.approx(pb["production_total"] / expected_interp)


def test_hub_id_offline_fails_fast_with_a_clear_message(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    start = time.monotonic()
    with pytest.raises(ProductionModelError, match="bundled model works offline"):
        load_production_model("gpt2")
    assert time.monotonic() - start < 5


def test_unreachable_hub_fails_fast(monkeypatch):
    import socket

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    monkeypatch.setattr(production, "_offline", lambda: False)
    monkeypatch.setattr(production, "_cached_on_disk", lambda repo_id: False)
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
    start = time.monotonic()
    with pytest.raises(ProductionModelError, match="Could not reach the Hugging Face hub"):
        load_production_model("distilgpt2")
    assert time.monotonic() - start < 5


@pytest.mark.parametrize("source, pattern", [
    ("", "Choose a model source"),
    ("   ", "Choose a model source"),
    (None, "Choose a model source"),
    ("./no/such/folder", "There is no folder"),
    ("not a valid id!", "neither a folder nor a valid Hugging Face model id"),
])
def test_bad_sources_are_refused(source, pattern):
    with pytest.raises(ProductionModelError, match=pattern):
        load_production_model(source)


def test_folder_without_config_or_tokenizer(tmp_path, tiny_dir):
    with pytest.raises(ProductionModelError, match="no config.json"):
        load_production_model(str(tmp_path))
    (tmp_path / "config.json").write_text((tiny_dir / "config.json").read_text())
    with pytest.raises(ProductionModelError, match="no tokenizer"):
        load_production_model(str(tmp_path))


def test_non_gpt2_models_are_refused(tmp_path, tiny_dir):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "bert", "vocab_size": 10}))
    (tmp_path / "tokenizer.json").write_text((tiny_dir / "tokenizer.json").read_text())
    with pytest.raises(ProductionModelError, match="'bert' model; this page maps GPT-2-family"):
        load_production_model(str(tmp_path))


# -- one sentence ---------------------------------------------------------------------------------
def test_analyze_text_shapes_and_values(tiny):
    model, tokenizer = tiny
    result = analyze_text(model, tokenizer, TEXT)
    ids = tokenizer(TEXT, add_special_tokens=False)["input_ids"]
    n = len(ids)
    assert result["ids"] == ids and "".join(result["tokens"]) == TEXT
    assert result["attentions"].shape == (2, 4, n, n)
    assert result["entropy"].shape == (2, 4)
    with torch.no_grad():
        out = model(torch.tensor([ids]), output_attentions=True, output_hidden_states=True)
    # Entropy: recomputed by hand from transformers' own attentions.
    a = out.attentions[1][0, 2].double()
    by_hand = float(-(a * torch.where(a > 0, a.log(), 0.0)).sum(-1).mean())
    assert result["entropy"][1, 2] == pytest.approx(by_hand, abs=1e-9)
    # Streams x0, x1 are transformers' hidden states; the last is before ln_f.
    for l in range(2):
        assert result["stream_norms"][l] == pytest.approx(
            out.hidden_states[l][0].double().norm(dim=-1).numpy(), rel=1e-6)
    assert result["final_after_ln_norms"] == pytest.approx(
        out.hidden_states[-1][0].double().norm(dim=-1).numpy(), rel=1e-6)
    # Top-5 predictions: sorted, the same as a softmax of the last logits.
    probs = torch.softmax(out.logits[0, -1].double(), -1)
    top = probs.topk(5)
    assert [p["id"] for p in result["top_predictions"]] == top.indices.tolist()
    assert [p["probability"] for p in result["top_predictions"]] == pytest.approx(
        top.values.tolist())
    assert len(result["effective_ranks"]) == 3 and result["rank_cap"] == min(n, 32)
    assert -1 <= result["preservation_initial_to_final"] <= 1


def test_analyze_text_refuses_bad_text(tiny):
    model, tokenizer = tiny
    with pytest.raises(ValidationError, match="Type a sentence"):
        analyze_text(model, tokenizer, "   ")
    with pytest.raises(ValidationError, match=r"splits into \d+ tokens; the limit here is 5"):
        analyze_text(model, tokenizer, TEXT, max_tokens=5)
    with pytest.raises(ValidationError, match="characters long"):
        analyze_text(model, tokenizer, "a" * 3000)
