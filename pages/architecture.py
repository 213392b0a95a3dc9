"""Architecture (LO1): the residual stream as the channel every component reads and writes."""

import pandas as pd
import streamlit as st

from ui import charts
from ui.controls import (
    current_settings,
    get_circuit,
    get_model,
    get_parameter_table,
    get_report,
    model_sidebar,
    show_settings_error,
)
from ui.diagrams import FLOW_DESCRIPTION, flow_diagram
from ui.assessment_ui import checkpoint
from ui.layout import chart_with_table
from ui.shell import ensure_app_navigation

ensure_app_navigation()

settings = model_sidebar()
st.title("Architecture: the residual stream")
show_settings_error()
settings = current_settings()
cfg = settings.config()
key = settings.config_kwargs()

st.markdown(
    "A transformer is easiest to understand as a **residual stream**: one vector of width "
    "`d_model` per token position, running from the embeddings to the unembedding. Every "
    "component *reads* the stream and *adds* its output back. Nothing is overwritten, so the "
    "final stream is literally the sum of everything written into it. This page builds an "
    "attention-only transformer (no MLPs, no LayerNorm) so that sum can be checked to the last "
    "decimal. Change the model and the input in the sidebar."
)

# -- 1. information flow -----------------------------------------------------------------------
st.header("1. How information flows", divider="gray")
left, right = st.columns([3, 2])
with left:
    st.graphviz_chart(flow_diagram(cfg.n_layer), width="stretch", alt=FLOW_DESCRIPTION)
with right:
    st.markdown("**Text description of the diagram**")
    st.markdown(FLOW_DESCRIPTION)
    st.markdown(
        "**Why all heads of a layer read the same stream.** The heads of one layer run in "
        "parallel: each reads the stream *as it was when the layer started*, and only then are "
        "their outputs added together. (The lesson's original code added each head's output "
        "before the next head read the stream, which makes head 2 depend on head 1 inside the "
        "same layer; that breaks the path decomposition below.) Because the layer's input is "
        "shared and the outputs are summed, you can swap the order of the heads and nothing "
        "changes, and every head's contribution can be read off separately."
    )

# -- 2. the model --------------------------------------------------------------------------------
st.header("2. Your model", divider="gray")
model = get_model(key, settings.seed)
c = st.columns(5)
c[0].metric("Layers", cfg.n_layer)
c[1].metric("Heads per layer", cfg.n_head)
c[2].metric("d_model", cfg.n_embd)
c[3].metric("d_head", cfg.d_head)
n_params = cfg.estimate_parameters()
c[4].metric("Parameters", f"{n_params / 1e6:.2f} M", help=f"Exactly {n_params:,} parameters.")
params = pd.DataFrame(get_parameter_table(key, settings.seed))
params["share"] = (params["parameters"] / params["parameters"].sum()).map("{:.1%}".format)
st.dataframe(params, hide_index=True)
st.caption(
    f"Random weights drawn with seed {settings.seed} and standard deviation {cfg.init_std}. "
    "The embeddings and unembedding dominate at small widths; attention grows as 4·d_model² per "
    "layer. Positions are fixed sinusoids, so they cost no parameters."
)

# -- 3. input ------------------------------------------------------------------------------------
st.header("3. Input and forward pass", divider="gray")
report = get_report(key, settings.seed, settings.token_ids)
ids = [int(t) for t in report["input_ids"]]
st.markdown(f"**Token ids** ({len(ids)} tokens): `{', '.join(map(str, ids))}`")
st.caption("Ids stand for tokens of a vocabulary this random model has never been trained on, "
           "so they carry no meaning yet: the structure you see comes from the architecture and "
           "the random weights, not from language.")

# -- 4. stream norm ------------------------------------------------------------------------------
st.header("4. The residual stream, layer by layer", divider="gray")
st.markdown(
    "Each layer adds to the stream, so its size can only change by what the heads write. "
    "At the spec's weight scale (0.02) the heads write little and the stream is dominated by "
    "the position signal; raise the weight scale in the sidebar to watch the layers matter more."
)
chart, table = charts.stream_norm_chart(report["stream_norms"])
chart_with_table(chart, table, table_label="residual stream norm per layer")

# -- 5. attention ----------------------------------------------------------------------------------
st.header("5. Attention patterns", divider="gray")
st.markdown(
    "A head decides *where to read from*: each query position spreads a total weight of 1 over "
    "itself and earlier positions (the causal mask makes later positions exactly 0). Pick a "
    "layer and head; switching only re-draws, it does not rerun the model."
)
sc1, sc2 = st.columns(2)
layer = sc1.selectbox("Layer", list(range(cfg.n_layer)), key="arch_layer",
                      help="Which layer's heads to inspect.")
head = sc2.selectbox("Head", list(range(cfg.n_head)), key="arch_head",
                     help="Which head of that layer.")
chart, table = charts.attention_heatmap(report["attention_weights"][layer, head], ids, layer, head)
chart_with_table(chart, table, table_label=f"attention weights, layer {layer} head {head}",
                 hide_index=False)

st.subheader("How focused is each head?")
st.markdown(
    "Entropy measures how spread out a head's attention is, in nats: 0 means every query looks "
    "at exactly one position; attending evenly over n positions gives ln n. It is computed for "
    "each query's row and then averaged, per head (averaging the heads' patterns first would "
    "hide sharp heads)."
)
chart, table = charts.entropy_heatmap(report["entropy"], len(ids))
chart_with_table(chart, table, table_label="entropy per layer and head", hide_index=False)

# -- 6. circuits -----------------------------------------------------------------------------------
st.header(f"6. QK and OV circuits of layer {layer}, head {head}", divider="gray")
st.markdown(
    "A head is two independent circuits. **QK = W_Qᵀ W_K** decides the pattern: the score from "
    "position i to j is x_i · QK · x_jᵀ / √d_head. **OV = W_O W_V** decides what is written: the "
    "head outputs A · x · OVᵀ. Both are d_model × d_model matrices that pass through a "
    "d_head-dimensional bottleneck, so at most d_head singular values can be non-zero."
)
circuit = get_circuit(key, settings.seed, layer, head, settings.token_ids)
q1, q2 = st.columns(2)
with q1:
    chart, table = charts.singular_value_chart(circuit["qk_singular_values"],
                                               circuit["rank_cap"], "QK", layer, head)
    chart_with_table(chart, table, table_label="QK singular values")
with q2:
    chart, table = charts.singular_value_chart(circuit["ov_singular_values"],
                                               circuit["rank_cap"], "OV", layer, head)
    chart_with_table(chart, table, table_label="OV singular values")

tok = circuit["tokens"]
st.markdown(
    f"**Readable slices for the {len(tok)} distinct tokens of your input.** Through the "
    "embeddings alone (no positions, no earlier layers): how much would each query token attend "
    "to each key token, and how much does attending to a token raise each output token's logit?"
)
q1, q2 = st.columns(2)
with q1:
    chart, table = charts.token_matrix_heatmap(
        circuit["qk_tokens"], tok, title=f"QK on token embeddings (L{layer} H{head})",
        description=(f"Heatmap of W_E[query] · QK · W_E[key]ᵀ / √d_head for the {len(tok)} "
                     "distinct input tokens; red is a higher score, blue lower, values printed "
                     "in the cells."),
        row_title="Query token", col_title="Key token", value="score")
    chart_with_table(chart, table, table_label="QK token slice", hide_index=False)
with q2:
    chart, table = charts.token_matrix_heatmap(
        circuit["ov_tokens"], tok, title=f"OV from embedding to logits (L{layer} H{head})",
        description=(f"Heatmap of W_U[output] · OV · W_E[attended]ᵀ for the {len(tok)} distinct "
                     "input tokens: the direct effect on each output token's logit of attending "
                     "to each token; red raises, blue lowers, values printed in the cells."),
        row_title="Output token", col_title="Attended token", value="logit_effect")
    chart_with_table(chart, table, table_label="OV token slice", hide_index=False)

# -- 7. decomposition --------------------------------------------------------------------------------
st.header("7. The exact path decomposition", divider="gray")
err = report["reconstruction_error"]
logit_err = report["logit_reconstruction_error"]
st.markdown(
    "With no MLPs and no LayerNorm, the final stream is exactly the embeddings (the direct path) "
    "plus the output of every head in every layer, and the logits are that sum times W_Uᵀ. The "
    "model below computed each head's output separately and added them up:"
)
m1, m2 = st.columns(2)
m1.metric("Sum of parts − final stream (max abs)", f"{err:.1e}")
m2.metric("Logits rebuilt from parts − logits (max abs)", f"{logit_err:.1e}")
st.caption("Not exactly 0 only because float32 additions in a different order round differently; "
           "the identity itself is exact. (The lesson's original code only compared norm ratios.)")
chart, table = charts.decomposition_chart(
    report["direct_norms"], report["layer_norms"], report["final_norms"],
    report["direct_cosine"], report["layer_cosines"], err)
chart_with_table(chart, table, table_label="contribution of each source")
chart, table = charts.head_contribution_heatmap(report["head_norms"], report["head_cosines"])
chart_with_table(chart, table, table_label="contribution of each head")
st.caption(
    "Norms of the parts do not add up to the norm of the final stream (vectors add, lengths do "
    "not); the cosine column says how much each part points the same way as the final stream."
)

# -- checkpoint ------------------------------------------------------------------------------------
checkpoint("checkpoint_1")
