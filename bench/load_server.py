"""Load benchmark against a real server: N learners take the lesson at once over Streamlit's
own protocol (``bench/st_client.py``), so the server does exactly what it does for browsers,
fragments included, while the machine is not spent on rendering.

One ``streamlit run app.py`` process is started on a fresh database. A warm-up learner walks the
lesson alone first (the shared caches fill as on a server that has served a page); its times are
the **server time per interaction** with nobody else on the server. Then N learners walk the
same lesson in lockstep: every step is sent by all N at the same moment, and the time until the
last of them has its answer is the **burst time** of N simultaneous interactions.

A learner opens Home and each lesson page, moves the layer / head / stream pickers on the pages
that have them, answers each checkpoint one widget at a time (a seeded mix of choices, different
per learner, and an essay that carries the learner's number), submits, continues in the middle
on "another device" (a new connection with the resume link; the learner opens the link's
record when the app asks) and takes the final assessment (answer,
review, submit). Checked for each learner: no exception drawn; after the reload the sidebar
shows the learner's own progress; the score drawn after each submission equals ``grade()`` of
the answers stored for that learner; the database holds exactly that learner's submissions and
their essays carry the learner's own number (any mix-up is counted as cross-talk).

    python bench/load_server.py --learners 20          # the issue's scenario
    python bench/load_server.py --learners 3 --json out.json

Targets (issue 12): 0 errors and 0 cross-talk at N = 20; server RSS <= 1 GB; server time per
interaction on a lesson page <= 0.1 s, so 20 simultaneous interactions finish within 2 s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from load_common import RssMonitor, percentile, rss_mb  # noqa: E402
from st_client import ProtocolError, Session, run_sync  # noqa: E402

TARGET_RSS_MB = 1024
RESUME_CODE = re.compile(r"^[A-HJKMNP-Z2-9]{4}-[A-HJKMNP-Z2-9]{4}-[A-HJKMNP-Z2-9]{4}$")
TARGET_INTERACTION_S = 0.1
TARGET_BURST_S = 2.0
LESSON_PAGES = ("architecture", "residual_stream", "circuits", "production")
CHECKPOINTS = {
    "architecture": "checkpoint_1",
    "residual_stream": "checkpoint_2",
    "production": "checkpoint_3",
}
#: Pickers moved on each page, (widget kind, label), where the page has them.
PICKERS = (("selectbox", "Layer"), ("selectbox", "Head"), ("selectbox", "Stream for the spectrum"))
POINTS = re.compile(r"\*\*(Passed|Not passed yet|Not passed): \d+%\*\* \((\S+) of (\S+) points")
ANSWER_LABEL = re.compile(r"^(Answer to question|Your answer to question) (\d+)")


@dataclass
class Learner:
    index: int
    rng: random.Random
    code: str = ""
    timings: list[tuple[str, float]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    crosstalk: list[str] = field(default_factory=list)
    shown_points: list[tuple[str, str]] = field(default_factory=list)  # (bank, earned points)
    essays: int = 0


# -- the server -----------------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(
    data_dir: str, log_path: Path, env: dict[str, str] | None = None, script: str = "app.py"
) -> tuple[subprocess.Popen, str]:
    """``streamlit run app.py`` (or ``script``) on a free port with its learner data in
    ``data_dir`` (and the environment overrides in ``env``); returns the process and its base
    URL once healthy."""
    port = _free_port()
    overrides = env or {}
    env = {**os.environ, "LAB_DATA_DIR": data_dir, "LAB_RUN_CODE": "off"}
    env.pop("LAB_DATABASE_URL", None)
    env.update(overrides)
    log = open(log_path, "w")  # noqa: SIM115 - the server's log, open while it runs
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            script,
            "--server.headless",
            "true",
            "--server.port",
            str(port),
            "--server.address",
            "127.0.0.1",
            "--server.fileWatcherType",
            "none",
            "--browser.gatherUsageStats",
            "false",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited with code {proc.returncode}; see {log_path}")
        try:
            with urllib.request.urlopen(base + "_stcore/health", timeout=2) as r:
                if r.read() == b"ok":
                    return proc, base
        except OSError:
            time.sleep(0.3)
    proc.kill()
    raise RuntimeError(f"the server did not answer within 90 s; see {log_path}")


# -- one learner, step by step --------------------------------------------------------------------
def _check_run(me: Learner, what: str, result) -> None:
    me.timings.append((what, result.seconds))
    for exc in result.exceptions:
        me.errors.append(f"{what}: {exc[:200]}")
    for text in result.texts:
        if "Something went wrong" in text or "could not be graded" in text:
            me.errors.append(f"{what}: {text[:200]}")


def _answer_steps(me: Learner, s: Session, tag: str):
    """One step per answer widget of the open assessment flow (each a fragment run)."""
    widgets = sorted(
        (
            (w.kind, w.label)
            for w in s.widgets.values()
            if w.fragment_id and (ANSWER_LABEL.match(w.label) or w.kind == "checkbox")
        ),
        key=lambda kl: kl[1],
    )
    for kind, label in widgets:
        w = s.widget(kind, label)
        if kind == "radio":
            value = me.rng.choice(list(w.proto.options))
        elif kind == "checkbox":
            value = me.rng.random() < 0.5
        elif kind == "number_input":
            value = me.rng.choice([0.0, 1.0, 2.0, 12.0, 64.0, 768.0])
        elif kind == "text_area":
            me.essays += 1
            value = (
                f"Learner {me.index} writes: every component adds its output to the "
                f"residual stream, so the logits split into one term per path."
            )
        else:
            continue
        yield f"answer {tag}", s.change(kind, label, value)


def walk(me: Learner, base: str):
    """The learner's interactions, each yielded as (what, coroutine) for the driver to time."""
    s = Session(base)
    yield "connect", s.__aenter__()
    yield "open home", s.open("")
    # The resume code, as the sidebar's "Your saved work" shows it (never in the address).
    me.code = next((t for t in s.last.texts if RESUME_CODE.match(t)), "")
    for n, slug in enumerate(LESSON_PAGES):
        yield f"open {slug}", s.open(slug)
        for kind, label in PICKERS:
            if (kind, label) in s.widgets:
                options = list(s.widget(kind, label).proto.options)
                if len(options) > 1:
                    yield (
                        f"picker {label.split()[0].lower()}",
                        s.change(
                            kind,
                            label,
                            options[me.rng.randrange(1, len(options))]
                            if label != "Stream for the spectrum"
                            else options[0],
                        ),
                    )
        bank_id = CHECKPOINTS.get(slug)
        if bank_id:
            yield from _answer_steps(me, s, bank_id)
            yield f"submit {bank_id}", s.click("Submit answers")
            _note_points(me, bank_id, s.last)
        if n == 1:  # another device in the middle: a new connection with the resume link,
            # and the learner opens the link's record when the app asks
            progress = _progress_lines(s.last)
            yield "close", s.__aexit__(None, None, None)
            s = Session(base, query_string=f"learner={me.code}")
            yield "connect", s.__aenter__()
            yield f"reload {slug}", s.open(slug)
            yield f"open link {slug}", s.click(f"Open the work of {me.code[:4]}-…")
            if _progress_lines(s.last) != progress:
                me.crosstalk.append(
                    f"progress after the reload {_progress_lines(s.last)} != {progress}"
                )
    yield "open assessment", s.open("assessment")
    yield from _answer_steps(me, s, "summative")
    yield "review summative", s.click("Review my answers")
    yield "submit summative", s.click("Submit final answers")
    _note_points(me, "summative", s.last)
    yield "close", s.__aexit__(None, None, None)


def _progress_lines(result) -> list[str]:
    return [
        line
        for text in (result.texts if result else [])
        for line in text.splitlines()
        if line.startswith(("- Checkpoint", "- Final assessment"))
    ]


def _note_points(me: Learner, bank_id: str, result) -> None:
    for text in result.texts if result else []:
        m = POINTS.search(text)
        if m:
            me.shown_points.append((bank_id, m.group(2)))
            return
    me.errors.append(f"submit {bank_id}: no score was drawn")


async def _step(me: Learner, what: str, coro):
    try:
        result = await coro
    except ProtocolError as err:
        me.errors.append(f"{what}: {err}")
        return False
    except Exception as err:  # noqa: BLE001 - a benchmark reports every failure
        me.errors.append(f"{what}: {type(err).__name__}: {err}")
        return False
    if result is not None and hasattr(result, "seconds"):
        _check_run(me, what, result)
    return True


async def drive(learners: list[Learner], base: str) -> list[tuple[str, float]]:
    """Lockstep: step k of every learner is sent at the same moment; returns (what, burst wall
    time) per step."""
    walks = [walk(me, base) for me in learners]
    bursts = []
    active = list(zip(learners, walks))
    while active:
        batch = []
        for me, w in list(active):
            try:
                what, coro = next(w)
            except StopIteration:
                active.remove((me, w))
                continue
            except Exception as err:  # noqa: BLE001 - e.g. a widget that was not drawn
                me.errors.append(f"step: {type(err).__name__}: {err}")
                active.remove((me, w))
                continue
            batch.append((me, what, coro))
        if not batch:
            break
        t0 = time.perf_counter()
        await asyncio.gather(*(_step(me, what, coro) for me, what, coro in batch))
        wall = time.perf_counter() - t0
        kinds = {what for _, what, _ in batch}
        if len(kinds) == 1 and not kinds & {"connect", "close"}:
            bursts.append((kinds.pop(), wall))
    return bursts


# -- checks against the database ------------------------------------------------------------------
def check_database(learners: list[Learner], data_dir: str) -> None:
    from core.assessment import bank_path, grade, load_bank
    from core.store import InvalidResumeCode, LearnerStore, default_url

    store = LearnerStore.from_url(default_url(Path(data_dir)))
    banks: dict = {}
    try:
        for me in learners:
            if not me.code:
                me.errors.append("no resume code was given")
                continue
            try:
                learner_id = store.learner_for_code(me.code)
            except InvalidResumeCode:
                me.crosstalk.append(f"code {me.code} has no record")
                continue
            attempts = store.attempts(learner_id)
            stored = [(a.bank_id, a.answers) for a in attempts]
            if [b for b, _ in stored] != [b for b, _ in me.shown_points]:
                me.crosstalk.append(
                    f"stored attempts {[b for b, _ in stored]} != submitted "
                    f"{[b for b, _ in me.shown_points]}"
                )
                continue
            essays = [
                v
                for _, answers in stored
                for v in answers.values()
                if isinstance(v, str) and v.startswith("Learner ")
            ]
            if len(essays) != me.essays or any(
                not e.startswith(f"Learner {me.index} ") for e in essays
            ):
                me.crosstalk.append(
                    f"stored essays {[e[:12] for e in essays]} are not all learner {me.index}'s"
                )
            for (bank_id, answers), (_, shown) in zip(stored, me.shown_points):
                bank = banks.setdefault(bank_id, load_bank(bank_path(bank_id)))
                expected = f"{grade(bank, answers).earned_points:g}"
                if expected != shown:
                    me.crosstalk.append(
                        f"{bank_id}: drawn {shown} points, but the stored answers grade {expected}"
                    )
    finally:
        store.engine.dispose()


# -- report ---------------------------------------------------------------------------------------
def _kind(what: str) -> str:
    """Interactions grouped by what the server does for them."""
    if what.startswith(("open", "reload")):
        return "page open (full run)"
    if what.startswith("picker"):
        return "picker (fragment run)"
    if what.startswith("answer"):
        return "checkpoint answer (fragment run)"
    return "submit / review (its fragments)"


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--learners", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", type=Path, default=None, help="also write the numbers here")
    ap.add_argument("--log", type=Path, default=ROOT / "test-output" / "load-server.log")
    args = ap.parse_args(argv)
    args.log.parent.mkdir(parents=True, exist_ok=True)
    data_dir = tempfile.mkdtemp(prefix="lab-load-server-")
    proc, base = start_server(data_dir, args.log)
    try:
        warm = Learner(-1, random.Random(args.seed * 1000 - 1))
        run_sync(drive([warm], base))  # first walk: builds the models and caches
        solo = Learner(-2, random.Random(args.seed * 1000 - 2))
        run_sync(drive([solo], base))  # the server time per interaction, alone
        rss_warm = rss_mb(proc.pid)
        monitor = RssMonitor(proc.pid)
        monitor.start()
        learners = [Learner(i, random.Random(args.seed * 1000 + i)) for i in range(args.learners)]
        t0 = time.perf_counter()
        bursts = run_sync(drive(learners, base))
        wall = time.perf_counter() - t0
        monitor.stop.set()
        monitor.join()
        rss_peak = max(monitor.peak, rss_mb(proc.pid))
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
    check_database([warm, solo, *learners], data_dir)

    solo_by: dict[str, list[float]] = {}
    for what, t in solo.timings:
        if what not in ("connect", "close", "open home"):
            solo_by.setdefault(_kind(what), []).append(t)
    burst_by: dict[str, list[float]] = {}
    for what, t in bursts:
        if what not in ("open home",):
            burst_by.setdefault(_kind(what), []).append(t)
    lesson_solo = [t for ts in solo_by.values() for t in ts]
    lesson_burst = [t for ts in burst_by.values() for t in ts]
    errors = [f"learner {me.index}: {e}" for me in (warm, solo, *learners) for e in me.errors]
    crosstalk = [f"learner {me.index}: {c}" for me in (warm, solo, *learners) for c in me.crosstalk]
    out = {
        "learners": args.learners,
        "interactions": sum(len(me.timings) for me in learners),
        "interactions_per_learner": len(solo.timings),
        "errors": len(errors),
        "crosstalk": len(crosstalk),
        "solo_p50_s": percentile(lesson_solo, 0.5),
        "solo_p95_s": percentile(lesson_solo, 0.95),
        "burst_p50_s": percentile(lesson_burst, 0.5),
        "burst_p95_s": percentile(lesson_burst, 0.95),
        "burst_max_s": max(lesson_burst) if lesson_burst else float("nan"),
        "solo_by_kind": {
            k: [percentile(v, 0.5), percentile(v, 0.95), len(v)] for k, v in solo_by.items()
        },
        "burst_by_kind": {
            k: [percentile(v, 0.5), percentile(v, 0.95), len(v)] for k, v in burst_by.items()
        },
        "all_learners_wall_s": wall,
        "rss_after_warmup_mb": rss_warm,
        "rss_peak_mb": rss_peak,
        "error_details": errors[:10],
        "crosstalk_details": crosstalk[:10],
    }
    n = args.learners
    print(
        f"{n} learners at once against one server, {out['interactions']} interactions, all "
        f"done in {wall:.1f} s (lesson pages; Home excluded)"
    )
    print(f"{'measure':<52}{'measured':>11}{'target':>9}")
    rows = [
        ("errors", f"{out['errors']}", "0"),
        ("cross-talk", f"{out['crosstalk']}", "0"),
        (
            "server time per interaction, alone: p50 (s)",
            f"{out['solo_p50_s']:.3f}",
            f"{TARGET_INTERACTION_S}",
        ),
        ("server time per interaction, alone: p95 (s)", f"{out['solo_p95_s']:.3f}", ""),
        (
            f"{n} interactions at once, all answered: p50 (s)",
            f"{out['burst_p50_s']:.2f}",
            f"{TARGET_BURST_S}" if n == 20 else "",
        ),
        (f"{n} interactions at once, all answered: p95 (s)", f"{out['burst_p95_s']:.2f}", ""),
        ("server peak RSS (MB)", f"{rss_peak:.0f}", f"{TARGET_RSS_MB}"),
    ]
    for name, got, target in rows:
        print(f"{name:<52}{got:>11}{target:>9}")
    print(
        f"\n{'kind of interaction':<40}{'alone p50':>10}{'p95':>8}{f'{n} at once p50':>16}"
        f"{'p95':>8}"
    )
    for k in sorted(set(solo_by) | set(burst_by)):
        a, b = solo_by.get(k, []), burst_by.get(k, [])
        print(
            f"{k:<40}{percentile(a, 0.5):>10.3f}{percentile(a, 0.95):>8.3f}"
            f"{percentile(b, 0.5):>16.2f}{percentile(b, 0.95):>8.2f}"
        )
    for line in out["error_details"] + out["crosstalk_details"]:
        print("  !", line.strip().splitlines()[-1][:300])
    if args.json:
        args.json.write_text(json.dumps(out, indent=2) + "\n")
    return out


if __name__ == "__main__":
    result = main()
    sys.exit(1 if result["errors"] or result["crosstalk"] else 0)
