"""Questions about the live model: answer keys computed from the shipped trained models.

A bank item of type ``model_choice`` or ``model_number`` names a shipped model (``model``), a
computation (``compute``) and its parameters (``params``); the key is computed here from the
model's weights the first time it is needed (then cached), never typed into the YAML. So a
retrained model changes the key with it, and a key that would be ambiguous (two heads too close
to call) refuses to load with a message instead of grading learners on a coin toss.

Computations (what a learner can read off the Circuits and Architecture pages):

``top_head``         ``{score: previous_token | induction, layer: L}``: which head of layer L has
                     the highest score on the lesson's preset of 20 random tokens repeated
                     twice (the sidebar's "20 random tokens, repeated twice"). Options: every
                     head of the layer ("head L.h"); the best must lead the next by ≥ 0.1.
``direct_path_top``  ``{token: " United", k: 4}``: the token the direct path W_E·W_Uᵀ ranks first
                     after ``token``. Options: its k best, shown as quoted text; the first must
                     lead the second by ≥ 0.25 in logit.
``ov_rank``          ``{layer: L, head: h}``: the rank of the head's OV circuit W_O·W_V
                     (d_model × d_model), computed in float64 (a number; tolerance from the item).

The module imports torch only inside the computations, so loading a bank stays light.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.lesson import REPEAT_HALF_LENGTH, repeated_random_ids
from core.validators import ValidationError

MODELS_DIR = Path(__file__).resolve().parents[2] / "models"
SCORES = ("previous_token", "induction")
MIN_HEAD_MARGIN = 0.1
MIN_LOGIT_MARGIN = 0.25
MAX_CHOICES = 8

#: compute → (item type, {param: type})
COMPUTATIONS: dict[str, tuple[str, dict[str, type]]] = {
    "top_head": ("model_choice", {"score": str, "layer": int}),
    "direct_path_top": ("model_choice", {"token": str, "k": int}),
    "ov_rank": ("model_number", {"layer": int, "head": int}),
}


@dataclass(frozen=True)
class LiveKey:
    correct: Any  # the option text (model_choice) or the number (model_number)
    options: tuple[str, ...] = ()  # model_choice only, in a fixed order
    evidence: str = ""  # the measured numbers behind the key, in one or two sentences


def shipped_models() -> tuple[str, ...]:
    return tuple(sorted(p.parent.name for p in MODELS_DIR.glob("attn-only-*/model.safetensors")))


def _config(model: str) -> dict[str, Any]:
    if model not in shipped_models():
        raise ValidationError(
            f"there is no shipped trained model {model!r}; the shipped ones are "
            f"{', '.join(shipped_models()) or 'none'}"
        )
    return json.loads((MODELS_DIR / model / "config.json").read_text(encoding="utf-8"))


def check_spec(item_type: str, model: str, compute: str, params: Mapping[str, Any]) -> None:
    """Validate a live item's model, computation and parameters without loading any weights.
    Raises :class:`ValidationError` with a sentence naming what is wrong and what is accepted."""
    if compute not in COMPUTATIONS:
        raise ValidationError(
            f"unknown computation {compute!r}; available: {', '.join(COMPUTATIONS)}"
        )
    kind, spec = COMPUTATIONS[compute]
    if kind != item_type:
        raise ValidationError(f"the computation {compute!r} gives a {kind} item, not {item_type}")
    missing = [p for p in spec if p not in params]
    extra = [p for p in params if p not in spec]
    if missing or extra:
        raise ValidationError(
            f"{compute} takes the parameters {', '.join(spec)}"
            + (f"; missing {', '.join(missing)}" if missing else "")
            + (f"; unknown {', '.join(extra)}" if extra else "")
        )
    for name, typ in spec.items():
        value = params[name]
        if typ is int and (isinstance(value, bool) or not isinstance(value, int)):
            raise ValidationError(f"{compute}: {name} must be a whole number; got {value!r}")
        if typ is str and not isinstance(value, str):
            raise ValidationError(f"{compute}: {name} must be text; got {value!r}")
    cfg = _config(model)
    n_layer, n_head = cfg["n_layer"], cfg["n_head"]
    if "layer" in params and not 0 <= params["layer"] < n_layer:
        raise ValidationError(
            f"{compute}: layer must be 0 to {n_layer - 1} for {model}; got {params['layer']}"
        )
    if "head" in params and not 0 <= params["head"] < n_head:
        raise ValidationError(
            f"{compute}: head must be 0 to {n_head - 1} for {model}; got {params['head']}"
        )
    if compute == "top_head" and params["score"] not in SCORES:
        raise ValidationError(
            f"top_head: score must be one of {', '.join(SCORES)}; got {params['score']!r}"
        )
    if compute == "top_head" and params["score"] == "induction" and params["layer"] < 1:
        raise ValidationError("top_head: an induction head needs an earlier layer; use layer ≥ 1")
    if compute == "direct_path_top" and not 2 <= params["k"] <= MAX_CHOICES:
        raise ValidationError(f"direct_path_top: k must be 2 to {MAX_CHOICES}; got {params['k']}")


@functools.lru_cache(maxsize=4)
def _load(model: str):
    from core.model import load_trained

    return load_trained(model)


def _quoted(text: str) -> str:
    return "\u201c" + text + "\u201d"


def _top_head(model: str, score: str, layer: int) -> LiveKey:
    import numpy as np
    import torch

    from core.head_scores import induction_scores, previous_token_scores

    m, _ = _load(model)
    ids = repeated_random_ids(m.config.vocab_size, REPEAT_HALF_LENGTH, 0)
    with torch.no_grad():
        out = m.analyze(torch.tensor([ids]))
    attention = np.stack(
        [la["attention_weights"][0].double().numpy() for la in out["analysis"]["layer_analyses"]]
    )
    table = (
        previous_token_scores(attention)
        if score == "previous_token"
        else induction_scores(attention, ids)
    )
    row = table[layer]
    order = np.argsort(-row, kind="stable")
    best, second = int(order[0]), int(order[1])
    if row[best] - row[second] < MIN_HEAD_MARGIN:
        raise ValidationError(
            f"the key is ambiguous: in {model}, heads {layer}.{best} and {layer}.{second} have "
            f"{score.replace('_', '-')} scores {row[best]:.3f} and {row[second]:.3f} (less than "
            f"{MIN_HEAD_MARGIN} apart); choose another layer or score"
        )
    options = tuple(f"head {layer}.{h}" for h in range(len(row)))
    scores = ", ".join(f"{layer}.{h} {row[h]:.2f}" for h in order)
    what = "previous-token" if score == "previous_token" else "induction"
    evidence = (
        f"Computed from {model}'s weights on the preset of {REPEAT_HALF_LENGTH} random "
        f"tokens repeated twice: {what} scores of layer {layer}, highest first: {scores}."
    )
    return LiveKey(options[best], options, evidence)


def _direct_path_top(model: str, token: str, k: int) -> LiveKey:
    from core.direct_path import direct_path_top

    m, tok = _load(model)
    ids = tok.encode(token)
    if len(ids) != 1:
        raise ValidationError(
            f"direct_path_top: {token!r} is {len(ids)} tokens for the bundled "
            f"tokenizer; use text that is exactly one token"
        )
    top = direct_path_top(m, ids[0], k)
    if top[0]["logit"] - top[1]["logit"] < MIN_LOGIT_MARGIN:
        raise ValidationError(
            f"the key is ambiguous: after {token!r} the direct path's two best "
            f"tokens are less than {MIN_LOGIT_MARGIN} apart in logit"
        )
    texts = [_quoted(tok.decode([t["id"]])) for t in top]
    if len(set(texts)) != len(texts):
        raise ValidationError(
            f"direct_path_top: two of the top {k} tokens after {token!r} "
            f"look the same as text; use another token"
        )
    ranked = ", ".join(f"{t} (logit {e['logit']:.2f})" for t, e in zip(texts, top))
    evidence = (
        f"Computed from {model}'s weights: the direct path's row for {_quoted(token)} "
        f"(W_E[token]·W_Uᵀ, every head skipped) ranks {ranked}."
    )
    return LiveKey(texts[0], tuple(texts), evidence)


def _ov_rank(model: str, layer: int, head: int) -> LiveKey:
    import torch

    m, _ = _load(model)
    w = m.head_weights(layer, head)
    ov = w["W_O"].double() @ w["W_V"].double()  # float64 throughout: float32 rounding would
    # leave the "zero" singular values far above float64's tolerance
    rank = int(torch.linalg.matrix_rank(ov))
    d = ov.shape[0]
    evidence = (
        f"Computed from {model}'s weights: W_O·W_V of head {layer}.{head} is a {d} × {d} "
        f"matrix of rank {rank}; d_head = {m.config.d_head} caps it, since it factors "
        f"through the head's {m.config.d_head}-dimensional space."
    )
    return LiveKey(rank, (), evidence)


_RUN = {"top_head": _top_head, "direct_path_top": _direct_path_top, "ov_rank": _ov_rank}


@functools.lru_cache(maxsize=64)
def _key(item_type: str, model: str, compute: str, params: tuple[tuple[str, Any], ...]) -> LiveKey:
    check_spec(item_type, model, compute, dict(params))
    return _RUN[compute](model, **dict(params))


def answer_key(item: Any) -> LiveKey:
    """The key of a live item (``model_choice`` / ``model_number``), computed once and cached.
    Raises :class:`ValidationError` when the model is missing or the key would be ambiguous."""
    return _key(item.type, item.model, item.compute, tuple(sorted(item.params.items())))
