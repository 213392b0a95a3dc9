"""A database that turns read-only and then writable again, against a real server over
Streamlit's protocol (what the browser sends), on PostgreSQL as a hosted class would use it.

What review found: every session, new ones included, kept saying "cannot be written" long
after the database was writable again, the submission was never stored, only a restart helped;
and a failed save was announced only at the next page change, not in the fragment run that
tried. Here the answers and the submission happen in fragment runs (a checkpoint's widgets),
the database is made read-only the way an operator would (new sessions read-only, existing
ones cut), then writable again without touching the app's server.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import pytest
import sqlalchemy as sa

from core.store import LearnerStore

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))

from st_client import Session, run_sync  # noqa: E402

DATABASE = "lab_faults"
CANNOT_WRITE = "Your work could not be saved: the database cannot be written"
QUESTION_1 = "Answer to question 1 (choose one)"


def _admin(url: str) -> sa.Engine:
    return sa.create_engine(sa.make_url(url).set(database="postgres"), isolation_level="AUTOCOMMIT")


def _read_only(admin: sa.Engine, on: bool) -> None:
    with admin.connect() as conn:
        conn.execute(
            sa.text(
                f'ALTER DATABASE "{DATABASE}" SET default_transaction_read_only '
                f"= {'on' if on else 'off'}"
            )
        )
        if on:  # the app's open sessions end; its pool reconnects, read-only
            conn.execute(
                sa.text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :d"
                ),
                {"d": DATABASE},
            )


@pytest.fixture(scope="module")
def class_database(postgres_url):
    admin = _admin(postgres_url)
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)'))
        conn.execute(sa.text(f'CREATE DATABASE "{DATABASE}"'))
    url = sa.make_url(postgres_url).set(database=DATABASE).render_as_string(hide_password=False)
    yield url, admin
    _read_only(admin, False)
    admin.dispose()


@pytest.fixture(scope="module")
def server(class_database, tmp_path_factory):
    from tests.server.test_load_server import _bench

    url, _ = class_database
    log = tmp_path_factory.mktemp("faults") / "server.log"
    proc, base = _bench().start_server(
        tempfile.mkdtemp(prefix="lab-faults-"), log, env={"LAB_DATABASE_URL": url}
    )
    yield base
    proc.terminate()
    proc.wait(timeout=20)


def _warnings(result) -> list[str]:
    return [t for t in result.texts if "could not be saved" in t]


async def _walk(base: str, admin: sa.Engine) -> dict[str, object]:
    out: dict[str, object] = {}
    async with Session(base) as s:
        await s.open("architecture")
        options = list(s.widget("radio", QUESTION_1).proto.options)
        out["before"] = await s.change("radio", QUESTION_1, options[0])  # the record exists
        _read_only(admin, True)
        out["draft"] = await s.change("radio", QUESTION_1, options[1])
        out["submit"] = await s.click("Submit answers")
        _read_only(admin, False)  # writable again; the app's server is not restarted
        out["after"] = await s.click("Try again")
        out["next"] = await s.change("radio", QUESTION_1, options[2])
    async with Session(base) as other:  # a new session, after the fault
        out["new session"] = await other.open("architecture")
    return out


@pytest.mark.timeout(600)
def test_a_read_only_database_is_said_at_once_and_recovers_without_a_restart(
    server, class_database
):
    url, admin = class_database
    steps = run_sync(_walk(server, admin))
    before, draft, submit = steps["before"], steps["draft"], steps["submit"]
    assert before.status == "FINISHED_FRAGMENT_RUN_SUCCESSFULLY" and not _warnings(before)
    # Said in the fragment run that tried (a checkpoint's radio, then its Submit button).
    for run in (draft, submit):
        assert run.status == "FINISHED_FRAGMENT_RUN_SUCCESSFULLY", run.status
        assert any(CANNOT_WRITE in t for t in _warnings(run)), run.texts[:10]
        assert not run.exceptions
    assert any(t.startswith(("**Passed:", "**Not passed yet:")) for t in submit.texts)
    # Writable again: the next interaction stores what waited, once, and says nothing more.
    after, nxt = steps["after"], steps["next"]
    assert not after.exceptions and not nxt.exceptions
    assert not _warnings(after) and not _warnings(nxt)
    assert not _warnings(steps["new session"])
    store = LearnerStore.from_url(url)
    try:
        attempts = store.attempts(bank_id="checkpoint_1")
        assert len(attempts) == 1
        drafts = store.load_state(attempts[0].learner_id)
        assert "flow:checkpoint_1" in drafts
        assert drafts["flow:checkpoint_1"]["attempt"] == 1  # "Try again" was stored as well
    finally:
        store.engine.dispose()
