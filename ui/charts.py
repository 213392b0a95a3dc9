"""Pure chart builders: data in → (Altair chart, pandas table) out.

Every chart carries a title and a ``description`` (rendered as the chart's aria-label), and
comes with the table of the data it draws, so a page can show both. Where colour encodes a
value, the value is also printed in the cells (small heatmaps) or available in the tooltip and
the table, so colour never carries meaning alone.
"""

from __future__ import annotations

from typing import Sequence

import altair as alt
import numpy as np
import pandas as pd

__all__ = [
    "ChartWithTable",
    "stream_norm_chart",
    "attention_heatmap",
    "entropy_heatmap",
    "singular_value_chart",
    "token_matrix_heatmap",
    "decomposition_chart",
    "head_contribution_heatmap",
    "token_label",
]

ChartWithTable = tuple[alt.Chart, pd.DataFrame]

#: Print values inside heatmap cells up to this many cells per side.
TEXT_CELLS_MAX = 16


def text_label(token: str) -> str:
    """A token's text made visible on an axis: leading spaces as '␣', newlines as '⏎'."""
    shown = token.replace(" ", "␣").replace("\n", "⏎").replace("\t", "⇥")
    return shown if len(shown) <= 14 else shown[:13] + "…"


def token_label(position: int, token_id: int) -> str:
    """Axis label for a sequence position, e.g. ``"3 · id 89"``."""
    return f"{position} · id {int(token_id)}"


def _heatmap(df: pd.DataFrame, *, x: str, y: str, value: str, x_title: str, y_title: str,
             x_order: Sequence[str], y_order: Sequence[str], title: str, description: str,
             scheme: str = "blues", fmt: str = ".2f", domain_mid: float | None = None,
             dark_at: str = "high", tooltip_extra: Sequence[str] = ()) -> alt.Chart:
    """Heatmap; values are printed in the cells when there are few enough of them.

    ``dark_at`` says where the colour scheme is dark ("high", "low" or "ends" for diverging
    schemes) so the printed value switches to white there and stays readable.
    """
    scale = (alt.Scale(scheme="redblue", domainMid=domain_mid, reverse=True)
             if domain_mid is not None else alt.Scale(scheme=scheme))
    base = alt.Chart(df).encode(
        x=alt.X(f"{x}:N", sort=list(x_order), title=x_title, axis=alt.Axis(labelAngle=-45)),
        y=alt.Y(f"{y}:N", sort=list(y_order), title=y_title),
    )
    rect = base.mark_rect().encode(
        color=alt.Color(f"{value}:Q", scale=scale, title=value.replace("_", " ")),
        tooltip=[x, y, alt.Tooltip(f"{value}:Q", format=".4g"), *tooltip_extra],
    )
    layers = [rect]
    n_cells = max(len(x_order), len(y_order))
    if n_cells <= TEXT_CELLS_MAX:
        vals = df[value].to_numpy(dtype=float)
        lo, hi = float(np.nanmin(vals)), float(np.nanmax(vals))
        if dark_at == "ends":
            cut = 0.6 * max(abs(lo), abs(hi))
            dark = (alt.datum[value] > cut) | (alt.datum[value] < -cut)
        elif dark_at == "low":
            dark = alt.datum[value] < lo + 0.45 * (hi - lo)
        else:
            dark = alt.datum[value] > lo + 0.6 * (hi - lo)
        text = base.mark_text(fontSize=10 if n_cells <= 10 else 8).encode(
            text=alt.Text(f"{value}:Q", format=fmt),
            color=alt.condition(dark, alt.value("#ffffff"), alt.value("#111111")),
        )
        layers.append(text)
    cell = 34 if n_cells <= 10 else 28 if n_cells <= TEXT_CELLS_MAX else max(6, 560 // n_cells)
    return alt.layer(*layers).properties(
        title=title, description=description,
        width=cell * len(x_order), height=cell * len(y_order),
    )


def _layer_head_heatmap(values: np.ndarray, value: str, *, title: str, description: str,
                        extra: dict[str, np.ndarray] | None = None,
                        **heatmap_kwargs) -> tuple[alt.Chart, pd.DataFrame, pd.DataFrame]:
    """A [layer, head] heatmap: (chart, long data, layer × head table)."""
    n_layer, n_head = values.shape
    layers = [f"L{i}" for i in range(n_layer)]
    heads = [f"H{j}" for j in range(n_head)]
    l, h = np.meshgrid(np.arange(n_layer), np.arange(n_head), indexing="ij")
    df = pd.DataFrame({"layer": [layers[i] for i in l.ravel()],
                       "head": [heads[j] for j in h.ravel()], value: values.ravel()})
    for name, column in (extra or {}).items():
        df[name] = column.ravel()
    chart = _heatmap(df, x="head", y="layer", value=value, x_title="Head", y_title="Layer",
                     x_order=heads, y_order=layers, title=title, description=description,
                     **heatmap_kwargs)
    table = pd.DataFrame(values, index=pd.Index(layers, name="layer"), columns=heads)
    return chart, df, table


def stream_norm_chart(stream_norms: np.ndarray) -> ChartWithTable:
    """``stream_norms`` [layer + 1, seq] → line of the mean ‖x_l‖ with the min–max band."""
    n = stream_norms.shape[0]
    df = pd.DataFrame({
        "stream": [f"x{l}" for l in range(n)],
        "after_layer": list(range(n)),
        "mean_norm": stream_norms.mean(axis=1),
        "min_norm": stream_norms.min(axis=1),
        "max_norm": stream_norms.max(axis=1),
    })
    x = alt.X("after_layer:O", title="Residual stream x_l (0 = embeddings, l = after layer l)")
    band = alt.Chart(df).mark_area(opacity=0.25).encode(
        x=x, y=alt.Y("min_norm:Q", title="‖x_l‖ (L2 norm over d_model)"), y2="max_norm:Q")
    line = alt.Chart(df).mark_line(point=True).encode(
        x=x, y="mean_norm:Q",
        tooltip=["stream", alt.Tooltip("mean_norm:Q", format=".4f"),
                 alt.Tooltip("min_norm:Q", format=".4f"), alt.Tooltip("max_norm:Q", format=".4f")],
    )
    growth = df["mean_norm"].iloc[-1] / df["mean_norm"].iloc[0] if df["mean_norm"].iloc[0] else 0
    chart = alt.layer(band, line).properties(
        title="Residual stream norm through the layers",
        description=(
            f"Line chart of the mean L2 norm of the residual stream at each of {n} points, from "
            f"the embeddings (x0 = {df['mean_norm'].iloc[0]:.3f}) to the final stream "
            f"(x{n - 1} = {df['mean_norm'].iloc[-1]:.3f}), a factor of {growth:.3f}; the shaded "
            f"band spans the smallest to the largest position."
        ),
        height=280,
    )
    return chart, df.drop(columns="after_layer")


def attention_heatmap(weights: np.ndarray, token_ids: Sequence[int], layer: int,
                      head: int, token_texts: Sequence[str] | None = None) -> ChartWithTable:
    """One head's pattern ``[query, key]`` with positions and token ids (or the tokens' text,
    when ``token_texts`` is given) on both axes."""
    seq = weights.shape[0]
    if token_texts is None:
        labels = [token_label(i, t) for i, t in enumerate(token_ids)]
    else:
        labels = [f"{i} · {text_label(t)}" for i, t in enumerate(token_texts)]
    q, k = np.meshgrid(np.arange(seq), np.arange(seq), indexing="ij")
    df = pd.DataFrame({
        "query": [labels[i] for i in q.ravel()],
        "key": [labels[j] for j in k.ravel()],
        "weight": weights.ravel(),
        "masked_future": (k > q).ravel(),
    })
    top = np.argmax(weights, axis=1)
    desc = (
        f"Heatmap of layer {layer}, head {head}: rows are query positions, columns key positions "
        f"(each labelled with its token); darker means more attention. Cells above the "
        f"diagonal are 0 because a token cannot attend to later tokens. The last query attends "
        f"most to position {int(top[-1])} (weight {weights[-1, top[-1]]:.3f})."
    )
    kind = "token id" if token_texts is None else "token"
    chart = _heatmap(df, x="key", y="query", value="weight", x_title=f"Key position · {kind}",
                     y_title=f"Query position · {kind}", x_order=labels, y_order=labels,
                     title=f"Attention pattern: layer {layer}, head {head}", description=desc)
    table = pd.DataFrame(weights, index=pd.Index(labels, name="query \\ key"), columns=labels)
    return chart, table


def entropy_heatmap(entropy: np.ndarray, seq_len: int) -> ChartWithTable:
    """``entropy`` [layer, head] in nats, mean over query positions."""
    n_layer, n_head = entropy.shape
    uniform = float(np.mean(np.log(np.arange(1, seq_len + 1))))
    lo = np.unravel_index(np.argmin(entropy), entropy.shape)
    desc = (
        f"Heatmap of attention entropy for {n_layer} layers × {n_head} heads, in nats, averaged "
        f"over query positions. Lower means a sharper, more focused head. Lowest: layer {lo[0]} "
        f"head {lo[1]} at {entropy[lo]:.3f}; a head attending uniformly to all earlier tokens "
        f"would score {uniform:.3f}."
    )
    chart, _, table = _layer_head_heatmap(entropy, "entropy_nats",
                                          title="Attention entropy per head (nats)",
                                          description=desc, scheme="viridis", dark_at="low")
    return chart, table


def singular_value_chart(values: np.ndarray, rank_cap: int, name: str, layer: int,
                         head: int) -> ChartWithTable:
    """Bar chart of a circuit's leading singular values with the rank cap d_head marked."""
    df = pd.DataFrame({"index": np.arange(1, len(values) + 1), "singular_value": values})
    df["within_rank_cap"] = np.where(df["index"] <= rank_cap, "yes", "no (numerically zero)")
    bars = alt.Chart(df).mark_bar().encode(
        x=alt.X("index:O", title="Singular value index"),
        y=alt.Y("singular_value:Q", title="Singular value"),
        opacity=alt.condition(alt.datum.index <= rank_cap, alt.value(1.0), alt.value(0.35)),
        tooltip=["index", alt.Tooltip("singular_value:Q", format=".5f"), "within_rank_cap"],
    )
    rule = alt.Chart(pd.DataFrame({"cap": [rank_cap + 0.5]})).mark_rule(
        strokeDash=[6, 4], color="#b00020").encode(x=alt.X("cap:Q", axis=None))
    label = alt.Chart(pd.DataFrame({"index": [rank_cap], "y": [float(values.max())]})).mark_text(
        align="left", dx=6, dy=-4, color="#b00020").encode(
        x=alt.X("index:O"), y="y:Q", text=alt.value(f"rank cap d_head = {rank_cap}"))
    desc = (
        f"Bar chart of the {len(values)} largest singular values of the {name} circuit of layer "
        f"{layer}, head {head}. Only the first {rank_cap} (d_head) can be non-zero, because the "
        f"circuit is a product through a {rank_cap}-dimensional head; the largest is "
        f"{values[0]:.4f}."
    )
    chart = alt.layer(bars, label).properties(
        title=f"{name} circuit singular values (layer {layer}, head {head})", description=desc,
        height=240)
    return chart, df


def token_matrix_heatmap(matrix: np.ndarray, tokens: Sequence[int], *, title: str,
                         description: str, row_title: str, col_title: str,
                         value: str) -> ChartWithTable:
    """Token × token matrix (rows, columns labelled by token id), diverging colours around 0."""
    labels = [f"id {t}" for t in tokens]
    r, c = np.meshgrid(np.arange(len(tokens)), np.arange(len(tokens)), indexing="ij")
    df = pd.DataFrame({"row": [labels[i] for i in r.ravel()],
                       "column": [labels[j] for j in c.ravel()], value: matrix.ravel()})
    chart = _heatmap(df, x="column", y="row", value=value, x_title=col_title, y_title=row_title,
                     x_order=labels, y_order=labels, title=title, description=description,
                     domain_mid=0.0, fmt=".1e", dark_at="ends")
    table = pd.DataFrame(matrix, index=pd.Index(labels, name=f"{row_title} \\ {col_title}"),
                         columns=labels)
    return chart, table


def decomposition_chart(direct_norms: np.ndarray, layer_norms: np.ndarray,
                        final_norms: np.ndarray, direct_cosine: float,
                        layer_cosines: np.ndarray, reconstruction_error: float) -> ChartWithTable:
    """Size of each source's contribution to the final stream (mean ‖·‖ over positions)."""
    sources = ["Embeddings (direct path)"] + [f"Layer {l}" for l in range(len(layer_norms))]
    df = pd.DataFrame({
        "source": sources + ["Final stream"],
        "mean_norm": [direct_norms.mean(), *layer_norms.mean(axis=1), final_norms.mean()],
        "cosine_with_final": [direct_cosine, *layer_cosines, 1.0],
        "kind": ["part"] * len(sources) + ["sum of parts"],
    })
    bars = alt.Chart(df).mark_bar().encode(
        y=alt.Y("source:N", sort=list(df["source"]), title=None,
                axis=alt.Axis(labelLimit=220)),
        x=alt.X("mean_norm:Q", title="Mean L2 norm over positions"),
        opacity=alt.Opacity("kind:N", scale=alt.Scale(domain=["part", "sum of parts"],
                                                      range=[1.0, 0.45]), title=None),
        tooltip=["source", alt.Tooltip("mean_norm:Q", format=".4f"),
                 alt.Tooltip("cosine_with_final:Q", format=".4f")],
    )
    text = bars.mark_text(align="left", dx=4).encode(
        text=alt.Text("mean_norm:Q", format=".3f"), opacity=alt.value(1.0))
    biggest = df.iloc[:-1]["mean_norm"].idxmax()
    desc = (
        f"Horizontal bar chart: how large each source's contribution to the final residual stream "
        f"is, for the embeddings and each of {len(layer_norms)} layers, and the final stream "
        f"itself. The largest part is {df['source'][biggest]}. Adding all parts rebuilds the final "
        f"stream with a maximum error of {reconstruction_error:.1e}."
    )
    chart = alt.layer(bars, text).properties(
        title="Exact decomposition of the final stream by source", description=desc)
    return chart, df.drop(columns="kind")


def head_contribution_heatmap(head_norms: np.ndarray, head_cosines: np.ndarray) -> ChartWithTable:
    """``head_norms`` [layer, head, seq] → mean ‖head output‖ per layer × head."""
    mean = head_norms.mean(axis=2)
    n_layer, n_head = mean.shape
    top = np.unravel_index(np.argmax(mean), mean.shape)
    desc = (
        f"Heatmap of how much each of {n_layer} × {n_head} heads writes into the residual stream "
        f"(mean L2 norm of its output over positions). The largest writer is layer {top[0]} head "
        f"{top[1]} ({mean[top]:.4f})."
    )
    chart, df, _ = _layer_head_heatmap(mean, "mean_norm",
                                       title="Per-head contribution to the final stream",
                                       description=desc, extra={"cosine_with_final": head_cosines},
                                       scheme="oranges", fmt=".3f",
                                       tooltip_extra=["cosine_with_final"])
    return chart, df


def _stream_labels(n: int) -> list[str]:
    return [f"x{l}" for l in range(n)]


def similarity_chart(similarities: Sequence[float]) -> ChartWithTable:
    """Cosine of each stream with the initial one (x0 is 1 by definition)."""
    values = [1.0, *similarities]
    df = pd.DataFrame({"stream": _stream_labels(len(values)), "after_layer": range(len(values)),
                       "cosine_with_x0": values})
    chart = alt.Chart(df).mark_line(point=True).encode(
        x=alt.X("after_layer:O", title="Residual stream x_l (0 = embeddings)"),
        y=alt.Y("cosine_with_x0:Q", title="Cosine similarity with x0",
                scale=alt.Scale(domain=[min(0.0, min(values)), 1.0])),
        tooltip=["stream", alt.Tooltip("cosine_with_x0:Q", format=".5f")],
    ).properties(
        title="Information preservation: similarity to the initial stream",
        description=(
            f"Line chart of the cosine similarity between each residual stream and the initial "
            f"stream x0, over {len(values)} streams; it goes from 1.0 at x0 to "
            f"{values[-1]:.4f} at the final stream."
        ),
        height=260,
    )
    return chart, df.drop(columns="after_layer")


def effective_rank_chart(effective_ranks: Sequence[int], rank_cap: int,
                         d_model: int) -> ChartWithTable:
    """Effective rank per stream with the cap min(tokens, d_model) drawn as a dashed line."""
    n = len(effective_ranks)
    df = pd.DataFrame({"stream": _stream_labels(n), "after_layer": range(n),
                       "effective_rank": list(effective_ranks), "rank_cap": rank_cap,
                       "d_model": d_model})
    x = alt.X("after_layer:O", title="Residual stream x_l (0 = embeddings)")
    top = max(rank_cap, max(effective_ranks)) * 1.15 + 0.5
    line = alt.Chart(df).mark_line(point=True).encode(
        x=x, y=alt.Y("effective_rank:Q", title="Directions holding 90% of the energy",
                     scale=alt.Scale(domain=[0, top])),
        tooltip=["stream", "effective_rank", "rank_cap", "d_model"],
    )
    cap = alt.Chart(df).mark_line(strokeDash=[6, 4], color="#b00020").encode(
        x=x, y="rank_cap:Q")
    cap_label = alt.Chart(df.tail(1)).mark_text(align="right", dy=-8, color="#b00020").encode(
        x=x, y="rank_cap:Q", text=alt.value(f"cap = min(tokens, d_model) = {rank_cap}"))
    chart = alt.layer(line, cap, cap_label).properties(
        title="Subspace use: effective rank per layer",
        description=(
            f"Line chart of the effective rank (fewest directions holding 90% of the stream's "
            f"energy) of each of {n} residual streams, from {effective_ranks[0]} to "
            f"{effective_ranks[-1]}; a dashed line marks the cap of {rank_cap}, the most any "
            f"stream of this many tokens can reach (d_model is {d_model})."
        ),
        height=260,
    )
    return chart, df.drop(columns="after_layer")


def spectrum_chart(singular_values: np.ndarray, stream: str) -> ChartWithTable:
    """Singular values of one stream ``[tokens, d_model]``, with cumulative energy share."""
    s = np.asarray(singular_values, dtype=float)
    energy = s**2
    total = energy.sum()
    share = np.cumsum(energy) / total if total > 0 else np.zeros_like(energy)
    df = pd.DataFrame({"direction": np.arange(1, len(s) + 1), "singular_value": s,
                       "cumulative_energy_share": share})
    bars = alt.Chart(df).mark_bar().encode(
        x=alt.X("direction:O", title="Singular direction (largest first)"),
        y=alt.Y("singular_value:Q", title="Singular value"),
        tooltip=["direction", alt.Tooltip("singular_value:Q", format=".4f"),
                 alt.Tooltip("cumulative_energy_share:Q", format=".1%")],
    )
    chart = bars.properties(
        title=f"Singular-value spectrum of stream {stream}",
        description=(
            f"Bar chart of the {len(s)} singular values of residual stream {stream} (all "
            f"positions stacked), largest first: {s[0]:.3f} down to {s[-1]:.3g}. The first "
            f"direction alone holds {share[0]:.1%} of the energy."
        ) if len(s) else f"Stream {stream} has no singular values.",
        height=260,
    )
    return chart, df


def information_types_chart(token_similarity: Sequence[float],
                            position_similarity: Sequence[float]) -> ChartWithTable:
    """Cosine of each stream with the token-embedding part and with the position part of x0."""
    n = len(token_similarity)
    df = pd.DataFrame({
        "stream": _stream_labels(n) * 2,
        "after_layer": list(range(n)) * 2,
        "information": ["token identity (W_E part)"] * n + ["position (W_pos part)"] * n,
        "cosine": [*token_similarity, *position_similarity],
    })
    x = alt.X("after_layer:O", title="Residual stream x_l (0 = embeddings)")
    enc = dict(
        x=x, y=alt.Y("cosine:Q", title="Cosine with that part of x0"),
        color=alt.Color("information:N", title="Information"),
        strokeDash=alt.StrokeDash("information:N", title="Information"),
        shape=alt.Shape("information:N", title="Information"),
        tooltip=["stream", "information", alt.Tooltip("cosine:Q", format=".4f")],
    )
    chart = alt.Chart(df).mark_line(point=True).encode(**enc).properties(
        title="Information types carried along the stream",
        description=(
            f"Line chart with two lines (told apart by colour, dash and marker shape): the cosine "
            f"of each of {n} streams with the token-embedding part of x0 (from "
            f"{token_similarity[0]:.3f} to {token_similarity[-1]:.3f}) and with the positional "
            f"part (from {position_similarity[0]:.3f} to {position_similarity[-1]:.3f})."
        ),
        height=260,
    )
    table = pd.DataFrame({"stream": _stream_labels(n), "token_similarity": token_similarity,
                          "position_similarity": position_similarity})
    return chart, table


def mastery_chart(objective_mastery: dict[str, float], threshold: float,
                  labels: dict[str, str] | None = None) -> ChartWithTable:
    """Per-objective mastery (0–1) as bars, with the pass mark as a dashed rule."""
    labels = labels or {}
    df = pd.DataFrame({
        "objective": list(objective_mastery),
        "description": [labels.get(k, "") for k in objective_mastery],
        "mastery": [float(v) for v in objective_mastery.values()],
    })
    df["status"] = np.where(df["mastery"] >= threshold, "at or above the pass mark",
                            "below the pass mark")
    bars = alt.Chart(df).mark_bar().encode(
        y=alt.Y("objective:N", title="Learning objective", sort=list(df["objective"])),
        x=alt.X("mastery:Q", title="Mastery", scale=alt.Scale(domain=[0, 1]),
                axis=alt.Axis(format="%")),
        opacity=alt.Opacity("status:N", title="Status",
                            scale=alt.Scale(domain=["at or above the pass mark",
                                                    "below the pass mark"], range=[1.0, 0.45])),
        tooltip=["objective", "description", alt.Tooltip("mastery:Q", format=".0%"), "status"],
    )
    text = bars.mark_text(align="left", dx=4).encode(
        text=alt.Text("mastery:Q", format=".0%"), opacity=alt.value(1.0))
    rule = alt.Chart(pd.DataFrame({"pass_mark": [threshold]})).mark_rule(
        strokeDash=[6, 4], color="#b00020").encode(x="pass_mark:Q")
    parts = ", ".join(f"{o} {m:.0%}" for o, m in zip(df["objective"], df["mastery"]))
    chart = alt.layer(bars, text, rule).properties(
        title="Mastery per learning objective",
        description=(f"Horizontal bar chart of your mastery of each learning objective: {parts}; "
                     f"a dashed line marks the pass mark of {threshold:.0%}."),
        height=40 * max(1, len(df)) + 20,
    )
    return chart, df


def previous_token_heatmap(scores: np.ndarray) -> ChartWithTable:
    """``scores`` [layer, head]: mean attention to the previous position (1 = previous-token head)."""
    n_layer, n_head = scores.shape
    top = np.unravel_index(np.argmax(scores), scores.shape)
    desc = (
        f"Heatmap of how much attention each of {n_layer} × {n_head} heads pays to the token "
        f"just before the query, averaged over positions; values near 1 mark previous-token "
        f"heads. Highest: layer {top[0]} head {top[1]} at {scores[top]:.2f}."
    )
    chart, _, table = _layer_head_heatmap(scores, "attention_to_previous",
                                          title="Previous-token attention per head",
                                          description=desc, scheme="purples")
    return chart, table


def top_predictions_chart(predictions: Sequence[dict], context: str) -> ChartWithTable:
    """Next-token probabilities of the top-k candidates, as bars labelled with the token."""
    df = pd.DataFrame({
        "rank": range(1, len(predictions) + 1),
        "token": [text_label(p["token"]) for p in predictions],
        "token_id": [p["id"] for p in predictions],
        "probability": [p["probability"] for p in predictions],
    })
    bars = alt.Chart(df).mark_bar().encode(
        y=alt.Y("token:N", sort=list(df["token"]), title="Next token (␣ = space)"),
        x=alt.X("probability:Q", title="Probability", axis=alt.Axis(format="%")),
        tooltip=["rank", "token", "token_id", alt.Tooltip("probability:Q", format=".2%")],
    )
    text = bars.mark_text(align="left", dx=4).encode(text=alt.Text("probability:Q", format=".1%"))
    listed = "; ".join(f"{t} {p:.1%}" for t, p in zip(df["token"], df["probability"]))
    chart = alt.layer(bars, text).properties(
        title="Top next-token predictions",
        description=(f"Horizontal bar chart of the model's {len(df)} most likely next tokens "
                     f"after “{context[-60:]}”: {listed}."),
        height=36 * max(1, len(df)) + 20,
    )
    return chart, df
