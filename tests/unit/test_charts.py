"""Chart builders as a specification: fixed colour domains, baselines marked, honest labels.

Expected values are computed here by hand (uniform causal attention, sums of contributions),
never read back from the builders' own output.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd
import pytest

from ui import charts
from ui.diagrams import FLOW_DESCRIPTION, flow_diagram


# -- helpers -----------------------------------------------------------------------------------
def _layers(spec: dict) -> list[dict]:
    return spec.get("layer", [spec])


def _colour_scale(spec: dict) -> dict:
    """The scale of the (first) quantitative colour encoding in a layered spec."""
    for layer in _layers(spec):
        colour = layer.get("encoding", {}).get("color", {})
        if colour.get("type") == "quantitative" and "scale" in colour:
            return colour["scale"]
    raise AssertionError("no quantitative colour scale in the chart")


def _text_colour_threshold(spec: dict, field: str) -> tuple[str, float]:
    """(comparison, number) of the white-text test on printed cell values."""
    for layer in _layers(spec):
        cond = layer.get("encoding", {}).get("color", {}).get("condition")
        if layer.get("mark", {}).get("type") == "text" and cond:
            m = re.fullmatch(rf"\(datum\['{field}'\] ([<>]) ([-0-9.e]+)\)", cond["test"])
            assert m, cond["test"]
            return m.group(1), float(m.group(2))
    raise AssertionError("no text layer with a colour condition")


def _title(spec: dict) -> tuple[str, list[str]]:
    title = spec["title"]
    if isinstance(title, str):
        return title, []
    sub = title.get("subtitle", [])
    return title["text"], [sub] if isinstance(sub, str) else list(sub)


def _marker_texts(spec: dict) -> list[str]:
    return [
        layer["encoding"]["text"]["value"]
        for layer in _layers(spec)
        if layer.get("mark", {}).get("type") == "text"
        and "value" in layer.get("encoding", {}).get("text", {})
    ]


def _uniform_causal(n: int) -> np.ndarray:
    """Row i spreads weight 1 / (i + 1) over keys 0 … i (built by hand, row by row)."""
    a = np.zeros((n, n))
    for i in range(n):
        a[i, : i + 1] = 1.0 / (i + 1)
    return a


# -- every builder -----------------------------------------------------------------------------
def _all_builders():
    rng = np.random.default_rng(0)
    terms = dict(zip(charts.QK_TERMS, [0.1, 0.2, 0.3, 0.4]))
    return {
        "stream_norm": lambda: charts.stream_norm_chart(rng.random((3, 4)) + 1),
        "attention": lambda: charts.attention_heatmap(_uniform_causal(4), [1, 2, 3, 4], 0, 1),
        "entropy": lambda: charts.entropy_heatmap(rng.random((2, 3)), 5),
        "previous": lambda: charts.previous_token_heatmap(rng.random((2, 3)), seq_len=5),
        "previous_no_len": lambda: charts.previous_token_heatmap(rng.random((2, 3))),
        "singular": lambda: charts.singular_value_chart(
            np.array([3.0, 2.0, 1e-9, 1e-9]), 2, "QK", 0, 0
        ),
        "token_matrix": lambda: charts.token_matrix_heatmap(
            rng.normal(size=(3, 3)),
            [4, 5, 6],
            title="QK tokens",
            description="Heatmap of the QK scores between the three distinct input tokens.",
            row_title="Query token",
            col_title="Key token",
            value="score",
        ),
        "decomposition": lambda: charts.decomposition_chart(
            rng.random(4), rng.random((2, 4)), rng.random(4), 0.5, np.array([0.1, 0.2]), 1e-7
        ),
        "head_contribution": lambda: charts.head_contribution_heatmap(
            rng.random((2, 3, 4)), rng.random((2, 3))
        ),
        "similarity": lambda: charts.similarity_chart([0.9, 0.8]),
        "effective_rank": lambda: charts.effective_rank_chart([3, 4, 4], 5, 16),
        "spectrum": lambda: charts.spectrum_chart(np.array([3.0, 1.0, 0.5]), "x1"),
        "information": lambda: charts.information_types_chart([1.0, 0.9], [1.0, 0.4]),
        "qk_terms": lambda: charts.qk_terms_chart(terms, terms, 0, 1),
        "logit_attribution": lambda: charts.logit_attribution_chart(
            ["embeddings", "attn 0"], [1.0, -0.25], " the", 0.75, 0.0
        ),
        "mastery": lambda: charts.mastery_chart({"LO1": 0.9, "LO2": 0.5}, 0.85),
        "top_predictions": lambda: charts.top_predictions_chart(
            [{"token": " a", "id": 1, "probability": 0.6}], "context"
        ),
    }


@pytest.mark.parametrize("name", sorted(_all_builders()))
def test_every_builder_returns_a_titled_described_chart_and_a_table(name):
    chart, table = _all_builders()[name]()
    spec = chart.to_dict()  # also validates the spec against the Vega-Lite schema
    text, _ = _title(spec)
    assert text.strip()
    assert len(spec["description"]) > 40
    assert isinstance(table, pd.DataFrame) and len(table) > 0


# -- attention pattern -------------------------------------------------------------------------
def test_attention_colour_domain_is_fixed_at_0_to_1_whatever_the_data():
    weights = np.tril(np.full((3, 3), 0.3))  # rows don't even sum to 1: the domain must not care
    spec = charts.attention_heatmap(weights, [7, 8, 9], 0, 0)[0].to_dict()
    assert _colour_scale(spec)["domain"] == [0.0, 1.0]


def test_attention_text_switches_to_white_at_60_percent_of_the_fixed_domain():
    weights = np.tril(np.full((3, 3), 0.3))  # data min 0, max 0.3: data-based cut would be 0.18
    spec = charts.attention_heatmap(weights, [7, 8, 9], 0, 0)[0].to_dict()
    assert _text_colour_threshold(spec, "weight") == (">", pytest.approx(0.6))


def test_uniform_attention_marks_every_visible_cell_and_the_subtitle_says_1_over_i_plus_1():
    n = 4
    chart, table = charts.attention_heatmap(_uniform_causal(n), [1, 2, 3, 4], 0, 0)
    spec = chart.to_dict()
    _, subtitle = _title(spec)
    assert "1/(i+1)" in " ".join(subtitle)
    assert charts.UNIFORM_MARK in _marker_texts(spec)
    assert table["uniform_weight"].tolist() == pytest.approx([1, 1 / 2, 1 / 3, 1 / 4])
    assert table["vs_uniform"].tolist() == pytest.approx([0, 0, 0, 0])
    assert f"{n * (n + 1) // 2} of {n * (n + 1) // 2} visible cells" in spec["description"]
    assert f"{n} of {n} rows are uniform" in spec["description"]


def test_attention_to_self_only_differs_from_uniform_by_i_over_i_plus_1():
    n = 4
    chart, table = charts.attention_heatmap(np.eye(n), [1, 2, 3, 4], 0, 0)
    # row i: weight 1 where uniform is 1/(i+1), weight 0 where uniform is 1/(i+1): the larger
    # gap is 1 − 1/(i+1) = i/(i+1); only row 0 (a single key, forced to 1) is at baseline
    assert table["vs_uniform"].tolist() == pytest.approx([0, 1 / 2, 2 / 3, 3 / 4])
    assert "1 of 10 visible cells" in chart.to_dict()["description"]


# -- entropy -----------------------------------------------------------------------------------
def test_entropy_colour_domain_is_0_to_ln_n():
    spec = charts.entropy_heatmap(np.full((2, 2), 0.5), 8)[0].to_dict()
    assert _colour_scale(spec)["domain"] == pytest.approx([0.0, math.log(8)])


def test_near_uniform_entropies_are_marked_not_stretched_into_contrast():
    # the review's case: 32 heads between 1.3250 and 1.3256 nats over 8 tokens
    n = 8
    uniform = math.log(math.factorial(n)) / n  # mean of ln 1 … ln 8 = ln(8!) / 8
    assert uniform == pytest.approx(1.32558, abs=1e-5)
    entropy = np.linspace(1.3250, 1.3256, 32).reshape(4, 8)
    chart, table = charts.entropy_heatmap(entropy, n)
    spec = chart.to_dict()
    assert _colour_scale(spec)["domain"] == pytest.approx([0.0, math.log(n)])
    _, subtitle = _title(spec)
    assert "uniform attention = 1.326 nats" in " ".join(subtitle).lower()
    assert charts.UNIFORM_MARK in _marker_texts(spec)
    assert table["near_uniform"].all()
    assert table["vs_uniform"].to_numpy() == pytest.approx(entropy.ravel() - uniform)
    assert "32 of 32 heads are within 1%" in spec["description"]


def test_entropy_text_colour_threshold_is_computed_from_ln_n_not_the_data():
    spec = charts.entropy_heatmap(np.full((2, 2), 1.3), 8)[0].to_dict()
    assert _text_colour_threshold(spec, "entropy_nats") == ("<", pytest.approx(0.45 * math.log(8)))


def test_a_sharp_head_is_not_marked_uniform():
    entropy = np.array([[0.1, math.log(math.factorial(5)) / 5]])  # sharp, exactly uniform
    _, table = charts.entropy_heatmap(entropy, 5)
    assert table["near_uniform"].tolist() == [False, True]
    assert table[["layer", "head"]].values.tolist() == [["L0", "H0"], ["L0", "H1"]]


# -- previous-token heads ------------------------------------------------------------------------
def test_previous_token_domain_is_0_to_1_and_the_baseline_is_mean_of_1_over_i_plus_1():
    # n = 5: queries 1…4 give their previous token 1/2, 1/3, 1/4, 1/5 → mean 77/240
    baseline = (1 / 2 + 1 / 3 + 1 / 4 + 1 / 5) / 4
    assert baseline == pytest.approx(77 / 240)
    scores = np.array([[baseline, 0.95]])
    chart, table = charts.previous_token_heatmap(scores, seq_len=5)
    spec = chart.to_dict()
    assert _colour_scale(spec)["domain"] == [0.0, 1.0]
    assert "0.321" in " ".join(_title(spec)[1])
    assert table["vs_uniform"].tolist() == pytest.approx([0.0, 0.95 - baseline])
    assert table["near_uniform"].tolist() == [True, False]
    assert _text_colour_threshold(spec, "attention_to_previous") == (">", pytest.approx(0.6))


def test_previous_token_without_seq_len_keeps_working_without_a_baseline():
    chart, table = charts.previous_token_heatmap(np.array([[0.2, 0.4]]))
    assert _colour_scale(chart.to_dict())["domain"] == [0.0, 1.0]
    assert "vs_uniform" not in table.columns
    assert table["attention_to_previous"].tolist() == [0.2, 0.4]


# -- head contributions and token matrices -----------------------------------------------------
def test_head_contribution_domain_starts_at_zero():
    norms = np.array([[[2.0, 4.0], [5.0, 7.0]]])  # means 3 and 6
    chart, table = charts.head_contribution_heatmap(norms, np.array([[0.1, 0.2]]))
    assert _colour_scale(chart.to_dict())["domain"] == [0.0, 6.0]
    assert table["mean_norm"].tolist() == [3.0, 6.0]


def test_token_matrix_scale_is_symmetric_around_zero():
    matrix = np.array([[0.5, -2.0], [1.0, 0.0]])
    spec = charts.token_matrix_heatmap(
        matrix, [1, 2], title="t", description="d", row_title="r", col_title="c", value="v"
    )[0].to_dict()
    scale = _colour_scale(spec)
    assert scale["domain"] == [-2.0, 2.0] and scale["domainMid"] == 0.0


# -- singular values ---------------------------------------------------------------------------
def test_singular_value_chart_draws_the_rank_cap_rule_with_its_label():
    values = np.array([3.0, 2.0, 1.0, 1e-9, 1e-10, 1e-11])
    spec = charts.singular_value_chart(values, 3, "OV", 1, 2)[0].to_dict()
    rules = [layer for layer in _layers(spec) if layer["mark"]["type"] == "rule"]
    assert len(rules) == 1 and rules[0]["mark"]["strokeDash"]
    cap_x = spec["datasets"][rules[0]["data"]["name"]][0]["cap"]
    assert cap_x == 3.5  # between bar 3 (last possibly non-zero) and bar 4
    assert any("rank cap d_head = 3" in text for text in _marker_texts(spec))
    assert "only the first 3 (d_head) can be non-zero" in spec["description"]


# -- information types -------------------------------------------------------------------------
def test_information_types_draws_reference_lines_at_one_and_zero():
    chart, table = charts.information_types_chart(
        [1.0, 0.8, 0.5], [1.0, 1.1, 0.2], r_squared=[1.0, 0.9, 0.7]
    )
    spec = chart.to_dict()
    rule = next(layer for layer in _layers(spec) if layer["mark"]["type"] == "rule")
    refs = spec["datasets"][rule["data"]["name"]]
    assert {r["y"]: r["label"] for r in refs} == {1.0: "fully present (x0)", 0.0: "absent (0)"}
    assert list(table.columns) == [
        "stream",
        "token_coefficient",
        "position_coefficient",
        "r_squared",
    ]
    assert table["stream"].tolist() == ["x0", "x1", "x2"]
    assert table["position_coefficient"].tolist() == [1.0, 1.1, 0.2]


def test_information_types_lines_differ_by_dash_and_shape_not_only_colour():
    spec = charts.information_types_chart([1.0, 0.8], [1.0, 0.5])[0].to_dict()
    line = next(layer for layer in _layers(spec) if layer["mark"]["type"] == "line")
    for channel in ("color", "strokeDash", "shape"):
        assert line["encoding"][channel]["field"] == "information"
    table = charts.information_types_chart([1.0, 0.8], [1.0, 0.5])[1]
    assert "r_squared" not in table.columns


def test_information_types_rejects_mismatched_lengths():
    with pytest.raises(ValueError):
        charts.information_types_chart([1.0, 0.8], [1.0])


# -- QK terms ----------------------------------------------------------------------------------
def test_qk_terms_chart_orders_terms_and_names_the_dominant_one():
    shares = {
        "position·position": 0.55,
        "token·token": 0.25,
        "token·position": 0.1,
        "position·token": 0.1,
    }
    magnitudes = {
        "position·position": 2.2,
        "token·token": 1.0,
        "token·position": 0.4,
        "position·token": 0.4,
    }
    chart, table = charts.qk_terms_chart(shares, magnitudes, 1, 3)
    assert table["term"].tolist() == [
        "token·token",
        "token·position",
        "position·token",
        "position·position",
    ]
    assert table["share"].sum() == pytest.approx(1.0)
    row = table.set_index("term").loc["token·position"]
    assert (row["query_part"], row["key_part"]) == ("token", "position")
    spec = chart.to_dict()
    assert "position·position dominates with 55.0%" in spec["description"]
    assert "layer 1, head 3" in _title(spec)[0]
    text = next(layer for layer in _layers(spec) if layer["mark"]["type"] == "text")
    assert text["encoding"]["text"] == {"field": "share", "format": ".1%", "type": "quantitative"}


# -- direct logit attribution ------------------------------------------------------------------
def test_logit_attribution_table_sums_and_directions():
    components = ["embeddings", "attention 0", "MLP 0", "attention 1"]
    contributions = [2.0, -0.5, 1.25, 0.0]
    chart, table = charts.logit_attribution_chart(components, contributions, " Paris", 2.75, 3e-7)
    assert table["component"].tolist() == components  # model order kept
    assert table["contribution"].sum() == pytest.approx(2.0 - 0.5 + 1.25)
    assert table["direction"].tolist() == ["raises", "lowers", "raises", "no effect"]
    spec = chart.to_dict()
    assert "sum to 2.7500" in spec["description"]
    assert "the logit is 2.7500" in spec["description"]
    assert "error 3.0e-07" in spec["description"]
    formats = {
        layer["encoding"]["text"].get("format")
        for layer in _layers(spec)
        if layer["mark"]["type"] == "text"
    }
    assert formats == {"+.3f"}  # the sign is printed on every bar
    rule = next(layer for layer in _layers(spec) if layer["mark"]["type"] == "rule")
    assert spec["datasets"][rule["data"]["name"]] == [{"x": 0.0}]


def test_logit_attribution_rejects_mismatched_inputs():
    with pytest.raises(ValueError):
        charts.logit_attribution_chart(["a", "b"], [1.0], "x", 1.0, 0.0)


# -- flow diagram ------------------------------------------------------------------------------
@pytest.mark.parametrize("n_layer", [1, 2, 3])
def test_flow_diagram_draws_every_layer_of_a_small_model(n_layer):
    dot = flow_diagram(n_layer)
    for l in range(n_layer):
        assert f"attn{l} [" in dot and f"read x{l}" in dot
    assert f"x{n_layer} [" in dot and f"x{n_layer + 1} [" not in dot


def test_flow_diagram_folds_the_middle_of_a_deep_model():
    dot = flow_diagram(12)
    assert "attn0 [" in dot and "attn11 [" in dot
    assert "attn5 [" not in dot and "layers 1–10" in dot


def test_flow_description_states_the_facts_and_not_the_myth():
    text = FLOW_DESCRIPTION.lower()
    assert "all heads read the same x0" in text and "summed" in text
    assert "cancel or reverse" in text  # the stream is not only "preserved"
    assert "preserves" not in text
