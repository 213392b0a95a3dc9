"""Fixtures shared by every test folder: a real PostgreSQL server (see tests/pg_server.py)."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest

from tests import pg_server


@pytest.fixture(scope="session")
def postgres_url():
    """A SQLAlchemy URL of a fresh PostgreSQL database, served for the whole test session.

    The server's folder is made with ``tempfile`` (not pytest's tmp_path, whose root-only parent
    the ``postgres`` user could not enter when the tests run as root)."""
    if pg_server.binaries() is None:
        if pg_server.required():
            pytest.fail("LAB_REQUIRE_POSTGRES=1 but PostgreSQL is not installed: "
                        "`apt-get install postgresql` (as root), or unset LAB_REQUIRE_POSTGRES.")
        pytest.skip("PostgreSQL is not installed; set LAB_REQUIRE_POSTGRES=1 to make this fail")
    folder = Path(tempfile.mkdtemp(prefix="lab-postgres-"))
    url, stop = pg_server.start(folder)
    yield url
    stop()
    shutil.rmtree(folder, ignore_errors=True)
