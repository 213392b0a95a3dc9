"""Safe loading of question-bank YAML, and readable messages for everything that can go wrong.

Order of defences, cheapest first:

1. the file size is checked (``MAX_BANK_BYTES``) before a byte is parsed;
2. the text is read as UTF-8;
3. the YAML *event stream* is scanned (no Python objects are built): a syntax error is reported
   with its line; any explicit tag other than the plain YAML types (``!!python/object``, …) is
   refused; nesting depth, the number of aliases and the number of nodes the document would have
   once every alias is expanded are counted, so a billion-laughs file is refused after reading a few
   lines and never expanded; duplicate keys and multi-document files are refused;
4. only then is the text loaded with ``yaml.safe_load``;
5. the result is validated by the pydantic schema (:mod:`core.assessment.schema`), whose errors are
   rewritten into sentences naming the file, the item id and the field.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, get_args

import yaml
from pydantic import BaseModel
from pydantic import ValidationError as PydanticValidationError

from core.assessment import live
from core.assessment.schema import ITEM_MODELS, ITEM_TYPES, Bank
from core.validators import ValidationError

__all__ = ["load_bank", "MAX_BANK_BYTES", "MAX_YAML_NODES", "MAX_YAML_ALIASES", "MAX_YAML_DEPTH"]

#: A bank larger than this is refused before parsing (the real banks are a few KB).
MAX_BANK_BYTES = 256 * 1024
#: Nodes the document may have once aliases are expanded.
MAX_YAML_NODES = 20_000
#: Alias uses (``*name``) allowed in one bank.
MAX_YAML_ALIASES = 100
#: Nesting depth of mappings and lists.
MAX_YAML_DEPTH = 32
#: At most this many schema problems are listed in one message.
MAX_LISTED_ERRORS = 8

_STD = "tag:yaml.org,2002:"
_ALLOWED_TAGS = {
    None,
    "!",
    *(_STD + t for t in ("str", "int", "float", "bool", "null", "seq", "map")),
}


def _short_tag(tag: str) -> str:
    return "!!" + tag[len(_STD) :] if tag.startswith(_STD) else tag


def _line(mark: Any) -> int | None:
    return None if mark is None else mark.line + 1


def _fail(name: str, message: str) -> ValidationError:
    return ValidationError(f"Question bank '{name}': {message}")


# --- 1-3: bytes, text, event scan ------------------------------------------------------------


def _read_text(path: Path, name: str) -> str:
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise _fail(name, "file not found.") from None
    except OSError as exc:
        raise _fail(name, f"cannot be read ({exc.strerror or exc}).") from None
    if not path.is_file():
        raise _fail(name, "is not a file.")
    if size > MAX_BANK_BYTES:
        raise _fail(
            name,
            f"the file is {size:,} bytes; the limit is {MAX_BANK_BYTES:,} bytes. "
            f"Split it into several banks.",
        )
    try:
        with path.open("rb") as fh:
            data = fh.read(MAX_BANK_BYTES + 1)
    except OSError as exc:
        raise _fail(name, f"cannot be read ({exc.strerror or exc}).") from None
    if len(data) > MAX_BANK_BYTES:  # grew since stat()
        raise _fail(name, f"the file is larger than the limit of {MAX_BANK_BYTES:,} bytes.")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise _fail(
            name, f"is not UTF-8 text (invalid byte at line {line}). Save the file as UTF-8."
        ) from None
    return text


def _yaml_error(name: str, exc: yaml.YAMLError) -> ValidationError:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    context = getattr(exc, "context", None)
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    detail = f"{problem}" + (f" ({context})" if context else "")
    return _fail(
        name,
        f"YAML syntax error{where}: {detail}. Check the indentation and quoting "
        f"on that line and the one before it.",
    )


class _Frame:
    __slots__ = ("anchor", "size", "is_mapping", "expect_key", "keys")

    def __init__(self, anchor: str | None, is_mapping: bool):
        self.anchor = anchor
        self.size = 0  # expanded nodes below this collection
        self.is_mapping = is_mapping
        self.expect_key = True
        self.keys: set[str] = set()


def scan_yaml(text: str, name: str) -> None:
    """Walk the YAML event stream and refuse anything a question bank has no use for."""
    loader = yaml.SafeLoader(text)
    stack: list[_Frame] = []
    anchors: dict[str, int] = {}  # anchor → expanded node count of the anchored node
    open_anchors: set[str] = set()
    nodes = 0
    aliases = 0
    documents = 0

    def count(size: int, event: Any) -> None:
        nonlocal nodes
        nodes += size
        if nodes > MAX_YAML_NODES:
            raise _fail(
                name,
                f"the document would expand to more than {MAX_YAML_NODES:,} values "
                f"(line {_line(event.start_mark)}); it is refused unparsed. Write "
                f"the questions out instead of using anchors and aliases.",
            )
        if stack:
            stack[-1].size += size

    def check_key(event: Any) -> None:
        if not stack or not stack[-1].is_mapping:
            return
        frame = stack[-1]
        if frame.expect_key:
            if isinstance(event, yaml.ScalarEvent):
                if event.value in frame.keys:
                    raise _fail(
                        name,
                        f"line {_line(event.start_mark)}: the key '{event.value}' "
                        f"appears twice in the same mapping; remove one.",
                    )
                frame.keys.add(event.value)
            elif not isinstance(event, yaml.AliasEvent) or event.anchor is None:
                raise _fail(
                    name,
                    f"line {_line(event.start_mark)}: mapping keys must be plain "
                    f"names, not lists or mappings.",
                )
        frame.expect_key = not frame.expect_key

    try:
        while loader.check_event():
            event = loader.get_event()
            if isinstance(event, yaml.DocumentStartEvent):
                documents += 1
                if documents > 1:
                    raise _fail(
                        name,
                        f"line {_line(event.start_mark)}: the file holds more than "
                        f"one YAML document ('---'); a bank is one document.",
                    )
                continue
            if isinstance(
                event, (yaml.StreamStartEvent, yaml.StreamEndEvent, yaml.DocumentEndEvent)
            ):
                continue
            tag = getattr(event, "tag", None)
            if tag not in _ALLOWED_TAGS:
                raise _fail(
                    name,
                    f"line {_line(event.start_mark)}: the tag '{_short_tag(tag)}' is "
                    f"not allowed. A bank holds only plain text, numbers, lists and "
                    f"mappings; remove the tag.",
                )
            if isinstance(event, yaml.AliasEvent):
                check_key(event)
                aliases += 1
                if aliases > MAX_YAML_ALIASES:
                    raise _fail(
                        name,
                        f"more than {MAX_YAML_ALIASES} aliases (*name) by line "
                        f"{_line(event.start_mark)}; the file is refused unparsed.",
                    )
                if event.anchor in open_anchors:
                    raise _fail(
                        name,
                        f"line {_line(event.start_mark)}: the alias "
                        f"'*{event.anchor}' refers to a node that contains it.",
                    )
                if event.anchor not in anchors:
                    raise _fail(
                        name,
                        f"line {_line(event.start_mark)}: the alias "
                        f"'*{event.anchor}' is not defined before it is used.",
                    )
                count(anchors[event.anchor], event)
            elif isinstance(event, yaml.ScalarEvent):
                check_key(event)
                count(1, event)
                if event.anchor is not None:
                    anchors[event.anchor] = 1
            elif isinstance(event, (yaml.SequenceStartEvent, yaml.MappingStartEvent)):
                check_key(event)
                if len(stack) >= MAX_YAML_DEPTH:
                    raise _fail(
                        name,
                        f"line {_line(event.start_mark)}: lists and mappings are "
                        f"nested more than {MAX_YAML_DEPTH} levels deep.",
                    )
                count(1, event)  # the collection itself, in the global total
                stack.append(_Frame(event.anchor, isinstance(event, yaml.MappingStartEvent)))
                if event.anchor is not None:
                    open_anchors.add(event.anchor)
            elif isinstance(event, (yaml.SequenceEndEvent, yaml.MappingEndEvent)):
                frame = stack.pop()
                if frame.anchor is not None:
                    open_anchors.discard(frame.anchor)
                    anchors[frame.anchor] = frame.size + 1
                if stack:
                    stack[-1].size += frame.size
    except yaml.YAMLError as exc:
        raise _yaml_error(name, exc) from None
    finally:
        loader.dispose()


# --- 5: schema errors as sentences -----------------------------------------------------------


def _describe_input(value: Any) -> str:
    if isinstance(value, bool):
        return f"{str(value).lower()} (a yes/no value in YAML)"
    if isinstance(value, (int, float)):
        return f"{value!r} (a number)"
    if value is None:
        return "nothing (an empty value)"
    if isinstance(value, str):
        shown = value if len(value) <= 60 else value[:57] + "..."
        return repr(shown)
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, (list, tuple)):
        return "a list"
    return type(value).__name__


def _allowed_keys(loc: tuple[Any, ...]) -> list[str] | None:
    """The keys accepted by the model at ``loc`` (the location of an unknown key)."""

    def inner_model(annotation: Any) -> Any:
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            return annotation
        for arg in get_args(annotation):
            found = inner_model(arg)
            if found is not None:
                return found
        return None

    model: Any = Bank
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        if part in ITEM_MODELS:
            model = ITEM_MODELS[part]
            continue
        field = model.model_fields.get(part)
        if field is None:
            return None
        model = inner_model(field.annotation)
        if model is None:
            return None
    keys = list(model.model_fields)
    if "type" in keys:  # id, type, … reads better
        keys.remove("type")
        keys.insert(1, "type")
    return keys


def _field_phrase(parts: tuple[Any, ...]) -> str:
    """('rubric', 0, 'weight') → "field 'weight' (rubric entry 1)"; ('options', 1) → "field
    'options' (entry 2)"; () → ''."""
    names = [p for p in parts if not isinstance(p, int)]
    if not names:
        return ""
    leaf = names[-1]
    context = []
    for i, p in enumerate(parts):
        if isinstance(p, int):
            if i == len(parts) - 1:
                context.append(f"entry {p + 1}")
            else:
                owner = parts[i - 1] if i > 0 and not isinstance(parts[i - 1], int) else "list"
                context.append(f"{owner} entry {p + 1}")
    return f"field '{leaf}'" + (f" ({', '.join(context)})" if context else "")


def _error_sentence(err: dict[str, Any], raw: Any) -> str:
    loc: tuple[Any, ...] = tuple(err.get("loc", ()))
    kind = err.get("type", "")
    msg = str(err.get("msg", ""))
    value = err.get("input")

    # Where: the item (by id) and the field inside it.
    where = ""
    field_parts: tuple[Any, ...] = loc
    if len(loc) >= 2 and loc[0] == "items" and isinstance(loc[1], int):
        index = loc[1]
        item_raw = (
            raw.get("items")[index]
            if isinstance(raw, dict)
            and isinstance(raw.get("items"), list)
            and index < len(raw["items"])
            else None
        )
        item_id = item_raw.get("id") if isinstance(item_raw, dict) else None
        where = (
            f"item '{item_id}' (item #{index + 1})"
            if isinstance(item_id, str)
            else f"item #{index + 1} (no id)"
        )
        field_parts = loc[2:]
        if field_parts and field_parts[0] in ITEM_MODELS:
            field_parts = field_parts[1:]
    field = _field_phrase(field_parts)
    if kind == "extra_forbidden" and field_parts:
        unknown = field_parts[-1]
        parent = _field_phrase(field_parts[:-1])
        allowed = _allowed_keys(loc)
        prefix = f"{where}, " if where else ""
        inside = f" inside {parent}" if parent else ""
        hint = f" Allowed keys: {', '.join(allowed)}." if allowed else ""
        return f"{prefix}field '{unknown}': unknown key{inside}; check its spelling.{hint}"

    if kind == "missing":
        text = "is required but missing"
    elif kind == "union_tag_invalid":
        tag = (err.get("ctx") or {}).get("tag", value)
        text = f"unknown question type {tag!r}; use one of {', '.join(ITEM_TYPES)}"
        field = field or "field 'type'"
    elif kind == "union_tag_not_found":
        text = f"needs a 'type' (one of {', '.join(ITEM_TYPES)})"
        field = "field 'type'"
    elif kind in ("model_type", "model_attributes_type", "dict_type"):
        text = f"must be a mapping (key: value lines); got {_describe_input(value)}"
    elif kind in ("string_type",):
        text = f"must be text; got {_describe_input(value)}. Put the value in quotes"
    elif kind in ("tuple_type", "list_type"):
        text = f"must be a list; got {_describe_input(value)}"
    elif kind in ("float_type", "int_type", "int_from_float", "float_parsing", "int_parsing"):
        want = "a whole number" if kind.startswith("int") else "a number"
        text = f"must be {want}; got {_describe_input(value)}"
    elif kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        ctx = err.get("ctx") or {}
        bound = next(iter(ctx.values()), "")
        bound = f"{bound:g}" if isinstance(bound, (int, float)) else bound
        rel = {
            "greater_than": "greater than",
            "greater_than_equal": "at least",
            "less_than": "less than",
            "less_than_equal": "at most",
        }[kind]
        text = f"must be {rel} {bound}; got {_describe_input(value)}"
    elif kind == "finite_number":
        text = f"must be a finite number; got {_describe_input(value)}"
    elif kind in ("too_short", "too_long"):
        ctx = err.get("ctx") or {}
        if kind == "too_short":
            n = ctx.get("min_length")
            text = "must not be empty" if n == 1 else f"needs at least {n} entries"
        else:
            text = f"has too many entries (at most {ctx.get('max_length')})"
        if isinstance(value, str):
            n_chars = ctx.get("min_length") if kind == "too_short" else ctx.get("max_length")
            text = (
                "must not be empty"
                if kind == "too_short"
                else f"is too long (at most {n_chars} characters)"
            )
    elif kind == "string_too_short":
        text = "must not be empty"
    elif kind == "string_too_long":
        text = f"is too long (at most {(err.get('ctx') or {}).get('max_length')} characters)"
    elif kind == "string_pattern_mismatch":
        text = (
            f"must be lower-case letters, digits and underscores, starting with a letter "
            f"(like residual_stream_analysis); got {_describe_input(value)}"
        )
    elif kind == "literal_error":
        expected = (err.get("ctx") or {}).get("expected", "")
        text = f"must be one of {expected}; got {_describe_input(value)}"
    else:
        text = msg.removeprefix("Value error, ").removeprefix("Input should be ")
        if msg.startswith("Input should be"):
            text = f"should be {text}; got {_describe_input(value)}"

    parts = [p for p in (where, field) if p]
    head = ", ".join(parts)
    return f"{head}: {text}" if head else text


def _schema_error(name: str, exc: PydanticValidationError, raw: Any) -> ValidationError:
    errors = exc.errors()
    # pydantic also reports a list as "too short" when some of its entries failed: drop that
    # echo when the entries' own errors are listed.
    locs = [tuple(e.get("loc", ())) for e in errors]
    errors = [
        e
        for e, loc in zip(errors, locs)
        if not (
            e.get("type") == "too_short"
            and any(len(o) > len(loc) and o[: len(loc)] == loc for o in locs)
        )
    ]
    lines = [_error_sentence(e, raw) for e in errors[:MAX_LISTED_ERRORS]]
    if len(errors) > MAX_LISTED_ERRORS:
        lines.append(f"… and {len(errors) - MAX_LISTED_ERRORS} more.")
    if len(lines) == 1:
        return _fail(name, lines[0] + ("" if lines[0].endswith(".") else "."))
    body = "\n".join(f"- {line}" for line in lines)
    return _fail(name, f"{len(errors)} problems:\n{body}")


# --- the loader ------------------------------------------------------------------------------

_REPO_ROOT = Path(__file__).resolve().parents[2]


def _display_name(path: Path) -> str:
    """The path as messages show it: relative to the repository when inside it (so a hosted app
    shows ``assessments/checkpoint_1.yaml``, not its server path), else as given."""
    try:
        return path.resolve().relative_to(_REPO_ROOT).as_posix()
    except (ValueError, OSError, RuntimeError):
        return str(path)


def load_bank(path: str | Path) -> Bank:
    """Load and validate one question bank. Every problem raises :class:`ValidationError`."""
    if not isinstance(path, (str, Path)):
        raise ValidationError(
            f"A question bank path must be a string or Path; got {type(path).__name__}."
        )
    p = Path(path)
    name = _display_name(p)
    text = _read_text(p, name)
    if not text.strip():
        raise _fail(name, "the file is empty. A bank needs id, title, kind and items.")
    scan_yaml(text, name)
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:  # pragma: no cover - the scan has already parsed the text
        raise _yaml_error(name, exc) from None
    if raw is None:
        raise _fail(
            name,
            "the file holds no data (only comments or blank lines). A bank needs "
            "id, title, kind and items.",
        )
    if not isinstance(raw, dict):
        raise _fail(
            name,
            f"the top level must be a mapping (id:, title:, kind:, items: …); got "
            f"{_describe_input(raw)}.",
        )
    try:
        bank = Bank.model_validate(raw)
    except PydanticValidationError as exc:
        raise _schema_error(name, exc, raw) from None
    bank._source = name
    for item in bank.items:  # keys of questions about the live model: computed now
        if item.type in ("model_choice", "model_number"):
            try:
                live.answer_key(item)
            except ValidationError as err:
                raise _fail(name, f"item '{item.id}': {err}.") from None
    return bank


#: The folder of the shipped banks (``assessments/`` at the repository root).
BANK_DIR = _REPO_ROOT / "assessments"
#: Bank ids of the three in-page checkpoints (LO1, LO2, LO3) and of the final assessment.
CHECKPOINT_IDS: tuple[str, ...] = ("checkpoint_1", "checkpoint_2", "checkpoint_3")
SUMMATIVE_ID = "summative"


def bank_path(bank_id: str) -> Path:
    """``assessments/<bank_id>.yaml`` of the shipped banks."""
    if not isinstance(bank_id, str) or not bank_id.replace("_", "").isalnum():
        raise ValidationError(f"Unknown question bank {bank_id!r}.")
    return BANK_DIR / f"{bank_id}.yaml"


def load_banks(directory: str | Path = BANK_DIR) -> dict[str, Bank]:
    """Every ``*.yaml`` bank in ``directory`` by bank id; bank ids and item ids must be unique
    across the banks. Raises :class:`ValidationError` on the first broken bank (pages that must
    keep working when one bank is broken load banks one by one with :func:`load_bank`)."""
    banks: dict[str, Bank] = {}
    owner: dict[str, str] = {}
    for path in sorted(Path(directory).glob("*.yaml")):
        bank = load_bank(path)
        if bank.id in banks:
            raise ValidationError(
                f"Question bank '{bank.source}': the bank id '{bank.id}' is also "
                f"used by '{banks[bank.id].source}'."
            )
        for item_id in bank.item_ids:
            if item_id in owner:
                raise ValidationError(
                    f"Question bank '{bank.source}': item '{item_id}', field 'id': the "
                    f"id is also used in bank '{owner[item_id]}'; ids must be "
                    f"unique across banks."
                )
            owner[item_id] = bank.id
        banks[bank.id] = bank
    return banks
