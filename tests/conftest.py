"""Fixtures shared by every test folder: a real PostgreSQL server (see tests/pg_server.py), and
a private folder for the learner database of every app the tests run."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from tests import pg_server


@pytest.fixture(scope="session", autouse=True)
def lab_data_dir():
    """Apps run by the tests (AppTest in this process, servers started from it) keep learner
    records in a temporary folder, never in the checkout's .lab-data/."""
    folder = Path(tempfile.mkdtemp(prefix="lab-data-"))
    before = os.environ.get("LAB_DATA_DIR")
    os.environ["LAB_DATA_DIR"] = str(folder)
    yield folder
    if before is None:
        os.environ.pop("LAB_DATA_DIR", None)
    else:
        os.environ["LAB_DATA_DIR"] = before
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_url():
    """A SQLAlchemy URL of a fresh PostgreSQL database, served for the whole test session.

    The server's folder is made with ``tempfile`` (not pytest's tmp_path, whose root-only parent
    the ``postgres`` user could not enter when the tests run as root)."""
    if pg_server.binaries() is None:
        if pg_server.required():
            pytest.fail(
                "LAB_REQUIRE_POSTGRES=1 but PostgreSQL is not installed: "
                "`apt-get install postgresql` (as root), or unset LAB_REQUIRE_POSTGRES."
            )
        pytest.skip("PostgreSQL is not installed; set LAB_REQUIRE_POSTGRES=1 to make this fail")
    folder = Path(tempfile.mkdtemp(prefix="lab-postgres-"))
    url, stop = pg_server.start(folder)
    yield url
    stop()
    shutil.rmtree(folder, ignore_errors=True)
