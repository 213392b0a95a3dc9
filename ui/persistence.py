"""Streamlit side of the learner records (``core.store``): who the learner is, loading their
record once, and saving each change as it happens. It knows nothing of the features whose work
it keeps: :func:`start_session` returns the loaded record, and the app shell hands each part to
its feature (settings to ``ui.controls``, drafts, flows and progress to ``ui.assessment_ui``).

Who the learner is, in this order:

1. signed in with Streamlit's authentication (``st.login``; ``[auth]`` in secrets.toml): the
   provider's e-mail (or subject);
2. the resume code in this browser's cookie (set once the record holds something);
3. a resume code in the page address (``?learner=ABCD-EFGH-JKMN``, a "resume link"): opened
   at once in a browser that has no record of its own; in a browser that already works as
   another learner, the learner is *asked* whether to open it, and nothing changes until they
   choose (a link cannot silently move someone's work into another record). The code is taken
   out of the address as soon as it has been read;
4. otherwise a new learner with a new code. Its database row is made with the first thing
   there is to save, so visits that save nothing (and wrong codes) add no rows.

Resume codes are checked under two throttles (``core.throttle``): per session and for the
whole server; a wrong code never starts a record by itself.

Which database: ``LAB_DATABASE_URL`` (any SQLAlchemy URL), else ``[connections.sql]`` in
secrets.toml (the section Streamlit's ``st.connection("sql")`` reads: ``url``, or ``dialect``,
``host``, ``username``…), else a SQLite file in ``LAB_DATA_DIR`` (default ``.lab-data/``), whose
folder is created (owner-only) on first use. One store per database and process
(``core.store.shared_store``), migrated once.

Saving never blocks the lesson: a write that fails (database down, full, read-only, locked) is
kept in the session with the time it was made and written at the next interaction; the failure
is announced in the run that tried (:func:`save_status`). Submissions carry a key each, so one
retried after a failure is stored exactly once; drafts carry their time, so an older draft never
replaces a newer one written by another tab.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import sqlalchemy as sa
import streamlit as st

from core.assessment import escape_markdown
from core.store import (
    MAX_STATE_BYTES,
    Attempt,
    InvalidResumeCode,
    LearnerStore,
    StoreUnavailable,
    clean_name,
    default_url,
    describe_location,
    new_resume_code,
    normalise_code,
    now,
    shared_store,
    stored_size,
)
from core.throttle import RESUME_PER_SESSION, SERVER_RESUME, Throttle, describe_wait

__all__ = [
    "StoreUnavailable",
    "LoadedRecord",
    "start_session",
    "remember",
    "record_attempt",
    "saved_attempt",
    "save_status",
    "record_panel",
    "link_choice",
    "learner",
    "notify",
    "get_store",
    "signed_in_identity",
    "database_source",
    "reviews_for",
]

LOG = logging.getLogger(__name__)

# Session keys owned by this module.
LEARNER = "lab_learner"  # {"id": int | None (no row yet), "code", "identity", "name"}
RESTORED = "lab_restored"  # the learner is known and their record was handed to the features
LOADED = "lab_loaded_record"  # a record switched to in a callback, for the next start_session
PENDING = "lab_pending_state"  # key → (value, changed_at): not saved yet (None deletes)
PENDING_ATTEMPTS = "lab_pending_attempts"  # [{"bank_id", "answers", "result", "key"}]
SAVED_ATTEMPTS = "lab_saved_attempts"  # submission key → stored attempt id
FLUSHING = "lab_flushing"
ERROR = "lab_store_error"
NOTICE = "lab_store_notice"
COOKIE_SET = "lab_cookie_set"
LINK_CHOICE = "lab_link_choice"  # {"code", "id"}: a link's record, waiting for the learner
LINK_PENDING = "lab_link_pending"  # a link's code read from the address, not dealt with yet
NONCE = "lab_session_nonce"  # random per session: part of each submission's key
PENDING_NAME = "lab_pending_name"  # a display name not saved yet
THROTTLE = "lab_resume_throttle"
CODE_INPUT = "lab_w_resume_code"
NAME_INPUT = "lab_w_display_name"
SESSION_KEYS = (
    LINK_PENDING,
    NONCE,
    PENDING_NAME,
    LEARNER,
    RESTORED,
    LOADED,
    PENDING,
    PENDING_ATTEMPTS,
    SAVED_ATTEMPTS,
    FLUSHING,
    ERROR,
    NOTICE,
    COOKIE_SET,
    LINK_CHOICE,
    THROTTLE,
    CODE_INPUT,
    NAME_INPUT,
)

QUERY_PARAM = "learner"
LEGACY_COOKIE = "lab_learner"  # the cookie of earlier versions: a bare code, not signed


@dataclass(frozen=True)
class LoadedRecord:
    """A learner's record as loaded, for the features to take their parts from."""

    learner_id: int | None  # None: a new learner, nothing stored yet
    state: Mapping[str, Any] = field(default_factory=dict)  # key → value (settings, drafts…)
    progress: Mapping[str, dict[str, Any]] = field(default_factory=dict)  # bank → best etc.
    replaces: bool = False  # it replaces another learner's record in this session
    store: LearnerStore | None = None

    def attempt(self, attempt_id: int | None) -> Attempt | None:
        """One of *this learner's* stored attempts (None for anyone else's, or offline)."""
        if attempt_id is None or self.store is None or self.learner_id is None:
            return None
        try:
            found = self.store.attempt(int(attempt_id))
        except (StoreUnavailable, TypeError, ValueError):
            return None
        return found if found is not None and found.learner_id == self.learner_id else None


# -- the database ---------------------------------------------------------------------------------
def _secrets_sql() -> Mapping[str, Any] | None:
    try:
        section = st.secrets.get("connections", {}).get("sql")
    except Exception:  # noqa: BLE001 - no secrets file, or one that does not parse
        return None
    return section if isinstance(section, Mapping) else None


def database_source() -> str:
    if os.environ.get("LAB_DATABASE_URL"):
        return "LAB_DATABASE_URL"
    if _secrets_sql() is not None:
        return "secrets.toml [connections.sql]"
    return "the default SQLite file"


def database_url() -> str:
    """The database URL from the settings (see the module's docstring)."""
    env = os.environ.get("LAB_DATABASE_URL")
    if env:
        return env
    section = _secrets_sql()
    if section is not None:
        if section.get("url"):
            return str(section["url"])
        dialect = section.get("dialect")
        if not dialect:
            raise StoreUnavailable(
                "Your work cannot be saved: [connections.sql] in secrets.toml has neither a "
                "url nor a dialect. You can keep working: everything stays on this page while "
                "it is open. An instructor can check the setting."
            )
        driver = section.get("driver")
        return sa.URL.create(
            f"{dialect}+{driver}" if driver else str(dialect),
            username=section.get("username"),
            password=section.get("password"),
            host=section.get("host"),
            port=section.get("port"),
            database=section.get("database"),
            query=dict(section.get("query") or {}),
        ).render_as_string(hide_password=False)
    return default_url()


def get_store() -> LearnerStore | None:
    """The learner store, or None after noting why (the lesson then runs on the session only).
    A failure is not kept: the next interaction tries again."""
    try:
        return shared_store(database_url())
    except StoreUnavailable as err:
        _set_error(str(err))
    except Exception as err:  # noqa: BLE001 - a bad URL, a missing driver, a bad secrets entry
        LOG.exception("The learner database could not be opened")
        _set_error(
            f"Your work cannot be saved: the database setting ({database_source()}) "
            f"could not be used ({type(err).__name__}). You can keep working: everything "
            f"stays on this page while it is open. An instructor can check the setting."
        )
    return None


def _set_error(message: str | None) -> None:
    st.session_state[ERROR] = message


def notify(message: str) -> None:
    """A one-off note for the learner, shown in the sidebar's saved-work panel."""
    st.session_state[NOTICE] = message


# -- who the learner is --------------------------------------------------------------------------
def signed_in_identity() -> tuple[str, str | None] | None:
    """(identity, name) when Streamlit's authentication is configured and the user signed in."""
    try:
        user = st.user
        if user.get("is_logged_in"):
            identity = user.get("email") or user.get("sub")
            if identity:
                return str(identity), user.get("name")
    except Exception:  # noqa: BLE001 - authentication not configured
        pass
    return None


def _link_code() -> str | None:
    """A resume link's code: taken out of the address at once (it is a secret; the cookie keeps
    the code once chosen) and kept in the session until it has been dealt with, so a database
    that cannot answer right now does not lose it."""
    ss = st.session_state
    code = st.query_params.get(QUERY_PARAM)
    if QUERY_PARAM in st.query_params:
        del st.query_params[QUERY_PARAM]
    if code:
        ss[LINK_PENDING] = code[:200]
    return ss.get(LINK_PENDING)


def _cookie_raw(name: str) -> str | None:
    try:
        value = st.context.cookies.get(name)
    except Exception:  # noqa: BLE001 - no request context (a test harness)
        return None
    return value if isinstance(value, str) and value else None


COOKIE_KEY = "resume-cookie"


def cookie_name(store: LearnerStore) -> str:
    """The cookie's name, made from this database's own key: two copies of the lab on one host
    (another port, another path) that keep their records in different databases use different
    cookies instead of overwriting each other's; two servers of one class share one."""
    tag = hmac.new(store.app_key(COOKIE_KEY), b"cookie name", hashlib.sha256).hexdigest()[:10]
    return f"{LEGACY_COOKIE}_{tag}"


def _signature(store: LearnerStore, code: str) -> str:
    return hmac.new(
        store.app_key(COOKIE_KEY), normalise_code(code).encode(), hashlib.sha256
    ).hexdigest()[:32]


def cookie_value(store: LearnerStore, code: str) -> str:
    """What the cookie holds: the code and this app's signature of it (``CODE.SIGNATURE``), so
    a cookie can only carry a code this app gave out: it cannot be used to guess codes."""
    return f"{normalise_code(code)}.{_signature(store, code)}"


def _cookie_code(store: LearnerStore) -> tuple[str, bool] | None:
    """This browser's code, and whether this app signed it. A signed cookie holds a code this
    app gave out. A cookie whose signature does not match (made up, or signed by a database
    that has since been replaced) is ignored without a word: it is not a guess to count. Only
    an unsigned code under the old cookie name (from before cookies were signed) is returned
    with False, to be checked like a typed code."""
    raw = _cookie_raw(cookie_name(store))
    legacy = raw is None
    if legacy:
        raw = _cookie_raw(LEGACY_COOKIE)
    if not raw:
        return None
    code, dot, signature = raw.partition(".")
    try:
        code = normalise_code(code)
    except InvalidResumeCode:
        return None
    if not dot:
        return (code, False) if legacy else None
    if hmac.compare_digest(signature, _signature(store, code)):
        return code, True
    LOG.info("A resume-code cookie with a signature that does not match was ignored")
    return None


def learner() -> dict[str, Any] | None:
    return st.session_state.get(LEARNER)


def _throttle() -> Throttle:
    return st.session_state.setdefault(THROTTLE, Throttle(RESUME_PER_SESSION))


def resume_wait_s() -> float:
    """Seconds until this session may try another resume code (0: now)."""
    return max(_throttle().wait_s(), SERVER_RESUME.wait_s())


class ResumeThrottled(Exception):
    def __init__(self, wait_s: float):
        super().__init__(wait_s)
        self.wait_s = wait_s

    def __str__(self) -> str:
        return (
            f"Too many resume codes were tried just now. Try again in {describe_wait(self.wait_s)}."
        )


def _check_code(store: LearnerStore, code: str) -> int:
    """The learner id of a resume code, under the throttles. Raises :class:`ResumeThrottled`,
    :class:`InvalidResumeCode` (counted as a failure) or :class:`StoreUnavailable`."""
    wait = resume_wait_s()
    if wait > 0:
        raise ResumeThrottled(wait)
    try:
        return store.learner_for_code(code)
    except InvalidResumeCode:
        _throttle().failed()
        SERVER_RESUME.failed()
        LOG.warning(
            "A resume code was refused (%d failures in this session this minute)",
            _throttle().failures(),
        )
        raise


def _same_code(a: str | None, b: str | None) -> bool:
    try:
        return a is not None and b is not None and normalise_code(a) == normalise_code(b)
    except InvalidResumeCode:
        return False


def _masked(code: str) -> str:
    return code.split("-")[0] + "-…"


def start_session() -> LoadedRecord | None:
    """Called by the app shell on every run, before the page. The first time (and after the
    learner switched records) it returns the record the features must take over; otherwise
    None. It also writes what is pending."""
    ss = st.session_state
    if ss.get(RESTORED):
        flush()
        return ss.pop(LOADED, None)
    _link_code()  # out of the address at once, even while the database cannot answer
    store = get_store()
    if store is None:
        return None  # try again on the next interaction; the session works on its own meanwhile
    try:
        record = _resolve_learner(store)
    except StoreUnavailable as err:
        _set_error(str(err))
        return None
    except ResumeThrottled as err:
        notify(
            f"Your saved work is not opened yet: {err} Until then, what you do stays on this page."
        )
        return None
    ss[RESTORED] = True
    _set_error(None)
    flush()
    return record


def _load(store: LearnerStore, learner_id: int, replaces: bool = False) -> LoadedRecord:
    return LoadedRecord(
        learner_id=learner_id,
        state=store.load_state(learner_id),
        progress=store.progress(learner_id),
        replaces=replaces,
        store=store,
    )


def _resolve_learner(store: LearnerStore) -> LoadedRecord:
    ss = st.session_state
    signed_in = signed_in_identity()
    if signed_in:
        identity, name = signed_in
        learner_id = store.learner_for_identity(identity, name)
        stored = store.learner(learner_id)
        ss[LEARNER] = {
            "id": learner_id,
            "code": None,
            "identity": identity,
            "name": (stored.display_name if stored else None) or name,
        }
        return _load(store, learner_id)

    link = _link_code()
    cookie = _cookie_code(store)
    mine: tuple[int | None, str] | None = None  # this browser's own record (id None: unsaved)
    if cookie is not None:
        code, signed = cookie
        if signed:  # a code this app gave this browser, perhaps with nothing saved yet
            mine = (store.find_code(code), code)
        else:  # from before cookies were signed: checked like a guess
            try:
                mine = (_check_code(store, code), code)
            except InvalidResumeCode:
                mine = None
    if mine is None:
        mine = (None, new_resume_code())
    if link:
        if not _same_code(link, mine[1]):
            try:
                linked = (_check_code(store, link), normalise_code(link))
            except InvalidResumeCode as err:
                notify(f"The resume code in the address was not used: {err}")
                linked = None
            except ResumeThrottled as err:
                notify(f"The resume code in the address was not checked: {err}")
                linked = None
            if linked is not None:
                # Never switch silently, not even a browser with nothing saved yet: the learner
                # chooses (link_choice). Until then, work goes to this browser's own record.
                ss[LINK_CHOICE] = {"code": linked[1], "id": linked[0]}
        ss.pop(LINK_PENDING, None)
    learner_id, code = mine
    stored = store.learner(learner_id) if learner_id is not None else None
    ss[LEARNER] = {
        "id": learner_id,
        "code": code,
        "identity": None,
        "name": stored.display_name if stored else None,
    }
    return _load(store, learner_id) if learner_id is not None else LoadedRecord(None)


def _ensure_row(store: LearnerStore, who: dict[str, Any]) -> int:
    """The learner's database id, creating their row with the first thing to save."""
    if who.get("id") is None:
        who["id"] = store.learner_with_code(who["code"])  # another tab may have made it
    return who["id"]


# -- saving ---------------------------------------------------------------------------------------
def remember(values: dict[str, Any]) -> None:
    """Save these state keys (None deletes) now, or as soon as the database is back. Each value
    carries the time it was made, so it never replaces a newer one from another tab."""
    t = now()
    pending = st.session_state.setdefault(PENDING, {})
    for key, value in values.items():
        pending[key] = (value, t)
    flush()


def submission_key(bank_id: str, attempt: int, answers: Mapping[str, Any]) -> str:
    """The key of one submission: the same answers to the same attempt in this session give the
    same key, so a double click (or a retry) is stored once; changed answers are a new one."""
    ss = st.session_state
    nonce = ss.setdefault(NONCE, secrets.token_hex(16))
    content = json.dumps([bank_id, attempt, answers], sort_keys=True, default=str)
    return hashlib.sha256(f"{nonce}|{content}".encode()).hexdigest()[:40]


def record_attempt(
    bank_id: str, answers: dict[str, Any], result: dict[str, Any], submission_key: str
) -> int | None:
    """Store a graded submission under its key (one per press of Submit): stored exactly once,
    now or when the database is back. Returns its id, or None while it waits."""
    ss = st.session_state
    if saved_attempt(submission_key) is not None:  # the same submission again (a double click)
        return saved_attempt(submission_key)
    queued = ss.setdefault(PENDING_ATTEMPTS, [])
    if not any(item["key"] == submission_key for item in queued):
        queued.append(
            {"bank_id": bank_id, "answers": answers, "result": result, "key": submission_key}
        )
    flush()
    return saved_attempt(submission_key)


def saved_attempt(submission_key: str | None) -> int | None:
    """The stored id of a submission made in this session, once it is stored."""
    if submission_key is None:
        return None
    return st.session_state.get(SAVED_ATTEMPTS, {}).get(submission_key)


def _store_and_learner():
    who = learner()
    if who is None or not st.session_state.get(RESTORED):
        return None, None
    return get_store(), who


def _too_large(pending: dict[str, tuple[Any, Any]]) -> list[str]:
    bad = []
    for key, (value, _) in pending.items():
        try:
            if value is not None and stored_size(value) > MAX_STATE_BYTES:
                bad.append(key)
        except ValueError:
            bad.append(key)
    return bad


def flush() -> None:
    """Write what is pending; keep it pending (with the message) when the database fails."""
    ss = st.session_state
    if ss.get(FLUSHING) or not (ss.get(PENDING) or ss.get(PENDING_ATTEMPTS) or PENDING_NAME in ss):
        return
    store, who = _store_and_learner()
    if store is None or who is None:
        return
    ss[FLUSHING] = True
    problem = None
    try:
        learner_id = _ensure_row(store, who)
        queued = ss.setdefault(PENDING_ATTEMPTS, [])
        while queued:
            item = queued[0]
            try:
                attempt_id = store.record_attempt(
                    learner_id, item["bank_id"], item["answers"], item["result"], item["key"]
                )
            except ValueError as err:  # cannot be stored at all: say so, do not retry forever
                LOG.warning("A submission was not stored: %s", err)
                problem = f"Your submission could not be stored: {err}"
                queued.pop(0)
                continue
            ss.setdefault(SAVED_ATTEMPTS, {})[item["key"]] = attempt_id
            queued.pop(0)
        pending = ss.setdefault(PENDING, {})
        for key in _too_large(pending):
            pending.pop(key)
            problem = (
                "One of your answers is too long to be saved (at most "
                f"{MAX_STATE_BYTES // 1024} kB once stored). It stays on this page; "
                "shorten it to have it saved."
            )
        if pending:
            batch = dict(pending)
            store.save_state(
                learner_id,
                {k: v for k, (v, _) in batch.items()},
                {k: t for k, (_, t) in batch.items()},
            )
            for key, entry in batch.items():  # a newer value may have arrived meanwhile
                if pending.get(key) is entry:
                    pending.pop(key)
        if PENDING_NAME in ss:
            who["name"] = store.set_display_name(learner_id, ss[PENDING_NAME])
            ss.pop(PENDING_NAME)
    except StoreUnavailable as err:
        _set_error(str(err))
        return
    finally:
        ss[FLUSHING] = False
    _set_error(problem)


def save_status() -> None:
    """Say now, in the run or fragment that tried, when saving failed."""
    error = st.session_state.get(ERROR)
    if error:
        st.warning(error, icon="💾")


def reviews_for(attempt_id: int | None) -> dict[str, tuple[float, str]]:
    """The instructor's reviewed scores for one stored attempt ({} when none or offline)."""
    if attempt_id is None:
        return {}
    store, _ = _store_and_learner()
    if store is None:
        return {}
    try:
        return store.reviews([attempt_id]).get(attempt_id, {})
    except StoreUnavailable:
        return {}


# -- switching learner (a code typed in, or a link's record chosen) -------------------------------
def has_pending() -> bool:
    """Whether this session holds work the database has not taken yet."""
    ss = st.session_state
    return bool(ss.get(PENDING) or ss.get(PENDING_ATTEMPTS) or PENDING_NAME in ss)


def _switch_to(store: LearnerStore, learner_id: int, code: str) -> None:
    """Make ``learner_id`` this session's learner; the features take over at the next run.
    Raises :class:`StoreUnavailable` (and switches nothing) while this session's own work
    cannot be saved: it would be lost with the switch."""
    ss = st.session_state
    flush()  # the current record keeps what it had
    if has_pending():
        raise StoreUnavailable(
            "The other record is not opened yet: your work here could not be saved, and it "
            "would be lost. Try again once the database is back; nothing is lost meanwhile."
        )
    record = _load(store, learner_id, replaces=True)
    for key in (PENDING, PENDING_ATTEMPTS, LINK_CHOICE):
        ss.pop(key, None)
    ss[LEARNER] = {
        "id": learner_id,
        "code": code,
        "identity": None,
        "name": store.learner(learner_id).display_name,
    }
    ss[LOADED] = record
    ss[RESTORED] = True
    ss.pop(COOKIE_SET, None)  # this browser now keeps the new code
    ss.pop(NAME_INPUT, None)


def _on_resume() -> None:
    ss = st.session_state
    typed = ss.get(CODE_INPUT) or ""
    store = get_store()
    if store is None:
        notify("The database cannot be reached, so a resume code cannot be checked now.")
        return
    try:
        learner_id = _check_code(store, typed)
        code = normalise_code(typed)
        _switch_to(store, learner_id, code)
        ss[CODE_INPUT] = ""
        notify(f"Resumed the record of code {code}.")
    except ResumeThrottled as err:
        notify(str(err))
    except InvalidResumeCode as err:
        wait = resume_wait_s()
        notify(
            str(err)
            + (
                f" Too many codes were tried: the next try is possible in {describe_wait(wait)}."
                if wait > 0
                else ""
            )
        )
    except StoreUnavailable as err:
        notify(str(err))


def _on_link_open() -> None:
    ss = st.session_state
    choice = ss.get(LINK_CHOICE)
    store = get_store()
    if not choice or store is None:
        notify("The database cannot be reached, so the link's record cannot be opened now.")
        return
    try:
        _switch_to(store, choice["id"], choice["code"])
        notify(f"Opened the saved work of {_masked(choice['code'])}; this browser now keeps it.")
    except StoreUnavailable as err:
        choice["problem"] = str(err)  # said in the question's box; the question stays


def _on_link_keep() -> None:
    ss = st.session_state
    ss.pop(LINK_CHOICE, None)
    who = learner() or {}
    if who.get("id") is None:
        notify("The link was not used: you are working on a new record of your own.")
    else:
        notify(f"You keep working as {_masked(who.get('code') or '')}; the link was not used.")


def link_choice() -> None:
    """When a resume link names another record than the one this browser works as: ask."""
    choice = st.session_state.get(LINK_CHOICE)
    who = learner()
    if not choice or not who or not who.get("code"):
        return
    mine, theirs = _masked(who["code"]), _masked(choice["code"])
    fresh = who.get("id") is None  # this browser has saved nothing of its own yet
    with st.container(border=True):
        if fresh:
            st.markdown(
                f"**This link opens the saved work of code {theirs}** Open it if it is yours "
                f"(on another device, this is how you continue). Until you do, what you do "
                f"here is kept as a new record of its own."
            )
        else:
            st.markdown(
                f"**This link opens the saved work of code {theirs}** You are working "
                f"as {mine} in this browser. Open the link's work, or keep working as "
                f"{mine}? Nothing changes until you choose."
            )
        if choice.get("problem"):
            st.warning(choice["problem"], icon="💾")
        c1, c2 = st.columns(2)
        c1.button(
            f"Open the work of {theirs}",
            key="lab_link_open",
            on_click=_on_link_open,
            type="primary" if fresh else "secondary",
        )
        c2.button(
            "Start a new record instead" if fresh else f"Keep working as {mine}",
            key="lab_link_keep",
            on_click=_on_link_keep,
            type="secondary" if fresh else "primary",
        )


def _on_name() -> None:
    """Save the name now, or with the rest of the pending work once the database is back."""
    ss = st.session_state
    if learner() is None:
        notify("The database cannot be reached, so your name cannot be saved now.")
        return
    ss[PENDING_NAME] = clean_name(ss.get(NAME_INPUT))
    flush()
    if PENDING_NAME in ss:
        notify("Your name is not saved yet; it will be as soon as the database is back.")
        return
    name = learner()["name"]
    ss[NAME_INPUT] = name or ""
    notify("Your name is saved." if name else "Your name is removed.")


# -- the sidebar panel -----------------------------------------------------------------------------
def _set_cookie(code: str, unsaved: bool) -> None:
    """Remember the code in this browser (a first-party cookie, one year, ``Secure`` over
    HTTPS, signed: :func:`cookie_value`), once per session and code.

    ``unsaved``: this session's record holds nothing yet. If another tab of this browser set
    its own code in the meantime (two tabs opened at once on a first visit), this tab reloads
    once to join that record instead of taking the cookie over, so the browser ends with one
    record, not two."""
    ss = st.session_state
    if ss.get(COOKIE_SET) == code:
        return
    store = get_store()
    if store is None:
        return
    try:  # only letters, digits, dashes, underscores, a dot and hex go into the script
        name, value = cookie_name(store), cookie_value(store, code)
    except StoreUnavailable:
        return
    ss[COOKIE_SET] = code
    st.html(
        "<script>(() => {"
        f'const name = "{name}", value = "{value}";'
        'const now = document.cookie.split("; ").find((c) => c.startsWith(name + "="));'
        'const other = now ? now.slice(name.length + 1) : "";'
        f"if ({'true' if unsaved else 'false'} && other && other !== value"
        ' && !sessionStorage.getItem("lab-joined-tab")) {'
        '  sessionStorage.setItem("lab-joined-tab", "1"); location.reload(); return; }'
        'document.cookie = name + "=" + value + "; path=/; max-age=31536000; SameSite=Lax"'
        '  + (location.protocol === "https:" ? "; Secure" : "");'
        f'document.cookie = "{LEGACY_COOKIE}=; path=/; max-age=0";'
        "})();</script>",
        unsafe_allow_javascript=True,
        width="content",
    )


def resume_link(code: str) -> str | None:
    """This page's address with the code, for another device (None without a browser)."""
    try:
        base = st.context.url
    except Exception:  # noqa: BLE001 - no request context
        base = None
    if not isinstance(base, str) or not base.startswith(("http://", "https://")):
        return None
    return f"{base}?{urlencode({QUERY_PARAM: code})}"


def _copy_button(link: str) -> None:
    """A real button that copies the resume link (the link is also shown below it), with a
    status line a screen reader announces. The script is attached by id: no inline handler, and
    the link enters the page only as a JSON string inside the script (``</`` escaped)."""
    element = "lab-copy-" + hashlib.sha256(link.encode()).hexdigest()[:10]
    literal = json.dumps(link).replace("</", "<\\/")
    st.html(
        f'<button type="button" id="{element}" style="padding:0.3rem 0.75rem;'
        "border-radius:0.5rem;border:1px solid #1f5fa8;background:#fff;color:#1f5fa8;"
        f'cursor:pointer">Copy my resume link</button> '
        f'<span id="{element}-status" role="status" aria-live="polite"></span>'
        "<script>(() => {"
        f'const button = document.getElementById("{element}");'
        f'const status = document.getElementById("{element}-status");'
        "if (!button || button.dataset.ready) return;"
        'button.dataset.ready = "1";'
        'button.addEventListener("click", () => navigator.clipboard'
        f".writeText({literal})"
        '.then(() => { status.textContent = "Copied."; },'
        '      () => { status.textContent = "Copying is blocked here: select the link below '
        'and copy it."; }));'
        "})();</script>",
        unsafe_allow_javascript=True,
        width="content",
    )


def _where_saved() -> str:
    try:
        return describe_location(database_url())
    except (StoreUnavailable, sa.exc.ArgumentError):
        return "the class database"


def record_panel() -> None:
    """The learner's record in the sidebar: where it is kept, the resume code and link (or the
    signed-in identity), the name an instructor sees, a box to resume another record, and any
    saving problem."""
    ss = st.session_state
    who = learner()
    save_status()
    notice = ss.pop(NOTICE, None)
    if notice:
        st.info(notice)
    if who is None:
        return
    with st.expander("Your saved work", expanded=False):
        st.caption(f"Kept in {_where_saved()}.")
        if who.get("identity"):
            st.markdown(
                f"Signed in as **{_plain(who['identity'])}**. Your work is saved to "
                f"this account and restored when you sign in again."
            )
            st.button("Sign out", on_click=st.logout, key="lab_logout")
        else:
            code = who["code"]
            _set_cookie(code, unsaved=who.get("id") is None)
            if who.get("id") is not None:
                st.markdown(
                    "Your work is saved as you go, and this browser reopens it. To "
                    "continue on another device, keep this **resume code** secret and "
                    "type it there, or open your resume link there:"
                )
            else:
                st.markdown(
                    "Your work is saved as you go from your first answer or setting. "
                    "Your **resume code** (keep it secret):"
                )
            st.code(code, language=None)
            link = resume_link(code)
            if link and who.get("id") is not None:
                _copy_button(link)
                st.code(link, language=None, wrap_lines=True)
            wait = resume_wait_s()
            with st.form("lab_resume_form", border=False):
                st.text_input(
                    "Resume with another code",
                    key=CODE_INPUT,
                    placeholder="ABCD-EFGH-JKMN",
                    help="Letters and digits in three groups of four.",
                )
                st.form_submit_button("Resume", on_click=_on_resume)
            if wait > 0:
                st.caption(
                    f"Too many codes were tried: the next try is possible in {describe_wait(wait)}."
                )
        ss.setdefault(NAME_INPUT, who.get("name") or "")
        with st.form("lab_name_form", border=False):
            st.text_input("Your name (shown to your instructor)", key=NAME_INPUT, max_chars=80)
            st.form_submit_button("Save name", on_click=_on_name)


def _plain(text: str) -> str:
    return escape_markdown(str(text))
