"""Forward-pass benchmark: our analysis forward against TransformerLens's ``run_with_cache``.

For each scale it times, side by side in one run and on the same random token ids:

  (a) ``plain``     our ``model(ids)``                        (logits only)
  (b) ``analysis``  our ``model(ids, return_analysis=True)``  (logits + every internal)
  (c) ``tl_cache``  TransformerLens 4.x attention-only model, ``model.run_with_cache(ids)``

and reports the median wall time (after warm-up; the three variants are interleaved round-robin
so drift in the machine's speed hits all of them alike) and the memory held by the returned object
(bytes of the distinct tensor storages reachable from it, deduplicated by storage address).
All calls run under ``torch.no_grad()``, with the same ``torch.set_num_threads`` (printed).

Target: at every scale the analysis forward is no slower than ``run_with_cache`` and holds no more
memory. One verdict line per scale says whether it is met.

Setup (its own venv; torch stays the 2.13.0 CPU wheel pinned in requirements.txt)::

    python3 -m venv .venv-bench
    .venv-bench/bin/pip install -r requirements-bench.txt

Run from the repository root (takes about a minute on 2 cores)::

    .venv-bench/bin/python bench/bench_forward.py            # full run, writes bench/results/*.json
    .venv-bench/bin/python bench/bench_forward.py --quick    # fewer repeats, a smoke test
    .venv-bench/bin/python bench/bench_forward.py --threads 1 --no-json
    .venv-bench/bin/python bench/bench_forward.py --breakdown  # which tensors take the memory

Quote timings only from a run on an otherwise idle machine (the header prints the load average
and warns when it is busy): on 2 shared cores a concurrent test run makes the millisecond-scale
lesson numbers meaningless.

Notes on the TransformerLens side (4.3.0):

- ``HookedTransformer`` is gone in 4.x. A randomly initialised model is built without any download by
  ``transformer_lens.model_bridge.sources.native.boot(config_dict)`` (also reachable as
  ``TransformerBridge.boot_native``); it returns a ``TransformerBridge`` in *training* mode, so the
  bench calls ``.eval()`` on it.
- ``run_with_cache`` returns ``(logits, ActivationCache)``; the cache's tensors live in
  ``cache.cache_dict`` (about 25 hook names per layer, many of them aliases of one tensor, hence the
  dedup by storage).
- On this native model ``blocks.*.attn.hook_attn_scores`` is fed the *post-softmax* pattern (the
  same storage as ``hook_pattern``; see ``AttentionBridge`` in
  ``model_bridge/generalized_components/attention.py``), so TransformerLens holds no pre-softmax
  scores, while our analysis holds both ``attention_scores`` and ``attention_weights``.
- The two models are configured alike (layers, width, heads, vocabulary, attention only, no
  LayerNorm) but are not identical: TransformerLens adds biases to Q/K/V/O and the unembedding and
  learns its position embedding; ours has no biases and fixed sinusoidal positions. Parameter
  counts are printed.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import gc
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

MB = 1024**2


# --------------------------------------------------------------------------------------------
# memory held by a result
# --------------------------------------------------------------------------------------------
def held_storages(obj: Any) -> dict[int, int]:
    """``{storage data_ptr: nbytes}`` of every distinct tensor storage reachable from ``obj``.

    Recurses into dict / list / tuple. An object with ``stored_tensors()`` (our lazy containers)
    is walked through what that returns (the tensors it really holds), never through its items,
    which would compute derived tensors. A TransformerLens ``ActivationCache`` is walked through
    its ``cache_dict``. Any other mapping is refused rather than iterated, for the same reason.
    """
    seen: dict[int, int] = {}
    stack = [obj]
    while stack:
        item = stack.pop()
        if item is None or isinstance(item, (int, float, str, bool)):
            continue
        if isinstance(item, torch.Tensor):
            storage = item.untyped_storage()
            seen.setdefault(storage.data_ptr(), storage.nbytes())
        elif callable(getattr(item, "stored_tensors", None)):
            stack.extend(item.stored_tensors().values())
        elif isinstance(getattr(item, "cache_dict", None), dict):  # TL ActivationCache
            stack.extend(item.cache_dict.values())
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
        elif isinstance(item, Mapping):
            raise TypeError(
                f"held_storages: refusing to iterate {type(item).__name__} (it may compute "
                f"tensors on access); give it a stored_tensors() method."
            )
        else:
            raise TypeError(f"held_storages: don't know how to walk {type(item).__name__}.")
    return seen


def held_nbytes(obj: Any) -> int:
    return sum(held_storages(obj).values())


def model_storages(model: torch.nn.Module) -> set[int]:
    """Storage addresses of a model's parameters and buffers."""
    tensors = list(model.parameters()) + list(model.buffers())
    return {t.untyped_storage().data_ptr() for t in tensors}


def _strip_layer(name: str) -> str:
    parts = name.split(".")
    if len(parts) > 2 and parts[0] == "blocks" and parts[1].isdigit():
        return ".".join(parts[2:])
    return name


def breakdown(obj: Any) -> dict[str, int]:
    """Bytes held by ``obj`` per label (a key name, layer index stripped), each storage counted once.

    Ours: the dict / ``stored_tensors()`` key under which a storage is first met (breadth first).
    TransformerLens: among the hook names that alias one storage, the first that is not a generic
    ``hook_in`` / ``hook_out`` (so ``hook_resid_pre``, ``attn.hook_q``, ``attn.hook_pattern``...).
    """
    names_by_ptr: dict[int, list[str]] = {}
    nbytes: dict[int, int] = {}
    queue: list[tuple[str, Any]] = [("result", obj)]
    while queue:
        label, item = queue.pop(0)
        if isinstance(item, torch.Tensor):
            st = item.untyped_storage()
            names_by_ptr.setdefault(st.data_ptr(), []).append(label)
            nbytes[st.data_ptr()] = st.nbytes()
        elif callable(getattr(item, "stored_tensors", None)):
            queue.extend(item.stored_tensors().items())
        elif isinstance(getattr(item, "cache_dict", None), dict):
            queue.extend(item.cache_dict.items())
        elif isinstance(item, dict):
            queue.extend(item.items())
        elif isinstance(item, (list, tuple)):
            queue.extend((label, x) for x in item)
    out: dict[str, int] = {}
    for ptr, names in names_by_ptr.items():
        stripped = [_strip_layer(n) for n in names]
        specific = [n for n in stripped if not n.endswith(("hook_in", "hook_out"))]
        label = (specific or stripped)[0]
        if label == "result":  # TL's bare logits tensor, outside the cache
            label = "logits"
        out[label] = out.get(label, 0) + nbytes[ptr]
    return dict(sorted(out.items(), key=lambda kv: -kv[1]))


# --------------------------------------------------------------------------------------------
# models
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Scale:
    name: str
    n_layer: int
    n_embd: int
    n_head: int
    vocab: int
    tokens: tuple[int, ...]


SCALES = (
    Scale("lesson", n_layer=4, n_embd=256, n_head=8, vocab=1000, tokens=(8,)),
    Scale("gpt2-small", n_layer=12, n_embd=768, n_head=12, vocab=50257, tokens=(128, 512)),
)


def repeats_for(n_tokens: int, n_embd: int, quick: bool) -> tuple[int, int]:
    """(warm-up calls, timed calls) per variant; fewer for the expensive runs."""
    work = n_tokens * n_embd
    if work <= 8 * 256 * 4:  # lesson scale: milliseconds per call
        warm, reps = 5, 30
    elif n_tokens <= 128:
        warm, reps = 2, 11
    else:
        warm, reps = 1, 5
    if quick:
        warm, reps = 1, max(3, reps // 5)
    return warm, reps


def build_ours(s: Scale, seed: int = 0):
    from core.config import ResourceBudget, TransformerConfig
    from core.model import build_model

    config = TransformerConfig(
        vocab_size=s.vocab,
        n_positions=1024,
        n_embd=s.n_embd,
        n_layer=s.n_layer,
        n_head=s.n_head,
    )
    budget = ResourceBudget(max_parameters=10**9, max_model_bytes=2**34, max_activation_bytes=2**36)
    return build_model(config, seed=seed, budget=budget)


def build_tl(s: Scale, seed: int = 0):
    from transformer_lens.model_bridge.sources.native import boot

    cfg = dict(
        n_layers=s.n_layer,
        d_model=s.n_embd,
        n_heads=s.n_head,
        d_head=s.n_embd // s.n_head,
        n_ctx=1024,
        d_vocab=s.vocab,
        attn_only=True,
        normalization_type=None,
        positional_embedding_type="standard",
        act_fn="gelu",
        d_mlp=4 * s.n_embd,
        seed=seed,
    )
    model = boot(cfg, device="cpu")
    model.eval()  # boot returns the bridge in training mode
    return model


def n_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


# --------------------------------------------------------------------------------------------
# timing
# --------------------------------------------------------------------------------------------
def time_interleaved(
    fns: dict[str, Callable[[], Any]], warm: int, reps: int
) -> dict[str, list[float]]:
    """Per variant, ``reps`` wall times in ms after ``warm`` untimed calls.

    The variants run round-robin (the order rotating each round); each result is dropped before
    the next call, so no call pays for the previous one's memory.
    """
    names = list(fns)
    with torch.no_grad():
        for _ in range(warm):
            for name in names:
                out = fns[name]()
                del out
    times: dict[str, list[float]] = {n: [] for n in names}
    gc.collect()
    gc_was_enabled = gc.isenabled()
    gc.disable()  # no collector pauses inside a timed call
    try:
        with torch.no_grad():
            for r in range(reps):
                order = names[r % len(names) :] + names[: r % len(names)]
                for name in order:
                    t0 = time.perf_counter()
                    out = fns[name]()
                    t1 = time.perf_counter()
                    del out
                    times[name].append((t1 - t0) * 1e3)
    finally:
        if gc_was_enabled:
            gc.enable()
    return times


def quartiles(xs: list[float]) -> tuple[float, float, float]:
    if len(xs) < 2:
        return xs[0], xs[0], xs[0]
    q = statistics.quantiles(xs, n=4, method="inclusive")
    return q[0], statistics.median(xs), q[2]


# --------------------------------------------------------------------------------------------
# main
# --------------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--threads",
        type=int,
        default=min(os.cpu_count() or 1, 2),
        help="torch.set_num_threads for every variant (default: min(cpus, 2))",
    )
    ap.add_argument("--quick", action="store_true", help="fewer repeats (smoke test)")
    ap.add_argument(
        "--scales",
        default="lesson,gpt2-small",
        help="comma-separated subset of: " + ",".join(s.name for s in SCALES),
    )
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--breakdown",
        action="store_true",
        help="also print which tensors make up the memory of analysis and tl_cache",
    )
    ap.add_argument("--no-json", action="store_true", help="do not write bench/results/*.json")
    ap.add_argument("--json", type=Path, default=None, help="where to write the JSON results")
    args = ap.parse_args(argv)

    torch.set_num_threads(args.threads)
    threads = torch.get_num_threads()

    from importlib.metadata import version

    import transformer_lens  # noqa: F401  (fail early with a clear message if missing)

    try:
        from core.model import result_nbytes as core_result_nbytes
    except ImportError:  # older core without it: no cross-check
        core_result_nbytes = None

    env = {
        "torch": torch.__version__,
        "transformer_lens": version("transformer-lens"),
        "python": platform.python_version(),
        "machine": platform.machine(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch_num_threads": threads,
        "grad_mode": "torch.no_grad() for every variant",
        "loadavg_start": os.getloadavg()[0],
    }
    print(
        f"torch {env['torch']}, transformer-lens {env['transformer_lens']}, "
        f"python {env['python']}, {env['cpu_count']} CPUs, "
        f"torch.set_num_threads({args.threads}) -> get_num_threads() = {threads}; "
        f"all variants under torch.no_grad(); 1-min load average {env['loadavg_start']:.2f}"
    )
    if env["loadavg_start"] > 0.5:
        print(
            "WARNING: the machine is busy (load average above 0.5); timings will be noisy. "
            "Rerun when it is idle for numbers to quote."
        )

    wanted = {n.strip() for n in args.scales.split(",") if n.strip()}
    unknown = wanted - {s.name for s in SCALES}
    if unknown:
        ap.error(f"unknown scale(s): {', '.join(sorted(unknown))}")

    rows: list[dict[str, Any]] = []
    verdicts: list[str] = []
    all_met = True
    breakdowns: list[tuple[str, int, dict[str, int], dict[str, int]]] = []
    t_start = time.perf_counter()

    for s in SCALES:
        if s.name not in wanted:
            continue
        ours = build_ours(s, seed=args.seed)
        tl = build_tl(s, seed=args.seed)
        ours_weights, tl_weights = model_storages(ours), model_storages(tl)
        print(
            f"\n[{s.name}] {s.n_layer} layers, n_embd {s.n_embd}, {s.n_head} heads, "
            f"vocab {s.vocab}: ours {n_params(ours) / 1e6:.2f}M params, "
            f"TransformerLens {n_params(tl) / 1e6:.2f}M params"
        )

        for n_tokens in s.tokens:
            gen = torch.Generator().manual_seed(args.seed + n_tokens)
            ids = torch.randint(0, s.vocab, (1, n_tokens), generator=gen, dtype=torch.long)

            fns = {
                "plain": lambda ours=ours, ids=ids: ours(ids),
                "analysis": lambda ours=ours, ids=ids: ours(ids, return_analysis=True),
                "tl_cache": lambda tl=tl, ids=ids: tl.run_with_cache(ids),
            }
            warm, reps = repeats_for(n_tokens, s.n_embd, args.quick)
            times = time_interleaved(fns, warm, reps)

            # memory: one more (untimed) call per variant, measured on the live result
            with torch.no_grad():
                results = {
                    "plain": fns["plain"](),
                    "analysis": fns["analysis"](),
                    "tl_cache": fns["tl_cache"](),
                }
            logits_shapes = {
                "plain": tuple(results["plain"]["logits"].shape),
                "analysis": tuple(results["analysis"]["logits"].shape),
                "tl_cache": tuple(results["tl_cache"][0].shape),
            }
            expected = (1, n_tokens, s.vocab)
            assert all(shape == expected for shape in logits_shapes.values()), logits_shapes

            mem: dict[str, tuple[int, int]] = {}
            for name, res in results.items():
                storages = held_storages(res)
                weights = ours_weights if name != "tl_cache" else tl_weights
                shared = sum(nb for ptr, nb in storages.items() if ptr in weights)
                mem[name] = (sum(storages.values()), shared)
            if core_result_nbytes is not None:
                for name in ("plain", "analysis"):
                    theirs = core_result_nbytes(results[name])
                    if theirs != mem[name][0]:
                        raise AssertionError(
                            f"{s.name}/{n_tokens}/{name}: core.model.result_nbytes = {theirs} "
                            f"but this walker counts {mem[name][0]}"
                        )
            if s.name == "gpt2-small" and n_tokens == s.tokens[-1]:
                n_keys = len(results["tl_cache"][1].cache_dict)
                env.setdefault("tl_cache_keys", n_keys)
            if args.breakdown:
                breakdowns.append(
                    (
                        s.name,
                        n_tokens,
                        breakdown(results["analysis"]),
                        breakdown(results["tl_cache"]),
                    )
                )
            del results
            gc.collect()

            for name in fns:
                q1, med, q3 = quartiles(times[name])
                rows.append(
                    {
                        "scale": s.name,
                        "tokens": n_tokens,
                        "variant": name,
                        "median_ms": med,
                        "q1_ms": q1,
                        "q3_ms": q3,
                        "repeats": reps,
                        "warmup": warm,
                        "result_bytes": mem[name][0],
                        "model_shared_bytes": mem[name][1],
                    }
                )

            a = next(r for r in rows[-3:] if r["variant"] == "analysis")
            c = next(r for r in rows[-3:] if r["variant"] == "tl_cache")
            t_ratio = a["median_ms"] / c["median_ms"]
            m_ratio = a["result_bytes"] / c["result_bytes"]
            met = t_ratio <= 1.0 and m_ratio <= 1.0
            all_met &= met
            verdict = (
                f"{s.name} @ {n_tokens} tokens — analysis vs run_with_cache: "
                f"time {t_ratio:.2f}×, memory {m_ratio:.2f}× — "
                f"target {'met' if met else 'missed'}"
            )
            verdicts.append(verdict)
            print(f"  {n_tokens} tokens done ({warm} warm-up + {reps} timed calls per variant)")

        del ours, tl
        gc.collect()

    # ---- table -------------------------------------------------------------------------------
    header = (
        f"{'scale':<11} {'tokens':>6} {'variant':<9} {'median ms':>10} {'IQR ms':>17} "
        f"{'result MB':>10} {'(model-owned MB)':>17}"
    )
    print("\n" + header)
    print("-" * len(header))
    for r in rows:
        iqr = f"{r['q1_ms']:.2f}–{r['q3_ms']:.2f}"
        print(
            f"{r['scale']:<11} {r['tokens']:>6} {r['variant']:<9} {r['median_ms']:>10.2f} "
            f"{iqr:>17} {r['result_bytes'] / MB:>10.2f} {r['model_shared_bytes'] / MB:>17.2f}"
        )
    print()
    for v in verdicts:
        print(v)
    print(
        f"\nAll scales: target {'met' if all_met else 'missed'}. "
        f"(variants: plain = model(ids); analysis = model(ids, return_analysis=True); "
        f"tl_cache = TransformerLens run_with_cache(ids). result MB = distinct tensor storages "
        f"reachable from the result; model-owned MB = the part of it that is the model's own "
        f"weights/buffers, e.g. a slice of the position table.)"
    )
    if core_result_nbytes is not None:
        print(
            "Cross-check: core.model.result_nbytes agrees with this walker on every result of ours."
        )
    for name, n_tokens, ours_bd, tl_bd in breakdowns:
        print(f"\nMemory breakdown, {name} @ {n_tokens} tokens (MB, each storage counted once):")
        left = [f"{k:<24} {v / MB:9.2f}" for k, v in ours_bd.items()]
        right = [f"{k:<24} {v / MB:9.2f}" for k, v in tl_bd.items()]
        print(f"  {'analysis':<34}   {'tl_cache':<34}")
        for i in range(max(len(left), len(right))):
            a = left[i] if i < len(left) else ""
            b = right[i] if i < len(right) else ""
            print(f"  {a:<34}   {b:<34}")
    env["loadavg_end"] = os.getloadavg()[0]
    print(
        f"Total bench time {time.perf_counter() - t_start:.1f} s; "
        f"1-min load average at the end {env['loadavg_end']:.2f}."
    )

    if not args.no_json:
        path = args.json
        if path is None:
            stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
            path = REPO_ROOT / "bench" / "results" / f"bench_forward-{stamp}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(
            json.dumps(
                {
                    "env": env,
                    "quick": args.quick,
                    "rows": rows,
                    "verdicts": verdicts,
                    "target_met": all_met,
                },
                indent=2,
                ensure_ascii=False,
            )
            + "\n"
        )
        print(f"Wrote {path.relative_to(REPO_ROOT) if path.is_relative_to(REPO_ROOT) else path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
