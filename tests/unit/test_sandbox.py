"""Hostile code is contained by core.sandbox: each case ends with the right reason and message,
and the parent (this test process) is unharmed."""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

import numpy as np
import pytest

from core.sandbox import SandboxLimits, run_learner_code

# Short limits keep the suite fast; the defaults are exercised by test_coding_tests.py.
FAST = SandboxLimits(cpu_seconds=3, wall_seconds=8.0)
ONE_CALL = [{"function": "f", "args": [np.arange(3.0)]}]
REPO = Path(__file__).resolve().parents[2]


def _leftovers() -> list[int]:
    """Processes still running the child harness (none may survive a run)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if b"sandbox_child.py" in Path(f"/proc/{entry}/cmdline").read_bytes():
                    found.append(int(entry))
            except OSError:
                pass
    return found


def run(code: str, calls=ONE_CALL, limits=FAST):
    result = run_learner_code(code, calls, limits)
    assert _leftovers() == []
    return result


def test_values_and_errors_come_back_per_call():
    code = (
        "import torch\ndef f(x):\n    return x * 2\ndef g(x):\n    return {'a': x, 'b': x + 1}\n"
        "def h(x):\n    raise KeyError('k')\nprint('hi')\n"
    )
    calls = [{"function": n, "args": [np.arange(3.0)]} for n in ("f", "g", "h", "nope")]
    r = run(code, calls)
    assert r.ok and r.killed_reason is None and r.stdout == "hi\n"
    np.testing.assert_array_equal(r.outputs[0].value, [0.0, 2.0, 4.0])
    assert set(r.outputs[1].value) == {"a", "b"}
    assert r.outputs[2].error == "KeyError: 'k' (line 7)"
    assert r.outputs[3].error == "nope is not defined"


def test_infinite_loop_is_stopped_by_the_cpu_limit_or_the_clock():
    start = time.monotonic()
    r = run("while True:\n    pass\n")
    assert time.monotonic() - start <= FAST.wall_seconds + 2
    assert r.killed_reason in ("CPU time limit", "wall-clock timeout")
    assert not r.ok and r.message and "stopped" in r.message
    assert r.outputs[0].error.startswith("not run: ")


def test_sleeping_code_is_killed_at_the_wall_clock_limit():
    start = time.monotonic()
    r = run("import time\ntime.sleep(1000)\n")
    assert time.monotonic() - start <= FAST.wall_seconds + 2
    assert r.timed_out and r.killed_reason == "wall-clock timeout"


@pytest.mark.parametrize(
    "code",
    [
        "x = bytearray(10**11)\n",
        "grow = []\nwhile True:\n    grow.append(' ' * 10**6)\n",
        "import torch\nx = torch.ones(10**10)\n",
    ],
)
def test_memory_bombs_hit_the_memory_limit(code):
    r = run(code)
    assert r.killed_reason == "memory limit" and "memory" in r.message


def test_fork_bomb_is_stopped_by_the_process_limit():
    r = run("import os\nwhile True:\n    os.fork()\n")
    assert r.killed_reason in ("process limit", "CPU time limit", "wall-clock timeout")
    assert not r.ok
    assert os.getpid() > 0 and run("def f(x):\n    return x\n").ok  # the parent still works


def test_multiprocessing_bomb_is_contained():
    code = (
        "import multiprocessing as mp, time\n"
        "ps = [mp.Process(target=time.sleep, args=(100,)) for _ in range(200)]\n"
        "for p in ps:\n    p.start()\n"
    )
    r = run(code)
    assert not r.ok or r.outputs[0].error  # refused (limit, or the module unavailable to nobody)


def test_a_process_left_behind_in_its_own_session_is_killed():
    code = (
        "import os, time\nif os.fork() == 0:\n    os.setsid()\n    time.sleep(1000)\n"
        "def f(x):\n    return x\n"
    )
    r = run(code)  # run() asserts that no harness process survives
    assert r.outputs[0].ok


def test_parent_environment_secrets_are_absent(monkeypatch):
    monkeypatch.setenv("LAB_FAKE_SECRET", "hunter2")
    code = (
        "import os\ndef f(x):\n    print(dict(os.environ))\n"
        "    return x * 0 + float('LAB_FAKE_SECRET' in os.environ)\n"
    )
    r = run(code)
    assert r.outputs[0].ok and not r.outputs[0].value.any()
    assert "hunter2" not in r.stdout
    assert "OMP_NUM_THREADS" in r.stdout


def test_files_outside_the_temporary_directory():
    target = REPO / "core" / "assessment.py"
    code = (
        f"import os\ndef f(x):\n"
        f"    readable = os.access({str(target)!r}, os.R_OK)\n"
        f"    writable = os.access({str(target.parent)!r}, os.W_OK)\n"
        f"    home = os.path.realpath(os.getcwd()) == os.path.realpath(os.environ['HOME'])\n"
        f"    import torch\n"
        f"    return torch.tensor([float(readable), float(writable), float(home)])\n"
    )
    r = run(code)
    assert r.outputs[0].ok, r.outputs[0].error
    readable, writable, home = r.outputs[0].value
    assert home  # runs in its own temporary directory
    if r.isolation.get("dropped_to_nobody"):
        assert not writable  # as nobody the repository cannot be changed
    if r.isolation.get("paths_hidden"):
        assert not readable  # the app's folder is covered by an empty tmpfs in the child
    # Reading world-readable files is what the OS allows (recorded for the report, not denied).
    print(f"child can read {target}: {bool(readable)}; write its folder: {bool(writable)}")


def test_huge_output_is_capped():
    r = run("import sys\nsys.stdout.write('x' * 100_000_000)\n")
    assert r.killed_reason == "output too large"
    assert len(r.stdout) <= 2_001


def test_huge_file_hits_the_file_size_limit():
    r = run("with open('big', 'wb') as f:\n    f.write(b'x' * 10**8)\n")
    assert r.killed_reason == "file size limit"


def test_network_socket_is_refused_and_the_flag_says_why():
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen()
    srv.settimeout(0.2)
    port = srv.getsockname()[1]
    code = (
        f"import socket\ndef f(x):\n    try:\n"
        f"        socket.create_connection(('127.0.0.1', {port}), timeout=2)\n"
        f"        return x * 0 + 1\n"
        f"    except PermissionError:\n        return x * 0 + 2\n"
        f"    except OSError:\n        return x * 0 + 3\n"
    )
    try:
        r = run(code)
        with pytest.raises(socket.timeout):
            srv.accept()  # nothing ever connected
    finally:
        srv.close()
    outcome = r.outputs[0].value[0]
    assert outcome != 1
    # In its own network namespace the loopback is down (OSError: unreachable); without one the
    # harness's socket stub refuses (PermissionError).
    assert outcome == (3 if r.network_isolated else 2)
    assert r.isolation.get("socket_stubbed") == (not r.network_isolated)


def test_os_exit_before_the_calls_is_reported():
    r = run("import os\nos._exit(0)\n")
    assert not r.ok and r.killed_reason == "crashed"
    assert r.outputs[0].error.startswith("not run: ")


def test_temporary_directory_is_removed():
    code = "import os\ndef f(x):\n    print(os.getcwd())\n    return x\n"
    r = run(code)
    assert r.ok and not Path(r.stdout.strip()).exists()
