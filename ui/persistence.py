"""Streamlit side of the learner records (``core.store``): who the learner is, loading their
records into the session once, and saving each change as it happens.

Who the learner is, in this order:

1. signed in with Streamlit's authentication (``st.login``; ``[auth]`` in secrets.toml): the
   provider's e-mail (or subject);
2. a resume code in the page address (``?learner=ABCD-EFGH-JKMN``), put there on the first visit
   and after every page change, so a reload or a bookmark resumes;
3. the same code from a cookie this app sets, so typing another page's address resumes too;
4. otherwise a new learner with a new code (shown in the sidebar, with a box to enter another).

Which database: ``LAB_DATABASE_URL`` (any SQLAlchemy URL), else ``[connections.sql]`` in
secrets.toml (Streamlit's ``st.connection("sql")`` convention), else a SQLite file in
``LAB_DATA_DIR`` (default ``.lab-data/``). The schema is migrated once per process.

Saving never blocks the lesson: a write that fails (database down, full, locked) is kept in the
session and retried on the next interaction, with one clear message in the sidebar; nothing
already saved is touched.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import streamlit as st

from core.store import (
    InvalidResumeCode,
    LearnerStore,
    StoreUnavailable,
    default_url,
    describe_url,
    normalise_code,
)

LOG = logging.getLogger(__name__)

LEARNER = "lab_learner"  # {"id": int, "code": str | None, "identity": str | None, "name": ...}
RESTORED = "lab_restored"
PENDING = "lab_pending_state"  # key → value not saved yet (None deletes)
PENDING_ATTEMPTS = "lab_pending_attempts"  # [{"bank_id", "answers", "result", "flow_key"}]
ERROR = "lab_store_error"
NOTICE = "lab_store_notice"
COOKIE_SET = "lab_cookie_set"
QUERY_PARAM = "learner"
COOKIE = "lab_learner"
CODE_INPUT = "lab_w_resume_code"
NAME_INPUT = "lab_w_display_name"

#: Session keys that hold a learner's records (cleared when another learner's code is entered).
RECORD_PREFIXES = ("asmt_", "lab_progress", "lab_settings")


# -- the database ---------------------------------------------------------------------------------
def _secrets_sql() -> bool:
    try:
        return "sql" in st.secrets.get("connections", {})
    except Exception:  # noqa: BLE001 - no secrets file, or one that does not parse
        return False


def database_source() -> str:
    if os.environ.get("LAB_DATABASE_URL"):
        return "LAB_DATABASE_URL"
    if _secrets_sql():
        return "secrets.toml [connections.sql]"
    return "the default SQLite file"


def _connection():
    """Streamlit's SQL connection (cached by Streamlit per name and arguments)."""
    env = os.environ.get("LAB_DATABASE_URL")
    if env:
        return st.connection("sql", type="sql", url=env)
    if _secrets_sql():
        return st.connection("sql", type="sql")
    return st.connection("sql", type="sql", url=default_url(),
                         connect_args={"timeout": 15})


@st.cache_resource(show_spinner=False)
def _migrated_store(url: str, _engine) -> LearnerStore:
    """One store per database and process, its schema brought up to date once."""
    from sqlalchemy import event

    from core.store import _sqlite_pragmas

    if _engine.url.get_backend_name() == "sqlite":
        event.listen(_engine, "connect", _sqlite_pragmas)
    store = LearnerStore(_engine)
    store.migrate()
    return store


def get_store() -> LearnerStore | None:
    """The learner store, or None after noting why (the lesson then runs on the session only).
    A failure is not cached: the next interaction tries again."""
    try:
        engine = _connection().engine
        return _migrated_store(describe_url(engine.url), engine)
    except StoreUnavailable as err:
        _set_error(str(err))
    except Exception as err:  # noqa: BLE001 - a bad URL, a missing driver, a bad secrets entry
        LOG.exception("The learner database could not be opened")
        _set_error(f"Your work cannot be saved: the database setting ({database_source()}) "
                   f"could not be used ({type(err).__name__}). You can keep working: everything "
                   f"stays on this page while it is open. An instructor can check the setting.")
    return None


def _set_error(message: str | None) -> None:
    st.session_state[ERROR] = message


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


def _code_from_request() -> str | None:
    code = st.query_params.get(QUERY_PARAM)
    if code:
        return code
    try:
        return st.context.cookies.get(COOKIE)
    except Exception:  # noqa: BLE001 - no request context (a test harness)
        return None


def learner() -> dict[str, Any] | None:
    return st.session_state.get(LEARNER)


def start_session() -> None:
    """Once per session: find the learner and load their records; on every run: keep the code
    in the address and retry saving what is pending. Called by the app shell before the page."""
    ss = st.session_state
    if ss.get(RESTORED):
        _keep_code_in_address()
        flush()
        return
    store = get_store()
    if store is None:
        return  # try again on the next interaction; the session works on its own meanwhile
    try:
        who = _resolve_learner(store)
        ss[LEARNER] = who
        _restore(store, who["id"])
    except StoreUnavailable as err:
        _set_error(str(err))
        return
    ss[RESTORED] = True
    _set_error(None)
    _keep_code_in_address()
    flush()


def _resolve_learner(store: LearnerStore) -> dict[str, Any]:
    signed_in = signed_in_identity()
    if signed_in:
        identity, name = signed_in
        learner_id = store.learner_for_identity(identity, name)
        return {"id": learner_id, "code": None, "identity": identity,
                "name": (store.learner(learner_id).display_name or name)}
    code = _code_from_request()
    if code:
        try:
            learner_id = store.learner_for_code(code)
            return {"id": learner_id, "code": normalise_code(code), "identity": None,
                    "name": store.learner(learner_id).display_name}
        except InvalidResumeCode as err:
            st.session_state[NOTICE] = (f"The resume code in the address was not used: {err} "
                                        f"A new record was started for you below.")
    learner_id, code = store.new_learner()
    return {"id": learner_id, "code": code, "identity": None, "name": None}


def _keep_code_in_address() -> None:
    who = learner()
    if not who or not who.get("code"):
        return
    if st.query_params.get(QUERY_PARAM) != who["code"]:
        st.query_params[QUERY_PARAM] = who["code"]


def _restore(store: LearnerStore, learner_id: int) -> None:
    """Copy the learner's records into the session, without replacing what this session did
    before the database answered (a session that started offline keeps its own work)."""
    from ui import assessment_ui, controls

    state = store.load_state(learner_id)
    assessment_ui.restore_progress(store.progress(learner_id))
    if "settings" in state:
        controls.restore_settings(state["settings"])
    assessment_ui.restore_flows(state, store)


# -- saving ---------------------------------------------------------------------------------------
def remember(values: dict[str, Any]) -> None:
    """Save these state keys (None deletes) now, or as soon as the database is back."""
    pending = st.session_state.setdefault(PENDING, {})
    pending.update(values)
    flush()


def record_attempt(bank_id: str, answers: dict[str, Any], result: dict[str, Any]) -> int | None:
    """Store a graded submission; returns its id, or None when it is queued for later."""
    ss = st.session_state
    store, who = _store_and_learner()
    if store is not None and who is not None and not ss.get(PENDING_ATTEMPTS):
        try:
            return store.record_attempt(who["id"], bank_id, answers, result)
        except StoreUnavailable as err:
            _set_error(str(err))
    ss.setdefault(PENDING_ATTEMPTS, []).append(
        {"bank_id": bank_id, "answers": answers, "result": result})
    return None


def _store_and_learner():
    who = learner()
    if who is None or not st.session_state.get(RESTORED):
        return None, None
    return get_store(), who


def flush() -> None:
    """Write what is pending; keep it pending (with the message) when the database fails."""
    ss = st.session_state
    if not ss.get(PENDING) and not ss.get(PENDING_ATTEMPTS):
        return
    store, who = _store_and_learner()
    if store is None or who is None:
        return
    try:
        queued = ss.get(PENDING_ATTEMPTS) or []
        while queued:
            item = queued[0]
            attempt_id = store.record_attempt(who["id"], item["bank_id"], item["answers"],
                                              item["result"])
            from ui.assessment_ui import attempt_saved

            attempt_saved(item["bank_id"], item["result"], attempt_id)
            queued.pop(0)
        pending = dict(ss.get(PENDING) or {})
        if pending:
            store.save_state(who["id"], pending)
            for key, value in pending.items():  # a newer value may have arrived meanwhile
                if ss[PENDING].get(key, object()) is value:
                    ss[PENDING].pop(key)
    except StoreUnavailable as err:
        _set_error(str(err))
        return
    except ValueError as err:  # a value the store refuses (too large): drop it, say so
        LOG.warning("A value was not saved: %s", err)
        ss[PENDING] = {}
        _set_error(f"Part of your work could not be saved: {err}")
        return
    _set_error(None)


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


# -- switching learner (resume code typed in) ------------------------------------------------------
def _clear_records() -> None:
    ss = st.session_state
    for key in list(ss.keys()):
        if isinstance(key, str) and (key.startswith(RECORD_PREFIXES) or key.startswith("lab_w_")):
            if key not in (CODE_INPUT, NAME_INPUT):
                del ss[key]
    ss.pop(PENDING, None)
    ss.pop(PENDING_ATTEMPTS, None)


def _on_resume() -> None:
    ss = st.session_state
    typed = ss.get(CODE_INPUT) or ""
    store = get_store()
    if store is None:
        ss[NOTICE] = "The database cannot be reached, so a resume code cannot be checked now."
        return
    try:
        learner_id = store.learner_for_code(typed)
        code = normalise_code(typed)
        flush()  # the current record keeps what it had
        _clear_records()
        ss[LEARNER] = {"id": learner_id, "code": code, "identity": None,
                       "name": store.learner(learner_id).display_name}
        _restore(store, learner_id)
        ss[RESTORED] = True
        ss[CODE_INPUT] = ""
        ss[NOTICE] = f"Resumed the record of code {code}."
        ss.pop(COOKIE_SET, None)
    except InvalidResumeCode as err:
        ss[NOTICE] = str(err)
    except StoreUnavailable as err:
        ss[NOTICE] = str(err)


def _on_name() -> None:
    ss = st.session_state
    who = learner()
    store = get_store()
    if who is None or store is None:
        ss[NOTICE] = "The database cannot be reached, so your name cannot be saved now."
        return
    try:
        who["name"] = store.set_display_name(who["id"], ss.get(NAME_INPUT))
        ss[NOTICE] = ("Your name is saved." if who["name"] else "Your name is removed.")
    except StoreUnavailable as err:
        ss[NOTICE] = str(err)


# -- the sidebar panel -----------------------------------------------------------------------------
def _set_cookie(code: str) -> None:
    """Remember the code in this browser (a first-party cookie, one year, ``Secure`` over
    HTTPS), once per session."""
    ss = st.session_state
    if ss.get(COOKIE_SET) == code:
        return
    ss[COOKIE_SET] = code
    # Secure where the page came over HTTPS (a hosted copy), so the code never travels in clear
    # text; a learner's own http://localhost keeps working.
    st.html(f"<script>document.cookie = '{COOKIE}={code}; path=/; max-age=31536000; "
            f"SameSite=Lax' + (location.protocol === 'https:' ? '; Secure' : '');</script>",
            unsafe_allow_javascript=True, width="content")


def record_panel() -> None:
    """The learner's record in the sidebar: the resume code (or the signed-in identity), the
    name an instructor sees, a box to resume another record, and any saving problem."""
    ss = st.session_state
    who = learner()
    error = ss.get(ERROR)
    if error:
        st.warning(error, icon="💾")
    notice = ss.pop(NOTICE, None)
    if notice:
        st.info(notice)
    if who is None:
        return
    with st.expander("Your saved work", expanded=False):
        if who.get("identity"):
            st.markdown(f"Signed in as **{who['identity']}**. Your work is saved to this "
                        f"account and restored when you sign in again.")
            st.button("Sign out", on_click=st.logout, key="lab_logout")
        else:
            code = who["code"]
            _set_cookie(code)
            st.markdown("Your work is saved as you go. To continue later or on another device, "
                        "keep this **resume code** (it is also in the page address):")
            st.code(code, language=None)
            with st.form("lab_resume_form", border=False):
                st.text_input("Resume with another code", key=CODE_INPUT,
                              placeholder="ABCD-EFGH-JKMN",
                              help="Letters and digits in three groups of four.")
                st.form_submit_button("Resume", on_click=_on_resume)
        ss.setdefault(NAME_INPUT, who.get("name") or "")
        with st.form("lab_name_form", border=False):
            st.text_input("Your name (shown to your instructor)", key=NAME_INPUT, max_chars=80)
            st.form_submit_button("Save name", on_click=_on_name)
