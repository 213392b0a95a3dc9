"""Circuits in a trained model: the direct path, previous-token and induction heads, OV copying,
positional QK, composition, direct logit attribution and ablation, on the sidebar's model.

Each section is a fragment: changing one of its pickers reruns only that section. The numbers
come from ``core`` through the cached loaders of ``ui/circuits_data.py``; the charts from
``ui/circuit_charts.py``.
"""

import streamlit as st

from core.trace import strongest_head
from ui import charts
from ui import circuit_charts as cc
from ui import circuits_data as data
from ui.controls import (
    ModelKey,
    current_settings,
    get_tokenizer,
    get_trace,
    model_sidebar,
    show_settings_error,
    token_labels,
)
from ui.layout import cached, chart_with_table, weights_note

POSITION_CHOICES = (32, 48, 64)
MODES = ("zero", "mean")
TARGET_NEXT = "The actual next token"
TARGET_TOP = "The model's top prediction"
TARGET_TYPED = "A token I type"


def _reading(text: str) -> None:
    """The one interpretation sentence of a section."""
    st.markdown(f"**Reading:** {text}")


def _token_choice(
    key: ModelKey, token_ids: tuple[int, ...], *, prefix: str, label: str
) -> int | None:
    """A token from the input (selectbox) or any token (text or id box); None if refused."""
    distinct = list(dict.fromkeys(int(t) for t in token_ids))
    left, right = st.columns(2)
    picked = left.selectbox(
        label,
        distinct,
        key=f"{prefix}_token",
        format_func=lambda t: (
            f"{data.token_text(key, t)!r} (id {t})" if data.uses_tokenizer(key) else f"id {t}"
        ),
        help="The distinct tokens of the input set in the sidebar.",
    )
    if data.uses_tokenizer(key):
        typed = right.text_input(
            "…or any token (typed text)",
            key=f"{prefix}_any",
            help="Encoded by the bundled tokenizer. A leading space matters: ' the' and 'the' "
            "are different tokens. If the text is several tokens, the first is used.",
        )
        if typed:
            ids = get_tokenizer().encode(typed)
            if not ids:
                right.warning("That text encodes to no token; using the picker's token.")
                return picked
            if len(ids) > 1:
                right.caption(
                    f"{typed!r} is {len(ids)} tokens; using the first, "
                    f"{data.token_text(key, ids[0])!r} (id {ids[0]})."
                )
            return int(ids[0])
        return picked
    typed_id = right.number_input(
        "…or any token id",
        min_value=0,
        max_value=key.config.vocab_size - 1,
        value=None,
        step=1,
        key=f"{prefix}_any_id",
        help=f"Whole number from 0 to {key.config.vocab_size - 1}; empty = use the picker.",
    )
    return picked if typed_id is None else int(typed_id)


def _head_picker(
    key: ModelKey,
    *,
    prefix: str,
    default: tuple[int, int] = (0, 0),
    layers: list[int] | None = None,
) -> tuple[int, int]:
    layers = list(range(key.config.n_layer)) if layers is None else layers
    left, right = st.columns(2)
    layer = left.selectbox(
        "Layer",
        layers,
        key=f"{prefix}_layer",
        index=layers.index(default[0]) if default[0] in layers else 0,
        help="Which layer's head to inspect.",
    )
    head = right.selectbox(
        "Head",
        list(range(key.config.n_head)),
        key=f"{prefix}_head",
        index=default[1],
        help="Which head of that layer.",
    )
    return int(layer), int(head)


# -- 1 --------------------------------------------------------------------------------------------
@st.fragment
def direct_path_section(key: ModelKey, token_ids: tuple[int, ...]) -> None:
    st.markdown(
        "With no attention at all, the model still predicts from the current token through "
        "W_E·W_Uᵀ: a **bigram table**, one row per token. Pick a token to read its row, next to "
        "the tokens that actually follow it in WikiText-2."
    )
    token_id = _token_choice(key, token_ids, prefix="circ_dp", label="Token")
    top = data.direct_path(key, token_id)
    successors = data.corpus_successors(key, token_id)
    left, right = st.columns(2)
    with left:
        chart, table = cached(
            cc.ranked_tokens_chart,
            [r["text"] for r in top],
            [r["logit"] for r in top],
            ids=[r["id"] for r in top],
            title=f"Direct path after {data.shown(key, token_id)}",
            value_title="logit",
            fmt="+.2f",
            domain=None,
            description_lead=(
                f"the {len(top)} highest direct-path logits W_E[t]·W_Uᵀ after "
                f"{data.shown(key, token_id)}, before any head adds its part:"
            ),
            subtitle=["Row t of W_E·W_Uᵀ: its top 10 logits,", "before any head adds its part."],
        )
        table["probability"] = [r["prob"] for r in top]
        chart_with_table(chart, table, table_label="direct-path top 10")
    with right:
        if successors is None:
            st.info(
                "The corpus comparison needs the bundled 4,096-token vocabulary: this "
                "model's ids are not the tokenizer's, so WikiText-2 counts cannot be "
                "matched to them. Set Vocabulary size to 4096 in the sidebar."
            )
        elif not successors:
            st.info(
                f"{data.shown(key, token_id)} never occurs as a previous token in the "
                "corpus counts: no successors to compare."
            )
        else:
            chart, table = cached(
                cc.ranked_tokens_chart,
                [s["text"] for s in successors],
                [s["share"] for s in successors],
                ids=[s["id"] for s in successors],
                value_title="share",
                title=f"WikiText-2: what follows {data.shown(key, token_id)}",
                description_lead=(
                    f"the {len(successors)} most frequent successors of "
                    f"{data.shown(key, token_id)} in the training corpus, as a "
                    "share of its occurrences, on a 0 to 1 axis:"
                ),
                subtitle=["Share of the token's occurrences;", "axis fixed at 0…1."],
            )
            table["count"] = [s["count"] for s in successors]
            chart_with_table(chart, table, table_label="corpus successors")
    agree = data.agreement(key)
    if agree is not None:
        m = st.columns(3)
        m[0].metric(
            "Top-1 agreement",
            f"{agree['top1']:.1%}",
            help=f"How often the direct path's top token is the corpus's most frequent "
            f"successor, over the {agree['n_tokens']:,} tokens seen at least "
            f"{agree['min_count']} times in the corpus.",
        )
        m[1].metric(
            "Unigram top-1",
            f"{agree['unigram_baseline_top1']:.1%}",
            help="Always guessing the corpus's most frequent token, "
            f"{data.shown(key, agree['unigram_token'])}.",
        )
        m[2].metric(
            "Top-5 overlap",
            f"{agree['top5_overlap']:.1%}",
            help="Mean share of the corpus's top 5 successors in the direct path's top 5.",
        )
    _reading(data.direct_path_sentence(key, token_id, top, successors, agree))


# -- 2 --------------------------------------------------------------------------------------------
def head_scores_section(key: ModelKey, token_ids: tuple[int, ...]) -> dict:
    scores = data.head_scores(key, token_ids)
    st.markdown(
        "A **previous-token head** attends from each token to the one just before it. An "
        "**induction head** attends from a token to whatever followed an earlier copy of it "
        "(… A B … A → B), and so can continue a repeated sequence. Both scores are averages "
        "of attention weights, so they run from 0 to 1; each chart states what uniform "
        "attention would score on this input and marks heads near that with ≈U."
    )
    chart, table = cached(
        cc.head_score_heatmap,
        scores["previous"],
        value="previous_token_score",
        title="Previous-token score per head",
        what="all attention on the previous token",
        baseline=scores["previous_uniform"],
    )
    chart_with_table(chart, table, table_label="previous-token scores")
    _reading(data.previous_sentence(scores["previous"], scores["previous_uniform"]))
    if scores["induction"] is None:
        st.info(
            "**No token repeats in this input**, so there is no induction score to "
            "compute. Choose the preset “random tokens, repeated twice” (or the sentence "
            "with a repeated name) in the sidebar and press Apply.",
            icon=":material/repeat:",
        )
    else:
        chart, table = cached(
            cc.head_score_heatmap,
            scores["induction"],
            value="induction_score",
            scheme="greens",
            title="Induction score per head",
            what="all attention on the token after the earlier copy",
            baseline=scores["induction_uniform"],
        )
        chart_with_table(chart, table, table_label="induction scores")
        _reading(data.induction_sentence(scores["induction"], scores["induction_uniform"]))
    if scores["best_induction"] is not None:
        l, h = scores["best_induction"]
        st.subheader(f"Attention pattern of the head with the highest induction score, {l}.{h}")
        st.caption(
            "On a repeated sequence the induction stripe runs parallel to the diagonal, "
            "one step right of the earlier copy: each token of the second half looks at "
            "the token that followed it in the first half."
        )
        trace = get_trace(key, token_ids)
        chart, table = cached(
            charts.attention_heatmap,
            scores["best_induction_pattern"],
            token_ids,
            l,
            h,
            token_texts=trace.token_texts,
        )
        chart_with_table(chart, table, table_label=f"attention of head {l}.{h}", hide_index=False)
    return scores


# -- 3 --------------------------------------------------------------------------------------------
def copying_section(key: ModelKey) -> dict:
    cop = data.copying(key)
    st.markdown(
        "A head's **full OV circuit** W_U·OV·W_Eᵀ (vocab × vocab) says, for each token it "
        "attends to, how much it raises every output logit. A **copying** head raises the "
        "attended token itself. The copying score sums the circuit's eigenvalues λ and divides "
        "by the sum of their sizes, **Σλ / Σ|λ|**: 1 means every eigenvalue is positive (pure "
        "copying), −1 pure suppression, and random matrices land near 0."
    )
    chart, table = cached(cc.copying_heatmap, cop["eigen_score"], self_top1=cop["self_top1"])
    chart_with_table(chart, table, table_label="copying scores")
    _reading(data.copying_sentence(cop))
    return cop


@st.fragment
def ov_top_section(key: ModelKey, token_ids: tuple[int, ...], default: tuple[int, int]) -> None:
    st.subheader("What one head writes for one token")
    layer, head = _head_picker(key, prefix="circ_ov", default=default)
    token_id = _token_choice(key, token_ids, prefix="circ_ov", label="Attended token")
    rows = data.ov_outputs(key, layer, head, token_id)
    chart, table = cached(
        cc.ranked_tokens_chart,
        [r["text"] for r in rows],
        [r["logit"] for r in rows],
        ids=[r["id"] for r in rows],
        value_title="logit_effect",
        fmt="+.2f",
        domain=None,
        title=f"Head {layer}.{head} attending to {data.shown(key, token_id)}: top outputs",
        description_lead=(
            f"the {len(rows)} output tokens whose logits head {layer}.{head} "
            f"raises most when it attends to {data.shown(key, token_id)} "
            "(column of W_U·OV·W_Eᵀ):"
        ),
        subtitle=["Direct effect on each logit (column of W_U·OV·W_Eᵀ), highest first."],
    )
    chart_with_table(chart, table, table_label=f"OV outputs of head {layer}.{head}")
    _reading(data.ov_sentence(key, layer, head, token_id, rows))


# -- 4 --------------------------------------------------------------------------------------------
@st.fragment
def positional_section(key: ModelKey, scores: dict | None = None) -> None:
    st.markdown(
        "A layer-0 head reads x0 = W_E[token] + W_pos[position], so part of its score, "
        "**W_pos·QK·W_posᵀ / √d_head**, depends on the positions only. Its softmax is where "
        "the head would look if the tokens carried no information: a previous-token head "
        "built from position alone shows a stripe just below the diagonal."
    )
    choices = [n for n in POSITION_CHOICES if n <= key.config.n_positions] or [
        key.config.n_positions
    ]
    if len(choices) > 1:
        n = st.select_slider(
            "Positions shown",
            choices,
            value=choices[0],
            key="circ_pos_n",
            help="The first n positions of the pattern.",
        )
    else:
        n = choices[0]
        st.caption(f"This model has {n} positions: all of them are shown.")
    shares = data.previous_shares(key, n)
    prev = list(shares["previous_share"])
    best = prev.index(max(prev))
    head = st.selectbox(
        "Layer-0 head",
        list(range(key.config.n_head)),
        index=best,
        key="circ_pos_head",
        help="Which head of layer 0 to draw.",
    )
    pat = data.positional(key, head, n)
    chart, table = cached(cc.positional_pattern_heatmap, pat["pattern"], 0, head)
    chart_with_table(chart, table, table_label=f"positional pattern of head 0.{head}")
    chart, table = cached(
        cc.previous_share_chart, shares["previous_share"], shares["uniform_previous"]
    )
    table["previous_attention"] = shares["previous_attention"]
    chart_with_table(chart, table, table_label="previous share of each layer-0 head")
    st.caption(
        "Previous share: the fraction of queries i ≥ 1 whose highest positional score "
        "is at key i − 1. A head with no positional preference would hit it by chance "
        "with probability 1/(i + 1), averaged here."
    )
    _reading(data.positional_sentence(shares, n))
    note = data.previous_head_elsewhere(scores)
    if note:
        st.info(note, icon="ℹ️")


# -- 5 --------------------------------------------------------------------------------------------
@st.fragment
def composition_section(key: ModelKey, scores: dict) -> None:
    st.markdown(
        "A later head B can read what an earlier head A wrote through its **queries** "
        "(Q-composition), its **keys** (K) or its **values** (V). Each score is "
        "‖reader · OV_A‖ / (‖reader‖‖OV_A‖), between 0 and 1, where the reader is QK_Bᵀ, QK_B "
        "or OV_B. Even random matrices score well above 0, so each chart states that baseline "
        "and marks pairs near it with ≈B. An induction head's keys (K) read what a "
        "previous-token head wrote."
    )
    if key.config.n_layer < 2:
        st.info("This model has one layer: there is no later head to compose with.")
        return
    layers = list(range(key.config.n_layer - 1))
    default = data.default_earlier_layer(scores, key.config.n_layer)
    earlier = st.selectbox(
        "Earlier (writing) layer",
        layers,
        index=layers.index(default),
        key="circ_comp_layer",
        help="Whose heads write (rows); the columns are the heads of every later layer. It "
        "starts at the layer of this input's strongest previous-token head.",
    )
    comp = data.composition(key, earlier)
    for kind in ("q", "k", "v"):
        chart, table = cached(
            cc.composition_heatmap,
            comp[kind],
            kind,
            comp["baseline"][kind],
            comp["later_layers"],
            earlier_layer=earlier,
        )
        chart_with_table(chart, table, table_label=f"{kind.upper()}-composition")
    _reading(data.composition_sentence(comp, scores))


# -- 6 --------------------------------------------------------------------------------------------
@st.fragment
def attribution_section(key: ModelKey, token_ids: tuple[int, ...]) -> None:
    st.markdown(
        "The final stream is exactly token embedding + position embedding + every head's "
        "output, and the logit of a token t is that stream · W_U[t]. So the logit splits "
        "exactly into one term per part: each part's **direct** effect. (A layer-0 head also "
        "acts through the later heads that read it; section 7's ablation measures that total "
        "effect.)"
    )
    labels = token_labels(key, token_ids)
    seq = len(token_ids)
    left, right = st.columns(2)
    position = left.selectbox(
        "Position",
        list(range(seq)),
        index=max(0, seq - 2),
        format_func=lambda i: labels[i],
        key="circ_dla_position",
        help="The position whose next-token logit is split.",
    )
    options = (
        [TARGET_NEXT, TARGET_TOP, TARGET_TYPED]
        if position < seq - 1
        else [TARGET_TOP, TARGET_TYPED]
    )
    choice = right.radio(
        "Target token",
        options,
        key=f"circ_dla_target_{position == seq - 1}",
        help="Which token's logit to split. At the last position there is no actual next token.",
    )
    if choice == TARGET_NEXT:
        target = int(token_ids[position + 1])
    elif choice == TARGET_TOP:
        target = data.top_prediction(key, token_ids, position)
    else:
        target = _typed_target(key, right)
        if target is None:
            target = data.top_prediction(key, token_ids, position)
    dla = data.attribution(key, token_ids, position, target)
    m = st.columns(3)
    m[0].metric(f"Logit of {data.shown(key, target)}", f"{dla['logit']:.4f}")
    m[1].metric("Sum of the terms", f"{dla['total']:.4f}")
    m[2].metric(
        "Sum error",
        f"{dla['sum_error']:.1e}",
        help="|Σ terms − logit|: float64 rounding only, the identity is exact "
        "(the tests check ≤ 1e-4).",
    )
    chart, table = cached(
        charts.logit_attribution_chart,
        dla["names"],
        dla["values"],
        data.token_text(key, target),
        dla["logit"],
        dla["sum_error"],
    )
    chart_with_table(chart, table, table_label="direct logit attribution")
    _reading(data.attribution_sentence(key, dla, labels[position]))


def _typed_target(key: ModelKey, where) -> int | None:
    if data.uses_tokenizer(key):
        typed = where.text_input(
            "Target token (typed text)",
            key="circ_dla_any",
            help="Encoded by the bundled tokenizer; the first token is used.",
        )
        ids = get_tokenizer().encode(typed) if typed else []
        if not ids:
            where.caption("Type a token; until then the model's top prediction is used.")
            return None
        return int(ids[0])
    typed_id = where.number_input(
        "Target token id",
        min_value=0,
        max_value=key.config.vocab_size - 1,
        value=None,
        step=1,
        key="circ_dla_any_id",
    )
    return None if typed_id is None else int(typed_id)


# -- 7 --------------------------------------------------------------------------------------------
@st.fragment
def ablation_section(key: ModelKey, token_ids: tuple[int, ...], default: tuple[int, int]) -> None:
    st.markdown(
        "Remove one head and rerun the model: **zero** ablation replaces its output with 0, "
        "**mean** ablation with its average output over the input's positions (keeping the "
        "constant part it writes). The change in the next-token loss on this input is the "
        "head's **total** effect, through every later head too."
    )
    if len(token_ids) < 2:
        st.info("The input needs at least two tokens for a next-token loss.")
        return
    layer, head = _head_picker(key, prefix="circ_abl", default=default)
    mode = st.radio(
        "Ablation",
        MODES,
        horizontal=True,
        key="circ_abl_mode",
        format_func=lambda m: f"{m} ablation",
        help="zero: the head writes nothing; mean: it writes its mean output.",
    )
    result = data.ablation(key, token_ids, layer, head, mode)
    m = st.columns(3)
    m[0].metric("Loss before (nats)", f"{result['loss_before']:.4f}")
    m[1].metric(f"Loss with head {layer}.{head} {mode}-ablated", f"{result['loss_after']:.4f}")
    m[2].metric("Change in loss (nats)", f"{result['delta']:+.4f}")
    labels = token_labels(key, token_ids)[:-1]
    chart, table = cached(
        cc.per_position_delta_chart, result["per_position_delta"], labels, layer, head, mode
    )
    chart_with_table(chart, table, table_label=f"per-position loss change, head {layer}.{head}")
    all_heads = data.ablation_all(key, token_ids, mode)
    chart, table = cached(cc.ablation_heatmap, all_heads, mode)
    chart_with_table(chart, table, table_label=f"loss change of every head, {mode} ablation")
    _reading(data.ablation_sentence(all_heads, mode, result["loss_before"]))


# -- the page -------------------------------------------------------------------------------------
def render() -> None:
    model_sidebar()
    st.title("Circuits in a trained model")
    show_settings_error()
    settings = current_settings()
    key, token_ids = settings.key, tuple(int(t) for t in settings.token_ids)
    st.markdown(
        "The previous pages showed *how* the stream and the heads work. This one asks *what "
        "they learned*: which heads look at the previous token, which continue repeated text, "
        "which copy tokens, and how much each one matters for the prediction. Every number is "
        "computed live from the model and the input in the sidebar, next to what random "
        "weights would give."
    )
    weights_note(key)
    if not key.is_trained:
        st.warning(
            "**Nothing is learned in random weights.** Expect every score on this page at its "
            "baseline: attention close to uniform (≈U), copying scores near 0 (≈0), "
            "composition near the random-matrix value (≈B), and tiny ablation effects. That "
            "is what “no circuit” looks like; pick a trained model to compare.",
            icon=":material/casino:",
        )

    st.header("1. The direct path as a bigram table", divider="gray")
    direct_path_section(key, token_ids)

    st.header("2. Previous-token and induction heads", divider="gray")
    scores = head_scores_section(key, token_ids)

    st.header("3. The full OV circuit: which heads copy", divider="gray")
    cop = copying_section(key)
    best_copy = strongest_head(cop["eigen_score"])[:2]
    ov_top_section(key, token_ids, best_copy)

    st.header("4. Positional QK of layer-0 heads", divider="gray")
    positional_section(key, scores)

    st.header("5. Q-, K- and V-composition", divider="gray")
    composition_section(key, scores)

    st.header("6. Direct logit attribution", divider="gray")
    attribution_section(key, token_ids)

    st.header("7. Ablation: a head's total effect", divider="gray")
    default = scores["best_induction"] or best_copy
    ablation_section(key, token_ids, default)


if __name__ == "__main__":  # run as a script only by the legacy pages-directory mode
    from ui.navigation import reroute_to_app

    reroute_to_app()
