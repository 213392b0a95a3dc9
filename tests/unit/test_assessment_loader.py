"""Loading question banks: every malformed bank is refused with a message naming the file, the
item and the field; hostile YAML is refused before it is built."""

import textwrap
from pathlib import Path

import pydantic
import pytest
import yaml

import core.assessment.loader as assessment_yaml
from core.assessment import MAX_BANK_BYTES, load_bank, load_banks
from core.validators import ValidationError

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "banks"


def refusal(path) -> str:
    with pytest.raises(ValidationError) as info:
        load_bank(path)
    message = str(info.value)
    # a readable sentence, never a raw pydantic dump
    assert "pydantic" not in message and "Input should be" not in message
    assert "errors.pydantic.dev" not in message
    return message


# fixture file → fragments the message must contain (the item id and the field included)
CASES = {
    "unknown_key.yaml": [
        "item 'q_typo'",
        "field 'promt'",
        "unknown key",
        "Allowed keys",
        "field 'prompt'",
        "required",
    ],
    "duplicate_ids.yaml": ["item 'q_same'", "field 'id'", "items #1 and #2"],
    "correct_not_option.yaml": [
        "item 'q_select'",
        "field 'correct'",
        "'Delta'",
        "not one of the options",
    ],
    "correct_not_option_mc.yaml": ["item 'q_choice'", "field 'correct'", "'alpha'"],
    "empty_options.yaml": ["item 'q_no_options'", "field 'options'", "at least 2"],
    "nonpositive_points.yaml": ["item 'q_zero_points'", "field 'points'", "greater than 0"],
    "min_words_zero.yaml": ["item 'q_essay'", "field 'min_words'", "at least 1"],
    "bad_rubric_weight.yaml": [
        "item 'q_essay_weight'",
        "field 'weight'",
        "rubric entry 1",
        "greater than 0",
        "-2",
    ],
    "rubric_weight_not_number.yaml": [
        "item 'q_essay_text_weight'",
        "field 'weight'",
        "must be a number",
        "'heavy'",
    ],
    "syntax_error.yaml": ["YAML syntax error", "line 9"],
    "empty.yaml": ["empty"],
    "comments_only.yaml": ["no data"],
    "top_level_list.yaml": ["top level must be a mapping", "got a list"],
    "billion_laughs.yaml": ["expand to more than", "refused unparsed"],
    "python_object.yaml": ["line 2", "'!!python/object/apply:os.system'", "not allowed"],
    "duplicate_key.yaml": ["line 11", "'prompt' appears twice"],
    "multiple_documents.yaml": ["more than one YAML document"],
    "unknown_type.yaml": [
        "item 'q_true_false'",
        "field 'type'",
        "'true_false'",
        "multiple_choice, multiple_select, essay, coding",
    ],
    "unknown_check.yaml": ["item 'q_code'", "field 'check'", "'uses_gpu'", "available checks"],
    "all_options_correct.yaml": ["item 'q_all_correct'", "field 'correct'", "at least one wrong"],
    "missing_explanation.yaml": ["item 'q_unexplained'", "field 'explanation'", "required"],
    "unknown_objective.yaml": ["item 'q_lo4'", "field 'objective'", "'LO4'", "'LO1'"],
    "yes_no_options.yaml": ["item 'q_yes_no'", "field 'options'", "yes/no", "quotes"],
    "recursive_alias.yaml": ["'*loop'", "contains it"],
    "too_many_aliases.yaml": ["more than 100 aliases"],
}


def test_every_fixture_has_a_case():
    assert {p.name for p in FIXTURES.glob("*.yaml")} == set(CASES)


@pytest.mark.parametrize("name", sorted(CASES))
def test_malformed_bank_is_refused_with_a_precise_message(name):
    path = FIXTURES / name
    message = refusal(path)
    # names the file, relative to the repository
    assert message.startswith(f"Question bank 'tests/fixtures/banks/{name}'")
    for fragment in CASES[name]:
        assert fragment in message, (fragment, message)


def test_pydantic_errors_are_rewritten_not_dumped():
    # the bank model itself raises pydantic's error; load_bank must have converted it
    with pytest.raises(pydantic.ValidationError):
        assessment_yaml.Bank.model_validate({"id": "x"})
    message = refusal(FIXTURES / "unknown_key.yaml")
    assert "extra_forbidden" not in message and "type=" not in message


def test_billion_laughs_is_never_built(monkeypatch):
    def forbidden(*args, **kwargs):
        raise AssertionError("the document was constructed")

    monkeypatch.setattr(yaml, "safe_load", forbidden)
    monkeypatch.setattr(yaml, "compose", forbidden)
    message = refusal(FIXTURES / "billion_laughs.yaml")
    # a: 10 nodes, b: 1 + 9×10 = 91, c: 820, d: 7,381, e: 66,430 > 20,000 → refused on line 6
    assert "(line 6)" in message


def test_python_tag_has_no_side_effect(tmp_path):
    marker = tmp_path / "pwned"
    bank = tmp_path / "evil.yaml"
    bank.write_text(
        f'id: evil\ntitle: !!python/object/apply:os.system ["touch {marker}"]\n'
        f"kind: summative\nitems: []\n",
        encoding="utf-8",
    )
    message = refusal(bank)
    assert "not allowed" in message
    assert not marker.exists()


def test_other_python_tags_are_refused(tmp_path):
    for tag in (
        "!!python/object:collections.OrderedDict {}",
        "!!python/name:os.system ''",
        "!custom 1",
        "!!binary aGVsbG8=",
    ):
        bank = tmp_path / "tag.yaml"
        bank.write_text(f"id: tag\ntitle: {tag}\nkind: summative\nitems: []\n", encoding="utf-8")
        assert "is not allowed" in refusal(bank), tag


def test_oversized_file_is_refused_before_parsing(tmp_path, monkeypatch):
    def forbidden(*args):
        raise AssertionError("the oversized file was parsed")

    monkeypatch.setattr(assessment_yaml, "scan_yaml", forbidden)
    bank = tmp_path / "big.yaml"
    bank.write_bytes(b"#" * (MAX_BANK_BYTES + 1))
    message = refusal(bank)
    assert f"{MAX_BANK_BYTES + 1:,} bytes" in message and f"{MAX_BANK_BYTES:,}" in message


def test_non_utf8_file_is_refused(tmp_path):
    bank = tmp_path / "latin1.yaml"
    bank.write_bytes("id: x\ntitle: caf\xe9\n".encode("latin-1"))
    message = refusal(bank)
    assert "not UTF-8" in message and "line 2" in message


def test_deep_nesting_is_refused(tmp_path):
    bank = tmp_path / "deep.yaml"
    bank.write_text("id: deep\nintro: " + "[" * 200 + "]" * 200 + "\n", encoding="utf-8")
    assert "nested more than" in refusal(bank)


def test_missing_file_and_directory(tmp_path):
    assert "file not found" in refusal(tmp_path / "nope.yaml")
    assert "is not a file" in refusal(tmp_path)


def test_path_must_be_a_path():
    with pytest.raises(ValidationError, match="must be a string or Path"):
        load_bank(42)


VALID = textwrap.dedent("""
    id: valid_bank
    title: "A valid bank"
    kind: checkpoint
    objective: LO2
    items:
      - id: v_choice
        type: multiple_choice
        objective: LO2
        category: conceptual
        prompt: "Pick A."
        options: ["A", "B"]
        correct: "A"
        explanation: "A is right."
""")


def test_valid_bank_loads_with_defaults(tmp_path):
    path = tmp_path / "valid.yaml"
    path.write_text(VALID, encoding="utf-8")
    bank = load_bank(path)
    assert bank.id == "valid_bank" and bank.source == str(path)  # outside the repo: as given
    assert bank.passing_threshold == 0.85  # default
    item = bank.item("v_choice")
    assert item.points == 1.0  # default
    assert [o.text for o in item.options] == ["A", "B"]


def test_loaded_bank_is_immutable(tmp_path):
    path = tmp_path / "valid.yaml"
    path.write_text(VALID, encoding="utf-8")
    bank = load_bank(path)
    with pytest.raises(pydantic.ValidationError):
        bank.passing_threshold = 0.1
    with pytest.raises(pydantic.ValidationError):
        bank.items[0].correct = "B"
    assert isinstance(bank.items, tuple)


def test_checkpoint_needs_an_objective(tmp_path):
    path = tmp_path / "cp.yaml"
    path.write_text(VALID.replace("objective: LO2\nitems", "items"), encoding="utf-8")
    assert "field 'objective'" in refusal(path)


def test_threshold_out_of_range(tmp_path):
    path = tmp_path / "t.yaml"
    path.write_text(
        VALID.replace("kind: checkpoint", "kind: checkpoint\npassing_threshold: 85"),
        encoding="utf-8",
    )
    message = refusal(path)
    assert "field 'passing_threshold'" in message and "at most 1" in message


def test_essay_keyword_shared_by_two_concepts(tmp_path):
    path = tmp_path / "e.yaml"
    path.write_text(
        textwrap.dedent("""
        id: essay_bank
        title: "Essay"
        kind: summative
        items:
          - id: e_shared
            type: essay
            objective: LO1
            category: conceptual
            prompt: "Explain."
            min_words: 10
            rubric:
              - {name: "One", keywords: ["attention pattern"]}
              - {name: "Two", keywords: ["attention patterns"]}
            explanation: "Because."
    """),
        encoding="utf-8",
    )
    message = refusal(path)
    assert "item 'e_shared'" in message and "field 'rubric'" in message
    assert "belongs to both 'One' and 'Two'" in message


def test_load_banks_refuses_an_item_id_used_in_two_banks(tmp_path):
    (tmp_path / "a.yaml").write_text(VALID, encoding="utf-8")
    (tmp_path / "b.yaml").write_text(
        VALID.replace("id: valid_bank", "id: other_bank"), encoding="utf-8"
    )
    with pytest.raises(ValidationError, match="item 'v_choice', field 'id'.*also used in bank"):
        load_banks(tmp_path)
