"""Benchmark for the trained models (issue 10): disk, memory and a warm rerun, against targets.

1. Disk: every bundled model (and the bigram table) in models/, together ≤ 60 MB.
2. Memory: one server process (Streamlit's AppTest, whose caches are the process-wide caches a
   server uses) runs every lesson page on every model the sidebar offers; the resident set size
   is read from /proc/self/status after each page. Target: peak ≤ 1 GB.
3. Warm rerun: on a page already computed, change a head picker and time the rerun of the whole
   script (AppTest reruns the whole page; a browser rerun of an ``st.fragment`` runs less, so this
   is an upper bound). Median of several changes. Target ≤ 0.3 s.

    python bench/bench_models.py        # prints tables; exit code 1 when a target is missed

Quote numbers from an idle machine: the header prints the load average.
"""

from __future__ import annotations

import gc
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from streamlit.testing.v1 import AppTest  # noqa: E402

from core.lesson import LESSON  # noqa: E402
from ui.controls import model_options  # noqa: E402

DISK_TARGET_MB = 60
RSS_TARGET_MB = 1024
RERUN_TARGET_S = 0.3
MB = 1024 * 1024


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def disk() -> float:
    print("1. Bundled models on disk")
    total = 0
    for path in sorted((ROOT / "models").iterdir()):
        if path.name.startswith(("trial-", ".")):  # local experiments, not shipped (git ignores)
            continue
        files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
        size = sum(p.stat().st_size for p in files)
        total += size
        print(f"   {path.name:<28}{size / MB:>8.1f} MB")
    print(f"   {'total':<28}{total / MB:>8.1f} MB   (target ≤ {DISK_TARGET_MB} MB)\n")
    return total / MB


def visit_all() -> float:
    """Every page on every model. AppTest cannot switch between callable pages after a run, so
    each visit is a fresh session (as a new learner would be); the caches are process-wide, so
    the resident memory is the server's."""
    print("2. One process, every page on every model")
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=600)
    at.run()
    gc.collect()
    start = peak = rss_mb()
    print(f"   {'after Home':<44}{start:>8.0f} MB")
    for name in model_options():
        for page in LESSON.pages:
            if page.slug == "home":
                continue
            at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=600)
            at.switch_page(f"pages/{page.slug}.py")
            at.run()
            if any(s.key == "lab_w_model" for s in at.selectbox):  # a page with the model form
                at.selectbox(key="lab_w_model").set_value(name)
                next(b for b in at.button if b.label == "Apply").click()
                at.run()
            if at.exception or at.error:
                raise SystemExit(
                    f"{page.slug} on {name}: {[e.value for e in (*at.exception, *at.error)]}"
                )
            now = rss_mb()
            peak = max(peak, now)
            print(f"   {name + ', ' + page.slug:<44}{now:>8.0f} MB")
    print(f"   {'peak':<44}{peak:>8.0f} MB   (target ≤ {RSS_TARGET_MB} MB)\n")
    return peak


def warm_rerun(slug: str, widget: str, repeats: int = 6) -> float:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=600)
    at.switch_page(f"pages/{slug}.py")
    at.run()
    box = at.selectbox(key=widget)
    options = list(box.options)
    times = []
    for i in range(repeats + 1):
        at.selectbox(key=widget).set_value(options[(i + 1) % len(options)])
        t0 = time.perf_counter()
        at.run()
        elapsed = time.perf_counter() - t0
        if at.exception:
            raise SystemExit(f"{slug}: {at.exception[0].value}")
        if i:  # the first change may compute a new cached entry; the rest are warm
            times.append(elapsed)
    # Warm: every option has now been computed once; go round again.
    return statistics.median(times)


def main() -> int:
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores\n")
    mb = disk()
    peak = visit_all()
    print("3. Warm rerun after changing a head picker (whole page, median)")
    reruns = {}
    for slug, widget in (
        ("architecture", "arch_head"),
        ("circuits", "circ_ov_head"),
        ("circuits", "circ_abl_head"),
    ):
        warm_rerun(slug, widget)  # fill the caches for every option
        reruns[(slug, widget)] = warm_rerun(slug, widget)
        print(
            f"   {slug + ' / ' + widget:<44}{reruns[(slug, widget)]:>8.3f} s"
            f"   (target ≤ {RERUN_TARGET_S} s)"
        )
    ok = (
        mb <= DISK_TARGET_MB
        and peak <= RSS_TARGET_MB
        and all(t <= RERUN_TARGET_S for t in reruns.values())
    )
    print("\nall targets met" if ok else "\nTARGET MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
