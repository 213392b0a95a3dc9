"""A throwaway PostgreSQL server for the tests (Debian's ``postgresql`` package, no mock).

``start(folder)`` runs ``initdb`` and ``pg_ctl start`` in ``folder`` on a free local port with
trust authentication, creates a database and returns (url, stop). PostgreSQL refuses to run as
root, so as root (CI) the server runs as the package's ``postgres`` user.

Without the binaries the tests that need it are skipped, unless ``LAB_REQUIRE_POSTGRES=1`` (set
by ``.ci/run``), which makes a missing server a failure.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path


def binaries() -> Path | None:
    """The folder with initdb and pg_ctl (Debian keeps them out of PATH), or None."""
    found = shutil.which("pg_ctl")
    if found and Path(found).with_name("initdb").exists():
        return Path(found).resolve().parent
    for folder in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if Path(folder, "pg_ctl").exists() and Path(folder, "initdb").exists():
            return Path(folder)
    return None


def required() -> bool:
    return os.environ.get("LAB_REQUIRE_POSTGRES", "").strip() == "1"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_server_user(cmd: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return cmd
    return ["runuser", "-u", "postgres", "--"] + cmd


def start(folder: Path, database: str = "lab_test"):
    bindir = binaries()
    if bindir is None:
        raise FileNotFoundError(
            "PostgreSQL is not installed (no initdb/pg_ctl in PATH or /usr/lib/postgresql/*/bin). "
            "Install it with `apt-get install postgresql`."
        )
    folder = Path(folder)
    data, sock = folder / "data", folder / "sock"
    sock.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres")
        shutil.chown(sock, "postgres")
    port = _free_port()
    env = {**os.environ, "LC_ALL": "C.UTF-8", "LANG": "C.UTF-8"}
    subprocess.run(
        _as_server_user(
            [
                str(bindir / "initdb"),
                "-D",
                str(data),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
            ]
        ),
        check=True,
        capture_output=True,
        env=env,
        timeout=120,
    )
    log = folder / "server.log"
    subprocess.run(
        _as_server_user(
            [
                str(bindir / "pg_ctl"),
                "-D",
                str(data),
                "-l",
                str(log),
                "-w",
                "-t",
                "60",
                "-o",
                f"-p {port} -k {sock} -c listen_addresses=127.0.0.1 -c fsync=off "
                f"-c max_connections=200",
                "start",
            ]
        ),
        check=True,
        capture_output=True,
        env=env,
        timeout=120,
    )

    def stop() -> None:
        subprocess.run(
            _as_server_user([str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"]),
            capture_output=True,
            env=env,
            timeout=60,
        )

    import sqlalchemy as sa

    admin = sa.create_engine(
        f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres", isolation_level="AUTOCOMMIT"
    )
    deadline = time.monotonic() + 30
    while True:
        try:
            with admin.connect() as conn:
                conn.execute(sa.text(f'CREATE DATABASE "{database}"'))
            break
        except sa.exc.OperationalError:
            if time.monotonic() > deadline:
                stop()
                raise
            time.sleep(0.3)
    admin.dispose()
    return f"postgresql+psycopg://postgres@127.0.0.1:{port}/{database}", stop
