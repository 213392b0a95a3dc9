"""What keeps a server interaction fast (issue 12; numbers in bench/load_server.py): chart data
serialised once per distinct chart, and no full garbage collection over the imported libraries
after every script run."""

import gc
import tomllib
from pathlib import Path

import numpy as np
import pyarrow as pa

from ui import charts
from ui.layout import _arrow_ipc, _build_spec, cached

ROOT = Path(__file__).resolve().parents[2]


def test_chart_rows_become_arrow_bytes_that_read_back_as_the_same_rows():
    rows = [{"layer": 0, "head": "H1", "share": 0.25}, {"layer": 1, "head": "H2", "share": -1.5}]
    table = pa.ipc.open_stream(_arrow_ipc(rows)).read_all()
    assert table.to_pylist() == rows


def test_a_cached_chart_carries_its_datasets_as_the_rows_altair_would_have_sent():
    attention = np.tril(np.ones((5, 5)))
    attention /= attention.sum(axis=1, keepdims=True)
    chart, _ = charts.attention_heatmap(attention, [3, 1, 4, 1, 5], 0, 2)
    plain = chart.to_dict(validate=False)
    spec, table = _build_spec(
        "ui.charts", "attention_heatmap", (attention, [3, 1, 4, 1, 5], 0, 2), {}
    )
    assert set(spec["datasets"]) == set(plain["datasets"])
    for name, rows in plain["datasets"].items():
        assert isinstance(spec["datasets"][name], bytes)
        back = pa.ipc.open_stream(spec["datasets"][name]).read_all().to_pylist()
        assert back == rows
    # Everything but the data is the chart Altair made.
    assert {k: v for k, v in spec.items() if k != "datasets"} == {
        k: v for k, v in plain.items() if k != "datasets"
    }
    assert len(table) == 5


def test_imported_objects_are_frozen_once_and_the_server_skips_the_per_run_collection():
    from ui.shell import freeze_imported_objects

    freeze_imported_objects()
    frozen = gc.get_freeze_count()
    assert frozen > 10_000  # the imported libraries' objects
    freeze_imported_objects()  # once per process: a second call freezes nothing new
    assert gc.get_freeze_count() == frozen
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["runner"]["postScriptGC"] is False


def test_cached_charts_are_keyed_by_their_inputs_never_mixed_up():
    attention = np.tril(np.ones((4, 4)))
    attention /= attention.sum(axis=1, keepdims=True)
    other = attention.copy()
    other[3] = [0.0, 0.0, 0.5, 0.5]
    first, _ = cached(charts.attention_heatmap, attention, [1, 2, 3, 4], 0, 1)
    again, _ = cached(charts.attention_heatmap, attention.copy(), [1, 2, 3, 4], 0, 1)
    changed, _ = cached(charts.attention_heatmap, other, [1, 2, 3, 4], 0, 1)
    assert first == again
    assert changed != first
    assert (
        changed == _build_spec("ui.charts", "attention_heatmap", (other, [1, 2, 3, 4], 0, 1), {})[0]
    )
    assert cached(charts.attention_heatmap, attention, [1, 2, 3, 4], 0, 2)[0] != first
