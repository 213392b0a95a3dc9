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
import json
import logging
import math
import os
import secrets
import threading
import unicodedata
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

LOG = logging.getLogger(__name__)
REPO_ROOT = Path(__file__).resolve().parent.parent
MIGRATIONS = REPO_ROOT / "migrations"
#: Where the default SQLite file goes unless LAB_DATA_DIR says otherwise.
DEFAULT_DATA_DIR = REPO_ROOT / ".lab-data"
SQLITE_FILE = "lab.sqlite3"

#: Resume codes: 12 characters in three groups, from an alphabet without look-alikes (no 0/O,
#: 1/I/L), so a code copied by hand still works: 31^12 ≈ 7.9e17 codes.
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 12
#: One stored value (a draft), counted as stored: UTF-8 JSON without ASCII escapes. The answer
#: boxes' limits fit inside it whatever the text (core.assessment: at most 60,000 characters of
#: essay, 50,000 of code; a character takes at most 6 bytes once stored, a control character
#: written as \u0001), checked by tests/unit/test_store.py.
MAX_STATE_BYTES = 384 * 1024
#: One submission: every answer of the bank and its graded result (which repeats them).
MAX_ATTEMPT_BYTES = 8 * 1024 * 1024
MAX_NAME_CHARS = 80

metadata = sa.MetaData()

learners = sa.Table(
    "learners",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("code_hash", sa.String(64), unique=True, nullable=True),
    sa.Column("identity", sa.String(320), unique=True, nullable=True),
    sa.Column("display_name", sa.String(120), nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
)

learner_state = sa.Table(
    "learner_state",
    metadata,
    sa.Column(
        "learner_id", sa.Integer, sa.ForeignKey("learners.id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column("key", sa.String(200), primary_key=True),
    sa.Column("value", sa.JSON, nullable=True),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)

attempts = sa.Table(
    "attempts",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "learner_id",
        sa.Integer,
        sa.ForeignKey("learners.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    sa.Column("bank_id", sa.String(64), nullable=False, index=True),
    sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("answers", sa.JSON, nullable=False),
    sa.Column("result", sa.JSON, nullable=False),
    sa.Column("score", sa.Float, nullable=False),
    sa.Column("passed", sa.Boolean, nullable=False),
    # One key per press of Submit, made by the app: a submission retried after a failure (or
    # sent twice) is stored once.
    sa.Column("submission_key", sa.String(64), nullable=True),
    sa.Index("ux_attempts_submission_key", "submission_key", unique=True),
)

reviews = sa.Table(
    "reviews",
    metadata,
    sa.Column(
        "attempt_id", sa.Integer, sa.ForeignKey("attempts.id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column("item_id", sa.String(64), primary_key=True),
    sa.Column("score", sa.Float, nullable=False),
    sa.Column("reviewer", sa.String(320), nullable=False),
    sa.Column("note", sa.Text, nullable=False),
    sa.Column("reviewed_at", sa.DateTime(timezone=True), nullable=False),
)


app_keys = sa.Table(
    "app_keys",
    metadata,
    # Secrets the app makes for itself and keeps with the records (e.g. the key that signs the
    # resume-code cookie), so they survive a restart and are the same on every server process.
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("value", sa.String(128), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
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
    return datetime.now(UTC)


def data_dir() -> Path:
    """The folder of the default SQLite file: LAB_DATA_DIR, else ``.lab-data/`` in the repo."""
    return Path(os.environ.get("LAB_DATA_DIR") or DEFAULT_DATA_DIR)


def default_url(folder: str | os.PathLike | None = None) -> str:
    """The SQLite file in ``folder`` (else LAB_DATA_DIR, else ``.lab-data/`` in the repo)."""
    folder = Path(folder or data_dir())
    return f"sqlite:///{(folder / SQLITE_FILE).resolve()}"


def ensure_sqlite_file(path: str | os.PathLike) -> None:
    """Create the SQLite file's folder (owner-only, 0700) and the file itself (0600) if they are
    missing, so that a fresh clone saves from the first visit and other users of the machine
    cannot read learners' work. Existing folders and files keep their permissions.
    Raises :class:`StoreUnavailable` when the folder cannot be made."""
    path = Path(path)
    try:
        folder = path.parent
        if not folder.is_dir():
            folder.mkdir(parents=True, mode=0o700, exist_ok=True)
            os.chmod(folder, 0o700)  # mkdir's mode is reduced by the umask
        if not path.exists():
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
    except OSError as err:
        raise StoreUnavailable(
            f"Your work cannot be saved: the folder for it ({path.parent}) could not be "
            f"created ({err.strerror or err}). You can keep working: everything stays on this "
            f"page while it is open. Whoever runs the app can set LAB_DATA_DIR to a folder "
            f"it may write."
        ) from err


def describe_location(url: str | sa.URL) -> str:
    """Where learner work is kept, in words for the learner (no host names or passwords)."""
    url = sa.make_url(url)
    if url.get_backend_name() == "sqlite":
        path = Path(url.database or "")
        try:
            shown = path.resolve().relative_to(REPO_ROOT)
        except ValueError:
            shown = path
        return f"the SQLite file {shown} on the machine that runs this app"
    return f"the class database ({url.get_backend_name()})"


def describe_url(url: str | sa.URL) -> str:
    """The URL without its password, for messages and the instructor page."""
    return sa.make_url(url).render_as_string(hide_password=True)


def new_resume_code() -> str:
    raw = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
    return "-".join(raw[i : i + 4] for i in range(0, CODE_LENGTH, 4))


def normalise_code(code: str) -> str:
    """``"abcd efgh-jkmn"`` → ``"ABCD-EFGH-JKMN"``; raises :class:`InvalidResumeCode`."""
    if not isinstance(code, str):
        raise InvalidResumeCode("A resume code is text such as ABCD-EFGH-JKMN.")
    raw = "".join(ch for ch in code.upper() if not ch.isspace() and ch != "-")
    bad = sorted({ch for ch in raw if ch not in CODE_ALPHABET})
    if len(raw) != CODE_LENGTH or bad:
        why = (
            f"it has {len(raw)} letters and digits"
            if len(raw) != CODE_LENGTH
            else "it contains " + ", ".join(repr(ch) for ch in bad[:5])
        )
        raise InvalidResumeCode(
            f"That is not a resume code ({why}). A resume code has {CODE_LENGTH} letters and "
            f"digits in three groups, such as ABCD-EFGH-JKMN (no 0, O, 1, I or L)."
        )
    return "-".join(raw[i : i + 4] for i in range(0, CODE_LENGTH, 4))


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
        f"page while it is open, and it is saved as soon as the database is back."
    )


def dumps(value: Any) -> str:
    """JSON as the database stores it: UTF-8 text, no ASCII escapes (so an essay in any script
    costs its UTF-8 size, not six bytes a character), no NaN."""
    return json.dumps(value, ensure_ascii=False, allow_nan=False)


def stored_size(value: Any) -> int:
    """Bytes ``value`` takes once stored (raises ``ValueError`` for what is not JSON)."""
    try:
        return len(dumps(value).encode("utf-8"))
    except (TypeError, ValueError) as err:
        raise ValueError(f"Only JSON data can be stored ({err}).") from None


def _check_json(value: Any, limit: int = MAX_STATE_BYTES) -> None:
    size = stored_size(value)
    if size > limit:
        raise ValueError(
            f"A stored value is limited to {limit // 1024:,} kB; this one is "
            f"{math.ceil(size / 1024):,} kB."
        )


class LearnerStore:
    """Learners, their state, attempts and reviews in one SQL database.

    Thread-safe: every method opens its own connection from the engine's pool and commits before
    returning. Share one instance per process.
    """

    def __init__(self, engine: Engine):
        self.engine = engine
        self._keys: dict[str, bytes] = {}  # app keys, read once (they never change)
        self._keys_lock = threading.Lock()

    @classmethod
    def from_url(cls, url: str | sa.URL | None = None, **engine_kwargs: Any) -> LearnerStore:
        return cls(make_engine(url or default_url(), **engine_kwargs))

    @property
    def url(self) -> str:
        return describe_url(self.engine.url)

    @contextmanager
    def _tx(self) -> Iterator[Connection]:
        """One transaction. A database error is raised as :class:`StoreUnavailable`, and the
        pool's connections are not used again: the one that failed is closed and the rest are
        let go (``Engine.dispose``, which leaves connections other threads hold alone). A
        connection opened while the database was read-only stays read-only for its whole life
        (a SQLite file opened read-only; a PostgreSQL session with read-only transactions by
        default), so reusing any of them would keep failing after the database is writable
        again; the next transaction opens a fresh one."""
        try:
            with self.engine.connect() as conn:
                try:
                    with conn.begin():
                        yield conn
                except sa.exc.DBAPIError:
                    try:
                        conn.invalidate()
                    except Exception:  # noqa: BLE001 - the connection is gone already
                        pass
                    raise
        except sa.exc.SQLAlchemyError as err:  # down, full, read-only, locked, pool timeout
            LOG.warning("A learner-database transaction failed: %s", type(err).__name__)
            self.engine.dispose()
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
        """A new learner with a fresh resume code: (id, code). Only the code's hash is stored
        (the app makes its learners with :meth:`learner_with_code`, at their first save)."""
        code = new_resume_code()
        t = now()
        with self._tx() as conn:
            learner_id = conn.execute(
                learners.insert().values(
                    code_hash=_code_hash(code),
                    display_name=clean_name(display_name),
                    created_at=t,
                    last_seen_at=t,
                )
            ).inserted_primary_key[0]
        return int(learner_id), code

    def learner_for_code(self, code: str) -> int:
        """The learner whose resume code this is; raises :class:`InvalidResumeCode`."""
        code_hash = _code_hash(code)  # raises for a malformed code
        with self._tx() as conn:
            row = conn.execute(
                sa.select(learners.c.id).where(learners.c.code_hash == code_hash)
            ).first()
        if row is None:
            raise InvalidResumeCode(
                "No learner has that resume code. Check it against the one shown in your "
                "sidebar (letters and digits, such as ABCD-EFGH-JKMN), or start afresh."
            )
        self._touch(int(row.id))
        return int(row.id)

    def _touch(self, learner_id: int) -> None:
        """Note when a learner was last seen, if the database can be written just now (a
        read-only database still opens everyone's records)."""
        try:
            with self._tx() as conn:
                conn.execute(
                    learners.update().where(learners.c.id == learner_id).values(last_seen_at=now())
                )
        except StoreUnavailable:
            pass

    def find_code(self, code: str) -> int | None:
        """The learner with this resume code, or None (no error) when nobody has it yet."""
        try:
            return self.learner_for_code(code)
        except InvalidResumeCode:
            normalise_code(code)  # a malformed code still raises
            return None

    def learner_with_code(self, code: str) -> int:
        """The learner with this resume code, created if nobody has it yet (safe when two tabs
        holding the same new code save at once). Only for codes this app made itself."""
        code_hash = _code_hash(code)
        t = now()
        with self._tx() as conn:
            conn.execute(
                _insert(conn)(learners)
                .values(code_hash=code_hash, created_at=t, last_seen_at=t)
                .on_conflict_do_nothing(index_elements=["code_hash"])
            )
            row = conn.execute(
                sa.select(learners.c.id).where(learners.c.code_hash == code_hash)
            ).one()
        return int(row.id)

    def app_key(self, name: str) -> bytes:
        """A random 32-byte secret kept in the database under ``name``, made on first use
        (the same for every process and after restarts). Read once per process; a read-only
        database that has the key already serves it."""
        key = self._keys.get(name)
        if key is not None:
            return key
        select = sa.select(app_keys.c.value).where(app_keys.c.name == name)
        with self._tx() as conn:
            value = conn.execute(select).scalar()
        if value is None:
            with self._tx() as conn:
                conn.execute(
                    _insert(conn)(app_keys)
                    .values(name=name, value=secrets.token_hex(32), created_at=now())
                    .on_conflict_do_nothing(index_elements=["name"])
                )
                value = conn.execute(select).scalar_one()
        key = bytes.fromhex(value)
        with self._keys_lock:
            self._keys.setdefault(name, key)
        return self._keys[name]

    def learner_for_identity(self, identity: str, display_name: str | None = None) -> int:
        """The signed-in learner's id, created on first sign-in (safe under concurrent calls)."""
        identity = identity.strip().lower()
        if not identity:
            raise ValueError("A signed-in identity cannot be empty.")
        with self._tx() as conn:
            _upsert(
                conn,
                learners,
                {"identity": identity},
                {
                    "display_name": clean_name(display_name),
                    "created_at": now(),
                    "last_seen_at": now(),
                },
                update=("last_seen_at",),
            )
            row = conn.execute(
                sa.select(learners.c.id).where(learners.c.identity == identity)
            ).one()
        return int(row.id)

    def set_display_name(self, learner_id: int, name: str | None) -> str | None:
        cleaned = clean_name(name)
        with self._tx() as conn:
            conn.execute(
                learners.update().where(learners.c.id == learner_id).values(display_name=cleaned)
            )
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
        """Every stored key with its value (deleted keys left out)."""
        with self._tx() as conn:
            rows = conn.execute(
                sa.select(learner_state.c.key, learner_state.c.value).where(
                    learner_state.c.learner_id == learner_id
                )
            ).all()
        return {r.key: r.value for r in rows if r.value is not None}

    def save_state(
        self,
        learner_id: int,
        values: Mapping[str, Any],
        changed_at: Mapping[str, datetime] | None = None,
    ) -> dict[str, bool]:
        """Write each key (one transaction); ``None`` deletes it. Returns key → written.

        ``changed_at[key]`` is when the value was made (default: now). A key whose stored value
        was made *later* (another tab, while this value waited for the database) is left as it
        is: an older draft never replaces a newer one. A deletion is kept as an empty row with
        its time, so an older value cannot come back after it either."""
        for value in values.values():
            if value is not None:
                _check_json(value)
        t_now = now()
        written = {}
        with self._tx() as conn:
            for key, value in values.items():
                t = (changed_at or {}).get(key) or t_now
                written[key] = _upsert(
                    conn,
                    learner_state,
                    {"learner_id": learner_id, "key": key},
                    {"value": value, "updated_at": t},
                    update=("value", "updated_at"),
                    only_if_not_newer=True,
                )
        return written

    # -- attempts ----------------------------------------------------------------------------
    def record_attempt(
        self,
        learner_id: int,
        bank_id: str,
        answers: Mapping[str, Any],
        result: Mapping[str, Any],
        submission_key: str | None = None,
    ) -> int:
        """Insert one graded submission (never updates an earlier one); returns its id.

        ``submission_key`` (one per press of Submit) makes the write idempotent: a submission
        already stored under that key is not stored again, and its id is returned."""
        _check_json({"answers": dict(answers), "result": dict(result)}, MAX_ATTEMPT_BYTES)
        score = float(result["score"])
        if not math.isfinite(score):
            raise ValueError("A stored score must be a finite number.")
        if submission_key is not None and (
            not isinstance(submission_key, str) or not 0 < len(submission_key) <= 64
        ):
            raise ValueError("A submission key is text of 1 to 64 characters.")
        row = {
            "learner_id": learner_id,
            "bank_id": bank_id,
            "submitted_at": now(),
            "answers": dict(answers),
            "result": dict(result),
            "score": score,
            "passed": bool(result["passed"]),
            "submission_key": submission_key,
        }
        with self._tx() as conn:
            if submission_key is None:
                return int(conn.execute(attempts.insert().values(row)).inserted_primary_key[0])
            conn.execute(
                _insert(conn)(attempts)
                .values(row)
                .on_conflict_do_nothing(index_elements=["submission_key"])
            )
            found = conn.execute(
                sa.select(attempts.c.id, attempts.c.learner_id).where(
                    attempts.c.submission_key == submission_key
                )
            ).one()
        if found.learner_id != learner_id:
            raise ValueError("That submission key belongs to another learner's attempt.")
        return int(found.id)

    def attempt_for_key(self, submission_key: str) -> int | None:
        """The id of the attempt stored under ``submission_key``, if any."""
        with self._tx() as conn:
            row = conn.execute(
                sa.select(attempts.c.id).where(attempts.c.submission_key == submission_key)
            ).first()
        return None if row is None else int(row.id)

    def attempts(self, learner_id: int | None = None, bank_id: str | None = None) -> list[Attempt]:
        """Attempts, oldest first; all learners' when ``learner_id`` is None."""
        q = sa.select(attempts).order_by(attempts.c.id)
        if learner_id is not None:
            q = q.where(attempts.c.learner_id == learner_id)
        if bank_id is not None:
            q = q.where(attempts.c.bank_id == bank_id)
        with self._tx() as conn:
            rows = conn.execute(q).all()
        return [_attempt(r) for r in rows]

    def attempt(self, attempt_id: int) -> Attempt | None:
        with self._tx() as conn:
            r = conn.execute(sa.select(attempts).where(attempts.c.id == attempt_id)).first()
        return None if r is None else _attempt(r)

    def progress(self, learner_id: int) -> dict[str, dict[str, Any]]:
        """bank id → {"score": best, "passed": any attempt passed, "attempts": count}, computed
        from the attempts (so concurrent submissions all count)."""
        q = (
            sa.select(
                attempts.c.bank_id,
                sa.func.max(attempts.c.score).label("best"),
                sa.func.count().label("n"),
                sa.func.max(sa.case((attempts.c.passed, 1), else_=0)).label("passed"),
            )
            .where(attempts.c.learner_id == learner_id)
            .group_by(attempts.c.bank_id)
        )
        with self._tx() as conn:
            rows = conn.execute(q).all()
        return {
            r.bank_id: {"score": float(r.best), "passed": bool(r.passed), "attempts": int(r.n)}
            for r in rows
        }

    # -- reviews -------------------------------------------------------------------------------
    def save_review(
        self, attempt_id: int, item_id: str, score: float, reviewer: str, note: str = ""
    ) -> None:
        if not isinstance(score, (int, float)) or not 0 <= score <= 1 or math.isnan(score):
            raise ValueError(f"A reviewed score is a fraction from 0 to 1; got {score!r}.")
        with self._tx() as conn:
            _upsert(
                conn,
                reviews,
                {"attempt_id": attempt_id, "item_id": item_id},
                {
                    "score": float(score),
                    "reviewer": reviewer[:320],
                    "note": note or "",
                    "reviewed_at": now(),
                },
                update=("score", "reviewer", "note", "reviewed_at"),
            )

    def delete_review(self, attempt_id: int, item_id: str) -> None:
        with self._tx() as conn:
            conn.execute(
                reviews.delete().where(
                    (reviews.c.attempt_id == attempt_id) & (reviews.c.item_id == item_id)
                )
            )

    def reviews(
        self, attempt_ids: list[int] | None = None
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
    """An engine for ``url``; JSON is stored as UTF-8 text (:func:`dumps`). A SQLite file gets
    its folder (0700) and file (0600) created, WAL journaling and a busy timeout, so several
    sessions of one server can write at once."""
    url = sa.make_url(url)
    kwargs.setdefault("json_serializer", dumps)
    if url.get_backend_name() == "sqlite":
        database = url.database
        if database and database != ":memory:" and not database.startswith("file:"):
            ensure_sqlite_file(database)
        kwargs.setdefault("connect_args", {"timeout": 15})
        engine = sa.create_engine(url, **kwargs)
        if database and database != ":memory:" and not database.startswith("file:"):
            sa.event.listen(
                engine, "connect", lambda dbapi_conn, record, path=database: _repair_sidecars(path)
            )
        sa.event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return sa.create_engine(url, **kwargs)


_SHARED: dict[str, LearnerStore] = {}
_SHARED_LOCK = threading.Lock()


def shared_store(url: str) -> LearnerStore:
    """One store per database and process, its schema migrated once: what the app uses.

    Kept here rather than in a Streamlit cache, so that a client clearing Streamlit's caches
    cannot make every session rebuild it (and rerun the migrations). A failure (database down,
    folder not writable) is not kept: the next call tries again."""
    with _SHARED_LOCK:
        store = _SHARED.get(url)
        if store is None:
            try:
                store = LearnerStore(make_engine(url))
            except (sa.exc.ArgumentError, ImportError, ValueError) as err:
                raise StoreUnavailable(
                    f"Your work cannot be saved: the database setting could not be used "
                    f"({type(err).__name__}). You can keep working: everything stays on this "
                    f"page while it is open. An instructor can check the setting."
                ) from err
            try:
                store.migrate()
            except BaseException:
                store.engine.dispose()
                raise
            _SHARED[url] = store
    return store


def _repair_sidecars(database: str) -> None:
    """Give a SQLite file's ``-wal`` and ``-shm`` the file's own permissions again.

    SQLite creates them with the database file's mode. A connection opened while the file was
    read-only leaves a read-only ``-shm`` behind, and every later connection fails with "attempt
    to write a readonly database" even once the file is writable again (only a restart, which
    removes the sidecars, used to clear it). Runs before each new connection is used."""
    try:
        mode = os.stat(database).st_mode & 0o777
        if not os.access(database, os.W_OK):
            return  # still read-only: nothing to repair yet
        for suffix in ("-wal", "-shm"):
            side = database + suffix
            if os.path.exists(side) and not os.access(side, os.W_OK):
                os.chmod(side, mode)
    except OSError:
        pass  # not ours to change: the connection reports the problem


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=15000")
    try:
        cur.execute("PRAGMA journal_mode=WAL")
    except Exception:  # noqa: BLE001 - a read-only or in-memory database keeps its mode
        pass
    cur.close()


def _insert(conn: Connection):
    """The dialect's INSERT with ON CONFLICT (SQLite and PostgreSQL, the two databases the app
    supports and tests)."""
    dialect = conn.dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    elif dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    else:  # pragma: no cover
        raise StoreUnavailable(f"The learner database must be SQLite or PostgreSQL, not {dialect}.")
    return insert


def _upsert(
    conn: Connection,
    table: sa.Table,
    key: dict[str, Any],
    values: dict[str, Any],
    update: tuple[str, ...],
    only_if_not_newer: bool = False,
) -> bool:
    """INSERT … ON CONFLICT (key) DO UPDATE SET ``update``; with ``only_if_not_newer`` the
    update happens only where the stored ``updated_at`` is not later than the new one.
    Returns whether a row was written."""
    stmt = _insert(conn)(table).values({**key, **values})
    where = (table.c.updated_at <= stmt.excluded.updated_at) if only_if_not_newer else None
    stmt = stmt.on_conflict_do_update(
        index_elements=list(key), set_={k: stmt.excluded[k] for k in update}, where=where
    )
    # RETURNING, not rowcount: a skipped update returns no row on both databases.
    return conn.execute(stmt.returning(*[table.c[k] for k in key])).first() is not None


#: Letters that draw nothing (fillers, blank patterns), removed from names like format characters.
_INVISIBLE = {"\u115f", "\u1160", "\u3164", "\uffa0", "\u2800"}
_MAX_MARKS = 3  # combining marks kept after one letter (no towers of accents)


def clean_name(name: Any) -> str | None:
    """A display name as it is stored and shown: Unicode NFKC; no control, format (zero-width,
    bidirectional), private-use, unassigned or blank-drawing characters; at most three combining
    marks on a letter; runs of spaces made one; at most ``MAX_NAME_CHARS`` characters. None when
    nothing is left. Two names that look the same after this are the same text."""
    if name is None:
        return None
    text = unicodedata.normalize("NFKC", str(name))
    out: list[str] = []
    marks = 0
    for ch in text:
        category = unicodedata.category(ch)
        if ch.isspace():
            out.append(" ")
            marks = 0
        elif category in ("Cc", "Cf", "Co", "Cs", "Cn") or ch in _INVISIBLE:
            continue
        elif category.startswith("M"):
            if out and marks < _MAX_MARKS:
                out.append(ch)
                marks += 1
        else:
            out.append(ch)
            marks = 0
    cleaned = " ".join("".join(out).split())[:MAX_NAME_CHARS].strip()
    return cleaned or None


def _attempt(row) -> Attempt:
    return Attempt(
        id=row.id,
        learner_id=row.learner_id,
        bank_id=row.bank_id,
        submitted_at=row.submitted_at,
        answers=row.answers,
        result=row.result,
        score=row.score,
        passed=row.passed,
    )


def _learner(row) -> Learner:
    return Learner(
        id=int(row.id),
        display_name=row.display_name,
        identity=row.identity,
        created_at=row.created_at,
        last_seen_at=row.last_seen_at,
    )
