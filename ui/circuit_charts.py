"""Chart builders for the "Circuits in a trained model" page: data in → (Altair chart, table).

Same conventions as :mod:`ui.charts`: every chart has a title and a ``description`` (its
aria-label) computed from the data, and comes with the table of what it draws. Colour scales
use fixed, meaningful domains, never the data's own min…max:

- attention-derived head scores (previous-token, induction, previous share, positional
  patterns): 0…1, with the uniform-attention baseline stated in the subtitle and cells close to
  it marked ``≈U``;
- the OV copying score Σλ/Σ|λ|: −1…1, diverging around 0 (cells near 0 marked ``≈0``);
- composition scores: 0 … ``COMPOSITION_DOMAIN_FACTOR`` × the random-matrix baseline, cells
  near the baseline marked ``≈B``;
- ablation loss changes: −1…+1 nats, clamped (the value is printed), cells near 0 marked.

Colour never carries meaning alone: values are printed in the cells or next to the bars.
"""

from __future__ import annotations

from collections.abc import Sequence

import altair as alt
import numpy as np
import pandas as pd

from ui.charts import UNIFORM_MARK, Chart, ChartWithTable, _heatmap, _title, text_label

__all__ = [
    "HEAD_SCORE_TOLERANCE",
    "COPY_ZERO_TOLERANCE",
    "COMPOSITION_DOMAIN_FACTOR",
    "ABLATION_REACH_NATS",
    "head_score_heatmap",
    "ranked_tokens_chart",
    "copying_heatmap",
    "positional_pattern_heatmap",
    "previous_share_chart",
    "composition_heatmap",
    "ablation_heatmap",
    "per_position_delta_chart",
    "head_names",
]

#: A head score within this distance (on the 0…1 scale) of the uniform baseline is marked ≈U.
HEAD_SCORE_TOLERANCE = 0.05
#: A copying score within this distance of 0 is marked ≈0 (neither copies nor suppresses).
COPY_ZERO_TOLERANCE = 0.1
#: Composition colour scale: 0 … this many times the random-matrix baseline.
COMPOSITION_DOMAIN_FACTOR = 5.0
#: Composition cells within this relative distance of the baseline are marked ≈B.
COMPOSITION_NEAR_RTOL = 0.5
#: Ablation colour scale: −reach … +reach nats (clamped; the values are printed).
ABLATION_REACH_NATS = 1.0
#: Ablation cells with |Δ loss| below this are marked ≈0.
ABLATION_ZERO_NATS = 0.02

BASELINE_MARK = "≈B"
ZERO_MARK = "≈0"


def head_names(n_layer: int, n_head: int) -> list[str]:
    """``"L0 H0"``, ``"L0 H1"``, … in model order."""
    return [f"L{l} H{h}" for l in range(n_layer) for h in range(n_head)]


def _grid(
    values: np.ndarray,
    value: str,
    rows: Sequence[str],
    cols: Sequence[str],
    row_key: str,
    col_key: str,
) -> pd.DataFrame:
    r, c = np.meshgrid(np.arange(len(rows)), np.arange(len(cols)), indexing="ij")
    return pd.DataFrame(
        {
            row_key: [rows[i] for i in r.ravel()],
            col_key: [cols[j] for j in c.ravel()],
            value: np.asarray(values, dtype=float).ravel(),
        }
    )


def _with_mark(chart: alt.LayerChart, mark: str) -> alt.LayerChart:
    """Swap the ≈U marker text of :func:`ui.charts._heatmap` for another baseline marker."""
    if mark == UNIFORM_MARK:
        return chart
    for layer in chart.layer:
        enc = getattr(layer, "encoding", alt.Undefined)
        text = getattr(enc, "text", alt.Undefined) if enc is not alt.Undefined else alt.Undefined
        if text is not alt.Undefined and text.to_dict() == {"value": UNIFORM_MARK}:
            layer.encoding.text = alt.value(mark)
    return chart


def _top_cell(values: np.ndarray) -> tuple[int, int]:
    idx = np.unravel_index(int(np.nanargmax(values)), values.shape)
    return int(idx[0]), int(idx[1])


# -- head scores (previous-token, induction) ----------------------------------------------------
def head_score_heatmap(
    scores: np.ndarray,
    *,
    value: str,
    title: str,
    what: str,
    baseline: float | None,
    scheme: str = "purples",
    tolerance: float = HEAD_SCORE_TOLERANCE,
) -> ChartWithTable:
    """``scores`` [layer, head] in 0…1 on the fixed colour domain 0…1.

    ``what`` says in words what a score of 1 means (for the description). ``baseline`` is the
    score uniform causal attention would get on this input (None: no baseline, e.g. no repeated
    token); heads within ``tolerance`` of it are marked ``≈U``. Table: ``layer``, ``head``,
    ``value``, and with a baseline ``uniform``, ``vs_uniform``, ``near_uniform``.
    """
    scores = np.asarray(scores, dtype=float)
    n_layer, n_head = scores.shape
    top = _top_cell(scores)
    extra: dict[str, np.ndarray] = {}
    subtitle = [f"Colour scale fixed at 0…1 (1 = {what})."]
    legend = [0.0, 0.5, 1.0]
    near_text = ""
    near_col = None
    if baseline is not None:
        near = np.abs(scores - baseline) <= tolerance
        extra = {
            "uniform": np.full(scores.shape, float(baseline)),
            "vs_uniform": scores - baseline,
            "near_uniform": near,
        }
        near_col = "near_uniform"
        legend = sorted({0.0, round(float(baseline), 3), 1.0})
        subtitle.append(
            f"Uniform attention would score {baseline:.3f}; heads within "
            f"{tolerance:g} of it are marked {UNIFORM_MARK}."
        )
        near_text = (
            f" Uniform attention would score {baseline:.3f}; {int(near.sum())} of "
            f"{near.size} heads are within {tolerance:g} of that ({UNIFORM_MARK})."
        )
    desc = (
        f"Heatmap of the {title.lower()} for {n_layer} layers × {n_head} heads; colour runs "
        f"from 0 to 1 and each value is printed; 1 means {what}. Highest: layer {top[0]} "
        f"head {top[1]} at {scores[top]:.2f}.{near_text}"
    )
    layers = [f"L{i}" for i in range(n_layer)]
    heads = [f"H{j}" for j in range(n_head)]
    df = _grid(scores, value, layers, heads, "layer", "head")
    for name, column in extra.items():
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
        description=desc,
        domain=(0.0, 1.0),
        scheme=scheme,
        subtitle=subtitle,
        near_col=near_col,
        legend_values=legend,
    )
    return chart, df


# -- ranked token lists (direct path, corpus successors, OV outputs) -------------------------
def ranked_tokens_chart(
    tokens: Sequence[str],
    values: Sequence[float],
    *,
    title: str,
    value_title: str,
    description_lead: str,
    fmt: str = ".1%",
    ids: Sequence[int] | None = None,
    domain: tuple[float, float] | None = (0.0, 1.0),
    subtitle: Sequence[str] = (),
) -> ChartWithTable:
    """Horizontal bars, one per token in the given (ranked) order, with the value printed.

    ``domain`` fixes the value axis (default 0…1, for probabilities and shares); None lets it
    start at 0 and follow the data (for logit effects, which have no natural top).
    """
    shown = [text_label(t) for t in tokens]
    # Two tokens can show the same text (e.g. different ids): keep the axis entries distinct.
    labels = [f"{i + 1}. {s}" for i, s in enumerate(shown)]
    vals = [float(v) for v in values]
    df = pd.DataFrame({"rank": range(1, len(vals) + 1), "token": shown, value_title: vals})
    if ids is not None:
        df.insert(2, "token_id", [int(i) for i in ids])
    plot = df.assign(label=labels)
    if domain is not None:
        scale = alt.Scale(domain=list(domain), clamp=True, nice=False)
    else:
        hi = max([0.0, *vals]) or 1.0
        scale = alt.Scale(domain=[min(0.0, *vals) if vals else 0.0, hi * 1.25], nice=False)
    y = alt.Y("label:N", sort=labels, title="Token (␣ = space)", axis=alt.Axis(labelLimit=200))
    tooltip = [
        "rank",
        "token",
        *(["token_id"] if ids is not None else []),
        alt.Tooltip(f"{value_title}:Q", format=".4g"),
    ]
    bars = (
        Chart(plot)
        .mark_bar(color="#1f5fa8")
        .encode(
            y=y,
            x=alt.X(f"{value_title}:Q", title=value_title.replace("_", " "), scale=scale),
            tooltip=tooltip,
        )
    )
    text = (
        Chart(plot)
        .mark_text(align="left", dx=4, fontSize=11)
        .encode(
            y=y,
            x=alt.X(f"{value_title}:Q", scale=scale),
            text=alt.Text(f"{value_title}:Q", format=fmt),
        )
    )
    listed = "; ".join(f"{s} {format(v, fmt)}" for s, v in zip(shown, vals))
    chart = alt.layer(bars, text).properties(
        title=_title(title, subtitle),
        description=f"Horizontal bar chart: {description_lead} {listed or 'none'}.",
        height=22 * max(1, len(vals)) + 10,
    )
    return chart, df


# -- OV copying scores --------------------------------------------------------------------------
def copying_heatmap(
    eigen_score: np.ndarray,
    *,
    self_top1: np.ndarray | None = None,
    tolerance: float = COPY_ZERO_TOLERANCE,
) -> ChartWithTable:
    """``eigen_score`` [layer, head] = Σλ/Σ|λ| of W_U·OV·W_Eᵀ on the fixed domain −1…1,
    diverging around 0 (red copies, blue suppresses); cells within ``tolerance`` of 0 are
    marked ``≈0``. ``self_top1`` (share of tokens whose own id is the top output) goes to the
    table and tooltip."""
    scores = np.asarray(eigen_score, dtype=float)
    n_layer, n_head = scores.shape
    layers = [f"L{i}" for i in range(n_layer)]
    heads = [f"H{j}" for j in range(n_head)]
    df = _grid(scores, "copying_score", layers, heads, "layer", "head")
    near = np.abs(scores) <= tolerance
    df["near_zero"] = near.ravel()
    tooltip_extra = []
    if self_top1 is not None:
        df["self_top1"] = np.asarray(self_top1, dtype=float).ravel()
        tooltip_extra = [alt.Tooltip("self_top1:Q", format=".1%")]
    top = _top_cell(scores)
    n_copy = int((scores > 0.5).sum())
    desc = (
        f"Heatmap of the OV copying score of {n_layer} × {n_head} heads, Σλ/Σ|λ| over the "
        f"eigenvalues of W_U·OV·W_Eᵀ; colour runs from −1 (blue, suppresses the attended "
        f"token) through 0 (white) to +1 (red, copies it) and each value is printed. "
        f"{n_copy} heads score above 0.5; the highest is layer {top[0]} head {top[1]} at "
        f"{scores[top]:+.2f}. {int(near.sum())} heads are within {tolerance:g} of 0 "
        f"({ZERO_MARK})."
    )
    chart = _heatmap(
        df,
        x="head",
        y="layer",
        value="copying_score",
        x_title="Head",
        y_title="Layer",
        x_order=heads,
        y_order=layers,
        title="OV copying score per head",
        description=desc,
        domain=(-1.0, 1.0),
        domain_mid=0.0,
        dark_at="ends",
        fmt="+.2f",
        near_col="near_zero",
        legend_values=[-1.0, 0.0, 1.0],
        tooltip_extra=tooltip_extra,
        subtitle=[
            "Colour scale fixed at −1…1: +1 = pure copying, −1 = pure suppression,",
            f"0 = no sign preference; within {tolerance:g} of 0 marked {ZERO_MARK}.",
        ],
    )
    return _with_mark(chart, ZERO_MARK), df


# -- positional QK ------------------------------------------------------------------------------
def positional_pattern_heatmap(
    pattern: np.ndarray, layer: int, head: int, *, rtol: float = 0.1
) -> ChartWithTable:
    """``pattern`` [n, n]: softmax over keys ≤ query of W_pos·QK·W_posᵀ / √d_head (position
    only, tokens left out), on the fixed domain 0…1. Cells within ``rtol`` of uniform
    1/(i + 1) are marked (◆ on grids too large for text)."""
    pattern = np.nan_to_num(np.asarray(pattern, dtype=float), nan=0.0)
    n = pattern.shape[0]
    labels = [str(i) for i in range(n)]
    q, k = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    visible = k <= q
    uniform = 1.0 / (q + 1.0)
    near = visible & (np.abs(pattern - uniform) <= rtol * uniform)
    df = _grid(pattern, "weight", labels, labels, "query_position", "key_position")
    df["visible"] = visible.ravel()
    df["uniform_weight"] = np.where(visible, uniform, 0.0).ravel()
    df["near_uniform"] = near.ravel()
    df = df[df["visible"]].drop(columns="visible").reset_index(drop=True)
    prev = np.array([pattern[i, i - 1] for i in range(1, n)])
    self_w = np.diag(pattern)
    desc = (
        f"Heatmap of the positional attention pattern of layer {layer}, head {head} over "
        f"the first {n} positions, from the position embeddings alone: rows are query "
        f"positions, columns key positions, colour from 0 (light) to 1 (dark); future "
        f"positions are left blank. On average a query gives {prev.mean() if n > 1 else 0:.2f} "
        f"to the previous position and {self_w.mean():.2f} to itself. "
        f"{int(near.sum())} of {int(visible.sum())} visible cells are within {rtol:.0%} of "
        f"uniform attention."
    )
    mark = "marked ≈U" if n <= 16 else "marked with a ◆"
    chart = _heatmap(
        df,
        x="key_position",
        y="query_position",
        value="weight",
        x_title="Key position",
        y_title="Query position",
        x_order=labels,
        y_order=labels,
        title=f"Positional QK pattern: layer {layer}, head {head}",
        description=desc,
        domain=(0.0, 1.0),
        near_col="near_uniform",
        legend_values=[0.0, 0.5, 1.0],
        subtitle=[
            "softmax(W_pos·QK·W_posᵀ/√d_head) per row; colour fixed at 0…1.",
            f"Within {rtol:.0%} of uniform 1/(i+1): {mark}.",
        ],
    )
    if n > 16:  # label every 8th position only, so the axes stay readable
        ticks = [str(i) for i in range(0, n, 8)]
        for lay in chart.layer:
            lay.encoding.x.axis = alt.Axis(values=ticks, labelAngle=0)
            lay.encoding.y.axis = alt.Axis(values=ticks)
    return chart, df


def previous_share_chart(
    shares: Sequence[float], uniform_previous: float, layer: int = 0
) -> ChartWithTable:
    """Each head's positional previous share (0…1 axis), with the uniform baseline as a dashed
    rule and the value printed next to each bar."""
    vals = [float(v) for v in shares]
    heads = [f"L{layer} H{h}" for h in range(len(vals))]
    df = pd.DataFrame(
        {
            "head": heads,
            "previous_share": vals,
            "uniform": float(uniform_previous),
            "vs_uniform": [v - uniform_previous for v in vals],
        }
    )
    y = alt.Y("head:N", sort=heads, title=None)
    x_scale = alt.Scale(domain=[0.0, 1.0], nice=False)
    bars = (
        Chart(df)
        .mark_bar(color="#5b3c99")
        .encode(
            y=y,
            x=alt.X(
                "previous_share:Q", title="Share of queries whose top key is i − 1", scale=x_scale
            ),
            tooltip=[
                "head",
                alt.Tooltip("previous_share:Q", format=".3f"),
                alt.Tooltip("vs_uniform:Q", format="+.3f"),
            ],
        )
    )
    text = (
        Chart(df)
        .mark_text(align="left", dx=4, fontSize=11)
        .encode(
            y=y,
            x=alt.X("previous_share:Q", scale=x_scale),
            text=alt.Text("previous_share:Q", format=".2f"),
        )
    )
    rule_df = pd.DataFrame(
        {"x": [float(uniform_previous)], "label": [f"no preference {uniform_previous:.2f}"]}
    )
    rule = (
        Chart(rule_df)
        .mark_rule(strokeDash=[6, 4], color="#b00020", strokeWidth=2)
        .encode(x=alt.X("x:Q", scale=x_scale))
    )
    rule_text = (
        Chart(rule_df)
        .mark_text(align="left", dx=4, dy=-6, color="#b00020", baseline="bottom", fontSize=11)
        .encode(x=alt.X("x:Q", scale=x_scale), y=alt.value(0), text="label:N")
    )
    best = int(np.argmax(vals)) if vals else 0
    desc = (
        (
            f"Horizontal bar chart of the share of queries for which each layer-{layer} "
            f"head's positional score is highest at the previous position, on a 0…1 axis; the "
            f"dashed line is a head with no positional preference ({uniform_previous:.3f}). "
            f"Highest: {heads[best]} at "
            f"{vals[best]:.3f}. All: "
            + "; ".join(f"{h} {v:.3f}" for h, v in zip(heads, vals))
            + "."
        )
        if vals
        else "No heads."
    )
    chart = alt.layer(bars, text, rule, rule_text).properties(
        title=_title(
            f"Previous-position share of each layer-{layer} head",
            [f"Dashed line: no positional preference, {uniform_previous:.3f}."],
        ),
        description=desc,
        height=28 * max(1, len(vals)) + 20,
    )
    return chart, df


# -- composition --------------------------------------------------------------------------------
def composition_heatmap(
    scores: np.ndarray,
    kind: str,
    baseline: float,
    later_layers: Sequence[int],
    earlier_layer: int = 0,
    *,
    rtol: float = COMPOSITION_NEAR_RTOL,
) -> ChartWithTable:
    """``scores`` [n_head_earlier, n_later_layers, n_head]: how strongly each earlier head's
    output feeds each later head's Q, K or V input (``kind``), on the fixed colour domain
    0 … ``COMPOSITION_DOMAIN_FACTOR`` × ``baseline`` (the random-matrix value). Cells within
    ``rtol`` of the baseline are marked ``≈B``. Table: one row per pair with ``ratio`` =
    score / baseline."""
    s = np.asarray(scores, dtype=float)
    n_early, n_later, n_head = s.shape
    rows = [f"L{earlier_layer} H{h}" for h in range(n_early)]
    cols = [f"L{l} H{h}" for l in later_layers for h in range(n_head)]
    flat = s.reshape(n_early, n_later * n_head)
    df = _grid(flat, "composition", rows, cols, "earlier_head", "later_head")
    df["baseline"] = float(baseline)
    df["ratio"] = df["composition"] / baseline if baseline > 0 else np.nan
    near = np.abs(flat - baseline) <= rtol * baseline
    df["near_baseline"] = near.ravel()
    hi = COMPOSITION_DOMAIN_FACTOR * baseline if baseline > 0 else 1.0
    top = _top_cell(flat)
    name = kind.upper()
    desc = (
        f"Heatmap of {name}-composition between the {n_early} heads of layer "
        f"{earlier_layer} (rows) and the {len(cols)} heads of later layers (columns): how "
        f"much of the later head's {name} input reads what the earlier head wrote. Colour "
        f"runs from 0 to {COMPOSITION_DOMAIN_FACTOR:g} × the random-matrix baseline "
        f"{baseline:.3f} and each value is printed. Strongest: {rows[top[0]]} → "
        f"{cols[top[1]]} at {flat[top]:.3f} ({flat[top] / baseline:.1f} × baseline). "
        f"{int(near.sum())} of {near.size} pairs are within {rtol:.0%} of the baseline "
        f"({BASELINE_MARK})."
    )
    chart = _heatmap(
        df,
        x="later_head",
        y="earlier_head",
        value="composition",
        x_title="Later head (reads)",
        y_title=f"L{earlier_layer} head (writes)",
        x_order=cols,
        y_order=rows,
        title=f"{name}-composition",
        description=desc,
        domain=(0.0, hi),
        scheme="greens",
        fmt=".2f",
        near_col="near_baseline",
        legend_values=sorted({0.0, round(baseline, 3), round(hi, 3)}),
        tooltip_extra=[alt.Tooltip("ratio:Q", format=".2f")],
        subtitle=[
            f"Random-matrix baseline {baseline:.3f};",
            f"colour fixed at 0 … {COMPOSITION_DOMAIN_FACTOR:g} × baseline;",
            f"within {rtol:.0%} of the baseline: {BASELINE_MARK}.",
        ],
    )
    return _with_mark(chart, BASELINE_MARK), df


# -- ablation -----------------------------------------------------------------------------------
def ablation_heatmap(
    delta: np.ndarray,
    mode: str,
    *,
    reach: float = ABLATION_REACH_NATS,
    zero: float = ABLATION_ZERO_NATS,
) -> ChartWithTable:
    """``delta`` [layer, head]: loss after − loss before (nats) when that head is ablated
    (``mode`` "zero" or "mean"), diverging around 0 on the fixed domain −reach…+reach (clamped:
    larger values take the end colour; the value is printed). |Δ| < ``zero`` is marked ``≈0``."""
    d = np.asarray(delta, dtype=float)
    n_layer, n_head = d.shape
    layers = [f"L{i}" for i in range(n_layer)]
    heads = [f"H{j}" for j in range(n_head)]
    df = _grid(d, "loss_change", layers, heads, "layer", "head")
    near = np.abs(d) < zero
    df["near_zero"] = near.ravel()
    top = _top_cell(d)
    desc = (
        f"Heatmap of the change in loss (nats) on the current input when each of "
        f"{n_layer} × {n_head} heads is {mode}-ablated; red raises the loss (the head "
        f"helped), blue lowers it; colour fixed at ±{reach:g} nats and each value printed. "
        f"The largest increase is layer {top[0]} head {top[1]} at {d[top]:+.3f} nats; "
        f"{int(near.sum())} heads change the loss by less than {zero:g} ({ZERO_MARK})."
    )
    chart = _heatmap(
        df,
        x="head",
        y="layer",
        value="loss_change",
        x_title="Head",
        y_title="Layer",
        x_order=heads,
        y_order=layers,
        title=f"Loss change when each head is {mode}-ablated",
        description=desc,
        domain=(-reach, reach),
        domain_mid=0.0,
        dark_at="ends",
        fmt="+.2f",
        near_col="near_zero",
        legend_values=[-reach, 0.0, reach],
        subtitle=[
            f"Colour fixed at −{reach:g}…+{reach:g} nats (clamped; values "
            "printed). Red: the head helped.",
            f"|Δ loss| < {zero:g} nats marked {ZERO_MARK}.",
        ],
    )
    return _with_mark(chart, ZERO_MARK), df


def per_position_delta_chart(
    delta: Sequence[float], labels: Sequence[str], layer: int, head: int, mode: str
) -> ChartWithTable:
    """Bars of the per-position loss change (predicting the token after each position)."""
    vals = [float(v) for v in delta]
    names = [str(l) for l in labels][: len(vals)]
    df = pd.DataFrame(
        {
            "position": names,
            "loss_change": vals,
            "direction": ["worse" if v > 0 else "better" if v < 0 else "same" for v in vals],
        }
    )
    x = alt.X(
        "position:N",
        sort=names,
        title="Position (predicting the next token)",
        axis=alt.Axis(labelAngle=-45, labelLimit=120),
    )
    bars = (
        Chart(df)
        .mark_bar()
        .encode(
            x=x,
            y=alt.Y("loss_change:Q", title="Δ loss (nats)"),
            color=alt.Color(
                "direction:N",
                title="Loss after ablation",
                scale=alt.Scale(
                    domain=["worse", "better", "same"], range=["#c0392b", "#1f5fa8", "#888888"]
                ),
            ),
            tooltip=["position", alt.Tooltip("loss_change:Q", format="+.4f"), "direction"],
        )
    )
    zero = Chart(pd.DataFrame({"y": [0.0]})).mark_rule(color="#111111").encode(y="y:Q")
    worst = int(np.argmax(vals)) if vals else 0
    desc = (
        f"Bar chart of the change in next-token loss at each of {len(vals)} positions when "
        f"layer {layer} head {head} is {mode}-ablated; bars above zero (red, 'worse') mean "
        f"the head helped there. Largest increase at position {names[worst]}: "
        f"{vals[worst]:+.3f} nats."
        if vals
        else "No positions to predict."
    )
    chart = alt.layer(bars, zero).properties(
        title=f"Per-position loss change, L{layer} H{head} ({mode}-ablated)",
        description=desc,
        height=220,
    )
    return chart, df
