"""The class view's numbers (core/classview.py), from a store filled with graded attempts;
every expected value is worked out from the answers, not read from the code under test."""

from __future__ import annotations

import csv
import io

import pytest
import sqlalchemy as sa

from core.assessment import grade, load_bank
from core.classview import (
    ClassData,
    csv_safe,
    essays,
    export_csv,
    item_table,
    learners_table,
    objective_table,
    pass_rates,
)
from core.store import LearnerStore
from tests.unit.test_assessment import SMALL_BANK

RIGHT = {
    "mc_impl": "B",
    "ms_concept": ["P", "Q"],
    "mc_prod": "Y",
    "ms_exact": ["U", "V"],
    "essay_concept": (
        "The attention pattern decides where each position looks, and the "
        "value vector carries what is copied from there."
    ),
}
WRONG = {
    "mc_impl": "A",
    "ms_concept": ["R"],
    "mc_prod": "X",
    "ms_exact": ["U"],
    "essay_concept": "",
}


def small_bank_and_store(tmp_path):
    """The small test bank, and an empty learner database beside it."""
    path = tmp_path / "small.yaml"
    path.write_text(SMALL_BANK, encoding="utf-8")
    store = LearnerStore.from_url(f"sqlite:///{tmp_path / 'db.sqlite3'}")
    store.migrate()
    return load_bank(path), store


@pytest.fixture
def filled(tmp_path):
    bank, store = small_bank_and_store(tmp_path)
    ada, _ = store.new_learner("Ada")
    bob, _ = store.new_learner()  # no name: shown by number
    ids = {}
    for who, answers in ((ada, WRONG), (ada, RIGHT), (bob, WRONG)):
        result = grade(bank, answers)
        ids.setdefault(who, []).append(
            store.record_attempt(who, "small", answers, result.to_dict())
        )
    return store, bank, ada, bob, ids


def test_pass_rate_counts_learners_not_attempts(filled):
    store, bank, ada, bob, _ = filled
    data = ClassData.load(store, {"small": bank})
    rates = pass_rates(data)
    row = rates.iloc[0]
    right = grade(bank, RIGHT)
    assert right.passed and not grade(bank, WRONG).passed
    assert (row["learners attempted"], row["learners passed"], row["pass rate"]) == (2, 1, 0.5)


def test_learners_table_has_best_scores_and_labels(filled):
    store, bank, ada, bob, _ = filled
    table = learners_table(ClassData.load(store, {"small": bank})).set_index("learner id")
    assert table.loc[ada, "learner"] == f"Ada (#{ada})"
    assert table.loc[bob, "learner"] == f"learner #{bob}"
    assert table.loc[ada, "attempts"] == 2 and table.loc[bob, "attempts"] == 1
    assert table.loc[ada, "small best"] == pytest.approx(grade(bank, RIGHT).score, abs=1e-4)
    assert table.loc[bob, "small passed"] == "no"


def test_items_over_latest_attempts_most_missed_first(filled):
    store, bank, ada, bob, _ = filled
    items = item_table(ClassData.load(store, {"small": bank})).set_index("item")
    # Latest attempts: Ada's RIGHT, Bob's WRONG. mc_impl: 1 and 0 → mean 0.5, missed 50 %.
    assert items.loc["mc_impl", "mean score"] == 0.5
    assert items.loc["mc_impl", "missed (0)"] == 0.5 and items.loc["mc_impl", "learners"] == 2
    # ms_exact (exact scoring): U only is 0; U and V is 1.
    assert items.loc["ms_exact", "full marks"] == 0.5
    means = list(item_table(ClassData.load(store, {"small": bank}))["mean score"])
    assert means == sorted(means)


def test_objective_mastery_is_points_weighted(filled):
    store, bank, ada, bob, _ = filled
    table = objective_table(ClassData.load(store, {"small": bank}))
    bob_lo3 = table[(table["learner id"] == bob) & (table["objective"] == "LO3")]
    # LO3 holds mc_prod (1 point, X is wrong) and ms_exact (1 point, U only is wrong): 0.
    assert list(bob_lo3["mastery"]) == [0.0]
    ada_lo1 = table[(table["learner id"] == ada) & (table["objective"] == "LO1")]
    assert list(ada_lo1["mastery"]) == [1.0]


def test_a_review_changes_the_class_numbers_and_the_export(filled):
    store, bank, ada, bob, ids = filled
    first = ids[ada][1]  # Ada's passing attempt
    auto = grade(bank, RIGHT).items["essay_concept"].score
    store.save_review(first, "essay_concept", 0.0, "teacher", "Too short a reason.")
    data = ClassData.load(store, {"small": bank})
    reviewed = data.results[first]
    assert reviewed.items["essay_concept"].automatic_score == auto
    assert reviewed.earned_points == pytest.approx(grade(bank, RIGHT).earned_points - auto * 1)
    ess = [e for e in essays(data) if e["attempt"] == first]
    assert ess and ess[0]["reviewed"] and ess[0]["score"] == 0.0
    assert ess[0]["automatic score"] == auto and ess[0]["note"] == "Too short a reason."
    rows = list(csv.DictReader(io.StringIO(export_csv(data))))
    assert [int(r["attempt"]) for r in rows] == sorted(a for v in ids.values() for a in v)
    mine = next(r for r in rows if int(r["attempt"]) == first)
    assert float(mine["item:essay_concept"]) == 0.0 and mine["reviewed"] == "True"
    assert float(mine["score"]) == pytest.approx(reviewed.score, abs=1e-6)
    assert "essay_concept" not in " ".join(k for k in rows[0] if not k.startswith("item:"))
    assert RIGHT["essay_concept"] not in export_csv(data)  # answers are not exported


def test_an_empty_class_gives_empty_tables(tmp_path):
    path = tmp_path / "small.yaml"
    path.write_text(SMALL_BANK, encoding="utf-8")
    store = LearnerStore.from_url(f"sqlite:///{tmp_path / 'db.sqlite3'}")
    store.migrate()
    data = ClassData.load(store, {"small": load_bank(path)})
    assert learners_table(data).empty and item_table(data).empty and essays(data) == []
    assert pass_rates(data).iloc[0]["learners attempted"] == 0


@pytest.mark.parametrize(
    "name",
    [
        '=HYPERLINK("http://evil.example","x")',
        "+cmd|' /C calc'!A0",
        "@SUM(1+1)*cmd|' /C calc'!A0",
        "-2+3+cmd|' /C calc'!A0",
        "\t=1+1",
        "\r=1+1",
        "a;=2+5;b",
        "Bob\t-1+cmd",
    ],
)
def test_a_name_that_a_spreadsheet_would_run_is_exported_as_text(tmp_path, name):
    """OWASP's rule for CSV injection: a text cell starting with = + - @ tab or carriage return
    gets a leading quote, whatever column it is in."""
    bank, store = small_bank_and_store(tmp_path)
    learner, _ = store.new_learner()
    with store.engine.begin() as conn:  # stored as given (a name from before names were cleaned)
        conn.execute(sa.text("UPDATE learners SET display_name = :n"), {"n": name})
    store.record_attempt(learner, "small", RIGHT, grade(bank, RIGHT).to_dict())
    text = export_csv(ClassData.load(store, {"small": bank}))
    rows = list(csv.reader(io.StringIO(text)))
    header, row = rows[0], rows[1]
    cell = row[header.index("learner")]
    assert not cell.startswith(("=", "+", "-", "@", "\t", "\r"))
    if name.lstrip("\t\r").startswith(("=", "+", "-", "@")):
        assert cell.startswith("'")
    for value in row:  # no cell of the row starts like a formula
        assert not value.startswith(("=", "+", "@", "\t", "\r")), value
        assert not value.startswith("-") or value[1:].replace(".", "").isdigit(), value
    # Nor where a spreadsheet splits on semicolons (many European locales) or tabs.
    for separator in (";", "\t"):
        for line in csv.reader(io.StringIO(text), delimiter=separator):
            for value in line:
                assert not value.lstrip('"').startswith(("=", "+", "@")), (separator, value)


@pytest.mark.parametrize(
    "value, safe",
    [
        ("=1", "'=1"),
        ("Ada", "Ada"),
        ("-", "'-"),
        ("a;=2+5;b", "a;'=2+5;b"),
        ("x,@SUM(1)", "x,'@SUM(1)"),
        ("Mary-Jane", "Mary-Jane"),
        (-2.5, -2.5),
        (3, 3),
        ("", ""),
        (None, None),
    ],
)
def test_only_text_cells_that_start_like_a_formula_change(value, safe):
    assert csv_safe(value) == safe


def test_names_in_the_class_view_are_cleaned_even_if_stored_raw(tmp_path):
    bank, store = small_bank_and_store(tmp_path)
    ada, _ = store.new_learner("Ada")
    mimic, _ = store.new_learner()

    with store.engine.begin() as conn:
        conn.execute(
            sa.text("UPDATE learners SET display_name = :n WHERE id = :i"),
            {"n": "A\u200bda\u202e", "i": mimic},
        )
    data = ClassData.load(store, {"small": bank})
    # The two look alike once cleaned, and the number tells them apart.
    assert data.label(ada) == f"Ada (#{ada})" and data.label(mimic) == f"Ada (#{mimic})"
