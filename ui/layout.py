"""Small display helpers shared by pages."""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from core.config import TransformerConfig


def chart_with_table(chart: alt.TopLevelMixin, table: pd.DataFrame, *, table_label: str,
                     expanded: bool = False, hide_index: bool = True) -> None:
    """Show a chart and, right below, its data table.

    Streamlit uses the chart's ``description`` as its accessible name (aria-label).
    """
    spec_height = chart.to_dict().get("height")
    if isinstance(spec_height, int):  # Streamlit sizes the element; leave room for axes and title
        st.altair_chart(chart, height=spec_height + 150)
    else:
        st.altair_chart(chart)
    with st.expander(f"Data table: {table_label}", expanded=expanded):
        st.dataframe(table, hide_index=hide_index)


def weights_note(config: TransformerConfig) -> None:
    """Say what the charts of a randomly initialised model can and cannot show."""
    st.info(
        f"**Random weights** (standard deviation {config.init_std:g}): the charts on this page "
        "show the architecture's mechanics (how the stream, the heads and the sum work), not "
        "learned behaviour. Nothing here has been trained.",
        icon=":material/casino:",
    )
