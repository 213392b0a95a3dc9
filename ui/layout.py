"""Small display helpers shared by pages."""

from __future__ import annotations

import hashlib
import importlib
import pickle
from collections.abc import Sequence

import altair as alt
import numpy as np
import pandas as pd
import pyarrow as pa
import streamlit as st

from ui import charts


def cached(builder, *args, **kwargs) -> tuple[dict, pd.DataFrame]:
    """``builder(*args, **kwargs)`` (a chart builder of ui/charts.py or ui/circuit_charts.py,
    returning ``(chart, table)``) as ``(Vega-Lite spec, table)``, built once per distinct input
    and shared by every session: a rerun that changes one picker rebuilds only the charts whose
    data changed. The arguments must be plain data (arrays, lists, numbers, strings).

    The cache key is a digest of the pickled arguments (pickle is C code; Streamlit's own
    hashing walks lists element by element in Python, which cost a page ~20 ms per run). Equal
    inputs pickle to equal bytes; different inputs never do, so a key can only miss, never mix
    two charts up."""
    module, name = builder.__module__, builder.__name__
    try:
        blob = pickle.dumps((module, name, args, kwargs), protocol=pickle.HIGHEST_PROTOCOL)
    except (pickle.PicklingError, TypeError, AttributeError):
        return _spec_by_value(module, name, args, kwargs)
    key = hashlib.blake2b(blob, digest_size=20).hexdigest()
    return _spec_by_key(key, module, name, _args=args, _kwargs=kwargs)


@st.cache_data(max_entries=512, show_spinner=False)
def _spec_by_key(
    key: str, module: str, name: str, _args: tuple, _kwargs: dict
) -> tuple[dict, pd.DataFrame]:
    return _build_spec(module, name, _args, _kwargs)


@st.cache_data(max_entries=64, show_spinner=False)
def _spec_by_value(module: str, name: str, args: tuple, kwargs: dict) -> tuple[dict, pd.DataFrame]:
    return _build_spec(module, name, args, kwargs)


def _build_spec(module: str, name: str, args: tuple, kwargs: dict) -> tuple[dict, pd.DataFrame]:
    chart, table = getattr(importlib.import_module(module), name)(*args, **kwargs)
    spec = chart.to_dict(validate=False)
    # The chart's data, serialised once: Streamlit sends a named dataset as Arrow IPC bytes and
    # passes bytes through as they are, so a rerun does not convert the same rows again.
    datasets = spec.get("datasets")
    if isinstance(datasets, dict):
        spec["datasets"] = {
            name: _arrow_ipc(rows) if isinstance(rows, list) else rows
            for name, rows in datasets.items()
        }
    return spec, table


def _arrow_ipc(rows: list[dict]) -> bytes:
    """A dataset (a list of records) as Arrow IPC stream bytes, the way Streamlit writes it."""
    table = pa.Table.from_pandas(pd.DataFrame(rows))
    sink = pa.BufferOutputStream()
    with pa.RecordBatchStreamWriter(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def chart_with_table(
    chart: alt.TopLevelMixin | dict,
    table: pd.DataFrame,
    *,
    table_label: str,
    expanded: bool = False,
    hide_index: bool = True,
) -> None:
    """Show a chart and, right below, its data table.

    Streamlit uses the chart's ``description`` as its accessible name (aria-label).

    The chart is turned into its Vega-Lite spec once, without Altair's JSON-schema validation
    (the chart builders are validated by the unit tests, tests/unit/test_charts.py): validating
    every chart on every rerun cost about 0.1 s per chart.
    """
    spec = chart if isinstance(chart, dict) else chart.to_dict(validate=False)
    spec_height = spec.get("height")
    if isinstance(spec_height, int):  # Streamlit sizes the element; leave room for axes and title
        st.vega_lite_chart(spec, height=spec_height + 150)
    else:
        st.vega_lite_chart(spec)
    with st.expander(f"Data table: {table_label}", expanded=expanded):
        st.dataframe(table, hide_index=hide_index)


def weights_note(key) -> None:
    """Say which weights the page runs on and what their charts can and cannot show.

    ``key`` is a ``ui.controls.ModelKey``: a shipped trained model, or random weights.
    """
    if key.is_trained:
        st.info(
            f"**Trained weights** ({key.label}): trained for this lesson on WikiText-2 plus "
            "repeated random segments, attention only (no MLP, no LayerNorm), so every "
            "decomposition on this page stays exact. Choose *Random weights* in the sidebar to "
            "see the same charts with nothing learned.",
            icon=":material/school:",
        )
        return
    st.info(
        f"**Random weights** (standard deviation {key.config.init_std:g}): the charts on this "
        "page show the architecture's mechanics (how the stream, the heads and the sum work), "
        "not learned behaviour. Nothing here has been trained; choose a trained model in the "
        "sidebar to see what learning adds.",
        icon=":material/casino:",
    )


def attention_explorer(
    attention: np.ndarray,
    token_ids: Sequence[int],
    *,
    key_prefix: str,
    token_texts: Sequence[str] | None = None,
) -> tuple[int, int]:
    """Layer and head pickers and the chosen head's attention heatmap with its table.

    ``attention`` is ``[layer, head, query, key]``; returns the chosen (layer, head). Switching
    only re-draws from the array it was given.
    """
    n_layer, n_head = attention.shape[:2]
    left, right = st.columns(2)
    layer = left.selectbox(
        "Layer",
        list(range(n_layer)),
        key=f"{key_prefix}_layer",
        help="Which layer's heads to inspect.",
    )
    head = right.selectbox(
        "Head", list(range(n_head)), key=f"{key_prefix}_head", help="Which head of that layer."
    )
    chart, table = cached(
        charts.attention_heatmap,
        attention[layer, head],
        token_ids,
        layer,
        head,
        token_texts=token_texts,
    )
    chart_with_table(
        chart, table, table_label=f"attention weights, layer {layer} head {head}", hide_index=False
    )
    return layer, head


def stream_size_and_direction(stream_norms: np.ndarray, similarities: Sequence[float]) -> None:
    """Side by side: the stream's norm per layer and its cosine with x0, each with its table."""
    left, right = st.columns(2)
    with left:
        chart, data = cached(charts.stream_norm_chart, stream_norms)
        chart_with_table(chart, data, table_label="stream magnitude per layer")
    with right:
        chart, data = cached(charts.similarity_chart, similarities)
        chart_with_table(chart, data, table_label="similarity to the initial stream")
