"""Memory benchmark: the worst case one learner can cause on a shared server.

The scenario from the review: one learner applies the largest model the app allows with ten
different seeds in a row (each seed is a new model, a new trace and new reports). The review
measured the server going from 563 MB to 1.93 GB (and one Apply taking 37 s) before the budget
and the bounded caches. The target is 1 GB for the whole server on a 2.7 GB Community Cloud host.

The app runs in this process through Streamlit's AppTest (the same caches a server uses are
process-wide), and the resident set size is read from /proc/self/status after every Apply.

    python bench/bench_memory.py            # prints a table; exit code 1 above the target
"""

from __future__ import annotations

import gc
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from streamlit.testing.v1 import AppTest  # noqa: E402

from core.config import TransformerConfig  # noqa: E402
from core.lesson import SPEC_EXAMPLE_IDS  # noqa: E402
from ui.controls import APP_BUDGET, MODEL_CACHE, RANDOM, SOURCE_TYPED, TRACE_CACHE  # noqa: E402

TARGET_MB = 1024
REVIEW_BEFORE_MB, REVIEW_AFTER_MB, REVIEW_APPLY_S = 563, 1930, 37.0


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def largest_allowed() -> TransformerConfig:
    """The allowed configuration (from a grid of the form's values) that keeps the most bytes."""
    best = None
    for d in (256, 384, 512, 640, 768, 1024):
        for layers in range(1, 25):
            for heads in (4, 8, 16):
                for vocab in (1000, 4096, 8192):
                    try:
                        cfg = APP_BUDGET.check(
                            TransformerConfig(
                                vocab_size=vocab,
                                n_positions=1024,
                                n_embd=d,
                                n_layer=layers,
                                n_head=heads,
                            )
                        )
                    except ValueError:
                        continue
                    size = cfg.estimate_model_bytes() + cfg.estimate_activation_bytes(64)
                    if best is None or size > best[0]:
                        best = (size, cfg)
    assert best is not None
    return best[1]


def main() -> int:
    cfg = largest_allowed()
    print(
        f"Largest allowed model: {cfg.n_layer} layers × {cfg.n_head} heads, d_model "
        f"{cfg.d_model}, vocabulary {cfg.vocab_size}, context {cfg.n_positions}: "
        f"{cfg.estimate_parameters():,} parameters, "
        f"{cfg.estimate_model_bytes() / 2**20:.1f} MB kept per model"
    )
    print(f"Caches: {MODEL_CACHE} models, {TRACE_CACHE} traces\n")
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=600)
    at.switch_page("pages/architecture.py")
    at.run()
    gc.collect()
    start = rss_mb()
    print(f"{'step':<26}{'RSS MB':>10}{'Apply s':>10}")
    print(f"{'default page loaded':<26}{start:>10.0f}{'':>10}")
    peak, slowest = start, 0.0
    for seed in range(1, 11):
        at.selectbox(key="lab_w_model").set_value(RANDOM)
        at.radio(key="lab_w_source").set_value(SOURCE_TYPED)
        at.text_area(key="lab_w_tokens").set_value(", ".join(str(i) for i in SPEC_EXAMPLE_IDS))
        at.number_input(key="lab_w_n_layer").set_value(cfg.n_layer)
        at.number_input(key="lab_w_n_head").set_value(cfg.n_head)
        at.number_input(key="lab_w_n_embd").set_value(cfg.n_embd)
        at.number_input(key="lab_w_vocab").set_value(cfg.vocab_size)
        at.number_input(key="lab_w_n_positions").set_value(cfg.n_positions)
        at.number_input(key="lab_w_seed").set_value(seed)
        t0 = time.perf_counter()
        next(b for b in at.button if b.label == "Apply").click()
        at.run()
        elapsed = time.perf_counter() - t0
        if at.exception or at.error:
            print("unexpected:", [e.value for e in at.exception], [e.value for e in at.error])
            return 2
        now = rss_mb()
        peak, slowest = max(peak, now), max(slowest, elapsed)
        print(f"{f'seed {seed} applied':<26}{now:>10.0f}{elapsed:>10.1f}")
    print()
    print(f"{'':<34}{'this build':>12}{'review (before)':>18}{'target':>10}")
    print(f"{'peak RSS, MB':<34}{peak:>12.0f}{REVIEW_AFTER_MB:>18}{TARGET_MB:>10}")
    print(
        f"{'growth over 10 seeds, MB':<34}{peak - start:>12.0f}"
        f"{REVIEW_AFTER_MB - REVIEW_BEFORE_MB:>18}{'':>10}"
    )
    print(f"{'slowest Apply, s':<34}{slowest:>12.1f}{REVIEW_APPLY_S:>18.1f}{'':>10}")
    return 0 if peak <= TARGET_MB else 1


if __name__ == "__main__":
    raise SystemExit(main())
