"""The learner database (core/store.py), run against SQLite and a real PostgreSQL server."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import sqlalchemy as sa

from core.store import (
    CODE_ALPHABET,
    InvalidResumeCode,
    LearnerStore,
    StoreUnavailable,
    make_engine,
    metadata,
    normalise_code,
)


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path):
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'nested' / 'lab.sqlite3'}"  # the folder does not exist yet
        s = LearnerStore.from_url(url)
    else:
        s = LearnerStore.from_url(request.getfixturevalue("postgres_url"))
        with s.engine.begin() as conn:  # a clean database for every test
            for table in ("reviews", "attempts", "learner_state", "learners", "alembic_version"):
                conn.execute(sa.text(f"DROP TABLE IF EXISTS {table} CASCADE"))
    s.migrate()
    yield s
    s.engine.dispose()


def test_migrations_build_exactly_the_schema_the_queries_use(store):
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    store.migrate()  # a second run (every app start) changes nothing
    assert store.schema_revision() == "0001"
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
        dump = " ".join(str(v) for row in conn.execute(sa.text("SELECT * FROM learners"))
                        for v in row)
    assert code not in dump and code.replace("-", "") not in dump


@pytest.mark.parametrize("bad, why", [
    ("ABCD-EFGH", "has 8 letters"), ("ABCD-EFGH-JKM0", "'0'"), ("", "has 0 letters"),
])
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
        store.save_state(learner, {"x": "a" * 300_000})
    assert store.load_state(learner) == {}


def test_progress_is_computed_from_every_attempt(store):
    learner, _ = store.new_learner()
    scores = [(0.5, False), (0.9, True), (0.7, False)]
    ids = [store.record_attempt(learner, "checkpoint_1", {"q": i}, {"score": s, "passed": p})
           for i, (s, p) in enumerate(scores)]
    store.record_attempt(learner, "summative", {}, {"score": 0.2, "passed": False})
    assert ids == sorted(ids) and len(set(ids)) == 3
    assert store.progress(learner) == {
        "checkpoint_1": {"score": max(s for s, _ in scores), "passed": True, "attempts": 3},
        "summative": {"score": 0.2, "passed": False, "attempts": 1}}
    kept = store.attempts(learner, "checkpoint_1")
    assert [a.answers for a in kept] == [{"q": 0}, {"q": 1}, {"q": 2}]
    assert [a.score for a in kept] == [s for s, _ in scores]


def test_reviews_keep_the_latest_score_per_item(store):
    learner, _ = store.new_learner()
    attempt = store.record_attempt(learner, "summative", {}, {"score": 0.4, "passed": False})
    store.save_review(attempt, "essay_1", 0.5, "teacher@example.org", "half")
    store.save_review(attempt, "essay_1", 0.8, "teacher@example.org", "on reflection")
    store.save_review(attempt, "essay_2", 1.0, "teacher@example.org")
    assert store.reviews() == {attempt: {"essay_1": (0.8, "on reflection"),
                                         "essay_2": (1.0, "")}}
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
            store.record_attempt(learner, "checkpoint_1", {"who": i, "step": step},
                                 {"score": (i + step) / 100, "passed": False})
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
            "score": (i + 4) / 100, "passed": False, "attempts": 5}


def test_two_tabs_of_one_learner_lose_nothing(store):
    learner, _ = store.new_learner()
    barrier = threading.Barrier(2)

    def tab(name: str):
        barrier.wait()
        for k in range(10):
            store.save_state(learner, {f"{name}:{k}": k})
            store.record_attempt(learner, "checkpoint_2", {"tab": name, "k": k},
                                 {"score": 0.1, "passed": False})

    with ThreadPoolExecutor(2) as pool:
        list(pool.map(tab, ["left", "right"]))
    state = store.load_state(learner)
    assert state == {f"{t}:{k}": k for t in ("left", "right") for k in range(10)}
    assert store.progress(learner)["checkpoint_2"]["attempts"] == 20


def test_one_identity_is_one_learner_even_under_concurrent_sign_ins(store):
    with ThreadPoolExecutor(8) as pool:
        ids = list(pool.map(lambda _: store.learner_for_identity("Ada@Example.org", "Ada"),
                            range(16)))
    assert len(set(ids)) == 1
    assert store.learner(ids[0]).identity == "ada@example.org"
    assert store.learner_for_identity("bob@example.org") != ids[0]


def test_a_database_that_is_down_gives_a_message_not_a_driver_error():
    down = LearnerStore(make_engine("postgresql+psycopg://nobody@127.0.0.1:9/none",
                                    connect_args={"connect_timeout": 2}))
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
