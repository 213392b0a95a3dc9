"""Load benchmark: N learners at once take the whole lesson in one server process.

Each learner is a Streamlit AppTest session (the app's real script, caches and database, without
rendering) in this process, so all of them share one set of cached models, one database and one
Python interpreter, as the sessions of one server do. All N sessions are open at once and their
interactions are interleaved (one interaction of each learner in turn). AppTest cannot run in
several threads at once (each run swaps in its own process-wide Runtime, so one session's end
breaks another's run); a server's Python is serialised by the GIL anyway, so the time for N
simultaneous interactions is close to N times the time of one. A learner:

1. opens the home page, then every lesson page in order (Architecture, Residual stream, Circuits,
   Production mapping), answering and submitting each page's checkpoint (a seeded mix of right
   and wrong answers, different for every learner);
2. continues in the middle on "another device" (a new session opened with the resume link;
   the learner opens the link's record when the app asks) and checks that exactly their own
   progress came back;
3. takes the final assessment (answer, review, submit).

Checked for every learner: no exception and no error box; each shown score equals ``grade()`` of
that learner's own answers; the database holds exactly that learner's attempts with those
answers (any mix-up between learners is counted as cross-talk). Reported: errors, cross-talk,
the time of every interaction (one script run) with p50 / p95 / max, the wall time of the whole
lesson, and the process's peak RSS.

AppTest reruns the whole page for every interaction, so these are upper bounds for a lesson page:
in a browser, changing a checkpoint answer reruns only the checkpoint (a fragment).

    python bench/load_learners.py --learners 20            # the issue's scenario
    python bench/load_learners.py --learners 3 --json out.json

Targets (issue 12): 0 errors and 0 cross-talk at N = 20; peak RSS <= 1 GB; server time per
interaction on a lesson page <= 0.1 s, so 20 simultaneous interactions finish within 2 s.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import statistics
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from load_common import RssMonitor, percentile, rss_mb  # noqa: E402

TARGET_RSS_MB = 1024
TARGET_INTERACTION_S = 0.1
LESSON_PAGES = ("architecture", "residual_stream", "circuits", "production")
CHECKPOINTS = {
    "architecture": "checkpoint_1",
    "residual_stream": "checkpoint_2",
    "production": "checkpoint_3",
}


@dataclass
class LearnerRun:
    index: int
    timings: list[tuple[str, float]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    crosstalk: list[str] = field(default_factory=list)
    submitted: dict[str, list[dict]] = field(default_factory=dict)  # bank → answers per attempt
    wall: float = 0.0


def _timed(run: LearnerRun, what: str, at):
    t = time.perf_counter()
    at.run()
    run.timings.append((what, time.perf_counter() - t))
    if at.exception:
        run.errors.append(f"{what}: exception {at.exception[0].value[:200]}")
    return at


def _navigate(run: LearnerRun, at, slug: str):
    target = "" if slug == "home" else slug
    at._page_hash = next(
        h for h, info in at._registered_pages.items() if info.get("url_pathname") == target
    )
    return _timed(run, f"open {slug}", at)


def _answer(at, bank, prefix: str, rng: random.Random) -> None:
    """Right or wrong per item, by the learner's own random draw."""
    from tests.apptest.test_assessment_pages import answer_right, answer_wrong

    right = rng.random() < 0.6
    (answer_right if right else answer_wrong)(at, bank, prefix)


def _check_result(run: LearnerRun, at, bank_id: str) -> None:
    from core.assessment import grade
    from ui.assessment_ui import FlowKeys, cached_bank

    k = FlowKeys(bank_id)
    answers = at.session_state[k.answers]
    run.submitted.setdefault(bank_id, []).append(answers)
    shown = at.session_state[k.result]
    expected = grade(cached_bank(bank_id), answers)
    if not math.isclose(shown.score, expected.score, abs_tol=1e-12):
        run.crosstalk.append(
            f"{bank_id}: shown {shown.score} but own answers grade {expected.score}"
        )


def _press(run: LearnerRun, at, label: str, what: str):
    buttons = [b for b in at.button if b.label == label]
    if not buttons:
        run.errors.append(f"{what}: no button {label!r}")
        return at
    buttons[0].click()
    return _timed(run, what, at)


def learner(index: int, seed: int, run: LearnerRun):
    """One learner's walk through the lesson; yields after every interaction (script run), so a
    scheduler can interleave many learners' sessions."""
    from streamlit.testing.v1 import AppTest

    from core.assessment import bank_path, load_bank
    from ui import persistence
    from ui.assessment_ui import PROGRESS_KEY, FlowKeys

    rng = random.Random(seed * 1000 + index)
    t0 = time.perf_counter()
    try:
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=600)
        _timed(run, "open home", at)
        yield
        at.text_input(key=persistence.NAME_INPUT).set_value(f"load learner {index}")
        at = _press(run, at, "Save name", "save name")
        yield
        code = at.session_state[persistence.LEARNER]["code"]
        for n, slug in enumerate(LESSON_PAGES):
            at = _navigate(run, at, slug)
            yield
            bank_id = CHECKPOINTS.get(slug)
            if bank_id:
                bank = load_bank(bank_path(bank_id))
                _answer(at, bank, FlowKeys(bank_id).prefix(0), rng)
                at = _press(run, at, "Submit answers", f"submit {bank_id}")
                _check_result(run, at, bank_id)
                yield
            if n == 1:  # a reload in the middle: a new session on the same address
                progress = dict(at.session_state[PROGRESS_KEY])
                at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=600)
                at.query_params["learner"] = code
                at.switch_page(f"pages/{slug}.py")
                _timed(run, f"reload {slug}", at)
                at = _press(run, at, f"Open the work of {code[:4]}-…", f"open link {slug}")
                if at.session_state[persistence.LEARNER]["code"] != code:
                    run.crosstalk.append("the reload resumed another learner")
                restored = {b: at.session_state[PROGRESS_KEY].get(b) for b in progress}
                if restored != progress:
                    run.crosstalk.append(f"progress after reload {restored} != {progress}")
                yield
        at = _navigate(run, at, "assessment")
        yield
        bank = load_bank(bank_path("summative"))
        _answer(at, bank, FlowKeys("summative").prefix(0), rng)
        at = _press(run, at, "Review my answers", "review summative")
        yield
        at = _press(run, at, "Submit final answers", "submit summative")
        _check_result(run, at, "summative")
        _check_database(run, at.session_state[persistence.LEARNER]["id"])
    except Exception:  # noqa: BLE001 - a benchmark reports every failure and carries on
        run.errors.append(traceback.format_exc(limit=4))
    run.wall = time.perf_counter() - t0


def interleave(walks: list) -> None:
    """Round-robin: one interaction of each learner in turn, until every walk is done."""
    active = list(walks)
    while active:
        for walk in list(active):
            try:
                next(walk)
            except StopIteration:
                active.remove(walk)


def _check_database(run: LearnerRun, learner_id: int) -> None:
    from core.store import LearnerStore, default_url

    url = os.environ.get("LAB_DATABASE_URL") or default_url()
    store = LearnerStore.from_url(url)
    try:
        stored: dict[str, list[dict]] = {}
        for a in store.attempts(learner_id):
            stored.setdefault(a.bank_id, []).append(a.answers)
        if stored != run.submitted:
            run.crosstalk.append(
                f"database attempts {sorted(stored)} differ from the "
                f"learner's own submissions {sorted(run.submitted)}"
            )
    finally:
        store.engine.dispose()


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--learners", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", type=Path, default=None, help="also write the numbers here")
    args = ap.parse_args(argv)
    if not os.environ.get("LAB_DATABASE_URL") and not os.environ.get("LAB_DATA_DIR"):
        os.environ["LAB_DATA_DIR"] = tempfile.mkdtemp(prefix="lab-load-")
    os.environ.setdefault("LAB_RUN_CODE", "off")  # grading code is not what is measured here

    # Warm the shared caches once (models, banks), as a server that has served a page has.
    warm = LearnerRun(-1)
    interleave([learner(-1, args.seed, warm)])
    rss_warm = rss_mb()
    monitor = RssMonitor()
    monitor.start()
    runs = [LearnerRun(i) for i in range(args.learners)]
    t0 = time.perf_counter()
    interleave([learner(i, args.seed, r) for i, r in enumerate(runs)])
    wall = time.perf_counter() - t0
    monitor.stop.set()
    monitor.join()
    times = [t for r in runs for _, t in r.timings]
    page_times = [t for r in runs for what, t in r.timings if what.startswith(("open", "reload"))]
    submit_times = [
        t for r in runs for what, t in r.timings if not what.startswith(("open", "reload"))
    ]
    errors = [f"learner {r.index}: {e}" for r in runs for e in r.errors]
    crosstalk = [f"learner {r.index}: {c}" for r in runs for c in r.crosstalk]
    out = {
        "learners": args.learners,
        "interactions": len(times),
        "errors": len(errors) + len(warm.errors),
        "crosstalk": len(crosstalk),
        "interaction_p50_s": percentile(times, 0.5),
        "interaction_p95_s": percentile(times, 0.95),
        "interaction_max_s": max(times) if times else float("nan"),
        "page_p50_s": percentile(page_times, 0.5),
        "page_p95_s": percentile(page_times, 0.95),
        "submit_p50_s": percentile(submit_times, 0.5),
        "submit_p95_s": percentile(submit_times, 0.95),
        "single_learner_p50_s": percentile([t for _, t in warm.timings], 0.5),
        "lesson_wall_s_mean": statistics.fmean(r.wall for r in runs) if runs else float("nan"),
        "all_learners_wall_s": wall,
        "rss_after_warmup_mb": rss_warm,
        "rss_peak_mb": max(monitor.peak, rss_mb()),
        "error_details": (warm.errors + errors)[:10],
        "crosstalk_details": crosstalk[:10],
    }
    print(
        f"{args.learners} learners, {out['interactions']} interactions (script runs), one "
        f"process; whole lesson each: {out['lesson_wall_s_mean']:.1f} s mean, all done in "
        f"{wall:.1f} s"
    )
    print(f"{'measure':<40}{'measured':>12}{'target':>12}")
    rows = [
        ("errors", f"{out['errors']}", "0"),
        ("cross-talk", f"{out['crosstalk']}", "0"),
        ("interaction p50 (s)", f"{out['interaction_p50_s']:.3f}", ""),
        ("interaction p95 (s)", f"{out['interaction_p95_s']:.3f}", ""),
        (
            "N interactions at once, est. N x p50 (s)",
            f"{args.learners * out['interaction_p50_s']:.2f}",
            "2.0 (N=20)",
        ),
        ("page run p50 (s)", f"{out['page_p50_s']:.3f}", ""),
        (
            "interaction p50 (s), warm-up learner",
            f"{out['single_learner_p50_s']:.3f}",
            f"{TARGET_INTERACTION_S}",
        ),
        ("peak RSS (MB)", f"{out['rss_peak_mb']:.0f}", f"{TARGET_RSS_MB}"),
    ]
    for name, got, target in rows:
        print(f"{name:<40}{got:>12}{target:>12}")
    kinds: dict[str, list[float]] = {}
    for r in runs:
        for what, t in r.timings:
            kinds.setdefault(what, []).append(t)
    out["p50_by_interaction_s"] = {k: percentile(v, 0.5) for k, v in kinds.items()}
    print(f"\n{'interaction':<40}{'p50 (s)':>12}{'p95 (s)':>12}")
    for what, ts in kinds.items():
        print(f"{what:<40}{percentile(ts, 0.5):>12.3f}{percentile(ts, 0.95):>12.3f}")
    for line in out["error_details"] + out["crosstalk_details"]:
        print("  !", line.strip().splitlines()[-1][:300])
    if args.json:
        args.json.write_text(json.dumps(out, indent=2) + "\n")
    return out


if __name__ == "__main__":
    result = main()
    sys.exit(1 if result["errors"] or result["crosstalk"] else 0)
