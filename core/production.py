"""The production side of the lesson (LO3): a GPT-2-family model mapped onto the lesson's model.

``load_production_model("bundled")`` loads the small GPT-2 trained for this repository (no
network needed); a hub id such as ``"gpt2"`` loads from the local Hugging Face cache or, when
online, downloads once; a local directory in Hugging Face format loads from disk. Anything that
is not GPT-2-family is refused with a message, and an unreachable hub fails in seconds, saying
that the bundled model is available.
"""

from __future__ import annotations

import os
import re
import socket
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path
from typing import Any, Sequence
from urllib.parse import urlparse

import torch

from core.analyzers import ResidualStreamAnalyzer
from core.metrics import attention_row_entropy, layer_head_entropy
from core.validators import ValidationError, validate_tensor

__all__ = [
    "BUNDLED",
    "BUNDLED_DIR",
    "ProductionModelError",
    "load_production_model",
    "architecture_summary",
    "parameter_breakdown",
    "attention_entropy",
    "previous_token_scores",
    "analyze_text",
    "COMPONENT_MAP",
]

BUNDLED = "bundled"
BUNDLED_DIR = Path(__file__).resolve().parent.parent / "models" / "tiny-gpt2-wikitext2"
HUB_PROBE_TIMEOUT_S = 3.0
MAX_TEXT_CHARS = 2_000
DEFAULT_MAX_TOKENS = 64
_HUB_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,95}(/[A-Za-z0-9][A-Za-z0-9._-]{0,95})?")
_TRUE = {"1", "true", "yes", "on"}


class ProductionModelError(ValidationError):
    """A model source that cannot be used, with what happened and what to do instead."""


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
            timeout=timeout)
        family, kind, proto, _, address = addresses[0]
        with socket.socket(family, kind, proto) as sock:
            sock.settimeout(timeout)
            sock.connect(address)
        return True
    except (OSError, FutureTimeout, IndexError):
        return False
    finally:
        pool.shutdown(wait=False)


def _cached_on_disk(repo_id: str) -> bool:
    try:
        from huggingface_hub import try_to_load_from_cache

        hit = try_to_load_from_cache(repo_id, "config.json")
    except Exception:  # a malformed id or cache: treat as not cached
        return False
    return isinstance(hit, str) and os.path.isfile(hit)


def _resolve(source: Any) -> tuple[str, bool, str]:
    """(what to pass to from_pretrained, local_files_only, a name for messages)."""
    if not isinstance(source, str) or not source.strip():
        raise ProductionModelError(
            "Choose a model source: 'bundled', a Hugging Face id such as 'gpt2', or a local "
            "directory with a GPT-2 model."
        )
    source = source.strip()
    if len(source) > 500:
        raise ProductionModelError("That model source is too long (over 500 characters).")
    if source == BUNDLED:
        if not (BUNDLED_DIR / "config.json").is_file():
            raise ProductionModelError(
                f"The bundled model is missing from {BUNDLED_DIR}. Reinstall the app from a "
                f"complete copy of the repository."
            )
        return str(BUNDLED_DIR), True, "the bundled model"
    path = Path(source).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ProductionModelError(
                f"{source} is a folder but has no config.json: it is not a model saved in "
                f"Hugging Face format (save_pretrained)."
            )
        if not ((path / "tokenizer.json").is_file() or (
                (path / "vocab.json").is_file() and (path / "merges.txt").is_file())):
            raise ProductionModelError(
                f"{source} has a model but no tokenizer (tokenizer.json, or vocab.json and "
                f"merges.txt): save the tokenizer next to the model with save_pretrained."
            )
        return str(path), True, f"the model in {source}"
    if source.startswith((".", "/", "~")) or os.sep in source.strip("/").replace("/", "", 1):
        raise ProductionModelError(f"There is no folder at {source}.")
    if not _HUB_ID.fullmatch(source):
        raise ProductionModelError(
            f"'{source}' is neither a folder nor a valid Hugging Face model id (like 'gpt2' or "
            f"'distilgpt2' or 'owner/name')."
        )
    if _cached_on_disk(source):
        return source, True, f"'{source}' (from the local cache)"
    if _offline():
        raise ProductionModelError(
            f"'{source}' is not in the local Hugging Face cache and the hub is switched off "
            f"(HF_HUB_OFFLINE is set), so it cannot be downloaded. The bundled model works "
            f"offline: choose 'bundled'."
        )
    if not _hub_reachable():
        raise ProductionModelError(
            f"Could not reach the Hugging Face hub within {HUB_PROBE_TIMEOUT_S:.0f} seconds, and "
            f"'{source}' is not in the local cache. You seem to be offline. The bundled model "
            f"works offline: choose 'bundled'."
        )
    return source, False, f"'{source}'"


def load_production_model(source: str = BUNDLED):
    """``(model, tokenizer)``: a GPT-2-family causal LM in eval mode (float32, eager attention,
    so ``output_attentions`` works) and its tokenizer."""
    target, local_only, name = _resolve(source)  # fails fast, before transformers is imported
    from transformers import AutoConfig, AutoTokenizer, GPT2LMHeadModel

    try:
        config = AutoConfig.from_pretrained(target, local_files_only=local_only)
    except (OSError, ValueError, KeyError) as err:
        raise ProductionModelError(f"Could not read the configuration of {name}: "
                                   f"{_short(err)}") from err
    if getattr(config, "model_type", None) != "gpt2":
        raise ProductionModelError(
            f"{name[0].upper() + name[1:]} is a '{getattr(config, 'model_type', 'unknown')}' "
            f"model; this page maps GPT-2-family models only (model_type 'gpt2', e.g. 'gpt2', "
            f"'distilgpt2', 'gpt2-medium')."
        )
    try:
        model = GPT2LMHeadModel.from_pretrained(
            target, config=config, local_files_only=local_only, dtype=torch.float32,
            attn_implementation="eager")
        tokenizer = AutoTokenizer.from_pretrained(target, local_files_only=local_only)
    except (OSError, ValueError, KeyError, RuntimeError) as err:
        raise ProductionModelError(f"Could not load {name}: {_short(err)}") from err
    model.eval()
    return model, tokenizer


def _short(err: Exception) -> str:
    text = " ".join(str(err).split())
    return text if len(text) <= 300 else text[:297] + "…"


# -- the mapping ---------------------------------------------------------------------------------
def _resolved_inner(config) -> int:
    return config.n_inner if config.n_inner is not None else 4 * config.n_embd


def architecture_summary(model) -> dict[str, Any]:
    """Side by side: the production model's architecture and the interpretable model of the same
    dimensions. ``n_inner`` None in GPT-2's config means 4 × n_embd."""
    cfg = model.config
    n_inner = _resolved_inner(cfg)
    tied = bool(getattr(cfg, "tie_word_embeddings", True)) and (
        model.lm_head.weight.data_ptr() == model.transformer.wte.weight.data_ptr())
    dims = {"n_layer": cfg.n_layer, "n_head": cfg.n_head, "n_embd": cfg.n_embd,
            "d_head": cfg.n_embd // cfg.n_head}
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
        "tied_embeddings": "yes (W_U = W_Eᵀ)" if tied else "no",
    }
    interpretable = {
        **dims,
        "n_inner": None,
        "mlp_ratio": 0.0,
        "vocab_size": cfg.vocab_size,
        "context_length": cfg.n_positions,
        "normalization": "none (removed, so the stream stays a plain sum)",
        "position_encoding": "fixed sinusoids",
        "mlp": "none (attention-only)",
        "tied_embeddings": "no (separate W_U)",
    }
    rows = [{"property": k, "production": production[k], "interpretable": interpretable[k]}
            for k in production]
    return {"production": production, "interpretable": interpretable, "rows": rows,
            "n_inner_in_config": cfg.n_inner}


def parameter_breakdown(model) -> dict[str, Any]:
    """Parameters by component for the production model and the interpretable model of the same
    dimensions, and their ratio. Tied weights are counted once (under token embeddings)."""
    counts = {"token embeddings": 0, "positions": 0, "attention": 0, "MLP": 0, "LayerNorm": 0,
              "unembedding": 0}
    seen: set[int] = set()
    for name, p in model.named_parameters(remove_duplicate=False):
        if p.data_ptr() in seen:
            continue
        seen.add(p.data_ptr())
        if name.endswith("wte.weight"):
            key = "token embeddings"
        elif name.endswith("wpe.weight"):
            key = "positions"
        elif ".attn." in name:
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
    interpretable = {"token embeddings": v * d, "positions": 0, "attention": L * 4 * d * d,
                     "MLP": 0, "LayerNorm": 0, "unembedding": v * d}
    tied = counts["unembedding"] == 0
    notes = {
        "token embeddings": "W_E, the same in both",
        "positions": "learned in GPT-2; fixed sinusoids (no parameters) in the lesson's model",
        "attention": "GPT-2 adds biases to W_Q, W_K, W_V and W_O",
        "MLP": "GPT-2 only: two matrices of n_embd × n_inner per layer, plus biases",
        "LayerNorm": "GPT-2 only: a scale and a bias per LayerNorm",
        "unembedding": ("tied to W_E in GPT-2 (no extra parameters)" if tied else
                        "a separate matrix") + "; a separate W_U in the lesson's model",
    }
    rows = [{"component": k, "production": counts[k], "interpretable": interpretable.get(k, 0),
             "note": notes.get(k, "")} for k in counts]
    total_p, total_i = sum(counts.values()), sum(interpretable.values())
    return {"rows": rows, "production_total": total_p, "interpretable_total": total_i,
            "ratio": total_p / total_i if total_i else float("nan"), "tied": tied}


def attention_entropy(attentions: Sequence[torch.Tensor]) -> torch.Tensor:
    """``[n_layer, n_head]``: for each head, the entropy of every query's attention row, averaged
    over batch and query positions (not the entropy of the head-averaged pattern).

    ``attentions`` is the tuple transformers returns with ``output_attentions=True``.
    """
    if isinstance(attentions, torch.Tensor) or not isinstance(attentions, (list, tuple)):
        raise ValidationError("attentions must be the tuple of per-layer tensors "
                              "[batch, head, query, key] that transformers returns.")
    return layer_head_entropy(list(attentions))


def previous_token_scores(attentions: Sequence[torch.Tensor]) -> torch.Tensor:
    """``[n_layer, n_head]``: mean attention each head pays to the previous position (i − 1),
    over queries 1..seq−1 and the batch. Near 1 marks a previous-token head."""
    scores = []
    for i, w in enumerate(attentions):
        validate_tensor(w, f"attentions[{i}]", ndim=4)
        if w.shape[-1] < 2:
            scores.append(torch.zeros(w.shape[1], dtype=torch.float64))
            continue
        diag = torch.diagonal(w.double(), offset=-1, dim1=-2, dim2=-1)  # [b, h, seq-1]
        scores.append(diag.mean(dim=(0, 2)))
    return torch.stack(scores)


# -- one sentence ----------------------------------------------------------------------------------
_ANALYZER = ResidualStreamAnalyzer()


def _check_text(text: Any, tokenizer, max_tokens: int) -> list[int]:
    if not isinstance(text, str) or not text.strip():
        raise ValidationError("Type a sentence (at least one word).")
    if len(text) > MAX_TEXT_CHARS:
        raise ValidationError(f"The text is {len(text):,} characters long; the limit is "
                              f"{MAX_TEXT_CHARS:,}.")
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    if not ids:
        raise ValidationError("The tokenizer found no tokens in that text.")
    if len(ids) > max_tokens:
        raise ValidationError(f"The text splits into {len(ids)} tokens; the limit here is "
                              f"{max_tokens}. Shorten it.")
    return ids


@torch.no_grad()
def analyze_text(model, tokenizer, text: str, max_tokens: int = DEFAULT_MAX_TOKENS,
                 top_k: int = 5) -> dict[str, Any]:
    """Everything the Production mapping page shows for one sentence, as plain data.

    Residual streams: x0 (token + learned position embeddings) and the stream after every block,
    taken *before* the final LayerNorm (a hook on ``ln_f``), so they are the true residual
    stream; transformers' last hidden state is ``ln_f`` of it.
    """
    max_tokens = min(max_tokens, model.config.n_positions)
    ids = _check_text(text, tokenizer, max_tokens)
    input_ids = torch.tensor([ids])
    captured: dict[str, torch.Tensor] = {}
    hook = model.transformer.ln_f.register_forward_hook(
        lambda mod, args, out: captured.update(pre_ln_f=args[0].detach()))
    try:
        out = model(input_ids, output_attentions=True, output_hidden_states=True)
    finally:
        hook.remove()
    hidden = list(out.hidden_states)
    streams = hidden[:-1] + [captured["pre_ln_f"]]  # x0 .. x_L, all un-normalised
    attentions = [a.detach() for a in out.attentions]
    entropy = attention_entropy(attentions)
    prev = previous_token_scores(attentions)
    persistence = _ANALYZER.track_information_persistence(streams)
    subspace = [_ANALYZER.analyze_subspace_usage(s) for s in streams]
    evolution = _ANALYZER.analyze_evolution(streams[0], streams[-1])
    probs = torch.softmax(out.logits[0, -1].double(), dim=-1)
    top_p, top_i = probs.topk(min(top_k, probs.shape[-1]))
    tokens = [tokenizer.decode([t]) for t in ids]
    final_ln = out.hidden_states[-1][0].double()
    return {
        "ids": ids,
        "tokens": tokens,
        "attentions": torch.cat(attentions).double().numpy(),  # [layer, head, query, key]
        "entropy": entropy.numpy(),
        "row_entropy": torch.stack([attention_row_entropy(a[0]) for a in attentions]).numpy(),
        "previous_token": prev.numpy(),
        "stream_norms": torch.stack([torch.linalg.vector_norm(s[0].double(), dim=-1)
                                     for s in streams]).numpy(),
        "final_after_ln_norms": torch.linalg.vector_norm(final_ln, dim=-1).numpy(),
        "similarities_to_initial": persistence["similarities_to_initial"],
        "cumulative_changes": persistence["cumulative_changes"],
        "effective_ranks": [s["effective_rank"] for s in subspace],
        "rank_cap": subspace[0]["rank_cap"],
        "preservation_initial_to_final": float(evolution["preservation_ratio"][0]),
        "total_change_initial_to_final": evolution["total_change"],
        "top_predictions": [{"token": tokenizer.decode([int(i)]), "id": int(i),
                             "probability": float(p)} for p, i in zip(top_p, top_i)],
    }


#: The component map shown on the page (component, production, interpretable, one line).
COMPONENT_MAP = (
    ("Token embeddings", "wte: W_E [vocab, d_model]", "W_E [vocab, d_model]",
     "Same role: a vector per token written into the stream at the start."),
    ("Positions", "wpe: learned W_pos", "fixed sinusoidal W_pos",
     "GPT-2 learns its position vectors; the lesson uses fixed sinusoids so position costs no "
     "parameters and needs an even d_model."),
    ("Attention heads", "c_attn / c_proj (fused W_Q, W_K, W_V; W_O; with biases)",
     "W_Q, W_K, W_V, W_O per head",
     "The heads analysed on the Architecture page: read the stream, write back QK-chosen, "
     "OV-transformed information."),
    ("MLP", "c_fc → GELU → c_proj, n_inner = 4 × d_model when n_inner is None",
     "removed (attention-only)",
     "GPT-2's MLPs hold most of its parameters; removing them keeps the stream linear."),
    ("LayerNorm", "ln_1, ln_2 before each block, ln_f at the end",
     "removed (or folded into the weights)",
     "LayerNorm divides by the stream's norm, which is non-linear; without it every path "
     "adds up exactly."),
    ("Residual connections", "x + attn(ln_1(x)), then x + mlp(ln_2(x))",
     "the explicit residual stream x_(l+1) = x_l + Σ heads",
     "Both models are built around the stream; the lesson's model keeps every x_l."),
    ("Unembedding", "lm_head tied to wte (W_U = W_Eᵀ)", "separate W_U",
     "Tying saves vocab × d_model parameters; the lesson's model keeps W_U separate."),
)
