"""Production mapping (LO3): the lesson's model next to a real, trained GPT-2-style model."""

import pandas as pd
import streamlit as st

from core.production import BUNDLED, COMPONENT_MAP
from core.validators import ValidationError
from ui import charts
from ui.assessment_ui import checkpoint
from ui.layout import chart_with_table
from ui.production_ui import (
    MAX_TEXT_TOKENS,
    get_mapping,
    get_production,
    get_text_analysis,
    running_locally,
)
from ui.shell import ensure_app_navigation

ensure_app_navigation()

ss = st.session_state
SOURCE_BUNDLED = "Bundled tiny GPT-2 (works offline)"
SOURCE_HUB = "A Hugging Face hub id (needs internet the first time)"
SOURCE_LOCAL = "A folder on this computer"
DEFAULT_TEXT = "The history of the city began in the"

st.title("Production mapping: from the lesson's model to GPT-2")
st.markdown(
    "The lesson's model is a simplified transformer. Production models such as GPT-2 keep the "
    "same backbone (embeddings, attention heads reading and writing a residual stream, an "
    "unembedding) and add MLP blocks, LayerNorm and learned positions. This page loads a real, "
    "trained GPT-2-style model, lines its parts up with the lesson's, and runs the lesson's "
    "analyses on your own sentence."
)

# -- 1. the model ----------------------------------------------------------------------------------
st.header("1. Choose a model", divider="gray")
choices = [SOURCE_BUNDLED, SOURCE_HUB] + ([SOURCE_LOCAL] if running_locally() else [])


def _request_load() -> None:
    kind = ss.get("prod_kind", SOURCE_BUNDLED)
    ss["prod_requested"] = {SOURCE_BUNDLED: BUNDLED,
                            SOURCE_HUB: (ss.get("prod_hub") or "").strip(),
                            SOURCE_LOCAL: (ss.get("prod_folder") or "").strip()}[kind]


ss.setdefault("prod_hub", "gpt2")
with st.form("prod_source_form"):
    st.radio("Model source", choices, key="prod_kind",
             help="The bundled model ships with the app and needs no network.")
    st.text_input("Hub id (used with the hub option)", key="prod_hub", max_chars=200,
                  help="A GPT-2-family model, e.g. gpt2 or distilgpt2.")
    if SOURCE_LOCAL in choices:
        st.text_input("Folder (used with the folder option)", key="prod_folder",
                      max_chars=500, help="A model saved with save_pretrained.")
    st.form_submit_button("Load model", type="primary", on_click=_request_load)
wanted = ss.pop("prod_requested", None)
if wanted is not None:
    with st.spinner(f"Loading {wanted or 'the model'}…"):
        try:
            get_production(wanted)
        except ValidationError as err:
            ss["prod_error"] = str(err)
        else:
            ss["prod_source"] = wanted
            ss["prod_error"] = None
source = ss.setdefault("prod_source", BUNDLED)
if ss.get("prod_error"):
    st.error(f"**Not loaded.** {ss['prod_error']}\n\nStill showing: "
             f"{'the bundled model' if source == BUNDLED else source}.", icon="⚠️")
with st.spinner("Loading the model…"):
    try:
        get_production(source)
    except ValidationError as err:  # e.g. a cached hub model that vanished; fall back
        st.error(f"{err} Showing the bundled model instead.", icon="⚠️")
        source = ss["prod_source"] = BUNDLED
        get_production(source)
mapping = get_mapping(source)
summary, params = mapping["summary"], mapping["parameters"]
prod = summary["production"]
st.success(f"Showing **{'the bundled tiny GPT-2' if source == BUNDLED else source}**: "
           f"{prod['n_layer']} layers × {prod['n_head']} heads, d_model {prod['n_embd']}, "
           f"vocabulary {prod['vocab_size']:,}, context {prod['context_length']}.")
if source == BUNDLED:
    st.caption("Trained for this app on WikiText-2 (CC BY-SA 3.0) with its own byte-level BPE "
               "tokenizer; see models/tiny-gpt2-wikitext2/README.md for the model card.")

# -- 2. architecture ------------------------------------------------------------------------------
st.header("2. The two architectures side by side", divider="gray")
rows = pd.DataFrame(summary["rows"]).astype(str)
rows.loc[rows["property"] == "n_inner", "interpretable"] = "none (no MLP)"
st.dataframe(rows, hide_index=True, column_config={
    "property": "Property", "production": "Production (GPT-2 family)",
    "interpretable": "Lesson's interpretable model, same size"})
n_inner_cfg = summary["n_inner_in_config"]
st.caption(
    f"n_inner in this model's config is {n_inner_cfg!r}"
    + (f": GPT-2 uses None to mean 4 × n_embd = {prod['n_inner']}, so the MLP ratio is "
       f"{prod['mlp_ratio']:g} (dividing None by n_embd would crash)." if n_inner_cfg is None
       else f", an MLP ratio of {prod['mlp_ratio']:g}.")
)

st.subheader("Where the parameters are")
ptable = pd.DataFrame(params["rows"])
st.dataframe(ptable, hide_index=True, column_config={
    "component": "Component",
    "production": st.column_config.NumberColumn("Production", format="%d"),
    "interpretable": st.column_config.NumberColumn("Interpretable", format="%d"),
    "note": "What differs"})
m = st.columns(3)
m[0].metric("Production parameters", f"{params['production_total']:,}")
m[1].metric("Interpretable model, same size", f"{params['interpretable_total']:,}")
m[2].metric("Ratio", f"{params['ratio']:.2f}×")
mlp = next(r["production"] for r in params["rows"] if r["component"] == "MLP")
st.markdown(
    f"The MLPs alone hold {mlp:,} parameters ({mlp / params['production_total']:.0%} of the "
    "production model). Removing them, LayerNorm and the learned positions is what makes the "
    "lesson's model exactly decomposable; tying the unembedding to the embeddings "
    + ("saves the production model a whole vocab × d_model matrix."
       if params["tied"] else "is not used by this model.")
)

st.subheader("Component map")
st.dataframe(pd.DataFrame(COMPONENT_MAP, columns=["Component", "Production (GPT-2)",
                                                  "Interpretable model", "What it means"]),
             hide_index=True)

# -- 3. your sentence ---------------------------------------------------------------------------
st.header("3. Your sentence through the production model", divider="gray")
text = st.text_input("Your sentence", value=DEFAULT_TEXT, key="prod_text", max_chars=2000,
                     help=f"Ordinary English works best; at most {MAX_TEXT_TOKENS} tokens.")
try:
    with st.spinner("Running the model…"):
        res = get_text_analysis(source, text)
except ValidationError as err:
    st.error(f"{err}", icon="⚠️")
    st.stop()
tokens = res["tokens"]
st.markdown(f"**{len(tokens)} tokens**, as the tokenizer split them (␣ marks a space):")
st.dataframe(pd.DataFrame({"position": range(len(tokens)),
                           "token": [charts.text_label(t) for t in tokens],
                           "id": res["ids"]}).T.astype(str), hide_index=False)

chart, table = charts.top_predictions_chart(res["top_predictions"], text)
chart_with_table(chart, table, table_label="top next-token predictions")

st.subheader("Attention pattern")
n_layer, n_head = res["entropy"].shape
c1, c2 = st.columns(2)
layer = c1.selectbox("Layer", list(range(n_layer)), key="prod_layer")
head = c2.selectbox("Head", list(range(n_head)), key="prod_head")
chart, table = charts.attention_heatmap(res["attentions"][layer, head], res["ids"], layer, head,
                                        token_texts=tokens)
chart_with_table(chart, table, table_label=f"attention weights, layer {layer} head {head}",
                 hide_index=False)

st.subheader("Entropy and previous-token heads")
st.markdown(
    "Entropy is computed for every head separately (each query's row, then the mean). The "
    "lesson's original code averaged the heads' patterns first, which hides sharp heads: the "
    "mean of two certain heads looking at different tokens looks uncertain. A trained model "
    "typically has some **previous-token heads** that put most of their weight on the token "
    "just before."
)
c1, c2 = st.columns(2)
with c1:
    chart, table = charts.entropy_heatmap(res["entropy"], len(tokens))
    chart_with_table(chart, table, table_label="entropy per head", hide_index=False)
with c2:
    chart, table = charts.previous_token_heatmap(res["previous_token"])
    chart_with_table(chart, table, table_label="previous-token attention per head",
                     hide_index=False)

# -- 4. residual analyses --------------------------------------------------------------------------
st.header("4. The residual stream of a production model", divider="gray")
st.markdown(
    "The Residual stream page's analyses, applied to this model's hidden states: x0 is token "
    "plus learned position embeddings, x_l the stream after block l (attention and MLP). These "
    "are taken *before* the final LayerNorm; transformers' last hidden state is that stream "
    "after LayerNorm, which rescales every position to a similar norm "
    f"(mean {res['final_after_ln_norms'].mean():.2f} after, versus "
    f"{res['stream_norms'][-1].mean():.2f} before). Inside the blocks, LayerNorm only changes "
    "what each block *reads*; the stream itself still grows by addition."
)
m = st.columns(3)
m[0].metric("Preservation x0 → final", f"{res['preservation_initial_to_final']:.3f}",
            help="Cosine between the initial and the final stream (before the final LayerNorm).")
m[1].metric("Total change x0 → final", f"{res['total_change_initial_to_final']:.2f}",
            help="‖final − x0‖ / ‖x0‖.")
m[2].metric("Rank cap: min(tokens, d_model)", res["rank_cap"])
c1, c2 = st.columns(2)
with c1:
    chart, table = charts.stream_norm_chart(res["stream_norms"])
    chart_with_table(chart, table, table_label="stream norm per layer")
with c2:
    chart, table = charts.similarity_chart(res["similarities_to_initial"])
    chart_with_table(chart, table, table_label="similarity to x0")
chart, table = charts.effective_rank_chart(res["effective_ranks"], res["rank_cap"],
                                           prod["n_embd"])
chart_with_table(chart, table, table_label="effective rank per layer")

# -- checkpoint ------------------------------------------------------------------------------------
checkpoint("checkpoint_3")
