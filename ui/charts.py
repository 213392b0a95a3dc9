"""Pure chart builders: data in → (Altair chart, pandas table) out.

Every chart carries a title and a ``description`` (rendered as the chart's aria-label), and
comes with the table of the data it draws, so a page can show both. Colour never carries meaning
alone: values are printed in the cells (small heatmaps) or next to the bars, lines differ by dash
and marker shape as well as colour, and signs are printed.

Heatmap colour scales use a fixed, meaningful domain (attention 0…1, entropy 0…ln n), never the
data's own min…max, which would turn noise into contrast. Where "no structure" has a value
(uniform causal attention), the chart says it in a subtitle and marks the cells near it with
``≈U``, and the table has a ``vs_uniform`` column.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import altair as alt
import numpy as np
import pandas as pd

from core.trace import uniform_entropy, uniform_previous_token

# -- fast encodings -------------------------------------------------------------------------------
# Altair turns every channel value given as a string ("field:Q") or a dict (alt.condition,
# alt.value) into a channel object through ``from_dict``, which rebuilds a lookup table over all
# of its ~600 schema classes on each call: about 7 ms per value, most of a chart's build time.
# ``Chart.encode`` makes those objects directly (the same classes, so the same Vega-Lite spec).
_CHANNELS = {
    "x": (alt.X, alt.XValue),
    "y": (alt.Y, alt.YValue),
    "x2": (alt.X2, alt.X2Value),
    "y2": (alt.Y2, alt.Y2Value),
    "color": (alt.Color, alt.ColorValue),
    "fill": (alt.Fill, alt.FillValue),
    "stroke": (alt.Stroke, alt.StrokeValue),
    "opacity": (alt.Opacity, alt.OpacityValue),
    "size": (alt.Size, alt.SizeValue),
    "shape": (alt.Shape, alt.ShapeValue),
    "strokeDash": (alt.StrokeDash, alt.StrokeDashValue),
    "text": (alt.Text, alt.TextValue),
    "tooltip": (alt.Tooltip, alt.TooltipValue),
    "detail": (alt.Detail, None),
    "order": (alt.Order, alt.OrderValue),
    "xOffset": (alt.XOffset, alt.XOffsetValue),
    "yOffset": (alt.YOffset, alt.YOffsetValue),
}


def _channel(name: str, value):
    if isinstance(value, (list, tuple)):
        return [_channel(name, v) for v in value]
    classes = _CHANNELS.get(name)
    if classes is None or isinstance(value, alt.SchemaBase):
        return value
    field_class, value_class = classes
    if isinstance(value, str):
        return field_class(value)
    if isinstance(value, dict):
        cls = value_class if "value" in value else field_class
        if cls is not None:
            return cls(**value)
    return value


class Chart(alt.Chart):
    """``alt.Chart`` whose ``encode`` builds channel objects directly (see ``_CHANNELS``)."""

    def encode(self, *args, **channels):
        return super().encode(*args, **{k: _channel(k, v) for k, v in channels.items()})


__all__ = [
    "ChartWithTable",
    "stream_norm_chart",
    "attention_heatmap",
    "entropy_heatmap",
    "previous_token_heatmap",
    "singular_value_chart",
    "token_matrix_heatmap",
    "decomposition_chart",
    "head_contribution_heatmap",
    "similarity_chart",
    "effective_rank_chart",
    "spectrum_chart",
    "information_types_chart",
    "qk_terms_chart",
    "logit_attribution_chart",
    "mastery_chart",
    "top_predictions_chart",
    "token_label",
    "text_label",
    "QK_TERMS",
]

ChartWithTable = tuple[alt.Chart, pd.DataFrame]

#: Print values inside heatmap cells up to this many cells per side.
TEXT_CELLS_MAX = 16

#: Marker printed in heatmap cells whose value is within tolerance of the uniform baseline.
UNIFORM_MARK = "≈U"

#: Default relative tolerance for "at the uniform baseline".
BASELINE_RTOL = 0.01
#: Attention weights are marked as uniform within 10 % of 1 / (i + 1): small weights vary more.
ATTENTION_BASELINE_RTOL = 0.1

#: The four terms of an attention score when x = token part + position part (query · key).
QK_TERMS = ("token·token", "token·position", "position·token", "position·position")

_RED = "#b00020"


def text_label(token: str) -> str:
    """A token's text made visible on an axis: leading spaces as '␣', newlines as '⏎'."""
    shown = token.replace(" ", "␣").replace("\n", "⏎").replace("\t", "⇥")
    return shown if len(shown) <= 14 else shown[:13] + "…"


def token_label(position: int, token_id: int) -> str:
    """Axis label for a sequence position, e.g. ``"3 · id 89"``."""
    return f"{position} · id {int(token_id)}"


def _near(values: np.ndarray, baseline: np.ndarray | float, rtol: float) -> np.ndarray:
    """Whether each value is within ``rtol`` (relative) of its baseline."""
    base = np.asarray(baseline, dtype=float)
    return np.abs(np.asarray(values, dtype=float) - base) <= rtol * np.abs(base) + 1e-12


def _title(text: str, subtitle: Sequence[str] = ()) -> alt.TitleParams | str:
    if not subtitle:
        return text
    return alt.TitleParams(
        text=text,
        subtitle=list(subtitle),
        anchor="start",
        subtitleFontSize=13,
        subtitleColor="#333333",
    )


def _heatmap(
    df: pd.DataFrame,
    *,
    x: str,
    y: str,
    value: str,
    x_title: str,
    y_title: str,
    x_order: Sequence[str],
    y_order: Sequence[str],
    title: str,
    description: str,
    domain: tuple[float, float],
    scheme: str = "blues",
    fmt: str = ".2f",
    domain_mid: float | None = None,
    dark_at: str = "high",
    tooltip_extra: Sequence[str] = (),
    subtitle: Sequence[str] = (),
    near_col: str | None = None,
    legend_values: Sequence[float] | None = None,
) -> alt.LayerChart:
    """Heatmap on a fixed colour ``domain=(lo, hi)``; values are printed in the cells when there
    are few enough of them.

    ``domain_mid`` makes the scale diverging (red–blue) around that value. ``dark_at`` says where
    the colour scheme is dark ("high", "low" or "ends" for diverging schemes) so the printed value
    switches to white there; the switch is computed against ``domain``, like the colours.
    ``near_col`` names a boolean column: those cells get an extra ``≈U`` mark (a diamond when
    the grid is too large for text). ``legend_values`` are the ticks of the colour legend
    (default: the two ends of ``domain``).
    """
    lo, hi = float(domain[0]), float(domain[1])
    if not hi > lo:  # a degenerate domain (e.g. all zeros) would break the scale
        hi = lo + 1.0
    if domain_mid is not None:
        scale = alt.Scale(
            scheme="redblue", domain=[lo, hi], domainMid=domain_mid, reverse=True, clamp=True
        )
    else:
        scale = alt.Scale(scheme=scheme, domain=[lo, hi], clamp=True)
    base = Chart(df).encode(
        x=alt.X(f"{x}:N", sort=list(x_order), title=x_title, axis=alt.Axis(labelAngle=-45)),
        y=alt.Y(f"{y}:N", sort=list(y_order), title=y_title),
    )
    tooltip = [x, y, alt.Tooltip(f"{value}:Q", format=".4g"), *tooltip_extra]
    rect = base.mark_rect().encode(
        color=alt.Color(
            f"{value}:Q",
            scale=scale,
            title=value.replace("_", " "),
            legend=alt.Legend(
                values=[float(v) for v in (legend_values or (lo, hi))], format=".3~f"
            ),
        ),
        tooltip=tooltip,
    )
    layers = [rect]
    n_cells = max(len(x_order), len(y_order))
    if dark_at == "ends":
        mid = lo + (hi - lo) / 2 if domain_mid is None else float(domain_mid)
        reach = max(hi - mid, mid - lo)
        dark = (alt.datum[value] > mid + 0.6 * reach) | (alt.datum[value] < mid - 0.6 * reach)
    elif dark_at == "low":
        dark = alt.datum[value] < lo + 0.45 * (hi - lo)
    else:
        dark = alt.datum[value] > lo + 0.6 * (hi - lo)
    ink = alt.condition(dark, alt.value("#ffffff"), alt.value("#111111"))
    has_near = near_col is not None and bool(df[near_col].any())
    if n_cells <= TEXT_CELLS_MAX:
        size = 10 if n_cells <= 10 else 8
        text_enc = dict(text=alt.Text(f"{value}:Q", format=fmt), color=ink, tooltip=tooltip)
        if has_near:
            layers.append(
                base.transform_filter(~alt.datum[near_col])
                .mark_text(fontSize=size)
                .encode(**text_enc)
            )
            layers.append(
                base.transform_filter(alt.datum[near_col])
                .mark_text(fontSize=size, dy=-size * 0.6)
                .encode(**text_enc)
            )
            layers.append(
                base.transform_filter(alt.datum[near_col])
                .mark_text(fontSize=size, dy=size * 0.7, fontWeight="bold")
                .encode(text=alt.value(UNIFORM_MARK), color=ink, tooltip=tooltip)
            )
        else:
            layers.append(base.mark_text(fontSize=size).encode(**text_enc))
    elif has_near:
        cell_px = max(6, 560 // n_cells)
        layers.append(
            base.transform_filter(alt.datum[near_col])
            .mark_point(
                shape="diamond",
                filled=True,
                color="#111111",
                stroke="#ffffff",
                strokeWidth=0.5,
                size=max(6, (cell_px // 2) ** 2),
                opacity=1,
            )
            .encode(tooltip=tooltip)
        )
    cell = 34 if n_cells <= 10 else 28 if n_cells <= TEXT_CELLS_MAX else max(6, 560 // n_cells)
    return alt.layer(*layers).properties(
        title=_title(title, subtitle),
        description=description,
        width=cell * len(x_order),
        height=cell * len(y_order),
    )


def _mark_phrase(n_cells: int) -> str:
    return f"marked {UNIFORM_MARK}" if n_cells <= TEXT_CELLS_MAX else "marked with a ◆"


def _layer_head_heatmap(
    values: np.ndarray,
    value: str,
    *,
    title: str,
    description: str,
    extra: dict[str, np.ndarray] | None = None,
    **heatmap_kwargs,
) -> tuple[alt.Chart, pd.DataFrame]:
    """A [layer, head] heatmap: (chart, long data with one row per layer × head)."""
    n_layer, n_head = values.shape
    layers = [f"L{i}" for i in range(n_layer)]
    heads = [f"H{j}" for j in range(n_head)]
    l, h = np.meshgrid(np.arange(n_layer), np.arange(n_head), indexing="ij")
    df = pd.DataFrame(
        {
            "layer": [layers[i] for i in l.ravel()],
            "head": [heads[j] for j in h.ravel()],
            value: values.ravel(),
        }
    )
    for name, column in (extra or {}).items():
        df[name] = np.asarray(column).ravel()
    chart = _heatmap(
        df,
        x="head",
        y="layer",
        value=value,
        x_title="Head",
        y_title="Layer",
        x_order=heads,
        y_order=layers,
        title=title,
        description=description,
        **heatmap_kwargs,
    )
    return chart, df


def stream_norm_chart(stream_norms: np.ndarray) -> ChartWithTable:
    """``stream_norms`` [layer + 1, seq] → line of the mean ‖x_l‖ with the min–max band."""
    n = stream_norms.shape[0]
    df = pd.DataFrame(
        {
            "stream": [f"x{l}" for l in range(n)],
            "after_layer": list(range(n)),
            "mean_norm": stream_norms.mean(axis=1),
            "min_norm": stream_norms.min(axis=1),
            "max_norm": stream_norms.max(axis=1),
        }
    )
    x = alt.X("after_layer:O", title="Residual stream x_l (0 = embeddings, l = after layer l)")
    band = (
        Chart(df)
        .mark_area(opacity=0.25)
        .encode(x=x, y=alt.Y("min_norm:Q", title="‖x_l‖ (L2 norm over d_model)"), y2="max_norm:Q")
    )
    line = (
        Chart(df)
        .mark_line(point=True)
        .encode(
            x=x,
            y="mean_norm:Q",
            tooltip=[
                "stream",
                alt.Tooltip("mean_norm:Q", format=".4f"),
                alt.Tooltip("min_norm:Q", format=".4f"),
                alt.Tooltip("max_norm:Q", format=".4f"),
            ],
        )
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


def attention_heatmap(
    weights: np.ndarray,
    token_ids: Sequence[int],
    layer: int,
    head: int,
    token_texts: Sequence[str] | None = None,
    *,
    baseline_rtol: float = ATTENTION_BASELINE_RTOL,
) -> ChartWithTable:
    """One head's pattern ``[query, key]`` with positions and token ids (or the tokens' text,
    when ``token_texts`` is given) on both axes.

    Colours span the fixed domain 0…1. Uniform causal attention gives every key of query row i
    the weight 1 / (i + 1); visible cells within ``baseline_rtol`` of it are marked ``≈U``. The
    table is the ``[query, key]`` matrix plus ``uniform_weight`` (1 / (i + 1)) and
    ``vs_uniform`` (the row's largest |weight − 1 / (i + 1)| over keys 0 … i).
    """
    weights = np.asarray(weights, dtype=float)
    seq = weights.shape[0]
    if token_texts is None:
        labels = [token_label(i, t) for i, t in enumerate(token_ids)]
    else:
        labels = [f"{i} · {text_label(t)}" for i, t in enumerate(token_texts)]
    q, k = np.meshgrid(np.arange(seq), np.arange(seq), indexing="ij")
    uniform = 1.0 / (q + 1.0)
    visible = k <= q
    near = visible & _near(weights, uniform, baseline_rtol)
    df = pd.DataFrame(
        {
            "query": [labels[i] for i in q.ravel()],
            "key": [labels[j] for j in k.ravel()],
            "weight": weights.ravel(),
            "masked_future": (~visible).ravel(),
            "uniform_weight": np.where(visible, uniform, 0.0).ravel(),
            "near_uniform": near.ravel(),
        }
    )
    gap = np.where(visible, np.abs(weights - uniform), 0.0).max(axis=1) if seq else np.zeros(0)
    uniform_rows = int(np.sum(near.sum(axis=1) == np.arange(1, seq + 1)))
    top = np.argmax(weights, axis=1) if seq else np.zeros(0, dtype=int)
    last = (
        f" The last query attends most to position {int(top[-1])} "
        f"(weight {weights[-1, top[-1]]:.3f}; uniform would be {1 / seq:.3f})."
        if seq
        else ""
    )
    desc = (
        f"Heatmap of layer {layer}, head {head}: rows are query positions, columns key positions "
        f"(each labelled with its token); colour runs from 0 (light) to 1 (dark) and each weight "
        f"is printed. Cells above the diagonal are 0 because a token cannot attend to later "
        f"tokens. Uniform attention would give each key of row i the weight 1/(i+1); "
        f"{int(near.sum())} of {int(visible.sum())} visible cells are within "
        f"{baseline_rtol:.0%} of that ({UNIFORM_MARK}), and {uniform_rows} of {seq} rows are "
        f"uniform throughout.{last}"
    )
    subtitle = [
        "Colour scale fixed at 0…1. Uniform attention: row i gives",
        f"1/(i+1) to each of its i+1 keys; cells within {baseline_rtol:.0%} of that are "
        f"{_mark_phrase(seq)}.",
    ]
    kind = "token id" if token_texts is None else "token"
    chart = _heatmap(
        df,
        x="key",
        y="query",
        value="weight",
        x_title=f"Key position · {kind}",
        y_title=f"Query position · {kind}",
        x_order=labels,
        y_order=labels,
        title=f"Attention pattern: layer {layer}, head {head}",
        description=desc,
        domain=(0.0, 1.0),
        subtitle=subtitle,
        near_col="near_uniform",
        legend_values=[0.0, 0.5, 1.0],
        tooltip_extra=[alt.Tooltip("uniform_weight:Q", format=".4g")],
    )
    table = pd.DataFrame(weights, index=pd.Index(labels, name="query \\ key"), columns=labels)
    table["uniform_weight"] = 1.0 / (np.arange(seq) + 1.0)
    table["vs_uniform"] = gap
    return chart, table


def entropy_heatmap(
    entropy: np.ndarray, seq_len: int, *, baseline_rtol: float = BASELINE_RTOL
) -> ChartWithTable:
    """``entropy`` [layer, head] in nats, mean over query positions, on the fixed colour domain
    0 … ln(seq_len).

    The uniform baseline is uniform causal attention, mean over i of ln(i + 1); heads within
    ``baseline_rtol`` of it are marked ``≈U``. Table: one row per head with ``layer``, ``head``,
    ``entropy_nats``, ``uniform_nats``, ``vs_uniform`` (entropy − uniform, nats) and
    ``near_uniform``.
    """
    entropy = np.asarray(entropy, dtype=float)
    n_layer, n_head = entropy.shape
    top_nats = float(np.log(seq_len)) if seq_len > 1 else 0.0
    uniform = uniform_entropy(seq_len)
    near = _near(entropy, uniform, baseline_rtol)
    lo = np.unravel_index(np.argmin(entropy), entropy.shape)
    desc = (
        f"Heatmap of attention entropy for {n_layer} layers × {n_head} heads, in nats, averaged "
        f"over query positions; colour runs from 0 (every query looks at one position) to "
        f"ln {seq_len} = {top_nats:.3f}, and each value is printed. Lower means a sharper, more "
        f"focused head. Uniform causal attention over {seq_len} tokens would score {uniform:.3f}; "
        f"{int(near.sum())} of {near.size} heads are within {baseline_rtol:.0%} of that "
        f"({UNIFORM_MARK}). Lowest: layer {lo[0]} head {lo[1]} at {entropy[lo]:.3f} "
        f"({entropy[lo] - uniform:+.3f} against uniform)."
    )
    subtitle = [
        f"Colour scale fixed at 0 … ln {seq_len} = {top_nats:.3f} nats.",
        f"Uniform attention = {uniform:.3f} nats; heads within {baseline_rtol:.0%}",
        f"of it are {_mark_phrase(max(n_layer, n_head))}.",
    ]
    chart, df = _layer_head_heatmap(
        entropy,
        "entropy_nats",
        title="Attention entropy per head (nats)",
        description=desc,
        extra={
            "uniform_nats": np.full(entropy.shape, uniform),
            "vs_uniform": entropy - uniform,
            "near_uniform": near,
        },
        scheme="viridis",
        dark_at="low",
        domain=(0.0, top_nats),
        subtitle=subtitle,
        legend_values=sorted({0.0, round(uniform, 3), round(top_nats, 3)}),
        near_col="near_uniform",
        tooltip_extra=[alt.Tooltip("vs_uniform:Q", format="+.4f")],
    )
    return chart, df


def singular_value_chart(
    values: np.ndarray, rank_cap: int, name: str, layer: int, head: int
) -> ChartWithTable:
    """Bar chart of a circuit's leading singular values, with the rank cap d_head drawn as a
    dashed rule between bar ``rank_cap`` and bar ``rank_cap + 1``: at most d_head non-zero."""
    values = np.asarray(values, dtype=float)
    n = len(values)
    df = pd.DataFrame({"index": np.arange(1, n + 1), "singular_value": values})
    df["within_rank_cap"] = np.where(df["index"] <= rank_cap, "yes", "no (numerically zero)")
    bar_df = df.assign(left=df["index"] - 0.4, right=df["index"] + 0.4, zero=0.0)
    right_edge = max(n, rank_cap) + 0.5
    x_scale = alt.Scale(domain=[0.5, right_edge], nice=False, zero=False)
    axis = (
        alt.Axis(values=list(range(1, n + 1)), format="d")
        if n <= 32
        else alt.Axis(tickMinStep=1, format="d")
    )
    bars = (
        Chart(bar_df)
        .mark_rect()
        .encode(
            x=alt.X("left:Q", scale=x_scale, axis=axis, title="Singular value index"),
            x2="right:Q",
            y=alt.Y("singular_value:Q", title="Singular value", scale=alt.Scale(zero=True)),
            y2="zero:Q",
            opacity=alt.condition(alt.datum.index <= rank_cap, alt.value(1.0), alt.value(0.35)),
            tooltip=["index", alt.Tooltip("singular_value:Q", format=".5f"), "within_rank_cap"],
        )
    )
    cap_x = rank_cap + 0.5
    rule = (
        Chart(pd.DataFrame({"cap": [cap_x]}))
        .mark_rule(strokeDash=[6, 4], color=_RED, strokeWidth=2)
        .encode(x=alt.X("cap:Q", scale=x_scale))
    )
    room_right = rank_cap < n  # the zero bars leave room for the label right of the rule
    top = float(values.max()) if n else 1.0
    label = (
        Chart(pd.DataFrame({"cap": [cap_x], "y": [top]}))
        .mark_text(
            align="left" if room_right else "right",
            dx=5 if room_right else -5,
            dy=2,
            baseline="top",
            color=_RED,
            fontSize=11,
            lineBreak="\n",
        )
        .encode(
            x=alt.X("cap:Q", scale=x_scale),
            y="y:Q",
            text=alt.value(f"rank cap d_head = {rank_cap}:\nat most {rank_cap} non-zero"),
        )
    )
    nonzero_tail = values[rank_cap:] if n > rank_cap else np.zeros(0)
    tail = (
        f" Values after the cap are numerically zero (largest {nonzero_tail.max():.1e})."
        if len(nonzero_tail)
        else ""
    )
    desc = (
        f"Bar chart of the {n} largest singular values of the {name} circuit of layer "
        f"{layer}, head {head}, with a dashed line after bar {rank_cap}: only the first "
        f"{rank_cap} (d_head) can be non-zero, because the circuit is a product through a "
        f"{rank_cap}-dimensional head. The largest is {values[0]:.4f}.{tail}"
        if n
        else f"The {name} circuit of layer {layer}, head {head} has no singular values shown."
    )
    chart = alt.layer(bars, rule, label).properties(
        title=f"{name} circuit singular values (layer {layer}, head {head})",
        description=desc,
        height=240,
    )
    return chart, df


def token_matrix_heatmap(
    matrix: np.ndarray,
    tokens: Sequence[int],
    *,
    title: str,
    description: str,
    row_title: str,
    col_title: str,
    value: str,
) -> ChartWithTable:
    """Token × token matrix (rows, columns labelled by token id), diverging colours on a domain
    symmetric around 0 (±max |value|), so 0 is always white and the sign is never re-centred."""
    labels = [f"id {t}" for t in tokens]
    r, c = np.meshgrid(np.arange(len(tokens)), np.arange(len(tokens)), indexing="ij")
    df = pd.DataFrame(
        {
            "row": [labels[i] for i in r.ravel()],
            "column": [labels[j] for j in c.ravel()],
            value: matrix.ravel(),
        }
    )
    reach = float(np.max(np.abs(matrix))) if matrix.size else 0.0
    reach = reach if reach > 0 else 1.0
    chart = _heatmap(
        df,
        x="column",
        y="row",
        value=value,
        x_title=col_title,
        y_title=row_title,
        x_order=labels,
        y_order=labels,
        title=title,
        description=description,
        domain=(-reach, reach),
        domain_mid=0.0,
        fmt=".1e",
        dark_at="ends",
        subtitle=["Colour scale symmetric around 0 (white): red = positive, blue = negative."],
    )
    table = pd.DataFrame(
        matrix, index=pd.Index(labels, name=f"{row_title} \\ {col_title}"), columns=labels
    )
    return chart, table


def decomposition_chart(
    direct_norms: np.ndarray,
    layer_norms: np.ndarray,
    final_norms: np.ndarray,
    direct_share: float,
    layer_shares: np.ndarray,
    reconstruction_error: float,
) -> ChartWithTable:
    """Size of each source's contribution to the final stream (mean ‖·‖ over positions), with
    each part's share of the final stream along itself, (part · final) / ‖final‖² (the shares
    of all parts add up to 1) in the tooltip and the table."""
    sources = ["Embeddings (direct path)"] + [f"Layer {l}" for l in range(len(layer_norms))]
    df = pd.DataFrame(
        {
            "source": sources + ["Final stream"],
            "mean_norm": [direct_norms.mean(), *layer_norms.mean(axis=1), final_norms.mean()],
            "share_of_final": [direct_share, *layer_shares, 1.0],
            "kind": ["part"] * len(sources) + ["sum of parts"],
        }
    )
    bars = (
        Chart(df)
        .mark_bar()
        .encode(
            y=alt.Y("source:N", sort=list(df["source"]), title=None, axis=alt.Axis(labelLimit=220)),
            x=alt.X("mean_norm:Q", title="Mean L2 norm over positions"),
            opacity=alt.Opacity(
                "kind:N",
                scale=alt.Scale(domain=["part", "sum of parts"], range=[1.0, 0.45]),
                title=None,
            ),
            tooltip=[
                "source",
                alt.Tooltip("mean_norm:Q", format=".4f"),
                alt.Tooltip("share_of_final:Q", format=".2%"),
            ],
        )
    )
    text = bars.mark_text(align="left", dx=4).encode(
        text=alt.Text("mean_norm:Q", format=".3f"), opacity=alt.value(1.0)
    )
    biggest = df.iloc[:-1]["mean_norm"].idxmax()
    desc = (
        f"Horizontal bar chart: how large each source's contribution to the final residual stream "
        f"is, for the embeddings and each of {len(layer_norms)} layers, and the final stream "
        f"itself. The largest part is {df['source'][biggest]}; along the final stream the "
        f"embeddings supply {direct_share:.1%} of it. Adding all parts rebuilds the final "
        f"stream with a maximum error of {reconstruction_error:.1e}."
    )
    chart = alt.layer(bars, text).properties(
        title="Exact decomposition of the final stream by source", description=desc
    )
    return chart, df.drop(columns="kind")


def head_contribution_heatmap(head_norms: np.ndarray, head_shares: np.ndarray) -> ChartWithTable:
    """``head_norms`` [layer, head, seq] → mean ‖head output‖ per layer × head.

    A norm: colours run from 0 (writes nothing) to the largest head's value, so zero keeps its
    meaning. ``head_shares`` [layer, head] (each head's share of the final stream along itself)
    go to the tooltip and the table.
    """
    mean = np.asarray(head_norms, dtype=float).mean(axis=2)
    n_layer, n_head = mean.shape
    top = np.unravel_index(np.argmax(mean), mean.shape)
    top_value = float(mean[top])
    desc = (
        f"Heatmap of how much each of {n_layer} × {n_head} heads writes into the residual stream "
        f"(mean L2 norm of its output over positions); colour runs from 0 (writes nothing) to the "
        f"largest value and each value is printed. The largest writer is layer {top[0]} head "
        f"{top[1]} ({top_value:.4f}); the smallest writes {float(mean.min()):.4f}."
    )
    chart, df = _layer_head_heatmap(
        mean,
        "mean_norm",
        title="Per-head contribution to the final stream",
        description=desc,
        extra={"share_of_final": np.asarray(head_shares)},
        scheme="oranges",
        fmt=".3f",
        domain=(0.0, top_value),
        subtitle=[f"Colour scale from 0 (writes nothing) to the largest head, {top_value:.3f}."],
        tooltip_extra=["share_of_final"],
    )
    return chart, df


def _stream_labels(n: int) -> list[str]:
    return [f"x{l}" for l in range(n)]


def similarity_chart(similarities: Sequence[float]) -> ChartWithTable:
    """Cosine of each stream with the initial one (x0 is 1 by definition)."""
    values = [1.0, *similarities]
    df = pd.DataFrame(
        {
            "stream": _stream_labels(len(values)),
            "after_layer": range(len(values)),
            "cosine_with_x0": values,
        }
    )
    chart = (
        Chart(df)
        .mark_line(point=True)
        .encode(
            x=alt.X("after_layer:O", title="Residual stream x_l (0 = embeddings)"),
            y=alt.Y(
                "cosine_with_x0:Q",
                title="Cosine similarity with x0",
                scale=alt.Scale(domain=[min(0.0, min(values)), 1.0]),
            ),
            tooltip=["stream", alt.Tooltip("cosine_with_x0:Q", format=".5f")],
        )
        .properties(
            title="Information preservation: similarity to the initial stream",
            description=(
                f"Line chart of the cosine similarity between each residual stream and the initial "
                f"stream x0, over {len(values)} streams; it goes from 1.0 at x0 to "
                f"{values[-1]:.4f} at the final stream."
            ),
            height=260,
        )
    )
    return chart, df.drop(columns="after_layer")


def effective_rank_chart(
    effective_ranks: Sequence[int], rank_cap: int, d_model: int
) -> ChartWithTable:
    """Effective rank per stream with the cap min(tokens, d_model) drawn as a dashed line."""
    n = len(effective_ranks)
    df = pd.DataFrame(
        {
            "stream": _stream_labels(n),
            "after_layer": range(n),
            "effective_rank": list(effective_ranks),
            "rank_cap": rank_cap,
            "d_model": d_model,
        }
    )
    x = alt.X("after_layer:O", title="Residual stream x_l (0 = embeddings)")
    top = max(rank_cap, max(effective_ranks)) * 1.15 + 0.5
    line = (
        Chart(df)
        .mark_line(point=True)
        .encode(
            x=x,
            y=alt.Y(
                "effective_rank:Q",
                title="Directions holding 90% of the energy",
                scale=alt.Scale(domain=[0, top]),
            ),
            tooltip=["stream", "effective_rank", "rank_cap", "d_model"],
        )
    )
    cap = Chart(df).mark_line(strokeDash=[6, 4], color="#b00020").encode(x=x, y="rank_cap:Q")
    cap_label = (
        Chart(df.tail(1))
        .mark_text(align="right", dy=-8, color="#b00020")
        .encode(x=x, y="rank_cap:Q", text=alt.value(f"cap = min(tokens, d_model) = {rank_cap}"))
    )
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
    df = pd.DataFrame(
        {
            "direction": np.arange(1, len(s) + 1),
            "singular_value": s,
            "cumulative_energy_share": share,
        }
    )
    bars = (
        Chart(df)
        .mark_bar()
        .encode(
            x=alt.X("direction:O", title="Singular direction (largest first)"),
            y=alt.Y("singular_value:Q", title="Singular value"),
            tooltip=[
                "direction",
                alt.Tooltip("singular_value:Q", format=".4f"),
                alt.Tooltip("cumulative_energy_share:Q", format=".1%"),
            ],
        )
    )
    chart = bars.properties(
        title=f"Singular-value spectrum of stream {stream}",
        description=(
            f"Bar chart of the {len(s)} singular values of residual stream {stream} (all "
            f"positions stacked), largest first: {s[0]:.3f} down to {s[-1]:.3g}. The first "
            f"direction alone holds {share[0]:.1%} of the energy."
        )
        if len(s)
        else f"Stream {stream} has no singular values.",
        height=260,
    )
    return chart, df


def information_types_chart(
    token_coef: Sequence[float],
    position_coef: Sequence[float],
    r_squared: Sequence[float] | None = None,
) -> ChartWithTable:
    """How much of each part of x0 is still in each stream.

    ``token_coef[l]``, ``position_coef[l]``: least-squares coefficients of stream x_l on
    [token part, position part] of x0 (both exactly 1 at x0: "fully present"; 0: absent).
    ``r_squared[l]`` (optional): share of ‖x_l‖² the two parts explain together. Two lines told
    apart by colour, dash and marker shape, with labelled reference rules at 1 and 0.
    Table: ``stream``, ``token_coefficient``, ``position_coefficient`` (and ``r_squared``).
    """
    tok = [float(v) for v in token_coef]
    pos = [float(v) for v in position_coef]
    n = len(tok)
    if len(pos) != n or (r_squared is not None and len(r_squared) != n):
        raise ValueError("token_coef, position_coef and r_squared need one value per stream.")
    r2 = None if r_squared is None else [float(v) for v in r_squared]
    kinds = ["token identity (W_E part)", "position (W_pos part)"]
    df = pd.DataFrame(
        {
            "stream": _stream_labels(n) * 2,
            "after_layer": list(range(n)) * 2,
            "information": [kinds[0]] * n + [kinds[1]] * n,
            "coefficient": [*tok, *pos],
        }
    )
    x = alt.X(
        "after_layer:O", title="Residual stream x_l (0 = embeddings)", axis=alt.Axis(labelAngle=0)
    )
    legend = dict(title="Part of x0", legend=alt.Legend(orient="bottom", direction="vertical"))
    enc = dict(
        x=x,
        y=alt.Y("coefficient:Q", title="Coefficient on that part of x0"),
        color=alt.Color(
            "information:N", scale=alt.Scale(domain=kinds, range=["#1f5fa8", "#d95f02"]), **legend
        ),
        strokeDash=alt.StrokeDash(
            "information:N", scale=alt.Scale(domain=kinds, range=[[1, 0], [6, 4]]), **legend
        ),
        shape=alt.Shape(
            "information:N",
            scale=alt.Scale(domain=kinds, range=["circle", "triangle-up"]),
            **legend,
        ),
        tooltip=["stream", "information", alt.Tooltip("coefficient:Q", format=".4f")],
    )
    lines = Chart(df).mark_line(point=alt.OverlayMarkDef(size=70, filled=True)).encode(**enc)
    refs = pd.DataFrame({"y": [1.0, 0.0], "label": ["fully present (x0)", "absent (0)"]})
    rules = Chart(refs).mark_rule(color="#555555", strokeDash=[2, 2]).encode(y="y:Q")
    rule_text = (
        Chart(refs)
        .mark_text(align="left", dx=4, color="#333333", fontSize=11)
        .encode(x=alt.value("width"), y="y:Q", text="label:N")
    )
    r2_text = f"; the two parts explain {r2[-1]:.1%} of the final stream's energy" if r2 else ""
    desc = (
        f"Line chart with two lines (told apart by colour, dash and marker shape) over {n} "
        f"streams: the least-squares coefficient of each stream on the token-embedding part of "
        f"x0 (from {tok[0]:.3f} at x0 to {tok[-1]:.3f} at x{n - 1}) and on the position part "
        f"(from {pos[0]:.3f} to {pos[-1]:.3f}). Dotted reference lines mark 1, the part fully "
        f"present as in x0, and 0, the part absent{r2_text}."
        if n
        else "No streams to show."
    )
    chart = alt.layer(rules, rule_text, lines).properties(
        title=_title(
            "Information types carried along the stream",
            ["1 = the part of x0 is fully present; 0 = it is gone."],
        ),
        description=desc,
        height=260,
    )
    table = pd.DataFrame(
        {"stream": _stream_labels(n), "token_coefficient": tok, "position_coefficient": pos}
    )
    if r2 is not None:
        table["r_squared"] = r2
    return chart, table


#: How the two models of a side-by-side comparison are drawn (colour, dash and marker differ).
_PAIR_STYLE = {
    "colors": ["#1f5fa8", "#d95f02"],
    "dashes": [[1, 0], [6, 4]],
    "shapes": ["circle", "triangle-up"],
}


def comparison_chart(
    series: Mapping[str, Sequence[float]],
    *,
    metric: str,
    x_title: str,
    x_labels: Sequence[str],
    title: str,
    what: str,
    domain: tuple[float, float] | None = None,
    baseline: float | None = None,
    baseline_label: str | None = None,
) -> ChartWithTable:
    """Two (or more) models' values of one metric along the layers, on one chart.

    ``series``: model label → one value per x label. The lines differ in colour, dash and
    marker shape (so colour is not the only cue); ``baseline`` draws a labelled dotted rule (e.g.
    uniform attention's entropy). ``what`` is the metric in words for the description. Table:
    ``x`` plus one column per model.
    """
    names = list(series)
    n = len(x_labels)
    rows = []
    for name in names:
        values = [float(v) for v in series[name]]
        if len(values) != n:
            raise ValueError("Each series needs one value per x label.")
        rows += [{"x": x_labels[i], "order": i, "model": name, metric: values[i]} for i in range(n)]
    df = pd.DataFrame(rows)
    k = len(names)
    legend = dict(
        title="Model", legend=alt.Legend(orient="bottom", direction="vertical", labelLimit=420)
    )
    y_scale = alt.Scale(domain=list(domain)) if domain is not None else alt.Scale(zero=True)
    enc = dict(
        x=alt.X("x:N", sort=list(x_labels), title=x_title, axis=alt.Axis(labelAngle=0)),
        y=alt.Y(f"{metric}:Q", title=metric.replace("_", " "), scale=y_scale),
        color=alt.Color(
            "model:N", scale=alt.Scale(domain=names, range=_PAIR_STYLE["colors"][:k]), **legend
        ),
        strokeDash=alt.StrokeDash(
            "model:N", scale=alt.Scale(domain=names, range=_PAIR_STYLE["dashes"][:k]), **legend
        ),
        shape=alt.Shape(
            "model:N", scale=alt.Scale(domain=names, range=_PAIR_STYLE["shapes"][:k]), **legend
        ),
        tooltip=["model", "x", alt.Tooltip(f"{metric}:Q", format=".4g")],
    )
    layers = [Chart(df).mark_line(point=alt.OverlayMarkDef(size=70, filled=True)).encode(**enc)]
    parts = (
        "; ".join(
            f"{name}: from {float(series[name][0]):.3g} at {x_labels[0]} to "
            f"{float(series[name][-1]):.3g} at {x_labels[-1]}"
            for name in names
        )
        if n
        else ""
    )
    desc = (
        f"Line chart of {what} for {k} models (lines told apart by colour, dash and marker "
        f"shape) over {n} points: {parts}."
    )
    if baseline is not None:
        ref = pd.DataFrame({"y": [float(baseline)], "label": [baseline_label or "baseline"]})
        layers.insert(0, Chart(ref).mark_rule(color="#555555", strokeDash=[2, 2]).encode(y="y:Q"))
        layers.insert(
            1,
            Chart(ref)
            .mark_text(align="left", dx=4, dy=-6, color="#333333", fontSize=11)
            .encode(x=alt.value(0), y="y:Q", text="label:N"),
        )
        desc += f" A dotted line marks {baseline_label or 'the baseline'} ({baseline:.3g})."
    chart = alt.layer(*layers).properties(title=title, description=desc, height=240)
    table = df.pivot(index="order", columns="model", values=metric)[names]
    table.insert(0, x_title, list(x_labels))
    return chart, table.reset_index(drop=True)


def mastery_chart(
    objective_mastery: dict[str, float], threshold: float, labels: dict[str, str] | None = None
) -> ChartWithTable:
    """Per-objective mastery (0–1) as bars, with the pass mark as a dashed rule."""
    labels = labels or {}
    df = pd.DataFrame(
        {
            "objective": list(objective_mastery),
            "description": [labels.get(k, "") for k in objective_mastery],
            "mastery": [float(v) for v in objective_mastery.values()],
        }
    )
    df["status"] = np.where(
        df["mastery"] >= threshold, "at or above the pass mark", "below the pass mark"
    )
    bars = (
        Chart(df)
        .mark_bar()
        .encode(
            y=alt.Y("objective:N", title="Learning objective", sort=list(df["objective"])),
            x=alt.X(
                "mastery:Q",
                title="Mastery",
                scale=alt.Scale(domain=[0, 1]),
                axis=alt.Axis(format="%"),
            ),
            opacity=alt.Opacity(
                "status:N",
                title="Status",
                scale=alt.Scale(
                    domain=["at or above the pass mark", "below the pass mark"], range=[1.0, 0.45]
                ),
            ),
            tooltip=["objective", "description", alt.Tooltip("mastery:Q", format=".0%"), "status"],
        )
    )
    text = bars.mark_text(align="left", dx=4).encode(
        text=alt.Text("mastery:Q", format=".0%"), opacity=alt.value(1.0)
    )
    rule = (
        Chart(pd.DataFrame({"pass_mark": [threshold]}))
        .mark_rule(strokeDash=[6, 4], color="#b00020")
        .encode(x="pass_mark:Q")
    )
    parts = ", ".join(f"{o} {m:.0%}" for o, m in zip(df["objective"], df["mastery"]))
    chart = alt.layer(bars, text, rule).properties(
        title="Mastery per learning objective",
        description=(
            f"Horizontal bar chart of your mastery of each learning objective: {parts}; "
            f"a dashed line marks the pass mark of {threshold:.0%}."
        ),
        height=40 * max(1, len(df)) + 20,
    )
    return chart, df


def pass_rate_chart(rates: pd.DataFrame) -> ChartWithTable:
    """The class's pass rate per question bank (instructor view): bars with the percentage and
    the counts written on them. ``rates``: bank, title, learners attempted, learners passed,
    pass rate (None where nobody attempted)."""
    df = rates.copy()
    df["pass rate"] = df["pass rate"].astype(float)
    df["label"] = [
        ("nobody yet" if pd.isna(r) else f"{r:.0%} ({p} of {t})")
        for r, p, t in zip(df["pass rate"], df["learners passed"], df["learners attempted"])
    ]
    plotted = df.fillna({"pass rate": 0.0})
    bars = (
        Chart(plotted)
        .mark_bar(color="#1f5fa8")
        .encode(
            y=alt.Y(
                "title:N",
                title="Question bank",
                sort=list(df["title"]),
                axis=alt.Axis(labelLimit=320),
            ),
            x=alt.X(
                "pass rate:Q",
                title="Learners who passed, of those who attempted",
                scale=alt.Scale(domain=[0, 1]),
                axis=alt.Axis(format="%"),
            ),
            tooltip=[
                "title",
                "learners attempted",
                "learners passed",
                alt.Tooltip("pass rate:Q", format=".0%"),
            ],
        )
    )
    text = bars.mark_text(align="left", dx=4, color="#0b0d10").encode(text="label:N")
    parts = "; ".join(f"{t}: {lab}" for t, lab in zip(df["title"], df["label"]))
    chart = alt.layer(bars, text).properties(
        title="Pass rate per question bank",
        description=f"Horizontal bar chart of the share of learners who passed each bank, "
        f"of those who attempted it: {parts}.",
        height=40 * max(1, len(df)) + 20,
    )
    table = df[["bank", "title", "learners attempted", "learners passed", "pass rate"]]
    return chart, table


def previous_token_heatmap(
    scores: np.ndarray, *, seq_len: int | None = None, baseline_rtol: float = BASELINE_RTOL
) -> ChartWithTable:
    """``scores`` [layer, head]: mean attention to the previous position (1 = previous-token
    head), on the fixed colour domain 0…1.

    With ``seq_len`` the uniform baseline mean over i = 1 … n − 1 of 1 / (i + 1) is stated in
    the subtitle, heads within ``baseline_rtol`` of it are marked ``≈U``, and the table gets
    ``uniform`` and ``vs_uniform`` (score − uniform). Table: one row per head with ``layer``,
    ``head``, ``attention_to_previous`` (and the baseline columns).
    """
    scores = np.asarray(scores, dtype=float)
    n_layer, n_head = scores.shape
    top = np.unravel_index(np.argmax(scores), scores.shape)
    extra: dict[str, np.ndarray] = {}
    subtitle = ["Colour scale fixed at 0…1 (1 = all attention on the previous token)."]
    baseline_text = ""
    near_col = None
    legend_values = [0.0, 0.5, 1.0]
    if seq_len is not None:
        uniform = uniform_previous_token(seq_len)
        near = _near(scores, uniform, baseline_rtol)
        extra = {
            "uniform": np.full(scores.shape, uniform),
            "vs_uniform": scores - uniform,
            "near_uniform": near,
        }
        near_col = "near_uniform"
        legend_values = sorted({0.0, round(uniform, 3), 1.0})
        subtitle += [
            f"Uniform attention over {seq_len} tokens = {uniform:.3f}; heads within "
            f"{baseline_rtol:.0%}",
            f"of it are {_mark_phrase(max(n_layer, n_head))}.",
        ]
        baseline_text = (
            f" Uniform causal attention would score {uniform:.3f}; {int(near.sum())} of "
            f"{near.size} heads are within {baseline_rtol:.0%} of that ({UNIFORM_MARK})."
        )
    desc = (
        f"Heatmap of how much attention each of {n_layer} × {n_head} heads pays to the token "
        f"just before the query, averaged over positions; colour runs from 0 to 1 and each "
        f"value is printed. Values near 1 mark previous-token heads. Highest: layer {top[0]} "
        f"head {top[1]} at {scores[top]:.2f}.{baseline_text}"
    )
    chart, df = _layer_head_heatmap(
        scores,
        "attention_to_previous",
        title="Previous-token attention per head",
        description=desc,
        scheme="purples",
        domain=(0.0, 1.0),
        extra=extra,
        subtitle=subtitle,
        near_col=near_col,
        legend_values=legend_values,
    )
    return chart, df


def top_predictions_chart(predictions: Sequence[dict], context: str) -> ChartWithTable:
    """Next-token probabilities of the top-k candidates, as bars labelled with the token."""
    df = pd.DataFrame(
        {
            "rank": range(1, len(predictions) + 1),
            "token": [text_label(p["token"]) for p in predictions],
            "token_id": [p["id"] for p in predictions],
            "probability": [p["probability"] for p in predictions],
        }
    )
    bars = (
        Chart(df)
        .mark_bar()
        .encode(
            y=alt.Y("token:N", sort=list(df["token"]), title="Next token (␣ = space)"),
            x=alt.X("probability:Q", title="Probability", axis=alt.Axis(format="%")),
            tooltip=["rank", "token", "token_id", alt.Tooltip("probability:Q", format=".2%")],
        )
    )
    text = bars.mark_text(align="left", dx=4).encode(text=alt.Text("probability:Q", format=".1%"))
    listed = "; ".join(f"{t} {p:.1%}" for t, p in zip(df["token"], df["probability"]))
    chart = alt.layer(bars, text).properties(
        title="Top next-token predictions",
        description=(
            f"Horizontal bar chart of the model's {len(df)} most likely next tokens "
            f"after “{context[-60:]}”: {listed}."
        ),
        height=36 * max(1, len(df)) + 20,
    )
    return chart, df


def qk_terms_chart(
    shares: Mapping[str, float], magnitudes: Mapping[str, float], layer: int, head: int
) -> ChartWithTable:
    """The four terms of one head's attention score when x = token part + position part.

    score(i, j) ∝ (tok_i + pos_i) · QK · (tok_j + pos_j)ᵀ splits into token·token,
    token·position, position·token and position·position (query part · key part).
    ``shares[term]``: share of the mean absolute score (the four sum to 1);
    ``magnitudes[term]``: mean |term|. Horizontal bars with the share printed as a %.
    Table: ``term``, ``query_part``, ``key_part``, ``share``, ``mean_abs``.
    """
    terms = [t for t in QK_TERMS if t in shares] + [t for t in shares if t not in QK_TERMS]
    if not terms:
        raise ValueError("qk_terms_chart needs at least one term.")
    missing = [t for t in terms if t not in magnitudes]
    if missing:
        raise ValueError(f"No magnitude given for: {', '.join(missing)}.")
    parts = [t.split("·", 1) if "·" in t else [t, ""] for t in terms]
    df = pd.DataFrame(
        {
            "term": terms,
            "query_part": [p[0] for p in parts],
            "key_part": [p[1] for p in parts],
            "share": [float(shares[t]) for t in terms],
            "mean_abs": [float(magnitudes[t]) for t in terms],
        }
    )
    y = alt.Y(
        "term:N", sort=terms, title="Term (query part · key part)", axis=alt.Axis(labelLimit=200)
    )
    bars = (
        Chart(df)
        .mark_bar(color="#1f5fa8")
        .encode(
            y=y,
            x=alt.X(
                "share:Q",
                title="Share of the mean |score|",
                axis=alt.Axis(format="%"),
                scale=alt.Scale(domain=[0, 1]),
            ),
            tooltip=[
                "term",
                alt.Tooltip("share:Q", format=".1%"),
                alt.Tooltip("mean_abs:Q", format=".4g"),
            ],
        )
    )
    text = (
        Chart(df)
        .mark_text(align="left", dx=4, fontSize=12)
        .encode(y=y, x="share:Q", text=alt.Text("share:Q", format=".1%"))
    )
    top = int(np.argmax(df["share"].to_numpy()))
    listed = "; ".join(
        f"{t} {s:.1%} (mean |term| {m:.3g})"
        for t, s, m in zip(df["term"], df["share"], df["mean_abs"])
    )
    desc = (
        f"Horizontal bar chart of where the attention scores of layer {layer}, head {head} come "
        f"from, when each stream is split into its token part and its position part: "
        f"{df['term'][top]} dominates with {df['share'][top]:.1%} of the mean absolute score. "
        f"All terms: {listed}."
    )
    chart = alt.layer(bars, text).properties(
        title=_title(
            f"What the scores of layer {layer}, head {head} are made of",
            [f"{df['term'][top]} dominates: {df['share'][top]:.1%} of the mean |score|."],
        ),
        description=desc,
        height=36 * len(df) + 20,
    )
    return chart, df


def logit_attribution_chart(
    components: Sequence[str],
    contributions: Sequence[float],
    token: str,
    logit: float,
    error: float,
) -> ChartWithTable:
    """Direct logit attribution: each component's term in the predicted ``token``'s logit.

    ``components`` in model order (embeddings, attention layer 0, MLP 0, …) and their
    ``contributions`` (they sum to ``logit`` up to ``error``, which the caller measured).
    Bars are told apart by colour, by the sign printed on them and by the table's ``direction``
    column ("raises" / "lowers" / "no effect"). Table: ``component``, ``contribution``,
    ``direction``.
    """
    names = [str(c) for c in components]
    values = [float(v) for v in contributions]
    if len(names) != len(values):
        raise ValueError("logit_attribution_chart needs one contribution per component.")
    if len(set(names)) != len(names):
        raise ValueError("Component names must be distinct.")
    direction = ["raises" if v > 0 else "lowers" if v < 0 else "no effect" for v in values]
    df = pd.DataFrame({"component": names, "contribution": values, "direction": direction})
    shown = text_label(token)
    lo_x, hi_x = min(0.0, *values) if values else 0.0, max(0.0, *values) if values else 0.0
    pad = 0.2 * (hi_x - lo_x) if hi_x > lo_x else 1.0  # room for the printed values
    x_scale = alt.Scale(
        domain=[lo_x - (pad if lo_x < 0 else 0.0), hi_x + (pad if hi_x > 0 else 0.0)], nice=False
    )
    y = alt.Y("component:N", sort=names, title=None, axis=alt.Axis(labelLimit=220))
    bars = (
        Chart(df)
        .mark_bar()
        .encode(
            y=y,
            x=alt.X(
                "contribution:Q", title=f"Contribution to the logit of “{shown}”", scale=x_scale
            ),
            color=alt.Color(
                "direction:N",
                title="Effect on the logit",
                scale=alt.Scale(
                    domain=["raises", "lowers", "no effect"],
                    range=["#1f5fa8", "#c0392b", "#888888"],
                ),
            ),
            tooltip=["component", alt.Tooltip("contribution:Q", format="+.4f"), "direction"],
        )
    )
    label = alt.Text("contribution:Q", format="+.3f")
    pos_text = (
        Chart(df)
        .transform_filter(alt.datum.contribution >= 0)
        .mark_text(align="left", dx=4, fontSize=11)
        .encode(y=y, x="contribution:Q", text=label)
    )
    neg_text = (
        Chart(df)
        .transform_filter(alt.datum.contribution < 0)
        .mark_text(align="right", dx=-4, fontSize=11)
        .encode(y=y, x="contribution:Q", text=label)
    )
    zero = Chart(pd.DataFrame({"x": [0.0]})).mark_rule(color="#111111").encode(x="x:Q")
    total = float(np.sum(values))
    if values:
        hi, lo = int(np.argmax(values)), int(np.argmin(values))
        extremes = (
            f" The largest push up is {names[hi]} ({values[hi]:+.3f}); the largest push "
            f"down is {names[lo]} ({values[lo]:+.3f})."
            if values[lo] < 0
            else f" The largest push up is {names[hi]} ({values[hi]:+.3f}); no component lowers it."
        )
    else:
        extremes = ""
    desc = (
        f"Horizontal bar chart of the direct logit attribution of the predicted token “{shown}” "
        f"to {len(names)} components in model order; bars right of the zero line raise the "
        f"logit, bars left of it lower it, and each value is printed with its sign.{extremes} "
        f"The contributions sum to {total:.4f}; the logit is {float(logit):.4f} "
        f"(error {float(error):.1e})."
    )
    chart = alt.layer(bars, zero, pos_text, neg_text).properties(
        title=_title(
            f"Direct logit attribution of “{shown}”",
            [
                f"Contributions sum to {total:.3f}; the logit is {float(logit):.3f} "
                f"(error {float(error):.1e})."
            ],
        ),
        description=desc,
        height=28 * max(1, len(df)) + 20,
    )
    return chart, df
