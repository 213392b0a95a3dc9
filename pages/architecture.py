"""Architecture (LO1): the residual stream as the channel every component reads and writes."""

import pandas as pd
import streamlit as st

from ui import charts
from ui.assessment_ui import checkpoint
from ui.charts import text_label
from ui.controls import (
    current_settings,
    get_circuit,
    get_parameter_table,
    get_report,
    get_sequential,
    model_sidebar,
    show_settings_error,
    token_texts,
)
from ui.diagrams import FLOW_DESCRIPTION, flow_diagram
from ui.layout import attention_explorer, cached, chart_with_table, weights_note


def _parameter_summary(table: pd.DataFrame) -> str:
    """What the parameter table shows, in words, from its own numbers."""
    total = table["parameters"].sum()
    attention = table.loc[table["component"].str.startswith("Attention"), "parameters"].sum()
    ends = table.loc[
        table["component"].str.contains("embedding W_E|Unembedding"), "parameters"
    ].sum()
    return (
        f"In this model attention holds {attention / total:.0%} of the parameters and the "
        f"embedding and unembedding together {ends / total:.0%}. Attention grows as "
        f"4·d_model² per layer, the two vocabulary matrices as 2·vocab·d_model, so which "
        f"one dominates depends on the width, the depth and the vocabulary."
    )


@st.fragment
def heads_section(
    key, token_ids: tuple[int, ...], report: dict, ids: list[int], texts: list[str] | None
) -> None:
    """Sections 5 and 6: the layer and head pickers and everything drawn for the chosen head.
    A fragment: changing the layer or head reruns only this part of the page."""
    # -- 5. attention ----------------------------------------------------------------------------
    st.header("5. Attention patterns", divider="gray")
    st.markdown(
        "A head decides *where to read from*: each query position spreads a total weight of 1 "
        "over itself and earlier positions (the causal mask makes later positions exactly 0). "
        "Colours run on a fixed scale from 0 to 1, and cells close to uniform attention "
        "(1/(i+1) in row i) are marked, so 'nothing learned' looks like nothing. Pick a layer "
        "and head; switching only re-draws, it does not rerun the model."
    )
    layer, head = attention_explorer(report["attention"], ids, key_prefix="arch", token_texts=texts)

    st.subheader("How focused is each head?")
    st.markdown(
        "Entropy measures how spread out a head's attention is, in nats: 0 means every query "
        "looks at exactly one position; attending evenly over n positions gives ln n. It is "
        "computed for each query's row and then averaged, per head (averaging the heads' "
        f"patterns first would hide sharp heads). Uniform causal attention over these {len(ids)} "
        f"tokens scores {report['uniform_entropy']:.3f} nats: the colour scale runs from 0 to "
        "ln n and heads at that baseline are marked."
    )
    chart, table = cached(charts.entropy_heatmap, report["entropy"], len(ids))
    chart_with_table(chart, table, table_label="entropy per layer and head")

    # -- 6. circuits -----------------------------------------------------------------------------
    st.header(f"6. QK and OV circuits of layer {layer}, head {head}", divider="gray")
    st.markdown(
        "A head is two independent circuits. **QK = W_Qᵀ W_K** decides the pattern: the score "
        "from position i to j is x_i · QK · x_jᵀ / √d_head. **OV = W_O W_V** decides what is "
        "written: the head outputs A · x · OVᵀ. Both are d_model × d_model matrices that pass "
        "through a d_head-dimensional bottleneck, so at most d_head singular values can be "
        "non-zero (the dashed line)."
    )
    circuit = get_circuit(key, layer, head, token_ids)
    q1, q2 = st.columns(2)
    with q1:
        chart, table = cached(
            charts.singular_value_chart,
            circuit["qk_singular_values"],
            circuit["rank_cap"],
            "QK",
            layer,
            head,
        )
        chart_with_table(chart, table, table_label="QK singular values")
    with q2:
        chart, table = cached(
            charts.singular_value_chart,
            circuit["ov_singular_values"],
            circuit["rank_cap"],
            "OV",
            layer,
            head,
        )
        chart_with_table(chart, table, table_label="OV singular values")

    st.subheader("What drives this head's scores")
    shares = circuit["qk_shares"]
    top = max(shares, key=shares.get)
    st.markdown(
        "The head's input x_l is a sum of parts (token embedding, position embedding"
        + (", and what earlier layers wrote" if layer > 0 else "")
        + "), and the score is bilinear, so it splits exactly into one term per (query part, "
        "key part). The bars show each term's share of the scores (mean absolute size, over "
        f"the positions a query can see). Here **{top}** drives {shares[top]:.0%} of them; the "
        f"terms add up to the actual scores within {circuit['qk_sum_error']:.1e}."
    )
    chart, table = cached(charts.qk_terms_chart, shares, circuit["qk_magnitudes"], layer, head)
    chart_with_table(chart, table, table_label="score terms and their shares")

    tok = circuit["tokens"]
    st.markdown(
        f"**Token-level slices for the {len(tok)} distinct tokens of your input.** The left one "
        f"is only the token·token term above ({shares.get('token·token', 0.0):.1%} of the "
        "scores here): how much a query token would attend to a key token through the "
        "embeddings alone. The right one is the OV circuit read from embedding to logits: how "
        "much attending to a token raises each output token's logit through this head alone."
    )
    q1, q2 = st.columns(2)
    with q1:
        chart, table = cached(
            charts.token_matrix_heatmap,
            circuit["qk_tokens"],
            tok,
            title=f"QK token·token term (L{layer} H{head})",
            description=(
                f"Heatmap of W_E[query] · QK · W_E[key]ᵀ / √d_head for the {len(tok)} "
                "distinct input tokens; red is a higher score, blue lower, values "
                "printed in the cells."
            ),
            row_title="Query token",
            col_title="Key token",
            value="score",
        )
        chart_with_table(chart, table, table_label="QK token slice", hide_index=False)
    with q2:
        chart, table = cached(
            charts.token_matrix_heatmap,
            circuit["ov_tokens"],
            tok,
            title=f"OV from embedding to logits (L{layer} H{head})",
            description=(
                f"Heatmap of W_U[output] · OV · W_E[attended]ᵀ for the {len(tok)} "
                "distinct input tokens: the direct effect on each output token's logit "
                "of attending to each token; red raises, blue lowers, values printed in "
                "the cells."
            ),
            row_title="Output token",
            col_title="Attended token",
            value="logit_effect",
        )
        chart_with_table(chart, table, table_label="OV token slice", hide_index=False)


def render() -> None:
    settings = model_sidebar()
    st.title("Architecture: the residual stream")
    show_settings_error()
    settings = current_settings()
    key, token_ids = settings.key, settings.token_ids
    cfg = key.config

    st.markdown(
        "A transformer is easiest to understand as a **residual stream**: one vector of width "
        "`d_model` per token position, running from the embeddings to the unembedding. Every "
        "component *reads* the stream and *adds* its output back. Nothing is overwritten in "
        "place, so the final stream is literally the sum of everything written into it (a "
        "component can still cancel what is there by writing the opposite direction). This page "
        "builds an attention-only transformer (no MLPs, no LayerNorm) so that sum can be checked "
        "to the last decimal. Change the model and the input in the sidebar."
    )
    weights_note(key)

    # -- 1. information flow -------------------------------------------------------------------
    st.header("1. How information flows", divider="gray")
    st.graphviz_chart(flow_diagram(cfg.n_layer), width="content", alt=FLOW_DESCRIPTION)
    with st.expander("The diagram in words"):
        st.markdown(FLOW_DESCRIPTION)
    st.markdown(
        "**All heads of a layer read the same stream.** Each head of layer l reads x_l, the "
        "stream as it was when the layer started; only then are their outputs added: "
        "x_(l+1) = x_l + Σ heads. Because the input is shared and the outputs are summed, the "
        "order of the heads does not matter, and each head's QK and OV circuits act on x_l "
        "itself.\n\n"
        "The lesson's original code added each head's output to the stream *before* the next "
        "head of the same layer read it. Section 8 runs that version on the same weights: the "
        "sum identity still holds (every write is still added), but it is a different "
        "function, its result depends on the order of the heads, and a later head's circuits "
        "no longer act on x_l."
    )

    # -- 2. the model ----------------------------------------------------------------------------
    st.header("2. Your model", divider="gray")
    c = st.columns(3)
    c[0].metric("Layers", cfg.n_layer)
    c[1].metric("Heads per layer", cfg.n_head)
    n_params = cfg.estimate_parameters()
    c[2].metric("Parameters", f"{n_params / 1e6:.2f} M", help=f"Exactly {n_params:,} parameters.")
    c = st.columns(3)
    c[0].metric("d_model", cfg.d_model)
    c[1].metric("d_head", cfg.d_head)
    params = pd.DataFrame(get_parameter_table(key))
    params["share"] = (params["parameters"] / params["parameters"].sum()).map("{:.1%}".format)
    st.dataframe(params, hide_index=True)
    st.caption(
        _parameter_summary(params) + " Positions are fixed sinusoids: no parameters. "
        "W_E and W_U are both stored as [vocab, d_model]; logits = x · W_Uᵀ."
    )

    # -- 3. input --------------------------------------------------------------------------------
    st.header("3. Input and forward pass", divider="gray")
    report = get_report(key, token_ids)
    ids = [int(t) for t in report["input_ids"]]
    st.markdown(f"**Token ids** ({len(ids)} tokens): `{', '.join(map(str, ids))}`")
    texts = token_texts(key, tuple(ids))
    if texts is not None:
        st.markdown("**As tokens:** " + " ".join(f"`{text_label(t)}`" for t in texts))
    if key.is_trained:
        st.caption(
            "The trained model was trained on WikiText-2 with this tokenizer: the "
            "patterns below were learned from text (its model card is in "
            "models/" + key.name + "/README.md)."
        )
    else:
        st.caption(
            "These random weights were never trained: whatever structure you see comes "
            "from the architecture and the random weights, not from language."
        )

    # -- 4. stream norm --------------------------------------------------------------------------
    st.header("4. The residual stream, layer by layer", divider="gray")
    norms = report["stream_norms"].mean(axis=1)
    growth = (norms[-1] / norms[0]) ** (1 / max(1, len(norms) - 1)) if norms[0] > 0 else 0.0
    if key.is_trained:
        st.markdown(
            "Each layer adds to the stream, so its size changes only by what the heads write. "
            f"In this trained model the stream grows {growth:.3g}× per layer on average on "
            "this input ((mean ‖x_L‖ / mean ‖x0‖)^(1/L), the geometric mean per layer): "
            "training set how much each head writes. Compare the random model with the "
            "sidebar's Model choice."
        )
    else:
        st.markdown(
            "Each layer adds to the stream, so its size changes only by what the heads write. "
            "At the spec's weight scale (0.02) the heads write little and the stream is mostly "
            "the position signal. A larger weight scale does not make the layers 'matter more' "
            "in any learned sense: each head writes x·OVᵀ with OV = W_O W_V, which grows with "
            "the square of the scale, so the stream is multiplied layer after layer and soon "
            "dwarfs the embeddings (and, with enough layers, overflows)."
        )
    m = st.columns(3)
    m[0].metric("Mean ‖x0‖", f"{norms[0]:.3g}")
    m[1].metric(f"Mean ‖x{len(norms) - 1}‖", f"{norms[-1]:.3g}")
    m[2].metric("Growth per layer (geometric mean)", f"{growth:.4g}×")
    chart, table = cached(charts.stream_norm_chart, report["stream_norms"])
    chart_with_table(chart, table, table_label="residual stream norm per layer")

    heads_section(key, token_ids, report, ids, texts)

    # -- 7. decomposition ------------------------------------------------------------------------
    st.header("7. The exact path decomposition", divider="gray")
    err = report["reconstruction_error"]
    logit_err = report["logit_reconstruction_error"]
    st.markdown(
        "With no MLPs and no LayerNorm, the final stream is exactly the embeddings (the direct "
        "path) plus the output of every head in every layer, and the logits are that sum times "
        "W_Uᵀ. Below, each head's output was rebuilt on its own from its attention pattern and "
        "its OV weights, and the parts were added up:"
    )
    m1, m2 = st.columns(2)
    m1.metric("Sum of parts − final stream (max abs)", f"{err:.1e}")
    m2.metric("Logits rebuilt from parts − model's logits (max abs)", f"{logit_err:.1e}")
    st.caption(
        "Not exactly 0 only because float32 additions in a different order round "
        "differently; the identity itself is exact. (The lesson's original code only "
        "compared norm ratios.)"
    )
    chart, table = cached(
        charts.decomposition_chart,
        report["direct_norms"],
        report["layer_norms"],
        report["final_norms"],
        report["direct_share"],
        report["layer_shares"],
        err,
    )
    chart_with_table(chart, table, table_label="contribution of each source")
    chart, table = cached(
        charts.head_contribution_heatmap, report["head_norms"], report["head_shares"]
    )
    chart_with_table(chart, table, table_label="contribution of each head")
    st.caption(
        "Norms of the parts do not add up to the norm of the final stream (vectors add, "
        "lengths do not). The share column measures each part along the final stream, "
        "(part · final) / ‖final‖²: the shares of all parts add up to exactly 1, and a negative "
        "share means the part writes against the final direction. This is each head's *direct* "
        "effect, its own term in the sum; a layer-0 head also acts through the later heads that "
        "read what it wrote, which only an ablation measures."
    )

    # -- 8. heads in sequence --------------------------------------------------------------------
    st.header("8. Heads in sequence (the seed's code) versus in parallel", divider="gray")
    seq = get_sequential(key, token_ids)
    st.markdown(
        "The same weights, run two ways: **in parallel** (this app: every head of a layer reads "
        "x_l) and **in sequence** (the lesson's original `TransformerLayer`: each head's output "
        "is added before the next head of the same layer reads the stream)."
    )
    top_row, bottom_row = st.columns(2), st.columns(2)
    top_row[0].metric(
        "Sequential: sum identity error",
        f"{seq['identity_error']:.1e}",
        help="max |x0 + Σ head outputs − final stream| for the sequential version: "
        "the identity holds there too, since every write is still added. "
        "Relative to the largest stream value: "
        f"{seq['identity_error_relative']:.1e}.",
    )
    top_row[1].metric(
        "Sequential vs parallel: relative difference",
        f"{seq['output_difference']:.3g}",
        help="‖final sequential − final parallel‖ / ‖final parallel‖: same "
        "weights, a different function.",
    )
    if seq["swap"] is not None:
        a, b = seq["swap"]
        bottom_row[0].metric(
            f"Sequential: swap heads {a} and {b}",
            f"{seq['order_effect_sequential']:.3g}",
            help="Relative change of the final stream when these two heads run "
            "in the other order: in sequence, order matters.",
        )
        bottom_row[1].metric(
            f"Parallel: swap heads {a} and {b}",
            f"{seq['order_effect_parallel']:.1e}",
            help="The same for the real layer: the outputs are summed, so "
            "order does not matter (0 up to rounding).",
        )
    else:
        bottom_row[0].metric(
            "Head-order effect", "n/a", help="Only one head per layer: nothing to swap."
        )
    st.caption(
        f"Final stream size: {seq['parallel_norm']:.4g} in parallel, {seq['sequential_norm']:.4g} "
        "in sequence. The sum identity alone cannot tell the two apart; what breaks is that a "
        "later head's QK and OV circuits no longer act on x_l, so reading its circuit against "
        "the layer input (as section 6 does) would be wrong for the sequential model. Choose "
        "random weights at weight scale 0.1 in the sidebar to watch the two versions drift far "
        "apart."
    )

    # -- checkpoint ------------------------------------------------------------------------------
    checkpoint("checkpoint_1")


if __name__ == "__main__":  # run as a script only by the legacy pages-directory mode
    from ui.navigation import reroute_to_app

    reroute_to_app()
