"""The learner database (core/store.py), run against SQLite and a real PostgreSQL server."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from core.assessment import MAX_CODE_CHARS, MAX_ESSAY_CHARS
from core.store import (
    CODE_ALPHABET,
    MAX_ATTEMPT_BYTES,
    MAX_STATE_BYTES,
    SQLITE_FILE,
    InvalidResumeCode,
    LearnerStore,
    StoreUnavailable,
    clean_name,
    default_url,
    make_engine,
    metadata,
    normalise_code,
    now,
    shared_store,
    stored_size,
)

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path):
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'nested' / 'lab.sqlite3'}"  # the folder does not exist yet
        s = LearnerStore.from_url(url)
    else:
        s = LearnerStore.from_url(request.getfixturevalue("postgres_url"))
        with s.engine.begin() as conn:  # a clean database for every test
            for table in (
                "reviews",
                "attempts",
                "learner_state",
                "learners",
                "app_keys",
                "alembic_version",
            ):
                conn.execute(sa.text(f"DROP TABLE IF EXISTS {table} CASCADE"))
    s.migrate()
    yield s
    s.engine.dispose()


def test_migrations_build_exactly_the_schema_the_queries_use(store):
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    store.migrate()  # a second run (every app start) changes nothing
    assert store.schema_revision() == "0002"
    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == []


def test_resume_codes_are_readable_and_only_their_hash_is_stored(store):
    learner, code = store.new_learner("Ada")
    groups = code.split("-")
    assert [len(g) for g in groups] == [4, 4, 4]
    assert all(ch in CODE_ALPHABET for ch in "".join(groups))
    assert store.learner_for_code(code) == learner
    assert store.learner_for_code(" " + code.lower().replace("-", " ") + " ") == learner
    other, other_code = store.new_learner()
    assert other != learner and other_code != code
    with store.engine.connect() as conn:
        dump = " ".join(
            str(v) for row in conn.execute(sa.text("SELECT * FROM learners")) for v in row
        )
    assert code not in dump and code.replace("-", "") not in dump


@pytest.mark.parametrize(
    "bad, why",
    [
        ("ABCD-EFGH", "has 8 letters"),
        ("ABCD-EFGH-JKM0", "'0'"),
        ("", "has 0 letters"),
    ],
)
def test_a_malformed_code_says_what_a_code_looks_like(bad, why):
    with pytest.raises(InvalidResumeCode) as err:
        normalise_code(bad)
    assert why in str(err.value) and "ABCD-EFGH-JKMN" in str(err.value)


def test_an_unknown_code_is_refused_with_a_message(store):
    with pytest.raises(InvalidResumeCode, match="No learner has that resume code"):
        store.learner_for_code("ABCD-EFGH-JKMN")


def test_state_is_upserted_per_key_and_none_deletes(store):
    learner, _ = store.new_learner()
    store.save_state(learner, {"settings": {"model": "attn-only-2l"}, "draft:q1": "text"})
    store.save_state(learner, {"draft:q1": "more text", "draft:q2": ["a", "b"]})
    store.save_state(learner, {"settings": None})
    assert store.load_state(learner) == {"draft:q1": "more text", "draft:q2": ["a", "b"]}
    other, _ = store.new_learner()
    assert store.load_state(other) == {}


def test_values_that_are_not_json_or_too_large_are_refused(store):
    learner, _ = store.new_learner()
    with pytest.raises(ValueError, match="JSON"):
        store.save_state(learner, {"x": float("nan")})
    with pytest.raises(ValueError, match="kB"):
        store.save_state(learner, {"x": "a" * (MAX_STATE_BYTES + 1)})
    assert store.load_state(learner) == {}


def test_progress_is_computed_from_every_attempt(store):
    learner, _ = store.new_learner()
    scores = [(0.5, False), (0.9, True), (0.7, False)]
    ids = [
        store.record_attempt(learner, "checkpoint_1", {"q": i}, {"score": s, "passed": p})
        for i, (s, p) in enumerate(scores)
    ]
    store.record_attempt(learner, "summative", {}, {"score": 0.2, "passed": False})
    assert ids == sorted(ids) and len(set(ids)) == 3
    assert store.progress(learner) == {
        "checkpoint_1": {"score": max(s for s, _ in scores), "passed": True, "attempts": 3},
        "summative": {"score": 0.2, "passed": False, "attempts": 1},
    }
    kept = store.attempts(learner, "checkpoint_1")
    assert [a.answers for a in kept] == [{"q": 0}, {"q": 1}, {"q": 2}]
    assert [a.score for a in kept] == [s for s, _ in scores]


def test_reviews_keep_the_latest_score_per_item(store):
    learner, _ = store.new_learner()
    attempt = store.record_attempt(learner, "summative", {}, {"score": 0.4, "passed": False})
    store.save_review(attempt, "essay_1", 0.5, "teacher@example.org", "half")
    store.save_review(attempt, "essay_1", 0.8, "teacher@example.org", "on reflection")
    store.save_review(attempt, "essay_2", 1.0, "teacher@example.org")
    assert store.reviews() == {attempt: {"essay_1": (0.8, "on reflection"), "essay_2": (1.0, "")}}
    store.delete_review(attempt, "essay_2")
    assert store.reviews([attempt]) == {attempt: {"essay_1": (0.8, "on reflection")}}
    with pytest.raises(ValueError, match="fraction from 0 to 1"):
        store.save_review(attempt, "essay_1", 1.5, "t")


def test_many_learners_at_once_never_mix_their_records(store):
    n = 16

    def learner_session(i: int):
        learner, code = store.new_learner(f"learner {i}")
        for step in range(5):
            store.save_state(learner, {"draft": f"{i}:{step}", f"own:{i}": step})
            store.record_attempt(
                learner,
                "checkpoint_1",
                {"who": i, "step": step},
                {"score": (i + step) / 100, "passed": False},
            )
        return learner, code, i

    with ThreadPoolExecutor(8) as pool:
        done = list(pool.map(learner_session, range(n)))
    assert len({learner for learner, _, _ in done}) == n
    for learner, code, i in done:
        assert store.learner_for_code(code) == learner
        assert store.load_state(learner) == {"draft": f"{i}:4", f"own:{i}": 4}
        mine = store.attempts(learner)
        assert [a.answers for a in mine] == [{"who": i, "step": s} for s in range(5)]
        assert store.progress(learner)["checkpoint_1"] == {
            "score": (i + 4) / 100,
            "passed": False,
            "attempts": 5,
        }


def test_two_tabs_of_one_learner_lose_nothing(store):
    learner, _ = store.new_learner()
    barrier = threading.Barrier(2)

    def tab(name: str):
        barrier.wait()
        for k in range(10):
            store.save_state(learner, {f"{name}:{k}": k})
            store.record_attempt(
                learner, "checkpoint_2", {"tab": name, "k": k}, {"score": 0.1, "passed": False}
            )

    with ThreadPoolExecutor(2) as pool:
        list(pool.map(tab, ["left", "right"]))
    state = store.load_state(learner)
    assert state == {f"{t}:{k}": k for t in ("left", "right") for k in range(10)}
    assert store.progress(learner)["checkpoint_2"]["attempts"] == 20


def test_one_identity_is_one_learner_even_under_concurrent_sign_ins(store):
    with ThreadPoolExecutor(8) as pool:
        ids = list(
            pool.map(lambda _: store.learner_for_identity("Ada@Example.org", "Ada"), range(16))
        )
    assert len(set(ids)) == 1
    assert store.learner(ids[0]).identity == "ada@example.org"
    assert store.learner_for_identity("bob@example.org") != ids[0]


def test_a_database_that_is_down_gives_a_message_not_a_driver_error():
    down = LearnerStore(
        make_engine(
            "postgresql+psycopg://nobody@127.0.0.1:9/none", connect_args={"connect_timeout": 2}
        )
    )
    with pytest.raises(StoreUnavailable, match="cannot be reached. You can keep working"):
        down.new_learner()
    with pytest.raises(StoreUnavailable):
        down.migrate()


def test_a_full_database_refuses_the_write_and_keeps_what_was_saved(tmp_path):
    url = f"sqlite:///{tmp_path / 'full.sqlite3'}"
    store = LearnerStore.from_url(url)
    store.migrate()
    learner, code = store.new_learner()
    store.save_state(learner, {"kept": "yes"})
    with store.engine.connect() as conn:  # the file may not grow any further
        pages = conn.execute(sa.text("PRAGMA page_count")).scalar()

    @sa.event.listens_for(store.engine, "connect")
    def cap(dbapi_conn, _):
        dbapi_conn.execute(f"PRAGMA max_page_count={pages}")

    store.engine.dispose()
    with pytest.raises(StoreUnavailable, match="the database is full"):
        store.save_state(learner, {"big": "x" * 200_000})
    assert store.load_state(learner) == {"kept": "yes"}
    assert store.learner_for_code(code) == learner


# -- a fresh install, limits, idempotency, newer drafts (issue: "A class's records are safe") ------
def test_a_missing_data_folder_is_created_owner_only_with_the_file(tmp_path):
    folder = tmp_path / "fresh" / "lab-data"  # neither folder exists: a fresh clone's .lab-data
    store = shared_store(default_url(folder))
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat.S_IMODE((folder / SQLITE_FILE).stat().st_mode) == 0o600
    learner, code = store.new_learner()
    assert shared_store(default_url(folder)) is store  # one store per database and process
    assert store.learner_for_code(code) == learner


def test_an_existing_folder_keeps_its_permissions(tmp_path):
    folder = tmp_path / "shared"
    folder.mkdir(mode=0o755)
    os.chmod(folder, 0o755)
    shared_store(default_url(folder))
    assert stat.S_IMODE(folder.stat().st_mode) == 0o755


def test_a_data_folder_that_cannot_be_made_is_a_message(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(StoreUnavailable, match="could not be created.*LAB_DATA_DIR"):
        shared_store(default_url(blocker / "lab-data"))


def test_a_submission_is_stored_once_however_often_it_is_sent(store):
    learner, _ = store.new_learner()
    result = {"score": 0.5, "passed": False}
    first = store.record_attempt(learner, "checkpoint_1", {"q": 1}, result, "key-1")
    again = store.record_attempt(learner, "checkpoint_1", {"q": 1}, result, "key-1")
    other = store.record_attempt(learner, "checkpoint_1", {"q": 2}, result, "key-2")
    assert first == again != other
    assert len(store.attempts(learner)) == 2
    assert store.attempt_for_key("key-1") == first
    intruder, _ = store.new_learner()
    with pytest.raises(ValueError, match="another learner"):
        store.record_attempt(intruder, "checkpoint_1", {}, result, "key-1")
    assert len(store.attempts(intruder)) == 0


def test_concurrent_retries_of_one_submission_store_one_attempt(store):
    learner, _ = store.new_learner()
    with ThreadPoolExecutor(8) as pool:
        ids = set(
            pool.map(
                lambda _: store.record_attempt(
                    learner, "summative", {"a": 1}, {"score": 1.0, "passed": True}, "same"
                ),
                range(16),
            )
        )
    assert len(ids) == 1 and len(store.attempts(learner)) == 1


def test_an_older_draft_never_replaces_a_newer_one(store):
    learner, _ = store.new_learner()
    t0 = now()
    later, earlier = t0 + timedelta(seconds=5), t0 - timedelta(seconds=5)
    assert store.save_state(learner, {"draft:x": "typed in tab A"}, {"draft:x": later}) == {
        "draft:x": True
    }
    # Tab B's draft was made earlier and waited for the database: it is not written.
    assert store.save_state(
        learner,
        {"draft:x": "typed in tab B", "draft:y": "new"},
        {"draft:x": earlier, "draft:y": earlier},
    ) == {"draft:x": False, "draft:y": True}
    assert store.load_state(learner) == {"draft:x": "typed in tab A", "draft:y": "new"}
    # A deletion is newer than the value it deletes, and an older value cannot come back.
    store.save_state(learner, {"draft:y": None}, {"draft:y": t0})
    store.save_state(learner, {"draft:y": "stale"}, {"draft:y": earlier})
    assert store.load_state(learner) == {"draft:x": "typed in tab A"}


def test_json_is_stored_as_utf8_text_not_ascii_escapes(store):
    learner, _ = store.new_learner()
    store.save_state(learner, {"essay": "Aufmerksamkeit für Köpfe — 注意力"})
    with store.engine.connect() as conn:
        raw = conn.execute(sa.text("SELECT CAST(value AS TEXT) FROM learner_state")).scalar()
    assert "注意力" in raw and "\\u" not in raw
    assert stored_size("注意力") == len('"注意力"'.encode()) == 11


@pytest.mark.parametrize("char", ["é", "注", "😀", "\x01", "\\", '"'])
def test_the_longest_answer_a_box_takes_fits_in_one_stored_value(store, char):
    """The boxes' limits and the store's limit agree whatever the text: 6 bytes a character is
    the most JSON needs (a control character as \\u0001)."""
    learner, _ = store.new_learner()
    longest = char * max(MAX_ESSAY_CHARS, MAX_CODE_CHARS)
    store.save_state(learner, {"draft:summative:essay": longest})
    assert store.load_state(learner)["draft:summative:essay"] == longest


def test_the_largest_final_assessment_submission_fits(store):
    """Every essay and the code at their limits, in the costliest characters, graded: the
    attempt (answers and the result that repeats them) is stored."""
    from core.assessment import bank_path, grade, load_bank

    bank = load_bank(bank_path("summative"))
    answers = {}
    for item in bank.items:
        if item.type == "essay":
            answers[item.id] = ("\x01" * 10 + "注意 " * 5) * (MAX_ESSAY_CHARS // 20)
        elif item.type == "coding":
            answers[item.id] = "\x01" * MAX_CODE_CHARS
    result = grade(bank, answers, run_code=False).to_dict()
    assert stored_size({"answers": answers, "result": result}) <= MAX_ATTEMPT_BYTES
    learner, _ = store.new_learner()
    attempt = store.record_attempt(learner, "summative", answers, result, "biggest")
    assert store.attempt(attempt).answers == answers


_READ_ONLY_SCRIPT = """
import os, sys
sys.path.insert(0, sys.argv[2])
from core.store import LearnerStore, StoreUnavailable
db = os.path.join(sys.argv[1], "lab.sqlite3")
store = LearnerStore.from_url(f"sqlite:///{db}")
store.migrate()
learner, _ = store.new_learner()
store.engine.dispose()          # the next connection opens while the file is read-only
os.chmod(db, 0o444)
try:
    store.save_state(learner, {"k": "while read-only"})
    print("written while read-only")
except StoreUnavailable as err:
    print("refused:", err)
os.chmod(db, 0o600)             # writable again, the server still running
store.save_state(learner, {"k": "after"})
print("saved:", store.load_state(learner))
"""


def test_a_read_only_database_file_recovers_without_a_restart(tmp_path):
    """A SQLite file made read-only and then writable again: the store refuses the write with
    a message while it is read-only, and writes again once it is writable, in the same process.
    (It used to keep the read-only connection in its pool and a read-only ``-shm`` beside the
    file, so only a restart helped.) As root, file permissions bind only without the
    capabilities that bypass them, so the script runs with those dropped."""
    command = [sys.executable, "-c", _READ_ONLY_SCRIPT, str(tmp_path), str(REPO_ROOT)]
    if os.geteuid() == 0:
        command = ["setpriv", "--bounding-set=-dac_override,-dac_read_search", *command]
    out = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].startswith(
        "refused: Your work could not be saved: the database cannot be written"
    ), out.stdout
    assert lines[1] == "saved: {'k': 'after'}"


@pytest.mark.parametrize(
    "name, shown",
    [
        ("  Ada   Lovelace ", "Ada Lovelace"),
        ("Ada\u202eecalevoL", "AdaecalevoL"),  # right-to-left override dropped
        ("A\u200bd\u200da\ufeff", "Ada"),  # zero-width characters dropped
        ("\u2068Bob\u2069\u200e", "Bob"),  # isolates and marks dropped
        ("Ｃａｒｏｌ", "Carol"),  # full-width letters: NFKC
        ("e\u0301", "é"),  # composed
        ("x" + "\u0301" * 50, "x" + "\u0301" * 3),  # no towers of accents
        ("line\nbreak\tand\x07bell", "line break andbell"),  # control characters: gone
        ("\u3164\u200b", None),  # nothing visible left
        ("n" * 200, "n" * 80),
    ],
)
def test_names_are_normalised_before_they_are_stored(store, name, shown):
    assert clean_name(name) == shown
    learner, _ = store.new_learner(name)
    assert store.learner(learner).display_name == shown
