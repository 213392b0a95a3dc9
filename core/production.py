"""The production side of the lesson (LO3): a GPT-2-family model mapped onto the lesson's model.

Model sources, and what each may touch:

- ``"bundled"``: the small GPT-2 trained for this repository (``models/``; no network needed);
- a Hugging Face hub id such as ``"gpt2"`` (``load_production_model(id)``): only ever resolved
  through the hub and its local cache, never as a path, so a hub id box on a hosted server
  cannot read the server's folders; only ``model*.safetensors`` weights are fetched (no pickle);
  models over :data:`MAX_PARAMETERS` are refused from their config, before any weights load;
- a local folder in Hugging Face format (``load_production_model(path, folder=True,
  allow_local_folders=True)``): for a learner on the same machine only. Whether the learner is
  local is decided by the caller (the page, from the connection); core only obeys the flag.

:func:`trace_gpt2` runs one sentence through a loaded model by walking its blocks with pure
reads (no hooks, no settings changed: the model may be shared by every session and thread) and
returns a :class:`core.trace.Trace`; :func:`analyze_text` turns that trace into what the
Production page shows, using the analyses of :mod:`core.trace`.
"""

from __future__ import annotations

import json
import os
import re
import socket
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import numpy as np
import torch

from core.attribution import attribute
from core.head_scores import induction_scores, uniform_induction
from core.trace import (
    TOP_K,
    Trace,
    attention_entropy,
    component_sum_error,
    previous_token_scores,
    stream_statistics,
    top_k_from_logits,
    top_predictions,
    uniform_entropy,
    uniform_previous_token,
)
from core.validators import ValidationError

__all__ = [
    "BUNDLED",
    "BUNDLED_DIR",
    "MAX_PARAMETERS",
    "ProductionModelError",
    "load_production_model",
    "parameter_count",
    "architecture_summary",
    "parameter_breakdown",
    "trace_gpt2",
    "direct_logit_attribution",
    "analyze_text",
    "COMPONENT_MAP",
]

BUNDLED = "bundled"
BUNDLED_DIR = Path(__file__).resolve().parent.parent / "models" / "tiny-gpt2-wikitext2"
HUB_PROBE_TIMEOUT_S = 3.0
MAX_TEXT_CHARS = 2_000
DEFAULT_MAX_TOKENS = 64
#: The largest model (parameters, from its config) this app loads: GPT-2 small (124,439,808
#: parameters, about 0.5 GB in float32) fits a 1 GB server next to the bundled model;
#: gpt2-medium (355M, about 1.4 GB) does not.
MAX_PARAMETERS = 130_000_000
_BYTES_PER_PARAMETER = 4  # float32
_HUB_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,95}(/[A-Za-z0-9][A-Za-z0-9._-]{0,95})?")
_TRUE = {"1", "true", "yes", "on"}
#: What a hub download may fetch: the config, safetensors weights (never pickled .bin files)
#: and the tokenizer files.
_HUB_FILES = [
    "config.json",
    "generation_config.json",
    "model.safetensors",
    "model-*.safetensors",
    "model.safetensors.index.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "vocab.json",
    "merges.txt",
    "added_tokens.json",
]
_NOT_A_HUB_ID = (
    "That is not a Hugging Face model id. A hub id is a name such as 'gpt2' or 'distilgpt2', or "
    "'owner/name' (letters, digits, '-', '_' and '.'). This box only asks the hub: to use the "
    "model that ships with the app, choose the bundled model."
)


class ProductionModelError(ValidationError):
    """A model source that cannot be used, with what happened and what to do instead."""


# -- where a model comes from -----------------------------------------------------------------
def _offline() -> bool:
    if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in _TRUE:
        return True
    if os.environ.get("TRANSFORMERS_OFFLINE", "").strip().lower() in _TRUE:
        return True
    try:
        from huggingface_hub import constants

        return bool(constants.HF_HUB_OFFLINE)
    except Exception:  # pragma: no cover - hub package layout changed
        return False


def _hub_reachable(timeout: float = HUB_PROBE_TIMEOUT_S) -> bool:
    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co")
    parsed = urlparse(endpoint)
    host = parsed.hostname or "huggingface.co"
    port = parsed.port or (443 if parsed.scheme != "http" else 80)
    # getaddrinfo ignores socket timeouts, so resolve the name in a worker thread with a deadline.
    pool = ThreadPoolExecutor(max_workers=1)
    try:
        addresses = pool.submit(socket.getaddrinfo, host, port, 0, socket.SOCK_STREAM).result(
            timeout=timeout
        )
        family, kind, proto, _, address = addresses[0]
        with socket.socket(family, kind, proto) as sock:
            sock.settimeout(timeout)
            sock.connect(address)
        return True
    except (OSError, FutureTimeout, IndexError):
        return False
    finally:
        pool.shutdown(wait=False)


def _valid_hub_id(source: str) -> bool:
    if not _HUB_ID.fullmatch(source) or ".." in source or "--" in source:
        return False
    if source.endswith((".", "-", ".git")):
        return False
    try:
        from huggingface_hub.utils import HFValidationError, validate_repo_id
    except ImportError:  # pragma: no cover - hub package layout changed
        return True
    try:
        validate_repo_id(source)
    except HFValidationError:
        return False
    return True


def _cached_config(repo_id: str) -> Path | None:
    """The hub cache's copy of ``repo_id``'s config.json (a file in the cache), if any."""
    try:
        from huggingface_hub import try_to_load_from_cache

        hit = try_to_load_from_cache(repo_id, "config.json")
    except Exception:  # a malformed cache: treat as not cached
        return None
    return Path(hit) if isinstance(hit, str) and os.path.isfile(hit) else None


def _hub_error(repo_id: str, err: Exception) -> ProductionModelError:
    kind = type(err).__name__
    if kind in {"RepositoryNotFoundError", "GatedRepoError"}:
        return ProductionModelError(
            f"The Hugging Face hub has no public model called '{repo_id}' (or it needs a login). "
            f"Check the spelling, e.g. 'gpt2' or 'distilgpt2', or choose the bundled model."
        )
    if kind in {"EntryNotFoundError", "RemoteEntryNotFoundError"}:
        return ProductionModelError(
            f"'{repo_id}' on the hub has no config.json: it is not a transformers model. Try "
            f"'gpt2' or 'distilgpt2', or choose the bundled model."
        )
    return ProductionModelError(
        f"Could not download '{repo_id}' from the Hugging Face hub ({kind}). Try again in a "
        f"minute, or choose the bundled model, which works offline."
    )


def _hub_dir(repo_id: str, max_parameters: int) -> tuple[Path, str]:
    """Resolve a hub id to a folder inside the Hugging Face cache (downloading when online).

    The id is never interpreted as a path: from_pretrained(id) would load a folder of that
    name relative to the working directory, so the model is loaded from the cache folder that
    huggingface_hub returns instead. The config is read (and checked) before any weights.
    """
    name = f"'{repo_id}'"
    config_file = _cached_config(repo_id)
    if config_file is None:
        if _offline():
            raise ProductionModelError(
                f"{name} is not in the local Hugging Face cache and the hub is switched off "
                f"(HF_HUB_OFFLINE is set), so it cannot be downloaded. The bundled model works "
                f"offline: choose the bundled model."
            )
        if not _hub_reachable():
            raise ProductionModelError(
                f"Could not reach the Hugging Face hub within {HUB_PROBE_TIMEOUT_S:.0f} seconds, "
                f"and {name} is not in the local cache. You seem to be offline. The bundled "
                f"model works offline: choose the bundled model."
            )
        from huggingface_hub import hf_hub_download

        try:
            config_file = Path(hf_hub_download(repo_id, "config.json"))
        except Exception as err:
            raise _hub_error(repo_id, err) from err
    _check_config(_read_config(config_file, name), name, max_parameters)
    folder = config_file.parent
    if not _has_weights_and_tokenizer(folder):
        if _offline():
            raise ProductionModelError(
                f"Only part of {name} is in the local Hugging Face cache and the hub is switched "
                f"off (HF_HUB_OFFLINE is set). Choose the bundled model, which works offline."
            )
        from huggingface_hub import snapshot_download

        try:
            folder = Path(snapshot_download(repo_id, allow_patterns=_HUB_FILES))
        except Exception as err:
            raise _hub_error(repo_id, err) from err
        if not any(folder.glob("model*.safetensors")):
            raise ProductionModelError(
                f"{name} has no safetensors weights on the hub; this app loads only "
                f"model.safetensors (pickled .bin files can run code). Try 'gpt2' or "
                f"'distilgpt2', or choose the bundled model."
            )
    return folder, f"{name} (from the Hugging Face hub)"


def _has_weights_and_tokenizer(folder: Path) -> bool:
    has_weights = any(folder.glob("model*.safetensors"))
    return has_weights and _has_tokenizer(folder)


def _has_tokenizer(folder: Path) -> bool:
    return (folder / "tokenizer.json").is_file() or (
        (folder / "vocab.json").is_file() and (folder / "merges.txt").is_file()
    )


def _local_dir(source: str) -> tuple[Path, str]:
    """A folder on this machine (the caller has decided the learner may use one)."""
    path = Path(source).expanduser()
    if not path.is_dir():
        raise ProductionModelError(f"There is no folder at {source}. Check the path.")
    if not (path / "config.json").is_file():
        raise ProductionModelError(
            f"{source} is a folder but has no config.json: it is not a model saved in Hugging "
            f"Face format (save_pretrained)."
        )
    if not _has_tokenizer(path):
        raise ProductionModelError(
            f"{source} has a model but no tokenizer (tokenizer.json, or vocab.json and "
            f"merges.txt): save the tokenizer next to the model with save_pretrained."
        )
    return path.resolve(), f"the model in {source}"


def _read_config(config_file: Path, name: str) -> dict[str, Any]:
    try:
        config = json.loads(config_file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise ProductionModelError(
            f"Could not read the configuration of {name}: it is not "
            f"valid JSON. Choose another model."
        ) from err
    if not isinstance(config, dict):
        raise ProductionModelError(
            f"The configuration of {name} is not a JSON object. Choose another model."
        )
    return config


def parameter_count(config: Any) -> int:
    """Parameters of a GPT-2 LM with this config (a ``GPT2Config`` or its dict), without
    building it. Tied unembedding counted once; ``n_inner`` None means 4 × n_embd.

    Per block: two LayerNorms (2 × 2d), attention (d × 3d + 3d, d × d + d), MLP
    (d × inner + inner, inner × d + d); plus W_E (vocab × d), W_pos (positions × d), ln_f (2d).
    """
    get = (
        config.get
        if isinstance(config, dict)
        else (lambda k, default=None: getattr(config, k, default))
    )
    d, vocab = int(get("n_embd")), int(get("vocab_size"))
    positions, layers = int(get("n_positions")), int(get("n_layer"))
    inner = int(get("n_inner") or 4 * d)
    block = 4 * d + (3 * d * d + 3 * d) + (d * d + d) + (d * inner + inner) + (inner * d + d)
    if get("add_cross_attention", False):
        block += 2 * d + (2 * d * d + 2 * d) + (d * d + d) + (d * d + d)
    total = vocab * d + positions * d + layers * block + 2 * d
    if not get("tie_word_embeddings", True):
        total += vocab * d
    return total


def _check_config(config: dict[str, Any], name: str, max_parameters: int | None) -> None:
    model_type = config.get("model_type", "unknown")
    if model_type != "gpt2":
        raise ProductionModelError(
            f"{name[0].upper() + name[1:]} is a '{model_type}' model; this page maps GPT-2-family "
            f"models only (model_type 'gpt2', e.g. 'gpt2' or 'distilgpt2'). Choose one of those or "
            f"the bundled model."
        )
    try:
        n = parameter_count(config)
    except (TypeError, ValueError) as err:
        raise ProductionModelError(
            f"The configuration of {name} lacks GPT-2's sizes (n_embd, "
            f"n_layer, n_positions, vocab_size). Choose another "
            f"model."
        ) from err
    if max_parameters is not None and n > max_parameters:
        raise ProductionModelError(
            f"{name[0].upper() + name[1:]} has {n:,} parameters (about "
            f"{n * _BYTES_PER_PARAMETER / 1e9:.1f} GB in float32); this app loads models up to "
            f"{max_parameters:,} parameters so that it fits a small server (GPT-2 small, 124M, "
            f"about 0.5 GB, is the largest). Choose 'gpt2' or 'distilgpt2', or the bundled model."
        )


def load_production_model(
    source: str = BUNDLED,
    *,
    folder: bool = False,
    allow_local_folders: bool = False,
    max_parameters: int | None = MAX_PARAMETERS,
):
    """``(model, tokenizer)``: a GPT-2-family causal LM in eval mode (float32, eager attention,
    so attention weights are returned) and its tokenizer.

    ``source`` is ``"bundled"`` or a hub id; with ``folder=True`` it is a path on this machine,
    refused unless ``allow_local_folders`` (the caller decides whether the learner is local).
    Hub models over ``max_parameters`` (counted from the config) are refused before loading.
    Every failure is a :class:`ProductionModelError` whose message says what to do.
    """
    if not isinstance(source, str) or not source.strip():
        raise ProductionModelError(
            "Choose a model source: the bundled model, or a Hugging Face id such as 'gpt2'."
        )
    source = source.strip()
    if len(source) > 500:
        raise ProductionModelError(
            "That model source is too long (over 500 characters). A hub "
            "id looks like 'gpt2' or 'owner/name'."
        )
    if folder:
        if not allow_local_folders:
            raise ProductionModelError(
                "Loading a model from a folder works only when the app runs on your own "
                "computer (streamlit run app.py, opened at localhost). Here, choose the bundled "
                "model or a Hugging Face hub id."
            )
        target, name = _local_dir(source)
        _check_config(_read_config(target / "config.json", name), name, None)
    elif source == BUNDLED:
        if not (BUNDLED_DIR / "config.json").is_file():
            raise ProductionModelError(
                "The bundled model's files are missing. Reinstall the app from a complete copy "
                "of the repository."
            )
        target, name = BUNDLED_DIR, "the bundled model"
    else:
        if not _valid_hub_id(source):
            raise ProductionModelError(_NOT_A_HUB_ID)
        target, name = _hub_dir(source, max_parameters)
    return _load_dir(target, name)


def _load_dir(target: Path, name: str):
    """Load model and tokenizer from a resolved folder (never a hub id: nothing is fetched)."""
    from transformers import AutoConfig, AutoTokenizer, GPT2LMHeadModel

    try:
        config = AutoConfig.from_pretrained(target, local_files_only=True)
        model = GPT2LMHeadModel.from_pretrained(
            target,
            config=config,
            local_files_only=True,
            dtype=torch.float32,
            attn_implementation="eager",
        )
        tokenizer = AutoTokenizer.from_pretrained(target, local_files_only=True)
    except Exception as err:  # any failure inside transformers: one actionable message
        raise ProductionModelError(
            f"Could not load {name}: {_short(err)} Choose another model, or the bundled one."
        ) from err
    model.eval()
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:  # before the tokenizer is shared: plain encoding, nothing cut
        backend.no_truncation()
        backend.no_padding()
    return model, tokenizer


def _short(err: Exception) -> str:
    text = " ".join(str(err).split()) or type(err).__name__
    text = text if len(text) <= 300 else text[:297] + "…"
    return text if text.endswith((".", "…")) else text + "."


# -- the mapping ---------------------------------------------------------------------------------
def _resolved_inner(config) -> int:
    return config.n_inner if config.n_inner is not None else 4 * config.n_embd


def _tied(model) -> bool:
    return model.lm_head.weight is model.transformer.wte.weight


def architecture_summary(model) -> dict[str, Any]:
    """Side by side: the production model's architecture and the interpretable model of the same
    dimensions. ``n_inner`` None in GPT-2's config means 4 × n_embd."""
    cfg = model.config
    n_inner = _resolved_inner(cfg)
    dims = {
        "n_layer": cfg.n_layer,
        "n_head": cfg.n_head,
        "n_embd": cfg.n_embd,
        "d_head": cfg.n_embd // cfg.n_head,
    }
    production = {
        **dims,
        "n_inner": n_inner,
        "mlp_ratio": n_inner / cfg.n_embd,
        "vocab_size": cfg.vocab_size,
        "context_length": cfg.n_positions,
        "normalization": f"LayerNorm before each attention and MLP block and at the end "
        f"(eps {cfg.layer_norm_epsilon:g})",
        "position_encoding": "learned (W_pos is trained)",
        "mlp": f"yes: {cfg.n_embd} → {n_inner} → {cfg.n_embd}, {cfg.activation_function}",
        "tied_embeddings": (
            "yes: W_U is W_E, the same [vocab, d_model] matrix; logits = x · W_Uᵀ"
            if _tied(model)
            else "no: a separate W_U [vocab, d_model]"
        ),
    }
    interpretable = {
        **dims,
        "n_inner": None,
        "mlp_ratio": 0.0,
        "vocab_size": cfg.vocab_size,
        "context_length": cfg.n_positions,
        "normalization": "none (so, with the attention patterns fixed, every path is linear)",
        "position_encoding": "fixed sinusoids",
        "mlp": "none (attention-only)",
        "tied_embeddings": "no: a separate W_U [vocab, d_model]; logits = x · W_Uᵀ",
    }
    rows = [
        {"property": k, "production": production[k], "interpretable": interpretable[k]}
        for k in production
    ]
    return {
        "production": production,
        "interpretable": interpretable,
        "rows": rows,
        "n_inner_in_config": cfg.n_inner,
    }


def parameter_breakdown(model) -> dict[str, Any]:
    """Parameters by component for the production model and the interpretable model of the same
    dimensions, and their ratio. Tied weights are counted once (under token embeddings).
    ``shares``: each component's fraction of the production total."""
    counts = {
        "token embeddings": 0,
        "positions": 0,
        "attention": 0,
        "MLP": 0,
        "LayerNorm": 0,
        "unembedding": 0,
    }
    seen: set[int] = set()
    for name, p in model.named_parameters(remove_duplicate=False):
        if id(p) in seen:  # a tied weight is one Parameter under two names
            continue
        seen.add(id(p))
        if name.endswith("wte.weight"):
            key = "token embeddings"
        elif name.endswith("wpe.weight"):
            key = "positions"
        elif ".attn." in name or ".crossattention." in name:
            key = "attention"
        elif ".mlp." in name:
            key = "MLP"
        elif ".ln_" in name or "ln_f" in name:
            key = "LayerNorm"
        elif name.startswith("lm_head"):
            key = "unembedding"
        else:  # pragma: no cover - an unexpected GPT-2 variant
            key = "other"
            counts.setdefault(key, 0)
        counts[key] += p.numel()
    cfg = model.config
    d, v, L = cfg.n_embd, cfg.vocab_size, cfg.n_layer
    interpretable = {
        "token embeddings": v * d,
        "positions": 0,
        "attention": L * 4 * d * d,
        "MLP": 0,
        "LayerNorm": 0,
        "unembedding": v * d,
    }
    tied = counts["unembedding"] == 0
    notes = {
        "token embeddings": "W_E [vocab, d_model], the same in both",
        "positions": "learned in GPT-2; fixed sinusoids (no parameters) in the lesson's model",
        "attention": "GPT-2 adds biases to W_Q, W_K, W_V and W_O",
        "MLP": "GPT-2 only: two matrices of n_embd × n_inner per layer, plus biases",
        "LayerNorm": "GPT-2 only: a scale and a bias per LayerNorm",
        "unembedding": (
            "W_U is W_E in GPT-2 (tied: no extra parameters)" if tied else "a separate W_U"
        )
        + "; a separate W_U in the lesson's model",
    }
    total_p, total_i = sum(counts.values()), sum(interpretable.values())
    rows = [
        {
            "component": k,
            "production": counts[k],
            "share": counts[k] / total_p,
            "interpretable": interpretable.get(k, 0),
            "note": notes.get(k, ""),
        }
        for k in counts
    ]
    return {
        "rows": rows,
        "production_total": total_p,
        "interpretable_total": total_i,
        "ratio": total_p / total_i if total_i else float("nan"),
        "tied": tied,
        "shares": {k: c / total_p for k, c in counts.items()},
    }


# -- one sentence through the model ------------------------------------------------------------
def _encode(tokenizer, text: str) -> list[int]:
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:  # a read: the Rust tokenizer's encode does not change its settings
        return list(backend.encode(text, add_special_tokens=False).ids)
    return list(tokenizer.encode(text, add_special_tokens=False))


def _decode(tokenizer, ids: list[int]) -> str:
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:
        return backend.decode(ids, skip_special_tokens=False)
    return tokenizer.decode(ids)


def _check_text(text: Any, tokenizer, max_tokens: int) -> list[int]:
    if not isinstance(text, str) or not text.strip():
        raise ValidationError("Type a sentence (at least one word).")
    if len(text) > MAX_TEXT_CHARS:
        raise ValidationError(
            f"The text is {len(text):,} characters long; the limit is "
            f"{MAX_TEXT_CHARS:,}. Shorten it."
        )
    ids = _encode(tokenizer, text)
    if not ids:
        raise ValidationError("The tokenizer found no tokens in that text. Type a few words.")
    if len(ids) > max_tokens:
        raise ValidationError(
            f"The text splits into {len(ids)} tokens; the limit here is {max_tokens}. Shorten it."
        )
    return ids


def _check_model(model) -> None:
    if model.training:
        raise ValidationError(
            "The model is in training mode (dropout on); load it with "
            "load_production_model, which puts it in eval mode."
        )
    if getattr(model.config, "_attn_implementation", "eager") != "eager":
        raise ValidationError(
            "The model does not use eager attention, so its attention weights "
            "are not available; load it with load_production_model."
        )


def _causal_mask(seq: int, dtype: torch.dtype) -> torch.Tensor:
    """Additive mask ``[1, 1, query, key]``: 0 where key ≤ query, the dtype's minimum above."""
    future = torch.triu(torch.ones(seq, seq, dtype=torch.bool), diagonal=1)
    mask = torch.zeros(seq, seq, dtype=dtype).masked_fill(future, torch.finfo(dtype).min)
    return mask[None, None]


def _np(x: torch.Tensor) -> np.ndarray:
    return x.detach().to(torch.float64).cpu().numpy().copy()


def direct_logit_attribution(
    components: np.ndarray,
    names: tuple[str, ...],
    gamma: np.ndarray,
    beta: np.ndarray,
    eps: float,
    w_u_row: np.ndarray,
    logit: float,
    position: int = -1,
    unembed_bias: float = 0.0,
) -> dict[str, Any]:
    """Direct logit attribution of one token's logit, exact once ln_f's scale is frozen.

    ``components [n, seq, d_model]`` sum to the final stream x (before ln_f). With σ = ln_f's
    actual std of x at ``position`` (√(var + eps), biased variance), ln_f(x) = Σ_c (c − mean c)
    / σ · γ + β because centring is linear, so

        logit_t = Σ_c ((c − mean c) / σ · γ) · W_U[t] + β · W_U[t] (+ the unembedding's bias).

    Returns plain data: ``components`` (the names, then "final LayerNorm bias β"),
    ``contributions`` (same order, float64), ``sigma``, ``logit`` (the model's own),
    ``total`` (their sum) and ``sum_error`` = |total − logit|.
    """
    c = np.asarray(components, dtype=np.float64)[:, position]  # [n, d_model]
    x = c.sum(axis=0)
    sigma = float(np.sqrt(x.var() + eps))
    centred = c - c.mean(axis=-1, keepdims=True)
    # What ln_f makes of each part (scale frozen), then β: the parts of ln_f(x), read along W_U[t].
    parts = np.concatenate(
        [
            (centred / sigma) * np.asarray(gamma, dtype=np.float64),
            np.asarray(beta, dtype=np.float64)[None],
        ]
    )
    attributed = attribute(parts, list(names) + ["final LayerNorm bias β"], w_u_row)
    names_out, values = attributed["names"], attributed["values"]
    if unembed_bias:
        names_out.append("unembedding bias")
        values.append(float(unembed_bias))
    total = float(np.sum(values))
    return {
        "components": names_out,
        "contributions": values,
        "sigma": sigma,
        "logit": float(logit),
        "total": total,
        "sum_error": abs(total - float(logit)),
    }


def trace_gpt2(model, tokenizer, text: str, max_tokens: int = DEFAULT_MAX_TOKENS) -> Trace:
    """One sentence through a GPT-2-family model, as a :class:`~core.trace.Trace` (numpy only).

    The blocks are walked by hand with pure reads of the model (no hooks, no settings changed,
    so one model can serve every session at once):

        x0 = W_E[ids] + W_pos[positions]
        for each block:  a = attn(ln_1(x), explicit causal mask);  x = x + a
                         m = mlp(ln_2(x));                         x = x + m
        logits = lm_head(ln_f(x))

    Components "embeddings", "attention 0", "MLP 0", … (model order) sum to ``streams[-1]``,
    the stream *before* ln_f. ``extras``: ``top_texts`` (decoded top-k per position),
    ``final_after_ln_norms`` ``[seq]``, ``dla`` (:func:`direct_logit_attribution` of the
    predicted token at the last position, with ``token_id``, ``token``, ``position``).
    """
    _check_model(model)
    ids = _check_text(text, tokenizer, min(max_tokens, model.config.n_positions))
    tr = model.transformer
    with torch.no_grad():  # thread-local: around this call only
        input_ids = torch.tensor([ids])
        positions = torch.arange(len(ids))[None]
        token_part = tr.wte(input_ids)  # [1, seq, d_model]
        position_part = tr.wpe(positions)
        x = token_part + position_part
        dtype = x.dtype
        mask = _causal_mask(len(ids), dtype)
        streams, names, components, attention = [x], ["embeddings"], [x], []
        for l, block in enumerate(tr.h):
            a, weights = block.attn(block.ln_1(x), attention_mask=mask)
            if weights is None:  # pragma: no cover - guarded by _check_model
                raise ValidationError("The model returned no attention weights.")
            x = x + a
            m = block.mlp(block.ln_2(x))
            x = x + m
            names += [f"attention {l}", f"MLP {l}"]
            components += [a, m]
            attention.append(weights[0])
            streams.append(x)
        final_ln = tr.ln_f(x)
        logits = model.lm_head(final_ln)[0]  # [seq, vocab]
        top_ids, top_probs = top_k_from_logits(logits, TOP_K)
        predicted = int(top_ids[-1, 0])
        unembed_bias = getattr(model.lm_head, "bias", None)
        comps = np.stack([_np(c[0]) for c in components])
        dla = direct_logit_attribution(
            comps,
            tuple(names),
            _np(tr.ln_f.weight),
            _np(tr.ln_f.bias),
            tr.ln_f.eps,
            _np(model.lm_head.weight[predicted]),
            float(logits[-1, predicted]),
            unembed_bias=float(unembed_bias[predicted]) if unembed_bias is not None else 0.0,
        )
        final_norms = _np(torch.linalg.vector_norm(final_ln[0].double(), dim=-1))
    token_texts = tuple(_decode(tokenizer, [t]) for t in ids)
    top_texts = [[_decode(tokenizer, [int(t)]) for t in row] for row in top_ids]
    dla.update(token_id=predicted, token=top_texts[-1][0], position=len(ids) - 1)
    return Trace(
        model_kind="gpt2",
        model_name=getattr(model.config, "name_or_path", "") or "GPT-2",
        token_ids=np.asarray(ids, dtype=np.int64),
        token_part=_np(token_part[0]),
        position_part=_np(position_part[0]),
        streams=np.stack([_np(s[0]) for s in streams]),
        attention=np.stack([_np(w) for w in attention]),
        component_names=tuple(names),
        components=comps,
        top_ids=top_ids,
        top_probs=top_probs,
        token_texts=token_texts,
        extras={"top_texts": top_texts, "final_after_ln_norms": final_norms, "dla": dla},
    )


def analyze_text(
    model, tokenizer, text: str, max_tokens: int = DEFAULT_MAX_TOKENS
) -> dict[str, Any]:
    """Everything the Production page shows for one sentence, as plain data (no tensors, no
    model), computed from :func:`trace_gpt2` with the analyses of :mod:`core.trace`.

    Keys: ``ids``, ``tokens``, ``attentions`` ``[layer, head, query, key]``, ``entropy`` and
    ``previous_token`` ``[layer, head]`` with their uniform baselines ``uniform_entropy`` /
    ``uniform_previous_token``, ``stream_norms`` ``[L + 1, seq]`` (before ln_f),
    ``final_after_ln_norms``, ``similarities_to_initial``, ``cumulative_changes``,
    ``effective_ranks``, ``rank_cap``, ``preservation_initial_to_final``,
    ``total_change_initial_to_final``, ``top_predictions``, ``component_names``,
    ``induction`` ``[layer, head]`` (None without a repeated token) and ``uniform_induction``
    (:mod:`core.head_scores`, the same code as the lesson's own model),
    ``component_sum_error`` (max |Σ components − final stream|) and ``dla``.
    """
    trace = trace_gpt2(model, tokenizer, text, max_tokens)
    stats = stream_statistics(trace)
    x0, final = trace.streams[0], trace.streams[-1]
    cosine = float(x0.ravel() @ final.ravel() / (np.linalg.norm(x0) * np.linalg.norm(final)))
    return {
        "ids": [int(i) for i in trace.token_ids],
        "tokens": list(trace.token_texts or ()),
        "attentions": trace.attention,
        "entropy": attention_entropy(trace),
        "uniform_entropy": uniform_entropy(trace.seq_len),
        "previous_token": previous_token_scores(trace),
        "uniform_previous_token": uniform_previous_token(trace.seq_len),
        "induction": induction_scores(trace.attention, trace.token_ids),
        "uniform_induction": uniform_induction(trace.token_ids),
        "stream_norms": stats["stream_norms"],
        "final_after_ln_norms": trace.extras["final_after_ln_norms"],
        "similarities_to_initial": stats["persistence"]["similarities_to_initial"],
        "cumulative_changes": stats["persistence"]["cumulative_changes"],
        "effective_ranks": [s["effective_rank"] for s in stats["subspace"]],
        "rank_cap": stats["subspace"][0]["rank_cap"],
        "preservation_initial_to_final": cosine,
        "total_change_initial_to_final": float(np.linalg.norm(final - x0) / np.linalg.norm(x0)),
        "top_predictions": top_predictions(trace),
        "component_names": list(trace.component_names),
        "component_sum_error": component_sum_error(trace),
        "dla": dict(trace.extras["dla"]),
    }


#: The component map shown on the page (component, production, interpretable, what it means).
COMPONENT_MAP = (
    (
        "Token embeddings",
        "wte: W_E [vocab, d_model]",
        "W_E [vocab, d_model]",
        "Same role: a vector per token written into the stream at the start.",
    ),
    (
        "Positions",
        "wpe: learned W_pos [context, d_model]",
        "fixed sinusoidal W_pos",
        "GPT-2 learns its position vectors; the lesson uses fixed sinusoids so position costs no "
        "parameters (and needs an even d_model).",
    ),
    (
        "Attention heads",
        "c_attn / c_proj (fused W_Q, W_K, W_V; W_O; with biases)",
        "W_Q, W_K, W_V, W_O per head",
        "The heads analysed on the Architecture page: read the stream, write back QK-chosen, "
        "OV-transformed information.",
    ),
    (
        "MLP",
        "c_fc → GELU → c_proj, n_inner = 4 × d_model when n_inner is None",
        "removed (attention-only)",
        "The largest part of each block (8 · d_model² weights against attention's 4 · d_model²), "
        "yet not most of the model: 45.5 % of GPT-2 small's 124M parameters (W_E: 31 %); the "
        "table above has this model's shares. GELU is non-linear: paths through an MLP do not "
        "expand linearly.",
    ),
    (
        "LayerNorm",
        "ln_1, ln_2 before each block, ln_f at the end",
        "none",
        "Normalises (centres and rescales) only what a block or the unembedding reads: the stream stays exactly x0 + "
        "Σ attention outputs + Σ MLP outputs. Dividing by the norm stops paths through later "
        "components from expanding linearly; with ln_f's scale frozen for the input, direct logit "
        "attribution is exact (section 5).",
    ),
    (
        "Residual connections",
        "x + attn(ln_1(x)), then x + mlp(ln_2(x))",
        "the explicit residual stream x_(l+1) = x_l + Σ heads",
        "Both models are built around the stream, and in both it is a plain sum of every write.",
    ),
    (
        "Unembedding",
        "lm_head: W_U [vocab, d_model], tied: the same matrix as W_E",
        "a separate W_U [vocab, d_model]",
        "logits = x · W_Uᵀ in both. Tying saves vocab × d_model parameters; the lesson's model "
        "keeps W_U separate.",
    ),
)
