"""The circuits page's chart builders: titled, described, on fixed domains, baselines marked.

Expected values (domains, baselines, which cells are marked) are worked out here by hand from
the inputs, never read back from the builders' output.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ui import circuit_charts as cc


# -- helpers -----------------------------------------------------------------------------------
def _layers(spec: dict) -> list[dict]:
    return spec.get("layer", [spec])


def _colour_domain(spec: dict) -> list[float]:
    for layer in _layers(spec):
        colour = layer.get("encoding", {}).get("color", {})
        if colour.get("type") == "quantitative" and "scale" in colour:
            return colour["scale"]["domain"]
    raise AssertionError("no quantitative colour scale")


def _title(spec: dict) -> tuple[str, list[str]]:
    title = spec["title"]
    if isinstance(title, str):
        return title, []
    sub = title.get("subtitle", [])
    return title["text"], [sub] if isinstance(sub, str) else list(sub)


def _markers(spec: dict) -> list[str]:
    return [
        layer["encoding"]["text"]["value"]
        for layer in _layers(spec)
        if layer.get("mark", {}).get("type") == "text"
        and "value" in layer.get("encoding", {}).get("text", {})
    ]


def _x_domain(spec: dict) -> list[float]:
    return _layers(spec)[0]["encoding"]["x"]["scale"]["domain"]


def _causal_uniform(n: int) -> np.ndarray:
    a = np.zeros((n, n))
    for i in range(n):
        a[i, : i + 1] = 1.0 / (i + 1)
    return a


def _builders():
    rng = np.random.default_rng(1)
    return {
        "head_score": lambda: cc.head_score_heatmap(
            rng.random((2, 4)),
            value="induction_score",
            title="Induction score per head",
            what="all attention on the token after the earlier copy",
            baseline=0.1,
        ),
        "head_score_no_baseline": lambda: cc.head_score_heatmap(
            rng.random((2, 4)),
            value="previous_token_score",
            title="Previous-token score",
            what="all attention on the previous token",
            baseline=None,
        ),
        "ranked": lambda: cc.ranked_tokens_chart(
            [" the", ",", " of"],
            [0.5, 0.2, 0.1],
            ids=[1, 2, 3],
            title="Direct path",
            value_title="probability",
            description_lead="the top tokens:",
        ),
        "ranked_free": lambda: cc.ranked_tokens_chart(
            [" a", " b"],
            [3.0, 1.0],
            title="OV outputs",
            value_title="logit_effect",
            description_lead="the top outputs:",
            domain=None,
            fmt="+.2f",
        ),
        "copying": lambda: cc.copying_heatmap(
            rng.uniform(-1, 1, (2, 4)), self_top1=rng.random((2, 4))
        ),
        "positional": lambda: cc.positional_pattern_heatmap(_causal_uniform(32), 0, 1),
        "previous_share": lambda: cc.previous_share_chart([0.9, 0.1, 0.2], 0.12),
        "composition": lambda: cc.composition_heatmap(rng.random((4, 1, 4)) * 0.3, "k", 0.09, [1]),
        "ablation": lambda: cc.ablation_heatmap(rng.normal(size=(2, 4)), "zero"),
        "per_position": lambda: cc.per_position_delta_chart(
            [0.5, -0.2, 0.0], ["0 · a", "1 · b", "2 · c"], 1, 2, "mean"
        ),
    }


@pytest.mark.parametrize("name", sorted(_builders()))
def test_every_builder_returns_a_titled_described_chart_and_a_table(name):
    chart, table = _builders()[name]()
    spec = chart.to_dict()  # validates against the Vega-Lite schema too
    text, _ = _title(spec)
    assert text.strip()
    assert len(spec["description"]) > 40
    assert isinstance(table, pd.DataFrame) and len(table) > 0


# -- head scores -------------------------------------------------------------------------------
@pytest.mark.parametrize("scale", [0.01, 1.0])
def test_head_score_domain_is_0_to_1_whatever_the_data(scale):
    chart, _ = cc.head_score_heatmap(
        np.full((2, 3), 0.5) * scale, value="s", title="T", what="x", baseline=0.2
    )
    assert _colour_domain(chart.to_dict()) == [0.0, 1.0]


def test_head_scores_near_the_uniform_baseline_are_marked():
    scores = np.array([[0.10, 0.14, 0.16], [0.90, 0.06, 0.0]])
    chart, table = cc.head_score_heatmap(scores, value="s", title="T", what="x", baseline=0.1)
    # |score − 0.1| ≤ 0.05: 0.10, 0.14 and 0.06 are, 0.16, 0.90 and 0.0 are not.
    assert list(table["near_uniform"]) == [True, True, False, False, True, False]
    spec = chart.to_dict()
    assert "≈U" in _markers(spec)
    assert any("0.100" in line for line in _title(spec)[1])
    np.testing.assert_allclose(table["vs_uniform"], scores.ravel() - 0.1)


def test_head_scores_without_baseline_mark_nothing():
    chart, table = cc.head_score_heatmap(
        np.full((1, 2), 0.3), value="s", title="T", what="x", baseline=None
    )
    assert "near_uniform" not in table.columns
    assert not _markers(chart.to_dict())


# -- copying -----------------------------------------------------------------------------------
def test_copying_domain_is_minus_1_to_1_diverging_at_0():
    chart, _ = cc.copying_heatmap(np.array([[0.2, 0.3]]))  # data far inside the domain
    spec = chart.to_dict()
    scale = next(
        l["encoding"]["color"]["scale"]
        for l in _layers(spec)
        if l.get("encoding", {}).get("color", {}).get("type") == "quantitative"
    )
    assert scale["domain"] == [-1.0, 1.0] and scale["domainMid"] == 0.0


def test_copying_scores_near_zero_are_marked_and_the_formula_is_named():
    chart, table = cc.copying_heatmap(np.array([[0.05, 0.9], [-0.5, -0.08]]))
    assert list(table["near_zero"]) == [True, False, False, True]
    spec = chart.to_dict()
    assert "≈0" in _markers(spec) and "≈U" not in _markers(spec)
    assert "Σλ/Σ|λ|" in spec["description"]


# -- positional --------------------------------------------------------------------------------
def test_positional_pattern_is_on_0_to_1_and_uniform_rows_are_all_marked():
    n = 20
    chart, table = cc.positional_pattern_heatmap(_causal_uniform(n), 0, 3)
    spec = chart.to_dict()
    assert _colour_domain(spec) == [0.0, 1.0]
    assert len(table) == n * (n + 1) // 2  # only the causal cells
    assert table["near_uniform"].all()
    # Too many cells for text: the marks are diamonds.
    assert any(l.get("mark", {}).get("type") == "point" for l in _layers(spec))


def test_a_previous_token_positional_pattern_is_not_marked_uniform():
    n = 8
    pattern = np.eye(n, k=-1)
    pattern[0, 0] = 1.0
    _, table = cc.positional_pattern_heatmap(pattern, 0, 0)
    prev = table[(table["query_position"] == "5") & (table["key_position"] == "4")]
    assert not prev["near_uniform"].iloc[0] and prev["weight"].iloc[0] == 1.0


def test_previous_share_axis_is_0_to_1_with_the_baseline_rule():
    chart, table = cc.previous_share_chart([0.05, 0.08], 0.12)  # data far below 1
    spec = chart.to_dict()
    assert _x_domain(spec) == [0.0, 1.0]
    rules = [l for l in _layers(spec) if l.get("mark", {}).get("type") == "rule"]
    assert rules
    rule_data = spec["datasets"][rules[0]["data"]["name"]]
    assert rule_data[0]["x"] == pytest.approx(0.12)
    np.testing.assert_allclose(table["vs_uniform"], [0.05 - 0.12, 0.08 - 0.12])


# -- composition -------------------------------------------------------------------------------
def test_composition_domain_is_a_fixed_multiple_of_the_baseline_not_the_data():
    base = 0.1
    scores = np.full((2, 1, 2), 0.11)
    chart, table = cc.composition_heatmap(scores, "q", base, [1])
    spec = chart.to_dict()
    assert _colour_domain(spec) == pytest.approx([0.0, cc.COMPOSITION_DOMAIN_FACTOR * base])
    assert table["near_baseline"].all()
    assert "≈B" in _markers(spec)
    assert any("0.100" in line for line in _title(spec)[1])
    assert list(table["later_head"].unique()) == ["L1 H0", "L1 H1"]


def test_composition_far_above_baseline_is_not_marked():
    scores = np.array([[[0.4]]])
    _, table = cc.composition_heatmap(scores, "k", 0.1, [1])
    assert not table["near_baseline"].iloc[0]
    assert table["ratio"].iloc[0] == pytest.approx(4.0)


# -- ablation ----------------------------------------------------------------------------------
def test_ablation_domain_is_fixed_and_symmetric_whatever_the_data():
    chart, table = cc.ablation_heatmap(np.array([[3.0, 0.001], [-0.5, 0.0]]), "mean")
    spec = chart.to_dict()
    assert _colour_domain(spec) == [-cc.ABLATION_REACH_NATS, cc.ABLATION_REACH_NATS]
    assert list(table["near_zero"]) == [False, True, False, True]
    assert "≈0" in _markers(spec)


def test_ranked_tokens_keep_their_order_and_the_default_axis_is_0_to_1():
    chart, table = cc.ranked_tokens_chart(
        [" b", " a"], [0.02, 0.01], title="T", value_title="share", description_lead="top:"
    )
    assert list(table["token"]) == ["␣b", "␣a"]
    assert _x_domain(chart.to_dict()) == [0.0, 1.0]
