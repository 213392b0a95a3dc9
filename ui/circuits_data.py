"""Cached loaders and interpretation sentences for the "Circuits in a trained model" page.

Each loader is keyed on the model's :class:`ui.controls.ModelKey` (plus the input or the picked
head/token) and returns plain numpy / lists / dicts computed by ``core``; the shared model from
:func:`ui.controls.get_model` is only read. The ``*_sentence`` functions turn those numbers into
one sentence of interpretation, computed from the data with stated thresholds, never a canned
claim: on random weights they say that nothing stands out.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import numpy as np
import streamlit as st

from core.attribution import head_logit_attribution
from core.composition import composition_scores
from core.direct_path import (
    CorpusBigrams,
    bigram_agreement,
    direct_path_top,
    load_corpus_bigrams,
)
from core.head_scores import induction_scores, previous_token_scores, uniform_induction
from core.ov_circuit import copying_scores, ov_top
from core.positional_qk import positional_pattern
from core.trace import uniform_previous_token
from ui.charts import text_label
from ui.controls import ModelKey, get_model, get_tokenizer, get_trace

#: A head "does" a job when its score is at least this high and this many times the baseline.
JOB_MIN_SCORE = 0.3
JOB_MIN_RATIO = 3.0
#: A copying score above this counts as a copying head.
COPYING_MIN = 0.5
#: A composition counts as strong at this many times the random baseline.
COMPOSITION_STRONG = 2.0
#: How many tokens the ranked lists show.
TOP_K = 10


# -- token text ---------------------------------------------------------------------------------
@functools.lru_cache(maxsize=1)
def _tokenizer():
    """The shared tokenizer, looked up once: the pickers format hundreds of tokens per run, and
    each lookup through ``st.cache_resource`` costs more than the decoding itself."""
    return get_tokenizer()


def uses_tokenizer(key: ModelKey) -> bool:
    """Whether the model's ids are the bundled tokenizer's (then tokens can be shown as text)."""
    return key.config.vocab_size == _tokenizer().vocab_size


def token_text(key: ModelKey, token_id: int) -> str:
    """A token as text (``" the"``) where the tokenizer applies, else ``"id 123"``."""
    if uses_tokenizer(key):
        return _tokenizer().decode([int(token_id)])
    return f"id {int(token_id)}"


def shown(key: ModelKey, token_id: int) -> str:
    """A token for a sentence: quoted, spaces made visible."""
    if uses_tokenizer(key):
        return f"“{text_label(token_text(key, token_id))}”"
    return f"id {int(token_id)}"


def head_name(layer: int, head: int) -> str:
    return f"L{layer}H{head}"


# -- 1. direct path -----------------------------------------------------------------------------
@st.cache_resource(show_spinner=False)
def corpus_bigrams() -> CorpusBigrams | None:
    """The shipped WikiText-2 bigram counts (None if the file is missing)."""
    try:
        return load_corpus_bigrams()
    except ValueError:
        return None


def bigrams_for(key: ModelKey) -> CorpusBigrams | None:
    """The corpus bigrams when they are in this model's vocabulary, else None."""
    bigrams = corpus_bigrams()
    if bigrams is None or bigrams.vocab_size != key.config.vocab_size:
        return None
    return bigrams


@st.cache_data(max_entries=64, show_spinner=False)
def direct_path(key: ModelKey, token_id: int, k: int = TOP_K) -> list[dict[str, Any]]:
    """Top-k next tokens through W_E·W_Uᵀ alone: ``[{id, logit, prob, text}]``."""
    rows = direct_path_top(get_model(key), int(token_id), k)
    return [{**r, "text": token_text(key, r["id"])} for r in rows]


@st.cache_data(max_entries=64, show_spinner=False)
def corpus_successors(key: ModelKey, token_id: int, k: int = TOP_K) -> list[dict[str, Any]] | None:
    """The corpus's k most frequent successors ``[{id, count, share, text}]`` (None: no table)."""
    bigrams = bigrams_for(key)
    if bigrams is None:
        return None
    return [
        {"id": i, "count": c, "share": s, "text": token_text(key, i)}
        for i, c, s in bigrams.successors(int(token_id), k)
    ]


@st.cache_data(max_entries=8, show_spinner="Comparing the direct path with the corpus…")
def agreement(key: ModelKey) -> dict[str, Any] | None:
    """:func:`core.direct_path.bigram_agreement`, or None without a bigram table."""
    bigrams = bigrams_for(key)
    if bigrams is None:
        return None
    out = bigram_agreement(get_model(key), bigrams)
    out["unigram_text"] = token_text(key, out["unigram_token"])
    return out


def direct_path_sentence(
    key: ModelKey,
    token_id: int,
    top: Sequence[dict],
    successors: Sequence[dict] | None,
    agree: dict | None,
) -> str:
    first = top[0]
    lead = (
        f"After {shown(key, token_id)} the direct path alone predicts "
        f"{shown(key, first['id'])} first (logit {first['logit']:+.2f})"
    )
    if successors:
        corpus_ids = [s["id"] for s in successors]
        overlap = len({t["id"] for t in top} & set(corpus_ids))
        best = successors[0]
        same = first["id"] == best["id"]
        lead += (
            f"; the corpus's most frequent successor is {shown(key, best['id'])} "
            f"({best['share']:.0%} of its successors), "
            f"{'the same token' if same else 'a different token'}, and {overlap} of the "
            f"top {len(top)} appear in both lists"
        )
    if agree is not None:
        ratio = (
            agree["top1"] / agree["unigram_baseline_top1"]
            if agree["unigram_baseline_top1"] > 0
            else float("inf")
        )
        verdict = (
            "a learned bigram table"
            if agree["top1"] >= 2 * agree["unigram_baseline_top1"] and agree["top1"] >= 0.1
            else "no better than always guessing the most frequent token"
            if ratio <= 1.2
            else "somewhat better than the unigram guess"
        )
        lead += (
            f". Over {agree['n_tokens']:,} frequent tokens, its top-1 matches the corpus "
            f"{agree['top1']:.0%} of the time against {agree['unigram_baseline_top1']:.0%} "
            f"for always guessing {shown(key, agree['unigram_token'])}: {verdict}"
        )
    return lead + "."


# -- 2. previous-token and induction ------------------------------------------------------------
@st.cache_data(max_entries=16, show_spinner=False)
def head_scores(key: ModelKey, token_ids: tuple[int, ...]) -> dict[str, Any]:
    """Previous-token and induction scores ``[layer, head]`` with their uniform baselines, and
    the strongest induction head's pattern ``[query, key]`` (None without a repeated token)."""
    trace = get_trace(key, token_ids)
    prev = previous_token_scores(trace.attention)
    ind = induction_scores(trace.attention, list(token_ids))
    out: dict[str, Any] = {
        "previous": prev,
        "previous_uniform": uniform_previous_token(len(token_ids)) if len(token_ids) > 1 else None,
        "induction": ind,
        "induction_uniform": uniform_induction(list(token_ids)),
        "best_induction": None,
        "best_induction_pattern": None,
    }
    if ind is not None:
        l, h = np.unravel_index(int(np.argmax(ind)), ind.shape)
        out["best_induction"] = (int(l), int(h))
        out["best_induction_pattern"] = trace.attention[l, h].copy()
    return out


def _job(score: float, baseline: float) -> str:
    if score >= JOB_MIN_SCORE and score >= JOB_MIN_RATIO * baseline:
        return "strong"
    if score >= 1.5 * baseline and score - baseline >= 0.05:
        return "weak"
    return "none"


def previous_sentence(scores: np.ndarray, baseline: float | None) -> str:
    l, h = np.unravel_index(int(np.argmax(scores)), scores.shape)
    s = float(scores[l, h])
    if baseline is None:
        return "The input has one token: no query has a previous token to attend to."
    verdict = {
        "strong": "a previous-token head",
        "weak": "a weak preference for the previous token, not a clean previous-token head",
        "none": "too close to uniform attention to call it a previous-token head",
    }[_job(s, baseline)]
    return (
        f"Head {l}.{h} puts {s:.2f} of its attention on the previous token on average, "
        f"against {baseline:.2f} for uniform attention: {verdict}."
    )


def induction_sentence(scores: np.ndarray | None, baseline: float | None) -> str:
    if scores is None or baseline is None:
        return (
            "No token of this input occurs twice, so there is nothing for an induction "
            "head to do and no induction score: choose the preset “random tokens, "
            "repeated twice” in the sidebar."
        )
    l, h = np.unravel_index(int(np.argmax(scores)), scores.shape)
    s = float(scores[l, h])
    verdict = {
        "strong": "an induction head",
        "weak": "a weak induction preference",
        "none": ("too close to uniform attention to call it an induction head on this input"),
    }[_job(s, baseline)]
    return (
        f"Head {l}.{h} attends to the token after the earlier copy with weight {s:.2f} on "
        f"average, against {baseline:.2f} for uniform attention: {verdict}."
    )


# -- 3. OV circuit ------------------------------------------------------------------------------
@st.cache_data(max_entries=8, show_spinner="Computing every head's OV circuit…")
def copying(key: ModelKey) -> dict[str, Any]:
    out = copying_scores(get_model(key))
    return {k: out[k] for k in ("eigen_score", "positive_share", "self_top1", "self_top1_chance")}


@st.cache_data(max_entries=64, show_spinner=False)
def ov_outputs(
    key: ModelKey, layer: int, head: int, token_id: int, k: int = TOP_K
) -> list[dict[str, Any]]:
    rows = ov_top(get_model(key), int(layer), int(head), int(token_id), k)
    return [{**r, "text": token_text(key, r["id"])} for r in rows]


def copying_sentence(cop: dict[str, Any]) -> str:
    e = np.asarray(cop["eigen_score"])
    l, h = np.unravel_index(int(np.argmax(e)), e.shape)
    n = int((e > COPYING_MIN).sum())
    top1 = float(np.asarray(cop["self_top1"])[l, h])
    chance = float(cop["self_top1_chance"])
    if n == 0:
        return (
            f"No head scores above {COPYING_MIN}: the highest, {l}.{h}, has "
            f"{float(e[l, h]):+.2f} (random weights give about 0), so no head's OV circuit "
            f"copies the token it attends to."
        )
    return (
        f"{n} of {e.size} heads score above {COPYING_MIN}; the highest, {l}.{h} at "
        f"{float(e[l, h]):+.2f}, makes the attended token its own top output for "
        f"{top1:.0%} of sampled tokens (chance {chance:.2%}): a copying head."
    )


def ov_sentence(key: ModelKey, layer: int, head: int, token_id: int, rows: Sequence[dict]) -> str:
    ids = [r["id"] for r in rows]
    where = ids.index(token_id) + 1 if token_id in ids else None
    if where == 1:
        tail = "the token itself comes first: this head copies it"
    elif where is not None:
        tail = f"the token itself is number {where} of the top {len(ids)}"
    else:
        tail = f"the token itself is not in the top {len(ids)}: no copying of this token"
    return (
        f"When head {layer}.{head} attends to {shown(key, token_id)}, it raises the logit "
        f"of {shown(key, ids[0])} most ({rows[0]['logit']:+.2f}); {tail}."
    )


# -- 4. positional QK ---------------------------------------------------------------------------
@st.cache_data(max_entries=32, show_spinner=False)
def positional(key: ModelKey, head: int, n: int, layer: int = 0) -> dict[str, Any]:
    return positional_pattern(get_model(key), int(layer), int(head), int(n))


@st.cache_data(max_entries=8, show_spinner=False)
def previous_shares(key: ModelKey, n: int, layer: int = 0) -> dict[str, Any]:
    """Each layer-0 head's previous_share (and previous_attention) over ``n`` positions."""
    model = get_model(key)
    rows = [positional_pattern(model, layer, h, int(n)) for h in range(key.config.n_head)]
    return {
        "previous_share": [r["previous_share"] for r in rows],
        "previous_attention": [r["previous_attention"] for r in rows],
        "uniform_previous": rows[0]["uniform_previous"],
    }


def positional_sentence(shares: dict[str, Any], n: int) -> str:
    vals = shares["previous_share"]
    base = shares["uniform_previous"]
    h = int(np.argmax(vals))
    v = float(vals[h])
    if _job(v, base) == "strong":
        verdict = (
            "position alone makes it a previous-token head: it needs no token "
            "information to find the previous position"
        )
    elif _job(v, base) == "weak":
        verdict = "a weak positional lean towards the previous position"
    else:
        verdict = "no layer-0 head prefers the previous position by position alone"
    return (
        f"Over the first {n} positions, head 0.{h}'s positional scores peak at the previous "
        f"position for {v:.0%} of queries, against {base:.0%} for a head with no positional "
        f"preference: {verdict}."
    )


# -- 5. composition -----------------------------------------------------------------------------
@st.cache_data(max_entries=8, show_spinner="Computing Q-, K- and V-composition…")
def composition(key: ModelKey, earlier_layer: int = 0) -> dict[str, Any] | None:
    """Composition scores of ``earlier_layer`` with every later layer; None for a one-layer
    model."""
    if key.config.n_layer < 2:
        return None
    return composition_scores(get_model(key), int(earlier_layer))


def previous_head_elsewhere(scores: dict[str, Any] | None) -> str | None:
    """A note when this input's strongest previous-token head is not in layer 0 (then its
    positional part is not W_pos alone, and this section's reading does not cover it)."""
    if scores is None:
        return None
    prev = np.asarray(scores["previous"])
    layer, head = (int(i) for i in np.unravel_index(int(np.argmax(prev)), prev.shape))
    if layer == 0 or prev[layer, head] < JOB_MIN_SCORE:
        return None
    return (
        f"On this model and input the strongest previous-token head is {layer}.{head} "
        f"(score {prev[layer, head]:.2f}; best in layer 0: {prev[0].max():.2f}). It sits in "
        f"layer {layer}, whose input already holds what earlier layers wrote, so its "
        "positional part is not W_pos·QK·W_posᵀ alone: this section reads layer 0 only. "
        "Section 5 shows which later heads read what it writes."
    )


def default_earlier_layer(scores: dict[str, Any] | None, n_layer: int) -> int:
    """The layer whose heads most likely feed an induction head: the layer (before the last) of
    the strongest previous-token head on this input, else 0."""
    if scores is None or n_layer < 2:
        return 0
    prev = np.asarray(scores["previous"])[: n_layer - 1]
    return int(np.unravel_index(int(np.argmax(prev)), prev.shape)[0])


def composition_sentence(comp: dict[str, Any], scores: dict[str, Any] | None = None) -> str:
    best = None
    for kind in ("q", "k", "v"):
        s = np.asarray(comp[kind])
        ratio = s / comp["baseline"][kind]
        a, j, b = np.unravel_index(int(np.argmax(ratio)), ratio.shape)
        cand = (
            float(ratio[a, j, b]),
            kind,
            int(a),
            int(comp["later_layers"][j]),
            int(b),
            float(s[a, j, b]),
        )
        best = cand if best is None or cand[0] > best[0] else best
    ratio, kind, a, lb, b, value = best
    la = int(comp.get("earlier_layer", 0))
    base = comp["baseline"][kind]
    lead = (
        f"The strongest composition is {kind.upper()}: head {la}.{a} → head {lb}.{b} at "
        f"{value:.2f}, {ratio:.1f} × the random-matrix baseline {base:.2f}"
    )
    lead += (
        ": nothing stands far above what random matrices give."
        if ratio < COMPOSITION_STRONG
        else "."
    )
    return lead + _induction_link(comp, scores)


def _induction_link(comp: dict[str, Any], scores: dict[str, Any] | None) -> str:
    """The K-composition between this layer's strongest previous-token head and the input's
    induction head, when the input has a clear one in a later layer (else "")."""
    if scores is None or scores.get("best_induction") is None:
        return ""
    lb, b = scores["best_induction"]
    later = list(comp["later_layers"])
    ind = np.asarray(scores["induction"])
    if lb not in later or _job(float(ind[lb, b]), float(scores["induction_uniform"])) != "strong":
        return ""
    la = int(comp.get("earlier_layer", 0))
    prev = np.asarray(scores["previous"])
    a = int(np.argmax(prev[la]))
    k = float(np.asarray(comp["k"])[a, later.index(lb), b])
    base = float(comp["baseline"]["k"])
    return (
        f" The induction circuit: the keys of induction head {lb}.{b} (score "
        f"{ind[lb, b]:.2f}) read what head {la}.{a} wrote (layer {la}'s strongest "
        f"previous-token head, {prev[la, a]:.2f}) with K-composition {k:.2f}, "
        f"{k / base:.1f} × the baseline."
    )


# -- 6. direct logit attribution ----------------------------------------------------------------
@st.cache_data(max_entries=64, show_spinner=False)
def attribution(
    key: ModelKey, token_ids: tuple[int, ...], position: int, target_id: int
) -> dict[str, Any]:
    return head_logit_attribution(
        get_model(key), get_trace(key, token_ids), int(position), int(target_id)
    )


def top_prediction(key: ModelKey, token_ids: tuple[int, ...], position: int) -> int:
    """The model's most likely next token at ``position``."""
    return int(get_trace(key, token_ids).top_ids[position, 0])


def attribution_sentence(key: ModelKey, dla: dict[str, Any], position_label: str) -> str:
    names, values = dla["names"], np.asarray(dla["values"], dtype=float)
    heads = [(n, v) for n, v in zip(names, values) if n.startswith("L")]
    up = max(range(len(values)), key=lambda i: values[i])
    share = values[up] / dla["logit"] if dla["logit"] > 0 else None
    head_part = ""
    if heads and not names[up].startswith("L"):
        hn, hv = max(heads, key=lambda t: t[1])
        head_part = f"; the head that raises it most is {hn} ({hv:+.2f})"
    share_text = f", {share:.0%} of the logit" if share is not None and 0 < share <= 1.5 else ""
    return (
        f"At position {position_label} the logit of {shown(key, dla['target_id'])} is "
        f"{dla['logit']:.2f}; the largest single term is {names[up]} "
        f"({values[up]:+.2f}{share_text}){head_part}; the {len(values)} terms add up to the "
        f"logit within {dla['sum_error']:.1e}."
    )


# -- 7. ablation --------------------------------------------------------------------------------
@st.cache_data(max_entries=64, show_spinner=False)
def ablation(
    key: ModelKey, token_ids: tuple[int, ...], layer: int, head: int, mode: str
) -> dict[str, Any]:
    from core.ablation import ablate_head

    out = ablate_head(get_model(key), list(token_ids), int(layer), int(head), mode)
    return {
        k: (np.asarray(v) if k == "per_position_delta" else float(v))
        for k, v in out.items()
        if k in ("loss_before", "loss_after", "delta", "per_position_delta")
    }


@st.cache_data(max_entries=16, show_spinner="Ablating every head…")
def ablation_all(key: ModelKey, token_ids: tuple[int, ...], mode: str) -> np.ndarray:
    from core.ablation import ablation_table

    return np.asarray(ablation_table(get_model(key), list(token_ids), mode), dtype=float)


def ablation_sentence(table: np.ndarray, mode: str, loss_before: float) -> str:
    l, h = np.unravel_index(int(np.argmax(table)), table.shape)
    d = float(table[l, h])
    n_small = int((np.abs(table) < 0.02).sum())
    if d < 0.05:
        return (
            f"No head matters much on this input: {mode}-ablating any one of them raises "
            f"the loss (now {loss_before:.2f} nats) by at most {d:+.3f} nats."
        )
    return (
        f"{mode.capitalize()}-ablating head {l}.{h} hurts most: the loss rises by {d:+.2f} "
        f"nats from {loss_before:.2f}; for {n_small} of {table.size} heads the change is "
        f"below 0.02 nats."
    )
