"""Run a learner's code in a separate, limited process and bring back only what it returned.

The trusted parent (this module) writes the learner's code and the call inputs (numpy arrays)
into a fresh temporary directory, starts ``python -I core/sandbox_child.py`` there with a minimal
environment in a new session, reads its output through a capped pipe, kills the whole process
tree on a wall-clock timeout, and reads back the outputs of the learner's functions as data
(``np.load(..., allow_pickle=False)``, size-checked, symlinks refused). Expected values and every
comparison stay in the parent: code that imports or patches the grader, the reference or numpy in
the child changes nothing here.

Limits (:class:`SandboxLimits`) are set by the child on itself before the learner's code runs:
CPU seconds, address space (RLIMIT_AS; ``import torch`` reserves ≈ 0.6 GB of address space and
≈ 0.22 GB resident, so 1.5 GiB imports torch and stops a memory bomb), file size, open files and
processes (RLIMIT_NPROC; enforced for root only after the child drops to ``nobody``). Isolation,
where Linux allows it: new network, PID, mount, IPC and UTS namespaces (plus a user namespace when
not root), with the app's folder hidden under an empty tmpfs (``SandboxLimits.hide_paths``). Without a network namespace the child replaces ``socket`` with a stub (best effort: a
determined learner can reach ``_socket`` by other means); :attr:`SandboxResult.network_isolated`
says which applied. On macOS and Windows ``resource``/``unshare`` are partial or absent: the
sandbox is then a separate process with a timeout and a clean environment, not a security
boundary, and the app should only run code there for a learner on their own machine.
"""

from __future__ import annotations

import json
import os
import selectors
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "SandboxLimits",
    "CallOutput",
    "SandboxResult",
    "run_learner_code",
    "DEFAULT_LIMITS",
    "CHILD_SCRIPT",
]

CHILD_SCRIPT = Path(__file__).resolve().parent / "sandbox_child.py"
MAX_EXCERPT = 2_000  # characters of stdout / stderr kept for the learner


@dataclass(frozen=True)
class SandboxLimits:
    """What one run of learner code may use."""

    cpu_seconds: int = 10  # RLIMIT_CPU (SIGXCPU; SIGKILL one second later)
    memory_bytes: int = 1536 * 2**20  # RLIMIT_AS: torch's import needs ≈ 0.6 GB of it
    wall_seconds: float = 20.0  # the parent kills the process tree after this
    max_output_bytes: int = 2 * 2**20  # stdout + stderr; more kills the run
    max_processes: int = 32  # RLIMIT_NPROC (threads count too); stops fork bombs
    max_file_bytes: int = 16 * 2**20  # RLIMIT_FSIZE: largest file the code may write
    max_open_files: int = 64  # RLIMIT_NOFILE
    max_result_elements: int = 1_000_000  # entries per returned array
    max_result_file_bytes: int = 32 * 2**20  # one call's result file, read by the parent
    #: Folders covered by an empty tmpfs in the child's mount namespace (Linux, where allowed):
    #: by default the app's own folder, which holds .streamlit/secrets.toml and the grader.
    hide_paths: tuple[str, ...] = (str(Path(__file__).resolve().parent.parent),)

    def __post_init__(self) -> None:
        for name in (
            "cpu_seconds",
            "memory_bytes",
            "wall_seconds",
            "max_output_bytes",
            "max_processes",
            "max_file_bytes",
            "max_open_files",
            "max_result_elements",
            "max_result_file_bytes",
        ):
            if not getattr(self, name) > 0:
                raise ValueError(f"SandboxLimits.{name} must be positive")


DEFAULT_LIMITS = SandboxLimits()


@dataclass(frozen=True)
class CallOutput:
    """What one call of a learner's function gave back: a value, or a short error."""

    ok: bool
    value: np.ndarray | dict[str, np.ndarray] | None = None
    error: str | None = None  # e.g. "TypeError: … (line 7)", or why the call never ran


@dataclass(frozen=True)
class SandboxResult:
    ok: bool  # the run finished by itself, within every limit
    outputs: tuple[CallOutput, ...]  # one per call, in order
    timed_out: bool = False
    killed_reason: str | None = None  # "CPU time limit", "memory limit", "wall-clock timeout", …
    message: str | None = None  # learner-facing sentence about killed_reason
    stdout: str = ""
    stderr: str = ""
    network_isolated: bool = False
    isolation: Mapping[str, bool] = field(default_factory=dict)  # what the child reported
    returncode: int | None = None
    cpu_seconds: float = 0.0
    wall_seconds: float = 0.0


# --- inputs ----------------------------------------------------------------------------------


def _encode_args(obj: Any, arrays: dict[str, np.ndarray]) -> Any:
    """Arrays (numpy or torch) → ``{"__array__": key}``; tuples kept; ints, floats, str as is."""
    if hasattr(obj, "detach") and hasattr(obj, "numpy"):  # a torch tensor, without importing torch
        obj = obj.detach().cpu().numpy()
    if isinstance(obj, np.ndarray):
        key = f"a{len(arrays)}"
        arrays[key] = np.ascontiguousarray(obj, dtype=np.float64)
        return {"__array__": key}
    if isinstance(obj, tuple):
        return {"__tuple__": [_encode_args(v, arrays) for v in obj]}
    if isinstance(obj, list):
        return [_encode_args(v, arrays) for v in obj]
    if isinstance(obj, (bool, int, float, str)) or obj is None:
        return obj
    raise TypeError(f"cannot send {type(obj).__name__} to the sandbox")


def _write_inputs(workdir: Path, code: str, calls: Sequence[Mapping[str, Any]]) -> None:
    arrays: dict[str, np.ndarray] = {}
    spec = []
    for call in calls:
        spec.append(
            {
                "function": str(call["function"]),
                "args": _encode_args(list(call.get("args", [])), arrays),
                "kwargs": {
                    str(k): _encode_args(v, arrays) for k, v in dict(call.get("kwargs", {})).items()
                },
            }
        )
    (workdir / "submission.py").write_text(code, encoding="utf-8")
    (workdir / "calls.json").write_text(json.dumps(spec), encoding="utf-8")
    with open(workdir / "inputs.npz", "wb") as f:
        np.savez(f, **arrays)


# --- outputs ---------------------------------------------------------------------------------


def _read_regular(path: Path, max_bytes: int) -> bytes | None:
    """The file's bytes if it is a regular file (not a link) no larger than ``max_bytes``."""
    try:
        fd = os.open(
            path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
        )
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_size > max_bytes:
            return None
        with os.fdopen(fd, "rb", closefd=False) as f:
            return f.read(max_bytes + 1)[:max_bytes]
    finally:
        os.close(fd)


def _read_output(workdir: Path, i: int, limits: SandboxLimits) -> CallOutput | None:
    raw = _read_regular(workdir / f"out_{i}.npz", limits.max_result_file_bytes)
    if raw is None:
        return None
    import io

    try:
        with np.load(io.BytesIO(raw), allow_pickle=False) as data:
            meta = json.loads(str(data["__meta__"]))
            if not meta.get("ok"):
                return CallOutput(False, error=str(meta.get("error", "the call failed"))[:400])
            values = {}
            for k in data.files:
                if k == "__meta__":
                    continue
                arr = data[k]
                if arr.dtype.kind not in "biuf" or arr.size > limits.max_result_elements:
                    return CallOutput(
                        False, error="the sandbox returned a value it should not have"
                    )
                values[k] = arr.astype(np.float64)
        if meta.get("kind") == "dict":
            keys = [str(k) for k in meta.get("keys", [])]
            return CallOutput(True, value={k: values[f"v{j}"] for j, k in enumerate(keys)})
        return CallOutput(True, value=values["v0"])
    except Exception:  # noqa: BLE001 - anything unreadable is the learner's (or a limit's) doing
        return CallOutput(False, error="the result of this call could not be read back")


def _kill_tree(pid: int) -> None:
    """SIGKILL the child's process group and every descendant still linked to it."""
    pids = {pid}
    if os.path.isdir("/proc"):
        children: dict[int, list[int]] = {}
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat", "rb") as f:
                    fields = f.read().rsplit(b")", 1)[1].split()
                children.setdefault(int(fields[1]), []).append(int(entry))
            except (OSError, IndexError, ValueError):
                continue
        stack = [pid]
        while stack:
            for c in children.get(stack.pop(), []):
                if c not in pids:
                    pids.add(c)
                    stack.append(c)
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    for p in pids:
        try:
            os.kill(p, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def _gib(n: int) -> str:
    return f"{n / 2**30:.1f} GiB" if n >= 2**30 else f"{n / 2**20:.0f} MiB"


def _messages(limits: SandboxLimits) -> dict[str, str]:
    return {
        "CPU time limit": f"Your code used more than {limits.cpu_seconds} s of CPU time and was "
        f"stopped. Is there a loop that never ends?",
        "wall-clock timeout": f"Your code did not finish within {limits.wall_seconds:g} s and "
        f"was stopped. Is it waiting, sleeping or looping?",
        "memory limit": f"Your code tried to use more than {_gib(limits.memory_bytes)} of memory "
        f"and was stopped. The tensors in this exercise are tiny; look for an "
        f"allocation that grows without bound.",
        "output too large": f"Your code printed more than {_gib(limits.max_output_bytes)} and "
        f"was stopped. Remove large print statements.",
        "process limit": f"Your code tried to start more than {limits.max_processes} processes "
        f"or threads; the exercise needs none.",
        "file size limit": f"Your code tried to write a file larger than "
        f"{_gib(limits.max_file_bytes)}; the exercise needs no files.",
        "crashed": "The process running your code ended before returning results (does it "
        "call exit(), or crash the interpreter?).",
    }


def _classify_errors(outputs: Sequence[CallOutput]) -> str | None:
    for out in outputs:
        err = out.error or ""
        if (
            err.startswith("MemoryError")
            or "can't allocate memory" in err
            or "Cannot allocate memory" in err
        ):
            return "memory limit"
        if err.startswith("BlockingIOError") or "Resource temporarily unavailable" in err:
            return "process limit"
        if "File too large" in err:
            return "file size limit"
    return None


def _rmtree(path: Path) -> None:
    def onerror(func, p, _exc):
        try:
            os.chmod(os.path.dirname(p), 0o700)
            os.chmod(p, 0o700)
            func(p)
        except OSError:
            pass

    shutil.rmtree(path, onerror=onerror)


# --- the run ---------------------------------------------------------------------------------


def run_learner_code(
    code: str, calls: Sequence[Mapping[str, Any]], limits: SandboxLimits = DEFAULT_LIMITS
) -> SandboxResult:
    """Run ``code`` in a limited child process and call its functions.

    ``calls``: ``[{"function": "attention_layer", "args": [x, W_Q, …], "kwargs": {…}}, …]``;
    arrays (numpy or torch) arrive in the child as float64 torch tensors, tuples stay tuples.
    Returns one :class:`CallOutput` per call: the returned tensor (or dict of tensors) as float64
    numpy arrays, or a short error without the harness's traceback frames.
    """
    workdir = Path(tempfile.mkdtemp(prefix="lab-sandbox-"))
    try:
        return _run(workdir, code, calls, limits)
    finally:
        _rmtree(workdir)


def _run(
    workdir: Path, code: str, calls: Sequence[Mapping[str, Any]], limits: SandboxLimits
) -> SandboxResult:
    _write_inputs(workdir, code, calls)
    cfg = {
        k: getattr(limits, k)
        for k in (
            "cpu_seconds",
            "memory_bytes",
            "max_file_bytes",
            "max_open_files",
            "max_processes",
            "max_result_elements",
        )
    }
    cfg["hide_paths"] = [str(p) for p in limits.hide_paths]
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "HOME": str(workdir),
        "TMPDIR": str(workdir),
    }
    start = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-I", str(CHILD_SCRIPT), str(workdir), json.dumps(cfg)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=workdir,
        env=env,
        start_new_session=True,
        close_fds=True,
    )
    buffers = {proc.stdout: bytearray(), proc.stderr: bytearray()}
    total = 0
    reason: str | None = None
    sel = selectors.DefaultSelector()
    for stream in buffers:
        os.set_blocking(stream.fileno(), False)
        sel.register(stream, selectors.EVENT_READ)
    deadline = start + limits.wall_seconds
    try:
        while sel.get_map():
            left = deadline - time.monotonic()
            if left <= 0:
                reason = "wall-clock timeout"
                break
            for key, _ in sel.select(timeout=min(left, 0.5)):
                chunk = os.read(key.fd, 65536)
                if not chunk:
                    sel.unregister(key.fileobj)
                    continue
                total += len(chunk)
                buf = buffers[key.fileobj]
                if len(buf) < MAX_EXCERPT * 4:
                    buf += chunk[: MAX_EXCERPT * 4 - len(buf)]
                if total > limits.max_output_bytes:
                    reason = "output too large"
                    break
            if reason:
                break
    finally:
        sel.close()
    if reason:
        _kill_tree(proc.pid)
    # The pipes are closed (or the run was killed): reap it, without waiting past the deadline.
    rusage = None
    returncode = None
    while True:
        try:
            pid, status, rusage = os.wait4(proc.pid, os.WNOHANG)
        except ChildProcessError:
            break
        if pid:
            returncode = os.waitstatus_to_exitcode(status)
            break
        if time.monotonic() > deadline + 1:
            if reason is None:
                reason = "wall-clock timeout"
            _kill_tree(proc.pid)
        time.sleep(0.01)
    proc.returncode = returncode  # reaped by hand (wait4 gives the CPU used)
    _kill_tree(proc.pid)  # anything the learner left behind in the group or tree
    for stream in buffers:
        stream.close()
    wall = time.monotonic() - start
    cpu = (rusage.ru_utime + rusage.ru_stime) if rusage else 0.0

    isolation: dict[str, bool] = {}
    raw = _read_regular(workdir / "isolation.json", 4096)
    if raw:
        try:
            isolation = {str(k): bool(v) for k, v in json.loads(raw).items()}
        except (ValueError, AttributeError):
            isolation = {}

    outputs: list[CallOutput] = []
    for i in range(len(calls)):
        out = _read_output(workdir, i, limits)
        outputs.append(out if out is not None else CallOutput(False, error=None))

    if reason is None and returncode is not None and returncode < 0:
        sig = -returncode
        if sig == signal.SIGXCPU or (sig == signal.SIGKILL and cpu >= limits.cpu_seconds - 0.5):
            reason = "CPU time limit"
        elif sig == signal.SIGXFSZ:
            reason = "file size limit"
        elif sig == signal.SIGKILL:
            reason = "memory limit"  # killed from outside without a CPU overrun: the OOM killer
        else:
            reason = "crashed"
    if reason is None:
        reason = _classify_errors(outputs)
    if (
        reason is None
        and returncode not in (0, None)
        or (reason is None and any(o.ok is False and o.error is None for o in outputs))
    ):
        reason = "crashed"
    messages = _messages(limits)
    message = messages.get(reason) if reason else None
    never_ran = f"not run: {message}" if message else "not run: the code ended before this call"
    outputs = [o if (o.ok or o.error) else CallOutput(False, error=never_ran) for o in outputs]

    def excerpt(b: bytearray) -> str:
        text = bytes(b).decode("utf-8", "replace")
        return text if len(text) <= MAX_EXCERPT else text[:MAX_EXCERPT] + "…"

    return SandboxResult(
        ok=reason is None,
        outputs=tuple(outputs),
        timed_out=reason == "wall-clock timeout",
        killed_reason=reason,
        message=message,
        stdout=excerpt(buffers[proc.stdout]),
        stderr=excerpt(buffers[proc.stderr]),
        network_isolated=bool(isolation.get("network_isolated", False)),
        isolation=isolation,
        returncode=returncode,
        cpu_seconds=cpu,
        wall_seconds=wall,
    )
