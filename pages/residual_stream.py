"""Residual stream (LO2): how information is preserved and accumulated through the layers."""

import pandas as pd
import streamlit as st

from ui import charts
from ui.controls import (
    current_settings,
    get_report,
    get_residual_report,
    model_sidebar,
    show_settings_error,
)
from ui.assessment_ui import checkpoint
from ui.layout import chart_with_table
from ui.shell import ensure_app_navigation

ensure_app_navigation()

model_sidebar()
st.title("Residual stream: how information flows")
show_settings_error()
settings = current_settings()
cfg = settings.config()
key = settings.config_kwargs()
rep = get_residual_report(key, settings.seed, settings.token_ids)
arch = get_report(key, settings.seed, settings.token_ids)  # same cached forward pass
n_tokens = len(rep["input_ids"])

st.markdown(
    "Every layer reads the residual stream and **adds** its output: x_(l+1) = x_l + Σ heads. "
    "Because the update is a plain sum, we can ask precise questions of it: how much of the old "
    "stream survives a layer (its direction), how much is added (its size), how many directions "
    "of d_model the stream uses, and which sources the final stream is made of. The model and "
    "input are the ones set in the sidebar, shared with the Architecture page."
)
st.caption(
    f"Model: {cfg.n_layer} layers × {cfg.n_head} heads, d_model = {cfg.n_embd}, seed "
    f"{settings.seed}, weight scale {cfg.init_std}; input: {n_tokens} tokens "
    f"({', '.join(str(int(t)) for t in rep['input_ids'])})."
)
for metric, note in rep["notes"].items():
    st.info(f"**{metric}:** {note}", icon="ℹ️")

# -- 1. evolution --------------------------------------------------------------------------------
st.header("1. What each layer does to the stream", divider="gray")
st.markdown(
    "- **Preservation ratio**: cosine between the stream before and after the layer (all "
    "positions flattened). 1 means the layer only added along directions already there.\n"
    "- **Addition magnitude**: ‖added‖ / ‖stream before‖, averaged over positions.\n"
    "- **Total change**: ‖x_(l+1) − x_l‖ / ‖x_l‖ over the whole sequence."
)
table = pd.DataFrame(rep["layers"])
table.insert(0, "stream", [f"x{r['layer']} → x{r['layer'] + 1}" for r in rep["layers"]])
st.dataframe(
    table.drop(columns=["directional_change"]),
    hide_index=True,
    column_config={
        "layer": st.column_config.NumberColumn("Layer"),
        "preservation_ratio": st.column_config.NumberColumn("Preservation ratio", format="%.5f"),
        "addition_magnitude": st.column_config.NumberColumn("Addition magnitude", format="%.5f"),
        "total_change": st.column_config.NumberColumn("Total change", format="%.5f"),
    },
)
per = rep["persistence"]
m = st.columns(4)
m[0].metric("Final similarity to x0", f"{per['final_similarity']:.4f}")
m[1].metric("Decay per layer", f"{per['information_decay_rate']:.4f}",
            help="Average drop in cosine similarity to x0 per layer, counted from x0 (1.0).")
m[2].metric("Largest change at layer", per["peak_change_layer"])
m[3].metric("Stability score", f"{per['stability_score']:.4f}",
            help="1 − standard deviation of the similarities to x0.")

# -- 2. magnitude and preservation ---------------------------------------------------------------
st.header("2. Magnitude and preservation", divider="gray")
left, right = st.columns(2)
with left:
    chart, data = charts.stream_norm_chart(rep["stream_norms"])
    chart_with_table(chart, data, table_label="stream magnitude per layer")
with right:
    chart, data = charts.similarity_chart(per["similarities_to_initial"])
    chart_with_table(chart, data, table_label="similarity to the initial stream")
st.markdown(
    "Nothing in the architecture erases the stream: a layer can only add. So the initial "
    "stream stays in the sum, and its share shrinks only as much as the layers add. "
    "Similarity to x0 falls slowly when the heads write little compared with the embeddings."
)

# -- 3. subspace -----------------------------------------------------------------------------------
st.header("3. How many directions the stream uses", divider="gray")
subspace = rep["subspace"]
ranks = [s["effective_rank"] for s in subspace]
cap = subspace[0]["rank_cap"]
st.markdown(
    "Stack the stream's positions into a tokens × d_model matrix and take its singular values. "
    "The **effective rank** is the fewest directions that hold 90% of the energy (Σσ²). "
    f"It can never exceed **min(tokens, d_model) = min({n_tokens}, {cfg.n_embd}) = {cap}**: "
    f"{n_tokens} vectors span at most {n_tokens} directions. So 'rank utilisation' against "
    f"d_model ({ranks[-1]}/{cfg.n_embd} = {ranks[-1] / cfg.n_embd:.1%} for the final stream) "
    f"says more about the input length than about the model; against the cap it is "
    f"{ranks[-1]}/{cap} = {ranks[-1] / cap:.0%}. Use longer inputs to learn about d_model."
)
chart, data = charts.effective_rank_chart(ranks, cap, cfg.n_embd)
chart_with_table(chart, data, table_label="effective rank per layer")
stream_names = [f"x{l}" for l in range(len(subspace))]
choice = st.selectbox("Stream for the spectrum", stream_names, index=len(stream_names) - 1,
                      key="residual_spectrum_stream",
                      help="x0 is the embeddings; x_l is the stream after layer l − 1.")
sub = subspace[stream_names.index(choice)]
c = st.columns(4)
c[0].metric("Effective rank", sub["effective_rank"])
c[1].metric("Cap: min(tokens, d_model)", sub["rank_cap"])
c[2].metric("Top-10 energy share", f"{sub['subspace_concentration']:.1%}")
c[3].metric("Directions per token", f"{sub['information_density']:.2f}")
chart, data = charts.spectrum_chart(sub["singular_values"], choice)
chart_with_table(chart, data, table_label=f"singular values of {choice}")

# -- 4. information types -----------------------------------------------------------------------
st.header("4. Token identity and position, carried along", divider="gray")
types = rep["information_types"]
st.markdown(
    "The initial stream is the sum of two kinds of information: **token identity** (the row of "
    "W_E for each token) and **position** (the sinusoid for each position). Their cosines with "
    "each later stream show how much of each is still there. "
    f"Here the token part has norm {types['token_norm']:.3f} and the position part "
    f"{types['position_norm']:.3f}: "
    + ("position dominates the initial stream, because the sinusoids have entries of size ~1 "
       "while random embeddings at this weight scale are small. A trained model learns larger, "
       "meaningful token embeddings."
       if types["position_norm"] > 2 * types["token_norm"] else
       "neither part dominates the initial stream.")
)
chart, data = charts.information_types_chart(types["token_similarity"],
                                             types["position_similarity"])
chart_with_table(chart, data, table_label="information types per stream")

# -- 5. decomposition ---------------------------------------------------------------------------
st.header("5. What the final stream is made of", divider="gray")
st.markdown(
    "Because every update is a sum, the final stream splits exactly into the embeddings plus "
    "one term per layer (the same decomposition as on the Architecture page; rebuilt with a "
    f"maximum error of {arch['reconstruction_error']:.1e})."
)
chart, data = charts.decomposition_chart(
    arch["direct_norms"], arch["layer_norms"], arch["final_norms"], arch["direct_cosine"],
    arch["layer_cosines"], arch["reconstruction_error"])
chart_with_table(chart, data, table_label="final stream by source")

# -- 6. honesty --------------------------------------------------------------------------------
st.header("6. Random weights versus a trained model", divider="gray")
st.markdown(
    "This model has random weights, so what you see is the architecture's behaviour, not "
    "learned structure: heads attend almost uniformly at the spec's weight scale (0.02), the "
    "stream stays close to its embeddings, and the effective rank mostly reflects the "
    "positions. A trained model writes much more into the stream: its norm grows layer by "
    "layer, similarity to the embeddings drops further, and specific heads (previous-token, "
    "induction) add sharp, structured updates. Raise the weight scale in the sidebar to see the "
    "layers matter more; the Production mapping page shows a trained GPT-2-style model."
)

# -- checkpoint ------------------------------------------------------------------------------------
checkpoint("checkpoint_2")
