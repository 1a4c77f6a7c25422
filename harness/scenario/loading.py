"""Loading scenario files: YAML read with hostile-file guards (size, depth, anchors, duplicate
keys), a sweep and the load sets expanded, the schema validated and every pydantic error turned into one line, then
the cross-field rules of ``harness.scenario.rules``.
"""

from __future__ import annotations

import types
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo

from harness.scenario.model import Scenario, ScenarioError
from harness.scenario.rules import (
    _NAME_ALLOWED,
    _NAME_RE,
    _NOTHING,
    _error,
    check_semantics,
    check_unique_ids,
)

__all__ = ["load_scenario", "load_scenarios"]

_REPLICAS_ALLOWED = "an integer 1..10, or a non-empty list of distinct integers 1..10 (a sweep)"
_YAML_ALLOWED = (
    "valid YAML (quote values that start with @ * & ! % or `, e.g. '@every 2s', '*/2 * * * * *')"
)
# What a file may contain: `source` is set by the loader, never written by hand.
_FILE_FIELDS = tuple(sorted(set(Scenario.model_fields) - {"source"}))
_TOP = "<file>"  # field path for problems with the document as a whole


# --- loading ----------------------------------------------------------------------------------

def load_scenario(path: Path) -> list[Scenario]:
    """Parse and validate one scenario file; a sweep (``replicas: [1, 2, 3]``) gives several."""
    path = Path(path)
    raw = _read_mapping(path)
    name = _scenario_name(path, raw)
    counts = _replica_counts(path, raw.get("replicas", _NOTHING))
    sweep = isinstance(raw["replicas"], list)
    fields = {key: value for key, value in raw.items() if key not in ("name", "replicas")}
    scenarios = [
        _validate(path, {**fields, "name": f"{name}[replicas={n}]" if sweep else name,
                         "source": path, "replicas": n}).with_load_expanded()
        for n in counts
    ]
    # Only fault replica indices depend on the count, and the smallest count is the strictest.
    check_semantics(min(scenarios, key=lambda scenario: scenario.replicas))
    return scenarios


def load_scenarios(directory: Path) -> list[Scenario]:
    """All scenarios of ``directory/*.yaml``, sorted by file name."""
    scenarios: list[Scenario] = []
    for path in sorted(Path(directory).glob("*.yaml"), key=lambda p: p.name):
        scenarios.extend(load_scenario(path))
    check_unique_ids(scenarios)
    return scenarios


def _read_mapping(path: Path) -> dict[Any, Any]:
    text = _read_text(path)
    try:
        _refuse_expansion(path, text)
        raw = yaml.load(text, Loader=_UniqueKeyLoader)
    except yaml.YAMLError as exc:
        raise _yaml_error(path, text, exc) from None
    except ScenarioError:
        raise
    except ValueError as exc:  # e.g. an integer with more digits than Python converts
        raise _error(path, _TOP, "a value cannot be read", str(exc), _YAML_ALLOWED) from None
    allowed = f"a mapping with fields {', '.join(_FILE_FIELDS)}"
    if raw is None:
        raise _error(path, _TOP, "empty file (no YAML document, or only comments)", raw, allowed)
    if not isinstance(raw, dict):
        raise _error(path, _TOP, f"not a mapping but {_yaml_kind(raw)}", raw, allowed)
    for key, value in raw.items():
        if key not in _FILE_FIELDS:
            raise _error(path, str(key), f"unknown field {key!r}", value, ", ".join(_FILE_FIELDS))
    return raw


# --- hostile files: refused before anything expands them --------------------------------------

MAX_FILE_BYTES = 256 * 1024
MAX_DEPTH = 32
_SIZE_ALLOWED = f"a scenario file of at most {MAX_FILE_BYTES // 1024} KiB"
_ANCHOR_ALLOWED = "every value written out (no &anchors, *aliases or << merges)"
_DEPTH_ALLOWED = f"collections nested at most {MAX_DEPTH} deep"


def _read_text(path: Path) -> str:
    """The file as text; its size is checked before it is read, so a huge file costs nothing."""
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise _error(path, _TOP, "file too large", f"{size} bytes", _SIZE_ALLOWED)
        data = path.read_bytes()
    except OSError as exc:
        raise _error(path, _TOP, "cannot read file", str(exc), "a readable regular file") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _error(path, f"byte {exc.start}", "not UTF-8 text", data[exc.start:exc.start + 8],
                     "a UTF-8 encoded text file") from None


def _refuse_expansion(path: Path, text: str) -> None:
    """Anchors, aliases and deep nesting are refused from the parser's events, which cost time
    linear in the text, before the loader builds (and would expand) anything: a 1 KB "billion
    laughs" file fails here at once."""
    depth = 0
    # libyaml's parser when PyYAML has it: the same events, about 100 times faster.
    for event in yaml.parse(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
        mark = event.start_mark
        where = f"line {mark.line + 1} column {mark.column + 1}"
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
            name = getattr(event, "anchor", None)
            raise _error(path, where, "YAML anchor or alias", f"&{name}" if not isinstance(
                event, yaml.AliasEvent) else f"*{name}", _ANCHOR_ALLOWED)
        if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            depth += 1
            if depth > MAX_DEPTH:
                raise _error(path, where, "nested too deep", depth, _DEPTH_ALLOWED)
        elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            depth -= 1


def _yaml_kind(value: Any) -> str:
    return {list: "a list", str: "a string", int: "a number", float: "a number",
            bool: "true/false"}.get(type(value), type(value).__name__)


class _UniqueKeyLoader(yaml.SafeLoader):
    """safe_load, except that a repeated key is an error instead of silently overriding."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue  # `<<: *anchor` merges are allowed to repeat keys
            key = self.construct_object(key_node, deep=deep)
            if not _hashable(key):
                continue  # SafeLoader itself reports unhashable keys
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    "while constructing a mapping", node.start_mark,
                    f"found duplicate key {key!r}", key_node.start_mark,
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _hashable(value: Any) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True


def _yaml_error(path: Path, text: str, exc: yaml.YAMLError) -> ScenarioError:
    mark = getattr(exc, "problem_mark", None)
    if mark is None:
        return _error(path, _TOP, f"invalid YAML: {exc}", None, _YAML_ALLOWED)
    lines = text.splitlines()
    line = lines[mark.line] if mark.line < len(lines) else ""
    problem = getattr(exc, "problem", None) or "syntax error"
    where = f"line {mark.line + 1} column {mark.column + 1}"
    return _error(path, where, f"invalid YAML: {problem}", line, _YAML_ALLOWED)


def _scenario_name(path: Path, raw: dict[Any, Any]) -> str:
    name = raw.get("name", path.stem)
    if isinstance(name, str) and _NAME_RE.match(name):
        return name
    problem = "invalid scenario name" if "name" in raw else (
        "file name is not a valid scenario name (rename the file or set name:)")
    raise _error(path, "name", problem, name, _NAME_ALLOWED)


def _replica_counts(path: Path, value: Any) -> list[int]:
    if value is _NOTHING:
        raise _error(path, "replicas", "missing required field", _NOTHING, _REPLICAS_ALLOWED)
    if not isinstance(value, list):
        return [_replica_count(path, "replicas", value)]
    if not value:
        raise _error(path, "replicas", "empty sweep", value, _REPLICAS_ALLOWED)
    counts = [_replica_count(path, f"replicas[{i}]", item) for i, item in enumerate(value)]
    repeated = sorted({n for n in counts if counts.count(n) > 1})
    if repeated:
        raise _error(path, "replicas", f"repeated value {repeated[0]}", value, _REPLICAS_ALLOWED)
    return counts


def _replica_count(path: Path, field: str, value: Any) -> int:
    # bool is an int subclass, and pydantic would also coerce "3"; neither is a count.
    if type(value) is not int:
        raise _error(path, field, "not an integer", value, _REPLICAS_ALLOWED)
    if not 1 <= value <= 10:
        raise _error(path, field, "out of range", value, _REPLICAS_ALLOWED)
    return value


def _validate(path: Path, data: dict[str, Any]) -> Scenario:
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        raise _from_pydantic(path, exc.errors()[0]) from None


# --- pydantic errors -> one line ---------------------------------------------------------------

_RANGE_ERRORS = frozenset({"greater_than", "greater_than_equal", "less_than", "less_than_equal"})


def _from_pydantic(path: Path, err: Mapping[str, Any]) -> ScenarioError:
    loc: tuple[int | str, ...] = tuple(err["loc"])
    field = _loc_path(loc)
    if err["type"] == "extra_forbidden":
        parent = _unwrap_optional(_resolve(loc[:-1])[0])
        return _error(path, field, f"unknown field {loc[-1]!r}", err["input"], _field_names(parent))
    if loc and loc[-1] == "[key]":
        container, _ = _resolve(loc[:-2])
        key_type = get_args(_unwrap_optional(container))[0]
        return _error(path, field, f"unknown key {err['input']!r}", err["input"],
                      _describe_type(key_type))
    annotation, info = _resolve(loc)
    got = _NOTHING if err["type"] == "missing" else err["input"]
    return _error(path, field, _problem(err), got, _describe(annotation, info))


def _problem(err: Mapping[str, Any]) -> str:
    kind: str = err["type"]
    if kind == "missing":
        return "missing required field"
    if kind == "literal_error":
        return "not an allowed value"
    if kind in _RANGE_ERRORS:
        return "out of range"
    if kind.endswith(("_type", "_parsing")):
        return "wrong type"
    if kind == "int_from_float":
        return "not a whole number"
    # pydantic's own wording, minus any ", got ..." tail that would clash with ours.
    msg = str(err["msg"]).split(", got ")[0]
    return msg[:1].lower() + msg[1:]


def _loc_path(loc: Sequence[int | str]) -> str:
    text = ""
    for part in loc:
        if part == "[key]":
            continue  # pydantic's marker for "the dict key itself"; the key is already in the path
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _resolve(loc: Sequence[int | str]) -> tuple[Any, FieldInfo | None]:
    """The annotation (and FieldInfo, if it is a model field) that ``loc`` points at."""
    annotation: Any = Scenario
    info: FieldInfo | None = None
    for part in loc:
        annotation = _unwrap_optional(annotation)
        origin = get_origin(annotation)
        if origin in (tuple, list, dict):
            annotation, info = get_args(annotation)[-1 if origin is dict else 0], None
        elif _is_model(annotation) and isinstance(part, str) and part in annotation.model_fields:
            info = annotation.model_fields[part]
            annotation = info.annotation
        else:
            return Any, None
    return annotation, info


def _is_model(annotation: Any) -> bool:
    return (get_origin(annotation) is None and isinstance(annotation, type)
            and issubclass(annotation, BaseModel))


def _unwrap_optional(annotation: Any) -> Any:
    if get_origin(annotation) in (Union, types.UnionType):
        members = [arg for arg in get_args(annotation) if arg is not type(None)]
        if len(members) == 1:
            return members[0]
    return annotation


def _field_names(model: Any) -> str:
    if model is Scenario:
        return ", ".join(_FILE_FIELDS)
    return ", ".join(sorted(model.model_fields)) if _is_model(model) else "no fields"


def _describe(annotation: Any, info: FieldInfo | None) -> str:
    inner = _unwrap_optional(annotation)
    if inner is not annotation:
        return f"{_describe(inner, info)}, or null"
    bounds = []
    for constraint in info.metadata if info else ():
        for attr, symbol in (("gt", ">"), ("ge", ">="), ("lt", "<"), ("le", "<=")):
            bound = getattr(constraint, attr, None)
            if bound is not None:
                bounds.append(f"{symbol} {bound}")
    text = _describe_type(annotation)
    return f"{text} {' and '.join(bounds)}" if bounds else text


_SIMPLE_TYPES: dict[Any, str] = {
    int: "an integer", float: "a number", str: "a string", bool: "true or false", Path: "a path",
}


def _describe_type(annotation: Any) -> str:
    origin, args = get_origin(annotation), get_args(annotation)
    if annotation is Any:
        return "any value"
    if origin is Literal:
        return "one of " + ", ".join(repr(arg) for arg in args)
    if origin in (Union, types.UnionType):
        return " or ".join("null" if arg is type(None) else _describe_type(arg) for arg in args)
    if origin in (tuple, list):
        return f"a list, each item {_describe_type(args[0])}"
    if origin is dict:
        return f"a mapping from {_describe_type(args[0])} to {_describe_type(args[1])}"
    if _is_model(annotation):
        return f"a mapping with fields {_field_names(annotation)}"
    return _SIMPLE_TYPES.get(annotation, getattr(annotation, "__name__", str(annotation)))

