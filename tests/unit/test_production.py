"""core.production: model sources (a security boundary), size limits, the mapping, one sentence."""

import json
import shutil
import socket
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

import core.production as production
from core.config import TransformerConfig
from core.production import (
    COMPONENT_MAP,
    MAX_PARAMETERS,
    ProductionModelError,
    analyze_text,
    architecture_summary,
    load_production_model,
    parameter_breakdown,
    parameter_count,
)
from core.validators import ValidationError

TEXT = "the cat sat on the mat and the dog sat on the log"
ROOT = Path(__file__).resolve().parents[2]


def make_tiny(directory: Path, **config) -> Path:
    """A random GPT-2 (n_inner=None, the production default) with its own byte-level BPE."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(
        [TEXT] * 20,
        trainers.BpeTrainer(
            vocab_size=300,
            special_tokens=["<|endoftext|>"],
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        ),
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, eos_token="<|endoftext|>", bos_token="<|endoftext|>"
    )
    fast.save_pretrained(directory)
    cfg = GPT2Config(
        **{
            "n_layer": 2,
            "n_head": 4,
            "n_embd": 32,
            "n_positions": 64,
            "n_inner": None,
            "vocab_size": len(fast),
            "bos_token_id": 0,
            "eos_token_id": 0,
            **config,
        }
    )
    torch.manual_seed(0)
    GPT2LMHeadModel(cfg).save_pretrained(directory)
    return directory


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    return make_tiny(tmp_path_factory.mktemp("tiny-gpt2"))


@pytest.fixture(scope="module")
def tiny(tiny_dir):
    return load_production_model(str(tiny_dir), folder=True, allow_local_folders=True)


@pytest.fixture
def hub_cache(tmp_path, monkeypatch):
    """An empty Hugging Face cache, hub switched off; ``add(repo_id, folder)`` fills it the way
    huggingface_hub lays it out (refs/main → snapshots/<commit>/<files>)."""
    from huggingface_hub import constants

    cache = tmp_path / "hf-cache"
    cache.mkdir()
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")

    def add(repo_id: str, folder: Path, files=None) -> Path:
        repo = cache / ("models--" + repo_id.replace("/", "--"))
        commit = "0" * 40
        (repo / "refs").mkdir(parents=True)
        (repo / "refs" / "main").write_text(commit)
        snap = repo / "snapshots" / commit
        snap.mkdir(parents=True)
        for f in folder.iterdir():
            if files is None or f.name in files:
                shutil.copy(f, snap / f.name)
        return snap

    return add


# -- hub ids are hub ids only ---------------------------------------------------------------------
PROBES = [
    "/root",
    "/nope",
    "/etc/passwd",
    "~",
    "~/models",
    "../models",
    "./models",
    ".",
    "..",
    "C:\\Users",
    "models/../models",
    "a--b",
    "name.git",
    "x" * 97,
    "owner/name/extra",
    "not a valid id!",
]


@pytest.mark.parametrize("source", PROBES)
def test_anything_but_a_hub_id_gets_one_message_that_names_no_path(source):
    with pytest.raises(ProductionModelError) as err:
        load_production_model(source)
    assert str(err.value) == production._NOT_A_HUB_ID  # a constant: it cannot echo a path


def test_existing_and_missing_server_folders_look_the_same(tmp_path):
    messages = []
    for probe in ("/root", "/nope", str(tmp_path), str(tmp_path / "missing"), str(ROOT)):
        with pytest.raises(ProductionModelError) as err:
            load_production_model(probe)
        messages.append(str(err.value))
    assert len(set(messages)) == 1


def test_a_hub_id_that_is_also_a_folder_here_is_never_read_from_disk(
    tmp_path, monkeypatch, tiny_dir, hub_cache
):
    """from_pretrained("owner/name") would load ./owner/name if it existed: the hub box must not."""
    make_here = tmp_path / "owner" / "name"
    shutil.copytree(tiny_dir, make_here)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ProductionModelError) as present:
        load_production_model("owner/name")
    with pytest.raises(ProductionModelError) as absent:
        load_production_model("owner/other")
    assert "not in the local Hugging Face cache" in str(present.value)
    assert str(present.value).replace("owner/name", "ID") == str(absent.value).replace(
        "owner/other", "ID"
    )


def test_a_cached_hub_model_loads_offline_from_the_cache(tiny_dir, hub_cache):
    snap = hub_cache("tester/tiny-gpt2", tiny_dir)
    model, tokenizer = load_production_model("tester/tiny-gpt2")
    assert Path(model.config.name_or_path).resolve() == snap.resolve()
    assert model.config.n_layer == 2 and not model.training
    assert tokenizer.decode(tokenizer(TEXT)["input_ids"]) == TEXT


def test_a_partly_cached_hub_model_offline_says_so(tiny_dir, hub_cache):
    hub_cache("tester/config-only", tiny_dir, files={"config.json"})
    with pytest.raises(ProductionModelError, match="Only part of 'tester/config-only'"):
        load_production_model("tester/config-only")


def test_hub_id_offline_fails_fast_with_a_clear_message(hub_cache):
    start = time.monotonic()
    with pytest.raises(ProductionModelError, match="bundled model works offline"):
        load_production_model("gpt2")
    assert time.monotonic() - start < 5


def test_unreachable_hub_fails_fast(monkeypatch, hub_cache):
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(production, "_offline", lambda: False)
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
    start = time.monotonic()
    with pytest.raises(ProductionModelError, match="Could not reach the Hugging Face hub"):
        load_production_model("distilgpt2")
    assert time.monotonic() - start < 5


# -- local folders: only when the caller says the learner is local ---------------------------------
def test_folders_are_refused_unless_allowed_with_one_message(tmp_path, tiny_dir):
    messages = set()
    for probe in (str(tiny_dir), str(tmp_path / "missing"), "/root"):
        with pytest.raises(ProductionModelError) as err:
            load_production_model(probe, folder=True, allow_local_folders=False)
        messages.add(str(err.value))
    assert len(messages) == 1
    assert "your own computer" in messages.pop()


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
    assert summary["production"]["tied_embeddings"].startswith("yes: W_U is W_E")
    assert tokenizer.decode(tokenizer(TEXT)["input_ids"]) == TEXT


@pytest.mark.parametrize(
    "source, pattern",
    [
        ("", "Choose a model source"),
        ("   ", "Choose a model source"),
        (None, "Choose a model source"),
    ],
)
def test_empty_sources_are_refused(source, pattern):
    with pytest.raises(ProductionModelError, match=pattern):
        load_production_model(source)


def test_allowed_folder_without_config_or_tokenizer(tmp_path, tiny_dir):
    with pytest.raises(ProductionModelError, match="There is no folder"):
        load_production_model(str(tmp_path / "missing"), folder=True, allow_local_folders=True)
    with pytest.raises(ProductionModelError, match="no config.json"):
        load_production_model(str(tmp_path), folder=True, allow_local_folders=True)
    (tmp_path / "config.json").write_text((tiny_dir / "config.json").read_text())
    with pytest.raises(ProductionModelError, match="no tokenizer"):
        load_production_model(str(tmp_path), folder=True, allow_local_folders=True)


def test_non_gpt2_models_are_refused(tmp_path, tiny_dir):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "bert", "vocab_size": 10}))
    (tmp_path / "tokenizer.json").write_text((tiny_dir / "tokenizer.json").read_text())
    with pytest.raises(ProductionModelError, match="'bert' model; this page maps GPT-2-family"):
        load_production_model(str(tmp_path), folder=True, allow_local_folders=True)


# -- memory: parameters counted from the config, before any weights ------------------------------
def _count_built(config: GPT2Config) -> int:
    with torch.device("meta"):  # shapes only, no memory
        model = GPT2LMHeadModel(config)
    return sum(p.numel() for p in model.parameters())  # parameters() counts a tied one once


@pytest.mark.parametrize(
    "config",
    [
        dict(n_layer=2, n_head=4, n_embd=32, n_positions=64, vocab_size=300),
        dict(n_layer=3, n_head=2, n_embd=16, n_positions=10, vocab_size=50, n_inner=24),
        dict(
            n_layer=1, n_head=2, n_embd=16, n_positions=10, vocab_size=50, tie_word_embeddings=False
        ),
    ],
)
def test_parameter_count_from_config_matches_the_built_model(config):
    cfg = GPT2Config(**config)
    assert parameter_count(cfg) == _count_built(cfg)
    assert parameter_count(cfg.to_dict()) == _count_built(cfg)


def test_gpt2_small_fits_the_limit_and_gpt2_medium_does_not():
    small = GPT2Config()  # GPT-2 small's sizes
    medium = GPT2Config(n_embd=1024, n_layer=24, n_head=16)
    assert parameter_count(small) == _count_built(small) == 124_439_808
    assert parameter_count(small) <= MAX_PARAMETERS
    assert parameter_count(medium) == _count_built(medium) == 354_823_168
    assert parameter_count(medium) > MAX_PARAMETERS
    assert MAX_PARAMETERS * 4 < 1e9 / 1.5  # float32 weights of the largest: well under 1 GB


def test_a_too_big_hub_model_is_refused_from_its_config_alone(tmp_path, hub_cache):
    medium = GPT2Config(n_embd=1024, n_layer=24, n_head=16)
    medium.save_pretrained(tmp_path / "medium")  # config.json only: no weights to load
    hub_cache("openai-community/gpt2-medium", tmp_path / "medium")
    with pytest.raises(ProductionModelError) as err:
        load_production_model("openai-community/gpt2-medium")
    message = str(err.value)
    assert "354,823,168 parameters" in message and "1.4 GB" in message
    assert f"{MAX_PARAMETERS:,}" in message and "'gpt2'" in message


# -- the mapping ------------------------------------------------------------------------------
def test_parameter_breakdown_adds_up(tiny):
    model, _ = tiny
    pb = parameter_breakdown(model)
    unique = {id(p): p.numel() for p in model.parameters()}
    assert pb["production_total"] == sum(unique.values()) == parameter_count(model.config)
    rows = {r["component"]: r for r in pb["rows"]}
    v, d, L = model.config.vocab_size, 32, 2
    assert rows["MLP"]["production"] == L * (d * 4 * d + 4 * d + 4 * d * d + d)
    assert rows["unembedding"]["production"] == 0 and pb["tied"]
    assert sum(pb["shares"].values()) == pytest.approx(1.0)
    expected_interp = TransformerConfig(
        vocab_size=v, n_positions=64, n_embd=d, n_layer=L, n_head=4
    ).estimate_parameters()
    assert pb["interpretable_total"] == expected_interp
    assert pb["ratio"] == pytest.approx(pb["production_total"] / expected_interp)


def test_gpt2_small_mlps_are_not_most_of_the_parameters():
    """The component map's numbers, recomputed from GPT-2 small's shapes by hand."""
    d, L, V, P = 768, 12, 50257, 1024
    total = V * d + P * d + L * (12 * d * d + 13 * d) + 2 * d
    mlp = L * (d * 4 * d + 4 * d + 4 * d * d + d)
    assert total == 124_439_808
    assert f"{mlp / total:.1%}" == "45.5%" and f"{V * d / total:.0%}" == "31%"
    with torch.device("meta"):
        pb = parameter_breakdown(GPT2LMHeadModel(GPT2Config()))
    assert pb["shares"]["MLP"] == pytest.approx(mlp / total)
    mlp_row = next(r for r in COMPONENT_MAP if r[0] == "MLP")[3]
    assert "45.5 %" in mlp_row and "not most of the model" in mlp_row
    assert "most of its parameters" not in " ".join(" ".join(r) for r in COMPONENT_MAP)


def test_component_map_states_the_stream_sum_as_exact():
    text = " ".join(" ".join(r) for r in COMPONENT_MAP)
    assert "W_Eᵀ" not in text and "every path adds up exactly" not in text
    layer_norm = next(r for r in COMPONENT_MAP if r[0] == "LayerNorm")[3]
    assert "stays exactly" in layer_norm and "paths" in layer_norm
    unembed = next(r for r in COMPONENT_MAP if r[0] == "Unembedding")
    assert "W_U [vocab, d_model]" in unembed[1] and "x · W_Uᵀ" in unembed[3]


# -- one sentence (the page's data, built from the trace) ----------------------------------------
def test_analyze_text_matches_transformers(tiny):
    model, tokenizer = tiny
    result = analyze_text(model, tokenizer, TEXT)
    ids = tokenizer(TEXT, add_special_tokens=False)["input_ids"]
    n = len(ids)
    assert result["ids"] == ids and "".join(result["tokens"]) == TEXT
    assert result["attentions"].shape == (2, 4, n, n)
    assert result["entropy"].shape == (2, 4) and result["previous_token"].shape == (2, 4)
    with torch.no_grad():
        out = model(torch.tensor([ids]), output_attentions=True, output_hidden_states=True)
    # Entropy: recomputed by hand from transformers' own attentions.
    a = out.attentions[1][0, 2].double()
    by_hand = float(-(a * torch.where(a > 0, a.log(), 0.0)).sum(-1).mean())
    assert result["entropy"][1, 2] == pytest.approx(by_hand, abs=1e-6)
    prev = float(torch.diagonal(out.attentions[0][0, 3].double(), offset=-1).mean())
    assert result["previous_token"][0, 3] == pytest.approx(prev, abs=1e-6)
    assert result["uniform_entropy"] == pytest.approx(np.mean(np.log(np.arange(1, n + 1))))
    # Streams x0, x1 are transformers' hidden states; its last one is ln_f of our last stream.
    for l in range(2):
        assert result["stream_norms"][l] == pytest.approx(
            out.hidden_states[l][0].double().norm(dim=-1).numpy(), rel=1e-6
        )
    assert result["final_after_ln_norms"] == pytest.approx(
        out.hidden_states[-1][0].double().norm(dim=-1).numpy(), rel=1e-6
    )
    probs = torch.softmax(out.logits[0, -1].double(), -1)
    top = probs.topk(5)
    assert [p["id"] for p in result["top_predictions"]] == top.indices.tolist()
    assert [p["probability"] for p in result["top_predictions"]] == pytest.approx(
        top.values.tolist(), abs=1e-6
    )
    assert result["top_predictions"][0]["token"] == tokenizer.decode([top.indices[0]])
    assert len(result["effective_ranks"]) == 3 and result["rank_cap"] == min(n, 32)
    x0 = out.hidden_states[0][0].double().flatten()
    assert -1 <= result["preservation_initial_to_final"] <= 1
    assert result["component_sum_error"] < 1e-5
    assert result["dla"]["sum_error"] < 1e-5
    assert result["component_names"] == [
        "embeddings",
        "attention 0",
        "MLP 0",
        "attention 1",
        "MLP 1",
    ]
    assert float(x0.norm()) > 0


def test_analyze_text_holds_no_tensors_or_model(tiny):
    model, tokenizer = tiny

    def walk(value):
        if isinstance(value, dict):
            for v in value.values():
                yield from walk(v)
        elif isinstance(value, (list, tuple)):
            for v in value:
                yield from walk(v)
        else:
            yield value

    leaves = list(walk(analyze_text(model, tokenizer, TEXT)))
    assert not any(isinstance(v, (torch.Tensor, torch.nn.Module)) for v in leaves)
    assert all(isinstance(v, (int, float, str, np.ndarray, np.generic)) for v in leaves)


def test_analyze_text_refuses_bad_text(tiny):
    model, tokenizer = tiny
    with pytest.raises(ValidationError, match="Type a sentence"):
        analyze_text(model, tokenizer, "   ")
    with pytest.raises(ValidationError, match=r"splits into \d+ tokens; the limit here is 5"):
        analyze_text(model, tokenizer, TEXT, max_tokens=5)
    with pytest.raises(ValidationError, match="characters long"):
        analyze_text(model, tokenizer, "a" * 3000)


def test_duplicate_analyses_are_gone_from_production():
    for name in ("attention_entropy", "previous_token_scores", "_ANALYZER"):
        assert not hasattr(production, name) or getattr(production, name).__module__ == "core.trace"
