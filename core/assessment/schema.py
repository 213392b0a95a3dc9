"""The question-bank schema (pydantic). Documented for instructors in ``assessments/README.md``.

Every model refuses unknown keys (``extra="forbid"``) and is frozen: a loaded bank is shared by all
sessions (``st.cache_resource``) and must never change. Sequences are tuples for the same reason.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    StrictInt,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from core.assessment import live
from core.assessment.interface import INTERFACE_DOC, TEMPLATE
from core.assessment.structure import CHECK_DESCRIPTIONS, CHECKS
from core.assessment.text import expand_pattern, phrase_stems
from core.validators import ValidationError

__all__ = [
    "ItemType",
    "Objective",
    "Category",
    "OBJECTIVES",
    "CATEGORIES",
    "ITEM_TYPES",
    "Option",
    "Claim",
    "Concept",
    "RubricCheck",
    "MultipleChoiceItem",
    "MultipleSelectItem",
    "EssayItem",
    "CodingItem",
    "Item",
    "Bank",
    "MAX_ESSAY_WORDS",
]

#: Essays are graded on at most this many words; ``min_words`` may not exceed it.
MAX_ESSAY_WORDS = 3000

Objective = Literal["LO1", "LO2", "LO3"]
Category = Literal["implementation", "conceptual", "production"]
ItemType = Literal[
    "multiple_choice", "multiple_select", "essay", "coding", "model_choice", "model_number"
]
OBJECTIVES: tuple[str, ...] = ("LO1", "LO2", "LO3")
CATEGORIES: tuple[str, ...] = ("implementation", "conceptual", "production")
ITEM_TYPES: tuple[str, ...] = (
    "multiple_choice",
    "multiple_select",
    "essay",
    "coding",
    "model_choice",
    "model_number",
)

Id = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
ShortText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
LongText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=10_000)]
Points = Annotated[float, Field(strict=True, gt=0, le=1000, allow_inf_nan=False)]
Weight = Annotated[float, Field(strict=True, gt=0, le=100, allow_inf_nan=False)]


def _custom(kind: str, message: str) -> PydanticCustomError:
    return PydanticCustomError(kind, message)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=False)


class Option(_Model):
    """One answer option. In YAML either a plain string or ``{text: ..., feedback: ...}``."""

    text: ShortText
    feedback: LongText | None = None

    @model_validator(mode="before")
    @classmethod
    def _from_string(cls, data: Any) -> Any:
        if isinstance(data, str):
            return {"text": data}
        if isinstance(data, (bool, int, float)) or data is None:
            shown = str(data).lower() if isinstance(data, bool) else repr(data)
            what = (
                "a yes/no value"
                if isinstance(data, bool)
                else "a number"
                if data is not None
                else "an empty value"
            )
            raise _custom(
                "option_text",
                f"an option must be text; YAML read {shown} ({what}). Put the option in quotes",
            )
        return data


Pattern = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=600)]


def _check_patterns(value: tuple[str, ...], what: str) -> tuple[str, ...]:
    for p in value:
        try:
            expand_pattern(p)
        except ValueError as exc:
            raise _custom("pattern", f"{what}: {exc}") from None
    return value


class Claim(_Model):
    """What an answer must say (or, under ``contradictions``, must not say): a subject and what
    is said of it, found when a phrasing of each occurs in the same clause (see
    :func:`core.assessment.text.analyse_claims`). Without ``subject`` the predicate alone is
    enough. Phrasings may use ``{a|b}`` alternatives and ``...`` for a gap of a few words."""

    subject: Annotated[tuple[Pattern, ...], Field(max_length=60)] = ()
    predicate: Annotated[tuple[Pattern, ...], Field(min_length=1, max_length=80)]
    label: ShortText | None = (
        None  # how feedback names a contradiction ("QK decides what is written")
    )

    @field_validator("subject", "predicate")
    @classmethod
    def _patterns_expand(cls, value: tuple[str, ...], info: ValidationInfo) -> tuple[str, ...]:
        return _check_patterns(value, f"a {info.field_name} phrasing")

    @model_validator(mode="before")
    @classmethod
    def _lists(cls, data: Any) -> Any:
        if isinstance(data, dict):
            data = dict(data)
            for key in ("subject", "predicate"):
                if isinstance(data.get(key), str):
                    data[key] = [data[key]]
        return data

    @property
    def subject_seqs(self) -> tuple[tuple[str, ...], ...]:
        return tuple(seq for p in self.subject for seq in expand_pattern(p))


class Concept(_Model):
    """An essay rubric concept. With ``claims``: found when one of its claims is stated (and not
    negated) in some clause, and earns nothing when one of its ``contradictions`` is stated.
    With ``keywords`` only (the older form): found when a keyword occurs in a clause that does not
    negate it."""

    name: ShortText
    weight: Weight = 1.0
    keywords: Annotated[tuple[ShortText, ...], Field(max_length=60)] = ()
    claims: Annotated[tuple[Claim, ...], Field(max_length=30)] = ()
    contradictions: Annotated[tuple[Claim, ...], Field(max_length=30)] = ()
    hint: LongText | None = None  # shown after grading when the concept is missing

    @field_validator("keywords")
    @classmethod
    def _keywords_have_words(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for kw in value:
            if not phrase_stems(kw):
                raise _custom("keyword", f"the keyword {kw!r} contains no letters or digits")
        return value

    @model_validator(mode="after")
    def _has_something_to_find(self) -> Concept:
        if not self.keywords and not self.claims:
            raise _custom(
                "concept_empty",
                f"the concept {self.name!r} needs 'claims' (or "
                f"'keywords'): otherwise it can never be found",
            )
        return self


class RubricCheck(_Model):
    """A coding rubric entry: one of the structural checks of :mod:`core.assessment.structure`."""

    check: str
    weight: Weight = 1.0
    description: ShortText | None = None

    @field_validator("check")
    @classmethod
    def _known_check(cls, value: str) -> str:
        if value not in CHECKS:
            raise _custom(
                "unknown_check", f"unknown check {value!r}; available checks: {', '.join(CHECKS)}"
            )
        return value

    @property
    def label(self) -> str:
        return self.description or CHECK_DESCRIPTIONS[self.check]


class _ItemBase(_Model):
    id: Id
    prompt: LongText
    objective: Objective
    category: Category
    points: Points = 1.0
    explanation: LongText
    topic: ShortText | None = None  # short label for improvement areas; defaults from the id

    @property
    def label(self) -> str:
        return self.topic or self.id.replace("_", " ").capitalize()


def _option_texts(info: ValidationInfo) -> list[str] | None:
    options = info.data.get("options")
    return None if options is None else [o.text for o in options]


def _first_duplicate(names) -> str | None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            return name
        seen.add(name)
    return None


def _check_options(options: tuple[Option, ...]) -> tuple[Option, ...]:
    dup = _first_duplicate(o.text for o in options)
    if dup is not None:
        raise _custom("duplicate_option", f"the option {dup!r} appears twice")
    return options


def _not_an_option(value: str, texts: Sequence[str]):
    return _custom(
        "correct_not_option",
        f"the correct answer {value!r} is not one of the options "
        f"({'; '.join(repr(t) for t in texts)}); copy it exactly",
    )


class _ChoiceItem(_ItemBase):
    """Shared by the two choice types: 2 to 20 options with distinct texts."""

    options: Annotated[tuple[Option, ...], Field(min_length=2, max_length=20)]

    @field_validator("options")
    @classmethod
    def _unique_options(cls, value: tuple[Option, ...]) -> tuple[Option, ...]:
        return _check_options(value)


class MultipleChoiceItem(_ChoiceItem):
    """One correct option out of several."""

    type: Literal["multiple_choice"]
    correct: ShortText

    @field_validator("correct")
    @classmethod
    def _correct_is_an_option(cls, value: str, info: ValidationInfo) -> str:
        texts = _option_texts(info)
        if texts is not None and value not in texts:
            raise _not_an_option(value, texts)
        return value

    def public(self) -> dict[str, Any]:
        return _public_base(self) | {"options": [o.text for o in self.options]}


class MultipleSelectItem(_ChoiceItem):
    """Tick all that apply. ``scoring: partial`` (default) or ``exact`` (all or nothing)."""

    type: Literal["multiple_select"]
    correct: Annotated[tuple[ShortText, ...], Field(min_length=1)]
    scoring: Literal["partial", "exact"] = "partial"

    @field_validator("correct")
    @classmethod
    def _correct_are_options(cls, value: tuple[str, ...], info: ValidationInfo) -> tuple[str, ...]:
        texts = _option_texts(info)
        if texts is None:
            return value
        for v in value:
            if v not in texts:
                raise _not_an_option(v, texts)
        if len(set(value)) != len(value):
            dup = next(v for v in value if value.count(v) > 1)
            raise _custom("duplicate_correct", f"{dup!r} is listed twice")
        if len(set(value)) == len(texts):
            raise _custom(
                "no_wrong_option",
                "every option is marked correct; include at least one wrong option, "
                "otherwise ticking every box would earn full marks",
            )
        return value

    def public(self) -> dict[str, Any]:
        return _public_base(self) | {
            "options": [o.text for o in self.options],
            "scoring": self.scoring,
        }


class EssayItem(_ItemBase):
    """Free text graded by length (up to ``min_words``) times rubric coverage."""

    type: Literal["essay"]
    min_words: Annotated[int, Field(strict=True, ge=1, le=MAX_ESSAY_WORDS)]
    rubric: Annotated[tuple[Concept, ...], Field(min_length=1, max_length=30)]
    rubric_summary: LongText | None = None  # the rubric in one sentence, shown after grading

    @field_validator("rubric")
    @classmethod
    def _rubric_consistent(cls, value: tuple[Concept, ...]) -> tuple[Concept, ...]:
        names: set[str] = set()
        owner: dict[tuple[str, ...], str] = {}
        for c in value:
            if c.name in names:
                raise _custom("duplicate_concept", f"the concept {c.name!r} appears twice")
            names.add(c.name)
            for kw in c.keywords:
                key = phrase_stems(kw)
                other = owner.get(key)
                if other is not None and other != c.name:
                    raise _custom(
                        "shared_keyword",
                        f"the keyword {kw!r} belongs to both {other!r} and {c.name!r}; "
                        f"a phrasing must point to one concept",
                    )
                owner[key] = c.name
        total = math.fsum(c.weight for c in value)
        if not math.isfinite(total) or total <= 0:
            raise _custom("weights", "the rubric weights must add up to a positive number")
        return value

    def public(self) -> dict[str, Any]:
        return _public_base(self) | {"min_words": self.min_words}


class CodingItem(_ItemBase):
    """Code graded by running it against a reference (``tests``, when the deployment allows
    running learner code) or, otherwise, by a structural rubric on its syntax tree."""

    type: Literal["coding"]
    template: Annotated[str, StringConstraints(max_length=20_000)] = ""
    #: The test suite the code is run against (:mod:`core.assessment.coding`); ``None``: the
    #: code is only ever read. With a suite, an empty ``template`` is the suite's template.
    tests: Literal["transformer_functions"] | None = None
    rubric: Annotated[tuple[RubricCheck, ...], Field(min_length=1, max_length=len(CHECKS))]
    time_limit_minutes: Annotated[int, Field(strict=True, ge=1, le=600)] | None = None  # advisory
    rubric_summary: LongText | None = None

    @field_validator("rubric")
    @classmethod
    def _checks_unique(cls, value: tuple[RubricCheck, ...]) -> tuple[RubricCheck, ...]:
        dup = _first_duplicate(r.check for r in value)
        if dup is not None:
            raise _custom("duplicate_check", f"the check {dup!r} appears twice")
        return value

    @model_validator(mode="after")
    def _suite_template(self) -> CodingItem:
        if self.tests and not self.template.strip():
            object.__setattr__(self, "template", TEMPLATE)
        return self

    def public(self) -> dict[str, Any]:
        return _public_base(self) | {
            "template": self.template,
            "time_limit_minutes": self.time_limit_minutes,
            "tests": self.tests,
            "interface": INTERFACE_DOC if self.tests else None,
        }


class _LiveItem(_ItemBase):
    """A question about a shipped trained model; the key is computed from its weights
    (:mod:`core.assessment.live`), never typed into the YAML."""

    model: ShortText
    compute: ShortText
    # Text parameters keep their spaces (" United" is one token, "United" is not).
    params: dict[str, StrictInt | Annotated[str, StringConstraints(max_length=200)]] = Field(
        default_factory=dict
    )

    @model_validator(mode="after")
    def _known_computation(self) -> _LiveItem:
        try:
            live.check_spec(self.type, self.model, self.compute, self.params)  # type: ignore[attr-defined]
        except ValidationError as err:
            raise _custom("live_item", str(err)) from None
        return self


class ModelChoiceItem(_LiveItem):
    """One correct option; the options and the key are computed from the model."""

    type: Literal["model_choice"]

    def public(self) -> dict[str, Any]:
        return _public_base(self) | {
            "options": list(live.answer_key(self).options),
            "model": self.model,
        }


class ModelNumberItem(_LiveItem):
    """A number computed from the model; answers within ``tolerance`` of it are correct."""

    type: Literal["model_number"]
    tolerance: Annotated[float, Field(ge=0, allow_inf_nan=False)] = 0.0

    def public(self) -> dict[str, Any]:
        return _public_base(self) | {"model": self.model, "tolerance": self.tolerance}


def _public_base(item: _ItemBase) -> dict[str, Any]:
    return {
        "id": item.id,
        "type": item.type,  # type: ignore[attr-defined]
        "prompt": item.prompt,
        "objective": item.objective,
        "category": item.category,
        "points": item.points,
        "topic": item.label,
    }


Item = Annotated[
    MultipleChoiceItem
    | MultipleSelectItem
    | EssayItem
    | CodingItem
    | ModelChoiceItem
    | ModelNumberItem,
    Field(discriminator="type"),
]

ITEM_MODELS: dict[str, type[_ItemBase]] = {
    "multiple_choice": MultipleChoiceItem,
    "multiple_select": MultipleSelectItem,
    "essay": EssayItem,
    "coding": CodingItem,
    "model_choice": ModelChoiceItem,
    "model_number": ModelNumberItem,
}


class Bank(_Model):
    """A question bank: one checkpoint or the summative assessment."""

    id: Id
    title: ShortText
    kind: Literal["checkpoint", "summative"]
    objective: Objective | None = None  # the learning objective a checkpoint serves
    passing_threshold: Annotated[float, Field(strict=True, gt=0, le=1, allow_inf_nan=False)] = 0.85
    intro: LongText | None = None
    items: Annotated[tuple[Item, ...], Field(min_length=1, max_length=100)]

    _source: str | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _ids_unique(self) -> Bank:
        first: dict[str, int] = {}
        for i, item in enumerate(self.items, start=1):
            if item.id in first:
                raise _custom(
                    "duplicate_id",
                    f"item '{item.id}', field 'id': the id '{item.id}' is used by items "
                    f"#{first[item.id]} and #{i}; every item needs its own id",
                )
            first[item.id] = i
        if self.kind == "checkpoint" and self.objective is None:
            raise _custom(
                "objective",
                "field 'objective': a checkpoint bank must name the "
                "learning objective it checks (LO1, LO2 or LO3)",
            )
        return self

    @property
    def source(self) -> str | None:
        """The file this bank was loaded from (None when built in code)."""
        return self._source

    @property
    def item_ids(self) -> tuple[str, ...]:
        return tuple(i.id for i in self.items)

    def item(
        self, item_id: str
    ) -> MultipleChoiceItem | MultipleSelectItem | EssayItem | CodingItem:
        for i in self.items:
            if i.id == item_id:
                return i
        raise KeyError(item_id)

    def public(self) -> dict[str, Any]:
        """Everything needed to render the bank before submission, and nothing of the key:
        no correct answers, option feedback, explanations, rubric concepts or keywords."""
        return {
            "id": self.id,
            "title": self.title,
            "kind": self.kind,
            "objective": self.objective,
            "passing_threshold": self.passing_threshold,
            "intro": self.intro,
            "total_points": math.fsum(i.points for i in self.items),
            "items": [i.public() for i in self.items],
        }
