"""The child side of :mod:`core.sandbox`: runs a learner's code under limits and writes back
only what the learner's functions returned.

Started by the parent as ``python -I core/sandbox_child.py WORKDIR CONFIG_JSON`` (``-I``: no
user site, no ``PYTHON*`` variables, and neither this file's folder nor the working directory on
``sys.path``, so ``core`` is not importable from here unless the learner's code adds it). It
depends on the standard library, numpy and torch only: nothing of the grader is loaded here.

Order of events (every step before the learner's code runs):

1. read ``submission.py``, ``calls.json`` and ``inputs.npz`` from WORKDIR;
2. set the resource limits (CPU, address space, file size, open files, processes, no core);
3. import numpy and torch and warm them up (so the imports fit under the memory limit);
4. isolate: ``unshare`` a new network namespace (no interface but a downed loopback), a new
   PID namespace (when this process's child, PID 1 there, dies, the kernel kills everything
   the learner started) and a mount namespace in which the app's folder (``hide_paths``) is
   covered by an empty tmpfs; as root, drop to ``nobody`` (65534) so that the limits bind
   (root may raise them and is exempt from RLIMIT_NPROC), otherwise first a new user namespace;
5. without a network namespace, replace ``socket`` with a stub that refuses (best effort);
6. run the learner's module, then each call, writing ``out_<i>.npz`` after each call.

Nothing the learner's code does here can change a grade: expected values and comparisons live in
the parent, which reads these files as data (no pickle).
"""

from __future__ import annotations

import builtins
import ctypes
import ctypes.util
import json
import os
import resource
import signal
import sys
import traceback

CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000

NOBODY = 65534
FILENAME = "<submission>"
MAX_MESSAGE = 300
#: Modules imported before privileges are dropped (as root the interpreter's own library may be
#: unreadable for ``nobody``, e.g. under a 0700 /root). The interface needs torch and math only.
PREIMPORT = (
    "math",
    "cmath",
    "random",
    "itertools",
    "functools",
    "collections",
    "typing",
    "dataclasses",
    "numbers",
    "operator",
    "string",
    "re",
    "time",
    "copy",
    "decimal",
    "fractions",
    "statistics",
    "heapq",
    "bisect",
    "enum",
    "abc",
    "contextlib",
    "warnings",
    "json",
    "sysconfig",
    "datetime",
    "uuid",
    "ipaddress",
    "zoneinfo",
    "secrets",
    "socket",
    "encodings.idna",
    "numpy",
    "torch",
    "torch.nn",
    "torch.nn.functional",
)


def _set_limits(cfg: dict) -> None:
    def lim(which: int, soft: int, hard: int | None = None) -> None:
        hard = soft if hard is None else hard
        _, cur_hard = resource.getrlimit(which)
        if cur_hard != resource.RLIM_INFINITY:
            soft, hard = min(soft, cur_hard), min(hard, cur_hard)
        resource.setrlimit(which, (soft, hard))

    lim(resource.RLIMIT_CORE, 0)
    # Soft limit → SIGXCPU; the hard limit one second later → SIGKILL, should SIGXCPU be caught.
    lim(resource.RLIMIT_CPU, int(cfg["cpu_seconds"]), int(cfg["cpu_seconds"]) + 1)
    lim(resource.RLIMIT_AS, int(cfg["memory_bytes"]))
    lim(resource.RLIMIT_FSIZE, int(cfg["max_file_bytes"]))
    lim(resource.RLIMIT_NOFILE, int(cfg["max_open_files"]))
    lim(resource.RLIMIT_NPROC, int(cfg["max_processes"]))


def _unshare(flags: int) -> bool:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        return libc.unshare(ctypes.c_int(flags)) == 0
    except (OSError, AttributeError):  # no libc / no unshare (macOS, Windows)
        return False


def _isolate() -> dict:
    """Enter new namespaces where the OS allows it. Returns what applied."""
    info = {
        "network_isolated": False,
        "pid_namespace": False,
        "user_namespace": False,
        "mount_namespace": False,
        "paths_hidden": False,
        "dropped_to_nobody": False,
        "socket_stubbed": False,
    }
    if not sys.platform.startswith("linux"):
        return info
    base = CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS
    if os.geteuid() != 0:
        base |= CLONE_NEWUSER  # an unprivileged process needs its own user namespace first
    for flags in (
        base | CLONE_NEWPID | CLONE_NEWNS,
        base | CLONE_NEWPID,
        base,
        base & ~(CLONE_NEWIPC | CLONE_NEWUTS),
    ):
        if _unshare(flags):
            info["network_isolated"] = True
            info["pid_namespace"] = bool(flags & CLONE_NEWPID)
            info["user_namespace"] = bool(flags & CLONE_NEWUSER)
            info["mount_namespace"] = bool(flags & CLONE_NEWNS)
            break
    return info


MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REC, MS_PRIVATE = 1, 2, 4, 8, 16384, 1 << 18


def _hide_paths(paths: list[str]) -> bool:
    """In our own mount namespace, cover each path with an empty read-only tmpfs (e.g. the
    app's folder, where .streamlit/secrets.toml lives). Everything needed is already imported."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        if libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None) != 0:
            return False
        done = True
        for path in paths:
            if os.path.isdir(path):
                flags = MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC
                done &= libc.mount(b"tmpfs", path.encode(), b"tmpfs", flags, b"size=4k") == 0
        return done
    except (OSError, AttributeError):
        return False


def _drop_root(workdir: str) -> bool:
    if os.geteuid() != 0:
        return False
    os.chown(workdir, NOBODY, NOBODY)
    for name in os.listdir(workdir):
        os.chown(os.path.join(workdir, name), NOBODY, NOBODY)
    os.setgroups([])
    os.setgid(NOBODY)
    os.setuid(NOBODY)
    return True


def _stub_sockets() -> None:
    import socket

    def refuse(*_a, **_k):
        raise PermissionError("network access is disabled in the sandbox")

    class NoSocket:  # noqa: D401 - a stand-in class
        def __init__(self, *_a, **_k):
            refuse()

    for name in ("socket", "create_connection", "create_server", "socketpair", "fromfd"):
        setattr(socket, name, NoSocket if name == "socket" else refuse)
    try:
        import _socket

        _socket.socket = NoSocket  # type: ignore[misc]
    except ImportError:
        pass


def _short_error(exc: BaseException) -> str:
    """``TypeError: … (line 7)``: the exception and the learner's deepest line, no harness frames."""
    line = None
    if isinstance(exc, SyntaxError) and exc.filename == FILENAME:
        line = exc.lineno
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename == FILENAME:
            line = frame.lineno
    text = str(exc) if not isinstance(exc, SyntaxError) else (exc.msg or "")
    msg = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    if len(msg) > MAX_MESSAGE:
        msg = msg[: MAX_MESSAGE - 1] + "…"
    return msg + (f" (line {line})" if line else "")


def _decode(obj, arrays, torch):
    """JSON call arguments → Python values; ``{"__array__": key}`` becomes a float64 tensor."""
    if isinstance(obj, dict) and "__array__" in obj:
        return torch.from_numpy(arrays[obj["__array__"]].copy())
    if isinstance(obj, dict) and "__tuple__" in obj:
        return tuple(_decode(v, arrays, torch) for v in obj["__tuple__"])
    if isinstance(obj, list):
        return [_decode(v, arrays, torch) for v in obj]
    return obj


def _to_array(value, np, torch, max_elements: int):
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu()
        if value.numel() > max_elements:
            raise ValueError(
                f"returned a tensor of {value.numel():,} entries (the limit is {max_elements:,})"
            )
        if value.is_complex() or value.dtype == torch.bool:
            value = value.to(torch.float64)
        return value.to(torch.float64).numpy()
    if isinstance(value, (np.ndarray, int, float, bool)):
        arr = np.asarray(value)
        if arr.size > max_elements:
            raise ValueError(
                f"returned an array of {arr.size:,} entries (the limit is {max_elements:,})"
            )
        if arr.dtype.kind not in "biuf":
            raise TypeError(f"returned an array of dtype {arr.dtype}, not numbers")
        return arr.astype(np.float64)
    raise TypeError(f"returned {type(value).__name__}, not a tensor")


def _encode_result(value, np, torch, max_elements: int) -> tuple[dict, dict]:
    """A learner's return value → (meta, arrays). Tensors, numbers and dicts of them only."""
    if isinstance(value, dict):
        arrays, keys = {}, []
        for i, (k, v) in enumerate(list(value.items())[:16]):
            key = str(k)[:40]
            arrays[f"v{i}"] = _to_array(v, np, torch, max_elements)
            keys.append(key)
        return {"kind": "dict", "keys": keys}, arrays
    return {"kind": "array"}, {"v0": _to_array(value, np, torch, max_elements)}


def _write(workdir: str, i: int, meta: dict, arrays: dict, np) -> None:
    tmp = os.path.join(workdir, f".out_{i}.npz")
    with open(tmp, "wb") as f:
        np.savez(f, __meta__=np.array(json.dumps(meta)), **arrays)
    os.replace(tmp, os.path.join(workdir, f"out_{i}.npz"))


def main() -> None:
    workdir, cfg = sys.argv[1], json.loads(sys.argv[2])
    os.chdir(workdir)
    with open("submission.py", encoding="utf-8") as f:
        source = f.read()
    with open("calls.json", encoding="utf-8") as f:
        calls = json.load(f)
    _set_limits(cfg)

    import importlib

    for name in PREIMPORT:
        try:
            importlib.import_module(name)
        except ImportError:
            pass
    import numpy as np
    import torch

    torch.set_num_threads(1)
    with np.load("inputs.npz", allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    # Warm-up: load the kernels the interface uses while the library is still readable.
    t = torch.ones(3, 3, dtype=torch.float64)
    torch.softmax(torch.einsum("ij,jk->ik", t, t).masked_fill(t.bool().triu(1), float("-inf")), -1)

    info = _isolate()
    if info["pid_namespace"]:
        # This process stays outside as a waiter; its child is PID 1 of the new namespace.
        pid = os.fork()
        if pid:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            while True:
                try:
                    _, status = os.waitpid(pid, 0)
                    break
                except ChildProcessError:
                    os._exit(0)
                except InterruptedError:
                    continue
            if os.WIFSIGNALED(status):
                sig = os.WTERMSIG(status)  # die the same way, so the parent sees the signal
                if sig not in (signal.SIGKILL, signal.SIGSTOP):
                    signal.signal(sig, signal.SIG_DFL)
                    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
                os.kill(os.getpid(), sig)
                os._exit(128 + sig)
            os._exit(os.WEXITSTATUS(status) if os.WIFEXITED(status) else 1)
    if info["mount_namespace"]:
        info["paths_hidden"] = _hide_paths([str(p) for p in cfg.get("hide_paths", [])])
    info["dropped_to_nobody"] = _drop_root(workdir)
    if not info["network_isolated"]:
        _stub_sockets()
        info["socket_stubbed"] = True
    with open("isolation.json", "w", encoding="utf-8") as f:
        json.dump(info, f)

    harness_pid = os.getpid()
    max_elements = int(cfg["max_result_elements"])

    def finish(code: int = 0) -> None:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)

    namespace = {"__name__": "submission", "__builtins__": builtins}
    load_error = None
    try:
        exec(compile(source, FILENAME, "exec"), namespace)
    except BaseException as exc:  # noqa: BLE001 - the learner's code may raise anything
        if os.getpid() != harness_pid:
            os._exit(0)  # a process the learner forked: it never reports
        load_error = _short_error(exc)
    if os.getpid() != harness_pid:
        os._exit(0)

    for i, call in enumerate(calls):
        if load_error is not None:
            _write(workdir, i, {"ok": False, "stage": "load", "error": load_error}, {}, np)
            continue
        fn = namespace.get(call["function"])
        if not callable(fn):
            _write(
                workdir,
                i,
                {"ok": False, "stage": "missing", "error": f"{call['function']} is not defined"},
                {},
                np,
            )
            continue
        try:
            args = _decode(call.get("args", []), arrays, torch)
            kwargs = {k: _decode(v, arrays, torch) for k, v in call.get("kwargs", {}).items()}
            with torch.no_grad():
                value = fn(*args, **kwargs)
            meta, out = _encode_result(value, np, torch, max_elements)
            meta["ok"] = True
        except BaseException as exc:  # noqa: BLE001
            if os.getpid() != harness_pid:
                os._exit(0)
            meta, out = {"ok": False, "stage": "call", "error": _short_error(exc)}, {}
        if os.getpid() != harness_pid:
            os._exit(0)
        try:
            _write(workdir, i, meta, out, np)
        except BaseException as exc:  # noqa: BLE001 - e.g. the learner filled the disk quota
            _write(workdir, i, {"ok": False, "stage": "call", "error": _short_error(exc)}, {}, np)
    finish(0)


if __name__ == "__main__":
    main()
