"""Hosted-deployment check: build the app the way Streamlit Community Cloud does (a fresh virtual
environment, ``uv pip install -r requirements.txt``), start it under a 1 GB memory limit, and
open every page in Chromium.

    python bench/hosted_check.py                 # builds /tmp/lab-cloud-venv, prints a table
    python bench/hosted_check.py --reuse         # skip the build when the venv exists

The memory limit is a cgroup (v1 ``memory.limit_in_bytes`` or v2 ``memory.max``) when this
machine lets root create one, which is what Cloud's container limit is; otherwise the check
says the limit was not enforced and reports the server's peak RSS instead. Run as root for the
cgroup. It needs network access to the package index (or a local wheel folder in
PIP_FIND_LINKS, passed on to uv as UV_FIND_LINKS) and Debian's Chromium.

What Cloud installs for torch: ``requirements.txt`` pins ``torch==2.13.0``. On PyPI that is the
CUDA build for Linux, which pulls about 3 GB of NVIDIA libraries (nvidia-cublas, -cudnn, ...);
see README.md, "Hosting a class on Community Cloud", for the CPU-only index option.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

LIMIT_BYTES = 1024**3
PAGES = (
    "",
    "architecture",
    "residual_stream",
    "circuits",
    "production",
    "assessment",
    "instructor",
)


def sh(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    print("$", " ".join(cmd), flush=True)
    return subprocess.run(cmd, check=True, **kw)


def build(venv: Path) -> float:
    t = time.perf_counter()
    tools = Path(tempfile.mkdtemp(prefix="uv-tool-"))
    sh([sys.executable, "-m", "venv", str(tools)])
    sh([str(tools / "bin" / "pip"), "install", "-q", "uv"])
    uv = str(tools / "bin" / "uv")
    env = dict(os.environ)
    if os.environ.get("PIP_FIND_LINKS"):
        env["UV_FIND_LINKS"] = os.environ["PIP_FIND_LINKS"]
    shutil.rmtree(venv, ignore_errors=True)
    sh([uv, "venv", str(venv), "--python", sys.executable], env=env)
    sh(
        [
            uv,
            "pip",
            "install",
            "--python",
            str(venv / "bin" / "python"),
            "-r",
            str(ROOT / "requirements.txt"),
        ],
        env=env,
        cwd=ROOT,
    )
    return time.perf_counter() - t


def venv_size_mb(venv: Path) -> float:
    return sum(f.stat().st_size for f in venv.rglob("*") if f.is_file()) / 1024**2


class MemoryLimit:
    """A cgroup with a memory limit, or None where this machine does not allow one."""

    def __init__(self, limit: int):
        self.limit, self.path, self.v2 = limit, None, False
        for base, v2 in ((Path("/sys/fs/cgroup/memory"), False), (Path("/sys/fs/cgroup"), True)):
            try:
                path = base / f"lab-hosted-{os.getpid()}"
                path.mkdir()
                if v2:
                    (path / "memory.max").write_text(str(limit))
                else:
                    (path / "memory.limit_in_bytes").write_text(str(limit))
                    swap = path / "memory.memsw.limit_in_bytes"
                    if swap.exists():
                        try:
                            swap.write_text(str(limit))  # no swapping past the limit either
                        except OSError:
                            pass
                self.path, self.v2 = path, v2
                return
            except OSError:
                continue

    def add(self, pid: int) -> None:
        if self.path:
            (self.path / "cgroup.procs").write_text(str(pid))

    def peak_mb(self) -> float | None:
        if not self.path:
            return None
        name = "memory.peak" if self.v2 else "memory.max_usage_in_bytes"
        f = self.path / name
        return int(f.read_text()) / 1024**2 if f.exists() else None

    def limit_hits(self) -> int | None:
        if not self.path:
            return None
        if self.v2:
            events = (self.path / "memory.events").read_text().split()
            return int(events[events.index("oom_kill") + 1]) if "oom_kill" in events else 0
        return int((self.path / "memory.failcnt").read_text())

    def remove(self) -> None:
        if self.path:
            try:
                self.path.rmdir()
            except OSError:
                pass


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--venv", type=Path, default=Path("/tmp/lab-cloud-venv"))
    ap.add_argument("--reuse", action="store_true")
    args = ap.parse_args(argv)
    built = None
    if not (args.reuse and (args.venv / "bin" / "streamlit").exists()):
        built = build(args.venv)
    size = venv_size_mb(args.venv)
    torch_cuda = sorted(p.name for p in (args.venv / "lib").glob("python*/site-packages/nvidia*"))

    from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, _free_port, wait_for_app_idle
    from tests.browser.test_pages import page_problems

    port = _free_port()
    data = Path(tempfile.mkdtemp(prefix="lab-hosted-data-"))
    log = open(ROOT / "test-output" / "hosted-check.log", "w")  # noqa: SIM115 - the server's log, open while it runs
    limit = MemoryLimit(LIMIT_BYTES)
    # Cloud forces these; the app's own config has the rest.
    cmd = [
        str(args.venv / "bin" / "streamlit"),
        "run",
        "app.py",
        "--server.headless",
        "true",
        "--server.port",
        str(port),
        "--server.address",
        "127.0.0.1",
        "--client.showErrorDetails",
        "false",
    ]
    # The server joins the cgroup before it starts (preexec), so all its memory is charged.
    proc = subprocess.Popen(
        cmd,
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "LAB_DATA_DIR": str(data)},
        preexec_fn=lambda: limit.add(os.getpid()),
    )
    base = f"http://127.0.0.1:{port}/"
    results, peak_rss = [], 0.0
    try:
        for _ in range(120):
            try:
                if urllib.request.urlopen(base + "_stcore/health", timeout=2).read() == b"ok":
                    break
            except OSError:
                time.sleep(0.5)
        from playwright.sync_api import sync_playwright

        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.set_default_timeout(180_000)
            for slug in PAGES:
                t = time.perf_counter()
                page.goto(base + slug)
                wait_for_app_idle(page)
                problems = page_problems(page)
                peak_rss = max(peak_rss, rss_mb(proc.pid))
                results.append(
                    (slug or "home", time.perf_counter() - t, problems, proc.poll() is None)
                )
            browser.close()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()
    enforced = limit.path is not None
    cg_peak, hits = limit.peak_mb(), limit.limit_hits()
    limit.remove()
    print()
    print(f"{'check':<44}{'result':>24}")
    if built is not None:
        print(f"{'venv built with uv from requirements.txt (s)':<44}{built:>24.0f}")
    print(f"{'venv size (MB)':<44}{size:>24.0f}")
    print(f"{'NVIDIA (CUDA) packages installed':<44}{len(torch_cuda):>24}")
    print(f"{'1 GB memory limit enforced (cgroup)':<44}{str(enforced):>24}")
    for slug, seconds, problems, alive in results:
        status = (
            "ok"
            if not problems and alive
            else ("server died" if not alive else "; ".join(problems)[:60])
        )
        print(f"{'page ' + slug + ' (s, status)':<44}{f'{seconds:.1f} {status}':>24}")
    print(f"{'server peak RSS (MB)':<44}{peak_rss:>24.0f}")
    if cg_peak is not None:
        print(f"{'cgroup peak memory incl. page cache (MB)':<44}{cg_peak:>24.0f}")
        print(f"{'times the limit was hit (failcnt)':<44}{hits:>24}")
    ok = all(not p and alive for _, _, p, alive in results)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
