"""Production mapping (LO3): the lesson's model next to a real, trained GPT-2-style model."""

from __future__ import annotations

import logging

import pandas as pd
import streamlit as st

from core.production import BUNDLED, COMPONENT_MAP
from core.trace import strongest_head
from core.validators import ValidationError
from ui import charts, circuit_charts
from ui.assessment_ui import checkpoint
from ui.layout import attention_explorer, cached, chart_with_table, stream_size_and_direction
from ui.production_ui import (
    FOLDER,
    HUB,
    MAX_TEXT_TOKENS,
    get_mapping,
    get_production,
    get_text_analysis,
    local_folders_allowed,
)

SOURCE_BUNDLED = "Bundled tiny GPT-2 (works offline)"
SOURCE_HUB = "A Hugging Face hub id (needs internet the first time)"
SOURCE_LOCAL = "A folder on this computer"
DEFAULT_TEXT = "The history of the city began in the"
_LOG = logging.getLogger(__name__)
_UNEXPECTED = (
    "Something unexpected went wrong while {what}. Try again; if it keeps happening, "
    "choose the bundled model or a different sentence."
)


def _name(source: tuple[str, str]) -> str:
    kind, name = source
    return (
        "the bundled tiny GPT-2"
        if kind == BUNDLED
        else (f"'{name}'" if kind == HUB else f"the model in {name}")
    )


def _request_load() -> None:
    ss = st.session_state
    kind = ss.get("prod_kind", SOURCE_BUNDLED)
    if kind == SOURCE_HUB:
        ss["prod_requested"] = (HUB, (ss.get("prod_hub") or "").strip())
    elif kind == SOURCE_LOCAL:
        ss["prod_requested"] = (FOLDER, (ss.get("prod_folder") or "").strip())
    else:
        ss["prod_requested"] = (BUNDLED, BUNDLED)


def _load(source: tuple[str, str], local_ok: bool) -> str | None:
    """Load (or fetch from the cache) a model; None, or the learner-facing reason it failed."""
    try:
        get_production(*source, local_ok)
    except ValidationError as err:
        return str(err)
    except Exception:  # a bug or an unforeseen library failure: no traceback for the learner
        _LOG.exception("loading %s failed", source)
        return _UNEXPECTED.format(what="loading that model")
    return None


def _model_section(local_ok: bool) -> tuple[str, str]:
    """Section 1: the source picker. Returns the source to show, always a loaded one."""
    ss = st.session_state
    st.header("1. Choose a model", divider="gray")
    choices = [SOURCE_BUNDLED, SOURCE_HUB] + ([SOURCE_LOCAL] if local_ok else [])
    if ss.get("prod_kind") not in choices:
        ss["prod_kind"] = SOURCE_BUNDLED
    ss.setdefault("prod_hub", "gpt2")
    with st.form("prod_source_form"):
        st.radio(
            "Model source",
            choices,
            key="prod_kind",
            help="The bundled model ships with the app and needs no network. Folders on "
            "this computer are offered only when the app runs on your own machine.",
        )
        st.text_input(
            "Hub id (used with the hub option)",
            key="prod_hub",
            max_chars=200,
            help="A GPT-2-family model on huggingface.co, e.g. gpt2 or distilgpt2 "
            "(GPT-2 small, 124M parameters, is the largest this app loads).",
        )
        if local_ok:
            st.text_input(
                "Folder (used with the folder option)",
                key="prod_folder",
                max_chars=500,
                help="A model saved with save_pretrained.",
            )
        st.form_submit_button("Load model", type="primary", on_click=_request_load)
    wanted = ss.pop("prod_requested", None)
    if wanted is not None:
        with st.spinner(f"Loading {_name(wanted)}…"):
            problem = _load(wanted, local_ok)
        ss["prod_error"] = problem
        if problem is None:
            ss["prod_source"] = wanted
    source = ss.get("prod_source") or (BUNDLED, BUNDLED)
    if source[0] == FOLDER and not local_ok:
        source = (BUNDLED, BUNDLED)
    if ss.get("prod_error"):
        st.error(f"**Not loaded.** {ss['prod_error']}\n\nStill showing: {_name(source)}.", icon="⚠️")
    if source[0] != BUNDLED:
        with st.spinner(f"Loading {_name(source)}…"):
            problem = _load(source, local_ok)
        if problem is not None:  # e.g. a hub model whose cached files vanished: fall back
            st.error(f"{problem}\n\nShowing the bundled model instead.", icon="⚠️")
            source = (BUNDLED, BUNDLED)
    ss["prod_source"] = source
    return source


def render() -> None:
    st.title("Production mapping: from the lesson's model to GPT-2")
    st.markdown(
        "The lesson's model is a simplified transformer. Production models such as GPT-2 keep "
        "the same backbone (embeddings, attention heads reading and writing a residual stream, "
        "an unembedding) and add MLP blocks, LayerNorm and learned positions. This page loads a "
        "real, trained GPT-2-style model, lines its parts up with the lesson's, runs the "
        "lesson's analyses on your own sentence, and shows which of the lesson's exact "
        "identities still hold."
    )
    local_ok = local_folders_allowed()
    source = _model_section(local_ok)
    with st.spinner("Loading the model…"):
        try:
            mapping = get_mapping(*source, local_ok)
        except ValidationError as err:
            st.error(f"{err}", icon="⚠️")
            return
        except Exception:
            _LOG.exception("mapping %s failed", source)
            st.error(_UNEXPECTED.format(what="reading that model's architecture"), icon="⚠️")
            return
    summary, params = mapping["summary"], mapping["parameters"]
    prod = summary["production"]
    st.success(
        f"Showing **{_name(source)}**: {prod['n_layer']} layers × {prod['n_head']} "
        f"heads, d_model {prod['n_embd']}, vocabulary {prod['vocab_size']:,}, context "
        f"{prod['context_length']}. Trained weights: its charts show learned behaviour."
    )
    if source[0] == BUNDLED:
        st.caption(
            "Trained for this app on WikiText-2 (CC BY-SA 3.0) with its own byte-level "
            "BPE tokenizer; see models/tiny-gpt2-wikitext2/README.md for the model card."
        )

    _architecture_section(summary, params)
    res = _sentence_section(source, local_ok)
    if res is not None:
        _residual_section(res, prod)
        _exact_section(res)
    checkpoint("checkpoint_3")


def _architecture_section(summary: dict, params: dict) -> None:
    prod = summary["production"]
    st.header("2. The two architectures side by side", divider="gray")
    rows = pd.DataFrame(summary["rows"]).astype(str)
    rows.loc[rows["property"] == "n_inner", "interpretable"] = "none (no MLP)"
    # st.table wraps long cells (st.dataframe would clip them at narrow widths).
    st.table(
        rows.rename(
            columns={
                "property": "Property",
                "production": "Production (GPT-2 family)",
                "interpretable": "Lesson's interpretable model, same size",
            }
        ).set_index("Property")
    )
    n_inner_cfg = summary["n_inner_in_config"]
    st.caption(
        f"n_inner in this model's config is {n_inner_cfg!r}"
        + (
            f": GPT-2 uses None to mean 4 × n_embd = {prod['n_inner']}, so the MLP ratio is "
            f"{prod['mlp_ratio']:g} (dividing None by n_embd would crash)."
            if n_inner_cfg is None
            else f", an MLP ratio of {prod['mlp_ratio']:g}."
        )
    )

    st.subheader("Where the parameters are")
    st.table(
        pd.DataFrame(
            {
                "Component": [r["component"] for r in params["rows"]],
                "Production": [f"{r['production']:,}" for r in params["rows"]],
                "Share of production": [f"{r['share']:.1%}" for r in params["rows"]],
                "Interpretable": [f"{r['interpretable']:,}" for r in params["rows"]],
                "What differs": [r["note"] for r in params["rows"]],
            }
        ).set_index("Component")
    )
    m = st.columns(3)
    m[0].metric("Production parameters", f"{params['production_total']:,}")
    m[1].metric(
        "Interpretable model",
        f"{params['interpretable_total']:,}",
        help="The lesson's attention-only model with the same dimensions.",
    )
    m[2].metric("Ratio", f"{params['ratio']:.2f}×")
    shares = params["shares"]
    biggest = max(shares, key=shares.get)
    mlp = next(r["production"] for r in params["rows"] if r["component"] == "MLP")
    if biggest == "MLP":
        rank = (
            "the largest single part, though not a majority"
            if shares["MLP"] <= 0.5
            else "a majority"
        )
    else:
        rank = f"less than the {biggest} ({shares[biggest]:.1%})"
    st.markdown(
        f"In this model the MLPs hold {mlp:,} parameters, {shares['MLP']:.1%} of the total: "
        f"{rank}. For comparison, GPT-2 small's MLPs hold 45.5 % of its 124M parameters and its "
        "token embeddings 31 %. Tying the unembedding to the embeddings "
        + (
            "saves this model a whole vocab × d_model matrix."
            if params["tied"]
            else "is not used by this model."
        )
    )

    st.subheader("Component map")
    st.table(
        pd.DataFrame(
            COMPONENT_MAP,
            columns=["Component", "Production (GPT-2)", "Interpretable model", "What it means"],
        ).set_index("Component")
    )


def _sentence_section(source: tuple[str, str], local_ok: bool) -> dict | None:
    st.header("3. Your sentence through the production model", divider="gray")
    text = st.text_input(
        "Your sentence",
        value=DEFAULT_TEXT,
        key="prod_text",
        max_chars=2000,
        help=f"Ordinary English works best; at most {MAX_TEXT_TOKENS} tokens.",
    )
    try:
        with st.spinner("Running the model…"):
            res = get_text_analysis(*source, text, local_ok)
    except ValidationError as err:
        st.error(f"{err}", icon="⚠️")
        return None
    except Exception:
        _LOG.exception("analysis of %r with %s failed", text, source)
        st.error(_UNEXPECTED.format(what="running the model on that sentence"), icon="⚠️")
        return None
    tokens = res["tokens"]
    seq_len = len(tokens)
    st.markdown(f"**{seq_len} tokens**, as the tokenizer split them (␣ marks a space):")
    st.dataframe(
        pd.DataFrame(
            {
                "position": range(seq_len),
                "token": [charts.text_label(t) for t in tokens],
                "id": res["ids"],
            }
        ).T.astype(str),
        hide_index=False,
    )

    chart, table = cached(charts.top_predictions_chart, res["top_predictions"], text)
    chart_with_table(chart, table, table_label="top next-token predictions")

    st.subheader("Attention pattern")
    _attention_section(res["attentions"], res["ids"], tokens)

    st.subheader("Entropy and previous-token heads")
    best_layer, best_head, best_score = strongest_head(res["previous_token"])
    uniform_prev = res["uniform_previous_token"]
    finding = (
        f"Here head {best_layer}.{best_head} is one: it puts {best_score:.0%} of its attention "
        "on the token just before."
        if best_score >= 0.5
        else f"This model has no clear one on this sentence: the highest score is {best_score:.2f} "
        f"(head {best_layer}.{best_head}), against {uniform_prev:.2f} for uniform attention. Larger "
        "trained models such as GPT-2 small do have heads that attend mostly to the previous "
        "token."
    )
    st.markdown(
        "Entropy is computed for every head separately (each query's row, then the mean). The "
        "lesson's original code averaged the heads' patterns first, which hides sharp heads: "
        "the mean of two certain heads looking at different tokens looks uncertain. A "
        "**previous-token head** puts most of its weight on the token just before the query. "
        + finding
        + " Uniform attention over this sentence would score "
        f"{res['uniform_entropy']:.3f} nats and {uniform_prev:.3f}: the baselines marked on the "
        "charts."
    )
    c1, c2 = st.columns(2)
    with c1:
        chart, table = cached(charts.entropy_heatmap, res["entropy"], seq_len)
        chart_with_table(chart, table, table_label="entropy per head")
    with c2:
        chart, table = cached(charts.previous_token_heatmap, res["previous_token"], seq_len=seq_len)
        chart_with_table(chart, table, table_label="previous-token attention per head")
    _induction(res)
    return res


@st.fragment
def _attention_section(attentions, ids, tokens) -> None:
    """The layer and head pickers and the heatmap: a fragment, so picking reruns only this."""
    attention_explorer(attentions, ids, key_prefix="prod", token_texts=tokens)


def _induction(res: dict) -> None:
    """Induction scores of the production model, with the code the Circuits page uses."""
    st.subheader("Induction heads")
    scores, uniform = res["induction"], res["uniform_induction"]
    st.markdown(
        "An **induction head** looks for an earlier copy of the current token and attends to "
        "the token that followed it, so the model can predict that the sequence repeats. The "
        "score is the mean attention from each repeated token to the token after its earlier "
        "occurrence(s): the same code as the Circuits page runs on the lesson's own models."
    )
    if scores is None:
        st.info(
            "This sentence repeats no token, so no head can show induction on it. Add a "
            "repeated name or phrase (for example, write the same sentence twice) and run "
            "it again.",
            icon="ℹ️",
        )
        return
    layer, head, best = strongest_head(scores)
    verdict = (
        "an induction head on this input"
        if best >= 0.4
        else "no clear induction head on this input"
    )
    st.markdown(
        f"Highest score: head {layer}.{head} with {best:.2f}, against {uniform:.3f} for uniform "
        f"attention on the same sentence: {verdict}."
    )
    chart, table = cached(
        circuit_charts.head_score_heatmap,
        scores,
        value="induction_score",
        title="Induction score per head",
        what="all attention on the token after the earlier copy",
        baseline=uniform,
    )
    chart_with_table(chart, table, table_label="induction score per head")


def _residual_section(res: dict, prod: dict) -> None:
    st.header("4. The residual stream of a production model", divider="gray")
    st.markdown(
        "The Residual stream page's analyses, applied to this model: x0 is token plus learned "
        "position embeddings, x_(l+1) the stream after block l (attention and MLP). They are "
        "taken "
        "*before* the final LayerNorm; transformers' last hidden state is that stream after "
        "LayerNorm, which rescales every position to a similar norm "
        f"(mean {res['final_after_ln_norms'].mean():.2f} after, versus "
        f"{res['stream_norms'][-1].mean():.2f} before). Inside the blocks, LayerNorm only "
        "changes what each block *reads*; the stream itself still grows by addition."
    )
    m = st.columns(3)
    m[0].metric(
        "Preservation x0 → final",
        f"{res['preservation_initial_to_final']:.3f}",
        help="Cosine between the initial and the final stream (all positions "
        "flattened, before the final LayerNorm).",
    )
    m[1].metric(
        "Total change x0 → final",
        f"{res['total_change_initial_to_final']:.2f}",
        help="‖final − x0‖ / ‖x0‖.",
    )
    m[2].metric("Rank cap: min(tokens, d_model)", res["rank_cap"])
    stream_size_and_direction(res["stream_norms"], res["similarities_to_initial"])
    chart, table = cached(
        charts.effective_rank_chart, res["effective_ranks"], res["rank_cap"], prod["n_embd"]
    )
    chart_with_table(chart, table, table_label="effective rank per layer")


def _exact_section(res: dict) -> None:
    dla = res["dla"]
    n_blocks = (len(res["component_names"]) - 1) // 2
    st.header("5. What stays exact in GPT-2, and what does not", divider="gray")
    st.markdown(
        "**The stream is still an exact sum.** Every block *adds* its output to the stream, so "
        f"the final stream (before the final LayerNorm) is x0 + the {n_blocks} attention "
        f"outputs + the {n_blocks} MLP outputs, for this sentence, at every position. LayerNorm "
        "and the MLPs do not make this decomposition approximate: LayerNorm only rescales what a "
        "block reads, and each MLP's output, however non-linear, is one term of the sum. "
        "Measured live on your sentence:"
    )
    m = st.columns(2)
    m[0].metric(
        "max |x_L − (x0 + Σ attention + Σ MLP)|",
        f"{res['component_sum_error']:.1e}",
        help="Largest difference over all positions and dimensions between the "
        "model's final stream and the sum of its parts: float32 rounding.",
    )
    m[1].metric(
        "For scale: largest ‖x_L‖ at one position",
        f"{float(res['stream_norms'][-1].max()):.1f}",
        help="The norm of the final stream at its largest position: the difference "
        "on the left is float32 rounding against numbers of this size.",
    )

    st.markdown(
        "**Direct logit attribution is exact once the final LayerNorm's scale is frozen.** The "
        "logit of a token t is ln_f(x) · W_U[t]. ln_f subtracts the mean (linear) and divides "
        "by σ, the standard deviation of x at that position (with eps). Freeze σ at its actual "
        "value for this input and the logit splits into one term per component plus a bias "
        "term:"
    )
    st.latex(
        r"\text{logit}_t = \sum_{c} \frac{c - \operatorname{mean}(c)}{\sigma}\,\gamma"
        r"\cdot W_U[t] \;+\; \beta \cdot W_U[t]"
    )
    shown = charts.text_label(dla["token"])
    chart, table = cached(
        charts.logit_attribution_chart,
        dla["components"],
        dla["contributions"],
        dla["token"],
        dla["logit"],
        dla["sum_error"],
    )
    chart_with_table(chart, table, table_label=f"direct logit attribution of “{shown}”")
    m = st.columns(4)
    m[0].metric(
        "Predicted token",
        shown,
        help=f"Token id {dla['token_id']}, the model's top prediction after the last position.",
    )
    m[1].metric("Its logit (model)", f"{dla['logit']:.4f}")
    m[2].metric("Σ contributions", f"{dla['total']:.4f}")
    m[3].metric(
        "|difference|", f"{dla['sum_error']:.1e}", help=f"σ for this position = {dla['sigma']:.4f}."
    )

    st.markdown(
        "**What is lost.** In the lesson's model (no LayerNorm, no MLP) every term can be "
        "expanded further into linear *paths through* later components: head A's output read "
        "by head B's OV circuit is a term of its own. In GPT-2 that expansion stops: each block "
        "reads its input through a LayerNorm, which divides by that stream's norm (a different "
        "number for every input), and every MLP applies GELU, which is not linear. So the bars "
        "above are exact for this input, but they are not the sum of fixed path terms, and σ "
        "changes when the input changes.\n\n"
        "**A bar is a direct effect, not a total effect.** Each bar is what that component "
        "wrote, read straight by the unembedding. What it wrote is also read by every later "
        "block (composition), which adds an indirect effect that no bar shows. To measure the "
        "total effect, remove the component's output and run the model again (ablation)."
    )


if __name__ == "__main__":  # run as a script only by Streamlit's legacy pages-directory mode
    from ui.navigation import reroute_to_app

    reroute_to_app()
