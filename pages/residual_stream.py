"""Residual stream (LO2): how information is preserved and accumulated through the layers."""

import numpy as np
import pandas as pd
import streamlit as st

from ui import charts
from ui.assessment_ui import checkpoint
from ui.controls import (
    comparison_keys,
    current_settings,
    get_profile,
    get_report,
    get_stream_statistics,
    model_sidebar,
    show_settings_error,
    token_labels,
)
from ui.layout import cached, chart_with_table, stream_size_and_direction, weights_note


def _side_by_side(trained, random, token_ids) -> None:
    """The same input through a trained model and a random one of the same shape."""
    a, b = get_profile(trained, token_ids), get_profile(random, token_ids)
    names = {"trained": a, "random (same shape)": b}  # short: legends and table columns
    st.markdown(
        f"The same {len(token_ids)} tokens through **{trained.label}** and **{random.label}**. "
        "The architecture is the same; only training differs."
    )
    n_streams = len(a["mean_norm"])
    streams = [f"x{l}" for l in range(n_streams)]
    layers = [f"layer {l}" for l in range(n_streams - 1)]
    growth = {n: (p["mean_norm"][-1] / p["mean_norm"][0]) for n, p in names.items()}
    g_t, g_r = growth["trained"], growth["random (same shape)"]
    m = st.columns(4)
    m[0].metric("‖x_L‖/‖x0‖, trained", f"{g_t:.3g}×")
    m[1].metric("‖x_L‖/‖x0‖, random", f"{g_r:.3g}×")
    m[2].metric("Similarity of x_L to x0, trained", f"{a['similarity_to_x0'][-1]:.3f}")
    m[3].metric("Similarity of x_L to x0, random", f"{b['similarity_to_x0'][-1]:.3f}")
    ent_a, ent_b = np.mean(a["entropy"]), np.mean(b["entropy"])
    uni = a["uniform_entropy"]
    sharper = "sharper than" if ent_a < ent_b else "no sharper than"
    writes = "more" if g_t > g_r else "no more"
    st.markdown(
        f"What the numbers say here: the trained model's final stream is "
        f"{g_t:.3g}× the size of its embeddings against "
        f"{g_r:.3g}× for random weights, and keeps a similarity of "
        f"{a['similarity_to_x0'][-1]:.3f} to x0 against {b['similarity_to_x0'][-1]:.3f}: "
        f"the trained heads write {writes} into the stream. Its heads attend with a mean "
        f"entropy of {ent_a:.3f} nats, {sharper} the random heads' {ent_b:.3f} (uniform "
        f"attention on this input: {uni:.3f}), and its final stream uses "
        f"{a['effective_rank'][-1]} directions for 90 % of its energy against "
        f"{b['effective_rank'][-1]}."
    )
    specs = [
        (
            "mean_norm",
            "mean ‖x_l‖",
            streams,
            "Stream size per layer",
            "the mean norm of each residual stream",
            None,
            None,
            None,
        ),
        (
            "similarity_to_x0",
            "cosine with x0",
            streams,
            "Similarity to the embeddings x0",
            "the cosine similarity of each stream with x0",
            (min(0.0, min(a["similarity_to_x0"] + b["similarity_to_x0"])), 1.0),
            None,
            None,
        ),
        (
            "effective_rank",
            "effective rank",
            streams,
            "Effective rank per stream",
            "the effective rank (directions holding 90 % of the energy) of each stream",
            None,
            None,
            None,
        ),
        (
            "entropy",
            "mean attention entropy (nats)",
            layers,
            "Attention entropy per layer",
            "the mean attention entropy of each layer's heads",
            (0.0, max(uni, 1e-9) * 1.1),
            uni,
            "uniform attention",
        ),
    ]
    cols = st.columns(2)
    for i, (field, metric, xs, title, what, domain, base, base_label) in enumerate(specs):
        with cols[i % 2]:
            chart, data = cached(
                charts.comparison_chart,
                {n: p[field] for n, p in names.items()},
                metric=metric.replace(" ", "_"),
                x_title="stream" if xs is streams else "layer",
                x_labels=xs,
                title=title,
                what=what,
                domain=domain,
                baseline=base,
                baseline_label=base_label,
            )
            chart_with_table(chart, data, table_label=f"{title.lower()}, trained and random")


@st.fragment
def _spectrum(subspace: list[dict]) -> None:
    """One stream's singular values, picked by a selectbox: a fragment, so picking reruns only
    this part of the page."""
    stream_names = [f"x{l}" for l in range(len(subspace))]
    choice = st.selectbox(
        "Stream for the spectrum",
        stream_names,
        index=len(stream_names) - 1,
        key="residual_spectrum_stream",
        help="x0 is the embeddings; x_l is the stream after layer l − 1.",
    )
    sub = subspace[stream_names.index(choice)]
    c = st.columns(3)
    c[0].metric("Effective rank", sub["effective_rank"])
    c[1].metric("Cap: min(tokens, d_model)", sub["rank_cap"])
    c[2].metric("Share of the cap used", f"{sub['cap_utilization']:.0%}")
    chart, data = cached(charts.spectrum_chart, sub["singular_values"], choice)
    chart_with_table(chart, data, table_label=f"singular values of {choice}")


def render() -> None:
    model_sidebar()
    st.title("Residual stream: how information flows")
    show_settings_error()
    settings = current_settings()
    key, token_ids = settings.key, settings.token_ids
    cfg = key.config
    weights_note(key)
    rep = get_stream_statistics(key, token_ids)
    arch = get_report(key, token_ids)  # same cached trace
    n_tokens = len(token_ids)

    st.markdown(
        "Every layer reads the residual stream and **adds** its output: x_(l+1) = x_l + Σ heads. "
        "Because the update is a plain sum, we can ask precise questions of it: how much of the "
        "old stream survives a layer (its direction), how much is added (its size), how many "
        "directions of d_model the stream uses, and how much of the token and position "
        "information is still there. The model and input are the ones set in the sidebar, "
        "shared with the other lesson pages; section 6 runs the same input through a trained "
        "and a random model side by side."
    )
    st.caption(
        f"Model: {key.label}; input: {n_tokens} tokens ({', '.join(token_labels(key, token_ids))})."
    )
    for metric, note in rep["notes"].items():
        st.info(f"**{metric}:** {note}", icon="ℹ️")

    # -- 1. evolution ----------------------------------------------------------------------------
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
        table,
        hide_index=True,
        column_config={
            "stream": st.column_config.TextColumn("Streams"),
            "layer": st.column_config.NumberColumn("Layer"),
            "preservation_ratio": st.column_config.NumberColumn(
                "Preservation ratio", format="%.5f"
            ),
            "addition_magnitude": st.column_config.NumberColumn(
                "Addition magnitude", format="%.5f"
            ),
            "total_change": st.column_config.NumberColumn("Total change", format="%.5f"),
        },
    )
    per = rep["persistence"]
    m = st.columns(3)
    m[0].metric("Final similarity to x0", f"{per['final_similarity']:.4f}")
    m[1].metric(
        "Decay per layer",
        f"{per['information_decay_rate']:.4f}",
        help="Average drop in cosine similarity to x0 per layer, counted from x0 (1.0).",
    )
    m[2].metric("Largest change at layer", per["peak_change_layer"])

    # -- 2. magnitude and preservation -----------------------------------------------------------
    st.header("2. Magnitude and preservation", divider="gray")
    stream_size_and_direction(rep["stream_norms"], per["similarities_to_initial"])
    st.markdown(
        "Nothing is overwritten in place: a layer can only add. But what it adds can point "
        "against what is there, so a head *can* cancel part of the stream. A cosine also mixes "
        "two things: the direction of what was added and its size relative to the stream. A "
        "part that is still fully present can have a small cosine with the sum once larger "
        "writes are added; section 4 asks the sharper question of how much of each part is "
        "still there."
    )

    # -- 3. subspace -----------------------------------------------------------------------------
    st.header("3. How many directions the stream uses", divider="gray")
    subspace = rep["subspace"]
    ranks = [s["effective_rank"] for s in subspace]
    cap = subspace[0]["rank_cap"]
    st.markdown(
        "Stack the stream's positions into a tokens × d_model matrix and take its singular "
        "values. The **effective rank** is the fewest directions that hold 90% of the energy "
        f"(Σσ²). It can never exceed **min(tokens, d_model) = min({n_tokens}, {cfg.d_model}) = "
        f"{cap}**: {n_tokens} vectors span at most {n_tokens} directions. So 'rank utilisation' "
        f"against d_model ({ranks[-1]}/{cfg.d_model} = {ranks[-1] / cfg.d_model:.1%} for the "
        "final stream) says more about the input length than about the model; against the cap "
        f"it is {ranks[-1]}/{cap} = {ranks[-1] / cap:.0%}. Use longer inputs to learn about "
        "d_model."
    )
    chart, data = cached(charts.effective_rank_chart, ranks, cap, cfg.d_model)
    chart_with_table(chart, data, table_label="effective rank per layer")
    _spectrum(subspace)

    # -- 4. information types ------------------------------------------------------------------
    st.header("4. Token identity and position, carried along", divider="gray")
    info = rep["information"]
    st.markdown(
        "The initial stream is the sum of two parts: **token identity** (the row of W_E for each "
        "token) and **position** (the sinusoid for each position). For every later stream x_l "
        "we ask: what multiples a and b of those two parts best explain it, "
        "x_l ≈ a · token part + b · position part (least squares over all positions)? At x0 "
        "both are exactly 1: each part fully present. The coefficients stay at 1 as long as what "
        "the layers add has no component in the plane of the two parts, however much they add "
        "elsewhere; R² says how much of x_l the two parts explain together."
    )
    chart, data = cached(
        charts.information_types_chart,
        info["token_coefficient"],
        info["position_coefficient"],
        info["r_squared"],
    )
    chart_with_table(chart, data, table_label="token and position coefficients per stream")
    st.caption(
        f"Why not cosines? Here the token part has norm {info['token_norm']:.3g} and the "
        f"position part {info['position_norm']:.3g}, so the cosine of x0 with its own token "
        f"part is only {info['token_cosine'][0]:.3f}, although the token part is by "
        "construction 100 % present in x0. A cosine answers 'how aligned is x_l with this "
        "part', which shrinks whenever other parts are larger; a coefficient answers 'how much "
        "of this part is still there'."
    )

    # -- 5. decomposition ----------------------------------------------------------------------
    st.header("5. What the final stream is made of", divider="gray")
    st.markdown(
        "Because every update is a sum, the final stream splits exactly into the embeddings plus "
        "one term per head. The Architecture page (section 7) charts that split; here is the "
        "check on this model and input:"
    )
    m = st.columns(2)
    m[0].metric(
        "Sum-of-parts error (max abs)",
        f"{arch['reconstruction_error']:.1e}",
        help="max |embeddings + Σ heads − final stream| over positions and dimensions.",
    )
    m[1].metric(
        "Embeddings' share of the final stream",
        f"{arch['direct_share']:.1%}",
        help="(x0 · final) / ‖final‖²; the layers supply the rest.",
    )

    # -- 6. trained versus random -----------------------------------------------------------
    st.header("6. Trained and random weights, side by side", divider="gray")
    pair = comparison_keys(settings)
    if isinstance(pair, str):
        st.info(pair, icon="ℹ️")
    else:
        _side_by_side(*pair, token_ids)

    # -- checkpoint ------------------------------------------------------------------------------
    checkpoint("checkpoint_2")


if __name__ == "__main__":  # run as a script only by the legacy pages-directory mode
    from ui.navigation import reroute_to_app

    reroute_to_app()
