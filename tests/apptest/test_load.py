"""The load benchmark (bench/load_learners.py) at CI size: a few learners take the whole lesson
at once in this process, with 0 errors and 0 cross-talk (their scores are their own answers'
grades, and the database holds exactly their own attempts). Timings are reported by the
benchmark itself, not asserted here."""

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(1800)
def test_a_few_learners_at_once_never_mix_their_work(tmp_path, monkeypatch):
    spec = importlib.util.spec_from_file_location(
        "load_learners", ROOT / "bench" / "load_learners.py"
    )
    bench = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "load_learners", bench)  # dataclasses look it up
    spec.loader.exec_module(bench)
    out = bench.main(["--learners", "3", "--json", str(tmp_path / "load.json")])
    assert out["errors"] == 0, out["error_details"]
    assert out["crosstalk"] == 0, out["crosstalk_details"]
    # Every learner made every interaction: 14 script runs each (home, name, four pages, three
    # checkpoints, a reload with the resume link and the click that opens its record, the
    # assessment page, review, submit).
    assert out["interactions"] == 3 * 14
