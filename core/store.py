"""Where learner work is kept: a SQL database through SQLAlchemy (SQLite by default, any
SQLAlchemy URL such as PostgreSQL for a hosted class). No streamlit here.

What is stored, and why in this shape:

* ``learners``: one row per learner. A learner without a sign-in has a *resume code* (shown to
  them once, kept in the page address); only its SHA-256 is stored, so the table cannot be used
  to impersonate anyone. A signed-in learner has an ``identity`` (the provider's e-mail or
  subject) instead.
* ``learner_state``: small JSON values by key (accepted settings, drafts, where a flow stands).
  One row per key, upserted, so two tabs that change different things never overwrite each
  other; the same key changed in two tabs keeps the later write (the learner's latest typing).
* ``attempts``: every submission, insert only (never updated): answers, the graded result, score
  and pass. Progress (best score, passed, number of attempts) is computed from these rows, so two
  tabs submitting at once both count and neither is lost.
* ``reviews``: an instructor's reviewed score for one item of one attempt (upserted: the latest
  review counts), applied when the attempt is shown (:func:`core.assessment.with_reviews`).

The schema is created and upgraded by the Alembic migrations in ``migrations/`` (run by
:meth:`LearnerStore.migrate`); the table definitions below are the same schema for queries, and a
test checks that the two agree.

Every database failure is raised as :class:`StoreUnavailable`, with a message a learner can act
on; callers keep working with what the session holds.
"""

from __future__ import annotations

import hashlib
import math
import os
import secrets
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

REPO_ROOT = Path(__file__).resolve().parent.parent
MIGRATIONS = REPO_ROOT / "migrations"
#: Where the default SQLite file goes unless LAB_DATA_DIR says otherwise.
DEFAULT_DATA_DIR = REPO_ROOT / ".lab-data"
SQLITE_FILE = "lab.sqlite3"

#: Resume codes: 12 characters in three groups, from an alphabet without look-alikes (no 0/O,
#: 1/I/L), so a code copied by hand still works: 31^12 ≈ 7.9e17 codes.
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 12
MAX_STATE_BYTES = 256 * 1024  # one stored value (a draft of code is at most ~20 kB)
MAX_NAME_CHARS = 80

metadata = sa.MetaData()

learners = sa.Table(
    "learners", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("code_hash", sa.String(64), unique=True, nullable=True),
    sa.Column("identity", sa.String(320), unique=True, nullable=True),
    sa.Column("display_name", sa.String(120), nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
)

learner_state = sa.Table(
    "learner_state", metadata,
    sa.Column("learner_id", sa.Integer, sa.ForeignKey("learners.id", ondelete="CASCADE"),
              primary_key=True),
    sa.Column("key", sa.String(200), primary_key=True),
    sa.Column("value", sa.JSON, nullable=True),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)

attempts = sa.Table(
    "attempts", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("learner_id", sa.Integer, sa.ForeignKey("learners.id", ondelete="CASCADE"),
              nullable=False, index=True),
    sa.Column("bank_id", sa.String(64), nullable=False, index=True),
    sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("answers", sa.JSON, nullable=False),
    sa.Column("result", sa.JSON, nullable=False),
    sa.Column("score", sa.Float, nullable=False),
    sa.Column("passed", sa.Boolean, nullable=False),
)

reviews = sa.Table(
    "reviews", metadata,
    sa.Column("attempt_id", sa.Integer, sa.ForeignKey("attempts.id", ondelete="CASCADE"),
              primary_key=True),
    sa.Column("item_id", sa.String(64), primary_key=True),
    sa.Column("score", sa.Float, nullable=False),
    sa.Column("reviewer", sa.String(320), nullable=False),
    sa.Column("note", sa.Text, nullable=False),
    sa.Column("reviewed_at", sa.DateTime(timezone=True), nullable=False),
)


class StoreUnavailable(RuntimeError):
    """The database could not be reached or written; the message says what to do."""


class InvalidResumeCode(ValueError):
    """A resume code that is malformed or unknown; the message says what is accepted."""


@dataclass(frozen=True)
class Attempt:
    id: int
    learner_id: int
    bank_id: str
    submitted_at: datetime
    answers: dict[str, Any]
    result: dict[str, Any]
    score: float
    passed: bool


@dataclass(frozen=True)
class Learner:
    id: int
    display_name: str | None
    identity: str | None
    created_at: datetime
    last_seen_at: datetime


def now() -> datetime:
    return datetime.now(timezone.utc)


def default_url(data_dir: str | os.PathLike | None = None) -> str:
    """The SQLite file in ``data_dir`` (else LAB_DATA_DIR, else ``.lab-data/`` in the repo)."""
    folder = Path(data_dir or os.environ.get("LAB_DATA_DIR") or DEFAULT_DATA_DIR)
    return f"sqlite:///{(folder / SQLITE_FILE).resolve()}"


def describe_url(url: str | sa.URL) -> str:
    """The URL without its password, for messages and the instructor page."""
    return sa.make_url(url).render_as_string(hide_password=True)


def new_resume_code() -> str:
    raw = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
    return "-".join(raw[i:i + 4] for i in range(0, CODE_LENGTH, 4))


def normalise_code(code: str) -> str:
    """``"abcd efgh-jkmn"`` → ``"ABCD-EFGH-JKMN"``; raises :class:`InvalidResumeCode`."""
    if not isinstance(code, str):
        raise InvalidResumeCode("A resume code is text such as ABCD-EFGH-JKMN.")
    raw = "".join(ch for ch in code.upper() if not ch.isspace() and ch != "-")
    bad = sorted({ch for ch in raw if ch not in CODE_ALPHABET})
    if len(raw) != CODE_LENGTH or bad:
        why = (f"it has {len(raw)} letters and digits" if len(raw) != CODE_LENGTH
               else "it contains " + ", ".join(repr(ch) for ch in bad[:5]))
        raise InvalidResumeCode(
            f"That is not a resume code ({why}). A resume code has {CODE_LENGTH} letters and "
            f"digits in three groups, such as ABCD-EFGH-JKMN (no 0, O, 1, I or L).")
    return "-".join(raw[i:i + 4] for i in range(0, CODE_LENGTH, 4))


def _code_hash(code: str) -> str:
    return hashlib.sha256(normalise_code(code).encode()).hexdigest()


def _unavailable(err: Exception) -> StoreUnavailable:
    text = str(getattr(err, "orig", err) or err).lower()
    if "full" in text or "no space" in text or "quota" in text:
        why = "the database is full"
    elif "readonly" in text or "read-only" in text or "permission" in text:
        why = "the database cannot be written"
    elif "locked" in text or "timeout" in text or "timed out" in text:
        why = "the database is busy"
    else:
        why = "the database cannot be reached"
    return StoreUnavailable(
        f"Your work could not be saved: {why}. You can keep working: everything stays on this "
        f"page while it is open, and it is saved as soon as the database is back.")


def _check_json(value: Any) -> None:
    import json

    try:
        text = json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as err:
        raise ValueError(f"Only JSON data can be stored ({err}).") from None
    if len(text.encode()) > MAX_STATE_BYTES:
        raise ValueError(f"A stored value is limited to {MAX_STATE_BYTES // 1024} kB.")


class LearnerStore:
    """Learners, their state, attempts and reviews in one SQL database.

    Thread-safe: every method opens its own connection from the engine's pool and commits before
    returning. Share one instance per process.
    """

    def __init__(self, engine: Engine):
        self.engine = engine

    @classmethod
    def from_url(cls, url: str | sa.URL | None = None, **engine_kwargs: Any) -> LearnerStore:
        return cls(make_engine(url or default_url(), **engine_kwargs))

    @property
    def url(self) -> str:
        return describe_url(self.engine.url)

    @contextmanager
    def _tx(self) -> Iterator[Connection]:
        try:
            with self.engine.begin() as conn:
                yield conn
        except sa.exc.DBAPIError as err:  # includes OperationalError (down, full, locked)
            raise _unavailable(err) from err

    # -- schema -----------------------------------------------------------------------------
    def migrate(self) -> None:
        """Create or upgrade the schema to the newest migration (safe to run every start)."""
        from alembic import command
        from alembic.config import Config

        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        try:
            with self.engine.begin() as conn:
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, "head")
        except sa.exc.DBAPIError as err:
            raise _unavailable(err) from err

    def schema_revision(self) -> str | None:
        from alembic.runtime.migration import MigrationContext

        with self._tx() as conn:
            return MigrationContext.configure(conn).get_current_revision()

    def ping(self) -> None:
        with self._tx() as conn:
            conn.execute(sa.text("SELECT 1"))

    # -- learners ---------------------------------------------------------------------------
    def new_learner(self, display_name: str | None = None) -> tuple[int, str]:
        """A new learner with a fresh resume code: (id, code). The code is not stored."""
        code = new_resume_code()
        t = now()
        with self._tx() as conn:
            learner_id = conn.execute(learners.insert().values(
                code_hash=_code_hash(code), display_name=_clean_name(display_name),
                created_at=t, last_seen_at=t)).inserted_primary_key[0]
        return int(learner_id), code

    def learner_for_code(self, code: str) -> int:
        """The learner whose resume code this is; raises :class:`InvalidResumeCode`."""
        code_hash = _code_hash(code)  # raises for a malformed code
        with self._tx() as conn:
            row = conn.execute(sa.select(learners.c.id).where(
                learners.c.code_hash == code_hash)).first()
            if row is None:
                raise InvalidResumeCode(
                    "No learner has that resume code. Check it against the one shown in your "
                    "sidebar (letters and digits, such as ABCD-EFGH-JKMN), or start afresh.")
            conn.execute(learners.update().where(learners.c.id == row.id)
                         .values(last_seen_at=now()))
        return int(row.id)

    def learner_for_identity(self, identity: str, display_name: str | None = None) -> int:
        """The signed-in learner's id, created on first sign-in (safe under concurrent calls)."""
        identity = identity.strip().lower()
        if not identity:
            raise ValueError("A signed-in identity cannot be empty.")
        with self._tx() as conn:
            _upsert(conn, learners, {"identity": identity},
                    {"display_name": _clean_name(display_name), "created_at": now(),
                     "last_seen_at": now()}, update=("last_seen_at",))
            row = conn.execute(sa.select(learners.c.id).where(
                learners.c.identity == identity)).one()
        return int(row.id)

    def set_display_name(self, learner_id: int, name: str | None) -> str | None:
        cleaned = _clean_name(name)
        with self._tx() as conn:
            conn.execute(learners.update().where(learners.c.id == learner_id)
                         .values(display_name=cleaned))
        return cleaned

    def learner(self, learner_id: int) -> Learner | None:
        with self._tx() as conn:
            row = conn.execute(sa.select(learners).where(learners.c.id == learner_id)).first()
        return None if row is None else _learner(row)

    def all_learners(self) -> list[Learner]:
        with self._tx() as conn:
            rows = conn.execute(sa.select(learners).order_by(learners.c.id)).all()
        return [_learner(r) for r in rows]

    # -- state (settings, drafts, flow) -------------------------------------------------------
    def load_state(self, learner_id: int) -> dict[str, Any]:
        with self._tx() as conn:
            rows = conn.execute(sa.select(learner_state.c.key, learner_state.c.value).where(
                learner_state.c.learner_id == learner_id)).all()
        return {r.key: r.value for r in rows}

    def save_state(self, learner_id: int, values: Mapping[str, Any]) -> None:
        """Upsert each key (one transaction); a value of ``None`` deletes the key."""
        for value in values.values():
            _check_json(value)
        with self._tx() as conn:
            for key, value in values.items():
                if value is None:
                    conn.execute(learner_state.delete().where(
                        (learner_state.c.learner_id == learner_id)
                        & (learner_state.c.key == key)))
                else:
                    _upsert(conn, learner_state, {"learner_id": learner_id, "key": key},
                            {"value": value, "updated_at": now()},
                            update=("value", "updated_at"))

    # -- attempts ----------------------------------------------------------------------------
    def record_attempt(self, learner_id: int, bank_id: str, answers: Mapping[str, Any],
                       result: Mapping[str, Any]) -> int:
        """Insert one graded submission (never updates an earlier one); returns its id."""
        _check_json(dict(answers))
        score = float(result["score"])
        if not math.isfinite(score):
            raise ValueError("A stored score must be a finite number.")
        with self._tx() as conn:
            attempt_id = conn.execute(attempts.insert().values(
                learner_id=learner_id, bank_id=bank_id, submitted_at=now(),
                answers=dict(answers), result=dict(result), score=score,
                passed=bool(result["passed"]))).inserted_primary_key[0]
        return int(attempt_id)

    def attempts(self, learner_id: int | None = None, bank_id: str | None = None) -> list[Attempt]:
        """Attempts, oldest first; all learners' when ``learner_id`` is None."""
        q = sa.select(attempts).order_by(attempts.c.id)
        if learner_id is not None:
            q = q.where(attempts.c.learner_id == learner_id)
        if bank_id is not None:
            q = q.where(attempts.c.bank_id == bank_id)
        with self._tx() as conn:
            rows = conn.execute(q).all()
        return [Attempt(id=r.id, learner_id=r.learner_id, bank_id=r.bank_id,
                        submitted_at=r.submitted_at, answers=r.answers, result=r.result,
                        score=r.score, passed=r.passed) for r in rows]

    def attempt(self, attempt_id: int) -> Attempt | None:
        with self._tx() as conn:
            r = conn.execute(sa.select(attempts).where(attempts.c.id == attempt_id)).first()
        if r is None:
            return None
        return Attempt(id=r.id, learner_id=r.learner_id, bank_id=r.bank_id,
                       submitted_at=r.submitted_at, answers=r.answers, result=r.result,
                       score=r.score, passed=r.passed)

    def progress(self, learner_id: int) -> dict[str, dict[str, Any]]:
        """bank id → {"score": best, "passed": any attempt passed, "attempts": count}, computed
        from the attempts (so concurrent submissions all count)."""
        q = (sa.select(attempts.c.bank_id, sa.func.max(attempts.c.score).label("best"),
                       sa.func.count().label("n"),
                       sa.func.max(sa.case((attempts.c.passed, 1), else_=0)).label("passed"))
             .where(attempts.c.learner_id == learner_id).group_by(attempts.c.bank_id))
        with self._tx() as conn:
            rows = conn.execute(q).all()
        return {r.bank_id: {"score": float(r.best), "passed": bool(r.passed),
                            "attempts": int(r.n)} for r in rows}

    # -- reviews -------------------------------------------------------------------------------
    def save_review(self, attempt_id: int, item_id: str, score: float, reviewer: str,
                    note: str = "") -> None:
        if not isinstance(score, (int, float)) or not 0 <= score <= 1 or math.isnan(score):
            raise ValueError(f"A reviewed score is a fraction from 0 to 1; got {score!r}.")
        with self._tx() as conn:
            _upsert(conn, reviews, {"attempt_id": attempt_id, "item_id": item_id},
                    {"score": float(score), "reviewer": reviewer[:320], "note": note or "",
                     "reviewed_at": now()}, update=("score", "reviewer", "note", "reviewed_at"))

    def delete_review(self, attempt_id: int, item_id: str) -> None:
        with self._tx() as conn:
            conn.execute(reviews.delete().where((reviews.c.attempt_id == attempt_id)
                                                & (reviews.c.item_id == item_id)))

    def reviews(self, attempt_ids: list[int] | None = None
                ) -> dict[int, dict[str, tuple[float, str]]]:
        """attempt id → item id → (reviewed score, note)."""
        q = sa.select(reviews)
        if attempt_ids is not None:
            q = q.where(reviews.c.attempt_id.in_(list(attempt_ids)))
        with self._tx() as conn:
            rows = conn.execute(q).all()
        out: dict[int, dict[str, tuple[float, str]]] = {}
        for r in rows:
            out.setdefault(int(r.attempt_id), {})[r.item_id] = (float(r.score), r.note)
        return out


# -- helpers ------------------------------------------------------------------------------------
def make_engine(url: str | sa.URL, **kwargs: Any) -> Engine:
    """An engine for ``url``; a SQLite file gets its folder created, WAL journaling and a busy
    timeout, so several sessions of one server can write at once."""
    url = sa.make_url(url)
    if url.get_backend_name() == "sqlite":
        database = url.database
        if database and database != ":memory:" and not database.startswith("file:"):
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        kwargs.setdefault("connect_args", {"timeout": 15})
        engine = sa.create_engine(url, **kwargs)
        sa.event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return sa.create_engine(url, **kwargs)


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=15000")
    try:
        cur.execute("PRAGMA journal_mode=WAL")
    except Exception:  # noqa: BLE001 - a read-only or in-memory database keeps its mode
        pass
    cur.close()


def _upsert(conn: Connection, table: sa.Table, key: dict[str, Any], values: dict[str, Any],
            update: tuple[str, ...]) -> None:
    """INSERT … ON CONFLICT (key) DO UPDATE SET ``update`` (SQLite and PostgreSQL)."""
    dialect = conn.dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    elif dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    else:  # pragma: no cover - another database: try the update, then the insert
        result = conn.execute(table.update().where(sa.and_(
            *[table.c[k] == v for k, v in key.items()])).values(
            {k: values[k] for k in update}))
        if result.rowcount == 0:
            conn.execute(table.insert().values({**key, **values}))
        return
    stmt = insert(table).values({**key, **values})
    stmt = stmt.on_conflict_do_update(index_elements=list(key),
                                      set_={k: stmt.excluded[k] for k in update})
    conn.execute(stmt)


def _clean_name(name: str | None) -> str | None:
    if name is None:
        return None
    cleaned = " ".join(str(name).split())[:MAX_NAME_CHARS]
    return cleaned or None


def _learner(row) -> Learner:
    return Learner(id=int(row.id), display_name=row.display_name, identity=row.identity,
                   created_at=row.created_at, last_seen_at=row.last_seen_at)
