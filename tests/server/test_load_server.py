"""The server load benchmark (bench/load_server.py) at CI size: a real ``streamlit run`` server,
learners speaking Streamlit's browser protocol, every page, picker, checkpoint, a reload and the
final assessment, all learners' steps sent at the same moment. Checked: 0 errors and 0
cross-talk (each learner's drawn scores are the grades of the answers stored for that learner,
their essays are their own, their progress survives the reload). Timings are the benchmark's
report, not asserted here."""

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _bench():
    spec = importlib.util.spec_from_file_location("load_server", ROOT / "bench" / "load_server.py")
    bench = importlib.util.module_from_spec(spec)
    sys.modules["load_server"] = bench  # dataclasses look the module up
    spec.loader.exec_module(bench)
    return bench


@pytest.mark.timeout(1800)
def test_learners_at_once_on_one_server_never_mix_their_work(tmp_path):
    bench = _bench()
    out = bench.main(
        [
            "--learners",
            "3",
            "--json",
            str(tmp_path / "load.json"),
            "--log",
            str(tmp_path / "server.log"),
        ]
    )
    assert out["errors"] == 0, out["error_details"]
    assert out["crosstalk"] == 0, out["crosstalk_details"]
    # Every step of every learner was made and timed: the same walk for each learner.
    solo = sum(v[2] for v in out["solo_by_kind"].values())
    assert solo >= 30  # four pages, pickers, three checkpoints answered item by item, the final
    assert out["interactions"] == 3 * out["interactions_per_learner"]
    # Pickers and answers were fragment runs, the kinds the benchmark reports separately.
    assert {
        "picker (fragment run)",
        "checkpoint answer (fragment run)",
        "page open (full run)",
    } <= set(out["burst_by_kind"])
