"""Scenario files: pure data describing one experiment, validated before anything runs.

A scenario file is YAML. Every field is checked up front; a bad file raises ScenarioError with
one message naming the file, the field, the bad value and what is allowed.
"""

from __future__ import annotations

import fnmatch
import math
import re
import time
import types
import unicodedata
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.fields import FieldInfo

import harness.scenario.schedule as _schedule
from harness.scenario.faults import FAULTS, FaultKind, fault_kinds
from harness.scenario.mechanisms import REDIS_BACKED, TASK_MECHANISMS, Launcher, Mechanism, TaskMechanism
from harness.paths import COMPONENTS_DIR

__all__ = [
    "COMPONENTS_DIR",
    "ApiCall",
    "AppHandler",
    "AppSpec",
    "BindingSpec",
    "Claim",
    "ConstantPolicy",
    "Expectation",
    "FailurePolicy",
    "FaultKind",
    "ScenarioKind",
    "FaultSpec",
    "JobExpectation",
    "JobSpec",
    "Scenario",
    "ScenarioError",
    "TaskSpec",
    "load_scenario",
    "load_scenarios",
]


class ScenarioError(ValueError):
    """A scenario file that cannot be run. The message names file, field, value, what is allowed."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class ConstantPolicy(_Strict):
    interval: str = "1s"  # Go duration
    maxRetries: int | None = Field(default=None, ge=0)


class FailurePolicy(_Strict):
    constant: ConstantPolicy | None = None
    drop: dict[str, Any] | None = None


class JobSpec(_Strict):
    """A job created through the Jobs API. Field names match the API's JSON body."""

    name: str
    api: Literal["v1.0", "v1.0-alpha1"] = "v1.0"
    schedule: str | None = None
    dueTime: str | None = None
    repeats: int | None = Field(default=None, ge=1)
    ttl: str | None = None
    data: Any = None
    overwrite: bool | None = None
    failurePolicy: FailurePolicy | None = None
    # Raw extra fields sent in the body as-is (to probe that unknown fields are ignored).
    extra_fields: dict[str, Any] = Field(default_factory=dict)
    # Send dueTime as an RFC3339 UTC timestamp this many seconds after the create request
    # (rounded up to a whole second); the sent value is in the history's job_created event.
    due_rfc3339_in_s: float | None = Field(default=None, gt=0, le=86400)
    # Seconds after the window starts at which the job is created.
    at_s: float = Field(default=0.0, ge=0)
    # HTTP status the create call must return (204 normally; probes of bad input set others).
    expect_status: int = Field(default=204, ge=100, le=599)

    def body(self, now: float | None = None) -> dict[str, Any]:
        """The Jobs API request body for this job (``now``: epoch seconds of the request, used
        by ``due_rfc3339_in_s``; defaults to the current time)."""
        body: dict[str, Any] = {
            key: value
            for key, value in self.model_dump(
                include={"schedule", "dueTime", "repeats", "ttl", "data", "overwrite"},
                exclude_none=True,
            ).items()
        }
        if self.failurePolicy is not None:
            body["failurePolicy"] = self.failurePolicy.model_dump(exclude_none=True)
        if self.due_rfc3339_in_s is not None:
            due = math.ceil((time.time() if now is None else now) + self.due_rfc3339_in_s)
            body["dueTime"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(due))
        body.update(self.extra_fields)
        return body


class BindingSpec(_Strict):
    """A bindings.cron component installed for the app before the replicas start."""

    name: str
    schedule: str
    route: str | None = None
    template: str = "cron.yaml"  # a file in components/




class TaskSpec(_Strict):
    """Scheduled work run by one of the mechanisms beside the Jobs API over HTTP and the plain
    cron binding (see harness/drive/tasks.py for what each does).

    ``schedule``: job-sdk takes any Jobs API schedule; binding-lock and binding-claim a cron
    schedule (5 or 6 fields, not ``@every``: the tick key is the scheduled time, which every
    sidecar must share); reminder and workflow ``@every <Go duration>`` (the period).
    ``at_s``: when the job is created, the reminder registered or the workflow started; the
    binding components are installed before the replicas start, so theirs must be 0.
    """

    mechanism: TaskMechanism
    name: str
    schedule: str
    data: Any = None
    at_s: float = Field(default=0.0, ge=0)


class AppHandler(_Strict):
    """How the sample app answers triggers that match ``mechanism`` and ``name`` (a glob)."""

    mechanism: Mechanism
    name: str = "*"
    status: int = Field(default=200, ge=100, le=599)
    delay_ms: int = Field(default=0, ge=0, le=600_000)
    body: Any = None


class AppSpec(_Strict):
    api_token: str | None = None
    handlers: tuple[AppHandler, ...] = ()


class Expectation(_Strict):
    """What the checker must see for one mechanism for the scenario to pass."""

    delivery: Literal["exactly_once", "once_per_replica", "at_least_once"]
    min_ticks: int = Field(default=1, ge=0)
    max_lost: int = Field(default=0, ge=0)
    # None: no cap under at_least_once (duplicates are within its promise), 0 otherwise.
    max_duplicated: int | None = Field(default=None, ge=0)
    max_early: int = Field(default=0, ge=0)
    triggers: int | None = Field(default=None, ge=0)  # exact total, when it is known

    @property
    def duplicates_allowed(self) -> int | None:
        """How many duplicated ticks pass (None: any)."""
        if self.max_duplicated is not None:
            return self.max_duplicated
        return None if self.delivery == "at_least_once" else 0




class FaultSpec(_Strict):
    kind: FaultKind
    at_s: float = Field(ge=0)
    duration_s: float | None = Field(default=None, gt=0)
    replica: int | None = Field(default=None, ge=0)
    # Scheduler faults: which member of a `schedulers: N` cluster (default 0).
    member: int | None = Field(default=None, ge=0)
    # Instead of `replica`: hit the replica that received this mechanism's latest trigger when
    # the fault starts (placement decides which replica hosts the reminder's actor).
    follow: Literal["reminder", "workflow"] | None = None


class ApiCall(_Strict):
    """A Jobs API request on the scenario's timeline and what Dapr must answer.

    ``expect_body`` maps a dotted path into the JSON response (``data.value.action``; a number
    indexes a list; ``$`` is the whole body: parsed JSON, else the text, else null when empty)
    to the value it must hold; ``expect_absent`` lists paths that must not exist;
    ``expect_contains`` is a substring of the response text. At equal ``at_s``, ``jobs`` are
    created first, then calls run in file order.
    """

    id: str | None = None  # referenced by claims
    at_s: float = Field(default=0.0, ge=0)
    method: Literal["GET", "POST", "DELETE"]
    api: Literal["v1.0", "v1.0-alpha1"] = "v1.0"
    job: str
    body: Any = None  # POST only: sent as JSON
    raw_body: str | None = None  # POST only: sent as-is (e.g. malformed JSON)
    expect_status: int = Field(ge=100, le=599)
    expect_body: dict[str, Any] = Field(default_factory=dict)
    expect_absent: tuple[str, ...] = ()
    expect_contains: str | None = None
    # Send this call without the dapr-api-token header (shows daprd refusing it).
    omit_token: bool = False


class JobExpectation(_Strict):
    """What the triggers of one job must show; every field is optional.

    Triggers are those the app recorded for ``job`` (every delivery, whatever the app
    answered), restricted to ``[from_s, until_s)`` seconds after the window start.
    ``min_first_s``/``max_first_s`` bound the first of them after the send time of the job's
    latest successful create (a ``jobs`` entry or a POST call) before it. ``payload`` (the
    body parsed as JSON) and ``raw_body`` (its text) must match every selected trigger when
    set; ``empty_body: true`` requires every selected trigger to arrive without a body.
    ``min_ticks``, ``max_lost``, ``max_duplicated``, ``max_early`` and ``max_lateness_ms``
    judge the checker's tick model of a ``jobs`` entry over the whole window.
    """

    job: str
    from_s: float | None = Field(default=None, ge=0)
    until_s: float | None = Field(default=None, gt=0)
    triggers: int | None = Field(default=None, ge=0)
    min_triggers: int | None = Field(default=None, ge=0)
    max_triggers: int | None = Field(default=None, ge=0)
    min_spacing_s: float | None = Field(default=None, ge=0)
    max_spacing_s: float | None = Field(default=None, ge=0)
    min_first_s: float | None = None
    max_first_s: float | None = None
    payload: Any = None
    raw_body: str | None = None
    empty_body: bool = False
    headers: dict[str, str] = Field(default_factory=dict)
    min_ticks: int | None = Field(default=None, ge=0)
    max_lost: int | None = Field(default=None, ge=0)
    max_duplicated: int | None = Field(default=None, ge=0)
    max_early: int | None = Field(default=None, ge=0)
    max_lateness_ms: float | None = Field(default=None, ge=0)

    @property
    def tick_fields(self) -> tuple[str, ...]:
        return tuple(f for f in _TICK_FIELDS if getattr(self, f) is not None)


_TICK_FIELDS = ("min_ticks", "max_lost", "max_duplicated", "max_early", "max_lateness_ms")


class Claim(_Strict):
    """A claim about Dapr that this scenario shows true or false (pure data for the claims table).

    ``verdict`` records what Dapr 1.18.3 did when the scenario was written; the scenario's
    expectations encode that behaviour, so a failing run means the verdict needs re-examining.
    ``calls`` (globs over call ids), ``jobs`` and ``bindings`` name the evidence whose numbers
    the claims table prints next to ``observed``. ``shown_by`` names another scenario (a file
    stem in the same directory) whose latest run is the evidence instead of this file's.
    """

    id: str
    source: str
    statement: str
    verdict: Literal["holds", "wrong", "partly"]
    observed: str
    calls: tuple[str, ...] = ()
    jobs: tuple[str, ...] = ()
    bindings: tuple[str, ...] = ()
    shown_by: str | None = None


ScenarioKind = Literal["comparison", "claims", "fault"]


class Scenario(_Strict):
    """One runnable scenario (a sweep file expands into several, one per replica count)."""

    name: str
    source: Path
    description: str = ""
    replicas: int = Field(ge=1, le=10)
    # Scheduler members (one embedded etcd cluster); every daprd is given all their addresses.
    schedulers: int = Field(default=1, ge=1, le=5)
    window_s: float = Field(gt=0, le=3600)
    app: AppSpec = AppSpec()
    jobs: tuple[JobSpec, ...] = ()
    bindings: tuple[BindingSpec, ...] = ()
    tasks: tuple[TaskSpec, ...] = ()  # the other mechanisms (job-sdk, reminder, ...)
    # Keyed by mechanism: job, binding and the tasks' mechanisms (job-sdk, reminder, ...).
    expect: dict[Mechanism, Expectation] = Field(default_factory=dict)
    faults: tuple[FaultSpec, ...] = ()
    calls: tuple[ApiCall, ...] = ()
    expect_jobs: tuple[JobExpectation, ...] = ()
    claim: Claim | None = None
    claims: tuple[Claim, ...] = ()
    # DAPR_API_TOKEN of every daprd; the driver sends it as dapr-api-token on every Jobs API call.
    dapr_api_token: str | None = None
    # --- issue 14: which Dapr and which launcher (None: the run's default) ---
    dapr_version: str | None = Field(default=None, pattern=r"^\d+\.\d+\.\d+$")
    launcher: Launcher | None = None

    @property
    def id(self) -> str:
        """Unique id of this scenario instance, used as the pytest item name."""
        return self.name

    @property
    def grpc_replicas(self) -> int:
        """Replicas of the gRPC app (app-id taskapi-grpc) that job-sdk tasks need."""
        return self.replicas if any(t.mechanism == "job-sdk" for t in self.tasks) else 0

    @property
    def http_replicas(self) -> int:
        """Replicas of the HTTP app; none when job-sdk tasks are all the scenario runs."""
        http_work = self.jobs or self.bindings or self.calls or any(
            t.mechanism != "job-sdk" for t in self.tasks)
        return self.replicas if http_work or not self.grpc_replicas else 0

    @property
    def total_replicas(self) -> int:
        """Both apps' replicas: HTTP ones are 0..h-1, gRPC ones h..h+g-1 (fault targets)."""
        return self.http_replicas + self.grpc_replicas

    @property
    def needs_redis(self) -> bool:
        return any(t.mechanism in REDIS_BACKED for t in self.tasks)

    @property
    def all_claims(self) -> tuple[Claim, ...]:
        """``claim`` and ``claims`` together (a file uses one or the other)."""
        return ((self.claim,) if self.claim is not None else ()) + self.claims

    @property
    def kind(self) -> ScenarioKind:
        """What the scenario is evidence for, decided here only: a claims scenario states
        claims (its faults serve a claim), a fault scenario injects faults, every other one is
        a comparison."""
        if self.all_claims:
            return "claims"
        return "fault" if self.faults else "comparison"



# --- loading ----------------------------------------------------------------------------------

_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9-]*$")
_NAME_ALLOWED = "lowercase letters, digits and '-', starting with a letter or digit"
# Dapr components are Kubernetes-style resources: metadata.name is a DNS-1123 label (<= 63).
_COMPONENT_NAME_MAX = 63
_ROUTE_RE = re.compile(r"^/?[a-z0-9][a-z0-9-]{0,62}$")
_ROUTE_ALLOWED = "one path segment: an optional '/', then " + _NAME_ALLOWED + ", <= 63 characters"
_GLOB_ALLOWED = ("a job or binding name, with * ? [ ] wildcards: 1-256 characters without "
                 "/ \\ # or control characters")
_TOKEN_FIELDS = ("dapr_api_token",)
# A token travels in an HTTP header and an environment variable (visible ASCII only).
_TOKEN_RE = re.compile(r"^[\x21-\x7e]{1,512}$")
_TOKEN_ALLOWED = "1-512 visible ASCII characters (no spaces, quotes are fine)"
_REPLICAS_ALLOWED = "an integer 1..10, or a non-empty list of distinct integers 1..10 (a sweep)"
_YAML_ALLOWED = (
    "valid YAML (quote values that start with @ * & ! % or `, e.g. '@every 2s', '*/2 * * * * *')"
)
_JOB_NAME_FORBIDDEN = "/\\#?"
_JOB_NAME_ALLOWED = "1-256 characters without / \\ # ? or control characters, not '.' or '..'"
SCHEDULER_FAULTS = fault_kinds("scheduler")
# What a file may contain: `source` is set by the loader, never written by hand.
_FILE_FIELDS = tuple(sorted(set(Scenario.model_fields) - {"source"}))
_TOP = "<file>"  # field path for problems with the document as a whole
_NOTHING = object()  # "got" value for fields that are missing rather than wrong


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
                         "source": path, "replicas": n})
        for n in counts
    ]
    # Only fault replica indices depend on the count, and the smallest count is the strictest.
    _check_semantics(min(scenarios, key=lambda scenario: scenario.replicas))
    return scenarios


def load_scenarios(directory: Path) -> list[Scenario]:
    """All scenarios of ``directory/*.yaml``, sorted by file name."""
    scenarios: list[Scenario] = []
    for path in sorted(Path(directory).glob("*.yaml"), key=lambda p: p.name):
        scenarios.extend(load_scenario(path))
    _check_unique_ids(scenarios)
    return scenarios


def _error(source: Path, field: str, problem: str, got: Any, allowed: str) -> ScenarioError:
    shown = "nothing" if got is _NOTHING else _show(got)
    text = f"{source}: {field}: {problem}, got {shown}; allowed: {allowed}"
    # One line, whatever the pieces contain, so a message fits a log line or a pytest id.
    return ScenarioError(" ".join(text.splitlines()))


def _show(value: Any, limit: int = 120) -> str:
    try:
        text = repr(value)
    except ValueError:  # an int too long to print: say how long it is instead
        text = f"<a {value.bit_length()}-bit integer>" if isinstance(value, int) else "<value>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


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


# --- checks across fields ----------------------------------------------------------------------


def _check_semantics(scenario: Scenario) -> None:
    _check_app(scenario)
    _check_jobs(scenario)
    _check_bindings(scenario)
    _check_tasks(scenario)
    _check_expect(scenario)
    _check_faults(scenario)
    _check_calls(scenario)
    _check_expect_jobs(scenario)
    _check_claims(scenario)
    _check_launcher(scenario)


def _check_launcher(scenario: Scenario) -> None:
    """`dapr run -f` starts every replica at once: no fault can stop or start one of them."""
    if scenario.launcher == "dapr-run-f" and scenario.faults:
        raise _error(scenario.source, "launcher", "faults need a launcher per replica",
                     scenario.launcher, "daprd or dapr-run in a scenario with faults")


def _check_app(scenario: Scenario) -> None:
    """Handler globs and tokens reach the app's environment and HTTP headers."""
    for i, handler in enumerate(scenario.app.handlers):
        glob = handler.name.replace("*", "x").replace("?", "x").replace("[", "x").replace("]", "x")
        if _job_name_problem(glob) or len(handler.name) > 256:
            raise _error(scenario.source, f"app.handlers[{i}].name", "invalid handler glob",
                         handler.name, _GLOB_ALLOWED)
    tokens = {"app.api_token": scenario.app.api_token}
    tokens.update({field: getattr(scenario, field) for field in _TOKEN_FIELDS})
    for field, token in tokens.items():
        if token is not None and not _TOKEN_RE.match(token):
            shown = f"<{len(token)} characters>"  # never print a token
            raise _error(scenario.source, field, "invalid token", shown, _TOKEN_ALLOWED)


def _check_inside_window(scenario: Scenario, where: str, at_s: float) -> None:
    """Timeline steps (jobs, calls, faults) must start while the window is open."""
    if at_s >= scenario.window_s:
        raise _error(scenario.source, f"{where}.at_s", "not inside the window", at_s,
                     f"a number >= 0 and < window_s ({scenario.window_s:g})")


def _check_jobs(scenario: Scenario) -> None:
    first_use: dict[str, int] = {}
    for i, job in enumerate(scenario.jobs):
        where = f"jobs[{i}]"
        _check_inside_window(scenario, where, job.at_s)
        # Even a bad-input probe's name is a URL path segment on daprd: checked first.
        problem = _job_name_problem(job.name)
        if problem:
            raise _error(scenario.source, f"{where}.name", problem, job.name, _JOB_NAME_ALLOWED)
        if job.expect_status != 204:
            continue  # a bad-input probe: its body goes to Dapr as written, to see it rejected
        if job.name in first_use:
            raise _error(scenario.source, f"{where}.name", "duplicate job name", job.name,
                         f"a name not used by another job (jobs[{first_use[job.name]}] has it)")
        first_use[job.name] = i
        _check_job_timing(scenario.source, where, job)
        _check_failure_policy(scenario.source, where, job.failurePolicy)


def _job_name_problem(name: str) -> str | None:
    # Dapr 1.18's rules: the name is a URL path segment and an etcd key part.
    if not name:
        return "empty job name"
    if len(name) > 256:
        return f"job name longer than 256 characters ({len(name)})"
    if name in (".", ".."):
        return "job name is a relative path segment"
    bad = "".join(sorted(set(name) & set(_JOB_NAME_FORBIDDEN)))
    if bad:
        return f"job name contains {bad!r}"
    if any(unicodedata.category(char) == "Cc" for char in name):
        return "job name contains a control character"
    return None


def _check_job_timing(source: Path, where: str, job: JobSpec) -> None:
    if job.dueTime is not None and job.due_rfc3339_in_s is not None:
        raise _error(source, f"{where}.due_rfc3339_in_s", "both dueTime and due_rfc3339_in_s",
                     job.due_rfc3339_in_s, "one of dueTime (as written) or due_rfc3339_in_s")
    if job.due_rfc3339_in_s is not None:
        job = job.model_copy(update={"dueTime": "<rfc3339>"})  # timing rules as for a dueTime
    if job.schedule is None and job.dueTime is None:
        raise _error(source, f"{where}.schedule", "a job needs schedule or dueTime", None,
                     "a schedule (recurring), a dueTime (one-shot), or both")
    if job.repeats is not None and job.repeats > 1 and job.schedule is None:
        raise _error(source, f"{where}.repeats", "repeats > 1 needs a schedule", job.repeats,
                     "repeats 1 (or unset) without schedule; set schedule to repeat")
    if job.ttl is not None and job.schedule is None:
        raise _error(source, f"{where}.ttl", "ttl needs a schedule", job.ttl,
                     "ttl only together with schedule")
    if job.schedule is not None:
        problem = _schedule.job_schedule_error(job.schedule)
        if problem:
            raise _schedule_error(source, f"{where}.schedule", "job", job.schedule, problem)


def _schedule_error(source: Path, field: str, kind: str, value: str, message: str) -> ScenarioError:
    # schedule.py may already say "<problem>; allowed: <...>": split it so "allowed:" appears once.
    problem, sep, allowed = message.partition("; allowed: ")
    if not sep:
        problem, allowed = "", message
    what = f"invalid {kind} schedule" + (f" ({problem})" if problem else "")
    return _error(source, field, what, value, allowed)


def _check_failure_policy(source: Path, where: str, policy: FailurePolicy | None) -> None:
    if policy is not None and (policy.constant is None) == (policy.drop is None):
        raise _error(source, f"{where}.failurePolicy", "needs exactly one policy",
                     policy.model_dump(exclude_none=True), "exactly one of 'constant' or 'drop'")


def _check_bindings(scenario: Scenario) -> None:
    first_use: dict[str, int] = {}
    for i, binding in enumerate(scenario.bindings):
        where = f"bindings[{i}]"
        # The name becomes a component name and an HTTP route on the app.
        if not _NAME_RE.match(binding.name) or len(binding.name) > _COMPONENT_NAME_MAX:
            raise _error(scenario.source, f"{where}.name", "invalid binding name", binding.name,
                         f"{_NAME_ALLOWED}, at most {_COMPONENT_NAME_MAX} characters")
        if binding.name in first_use:
            raise _error(scenario.source, f"{where}.name", "duplicate binding name", binding.name,
                         f"a name not used by another binding (bindings[{first_use[binding.name]}]"
                         " has it)")
        first_use[binding.name] = i
        problem = _schedule.binding_schedule_error(binding.schedule)
        if problem:
            raise _schedule_error(scenario.source, f"{where}.schedule", "binding",
                                  binding.schedule, problem)
        _check_template(scenario.source, f"{where}.template", binding.template)
        _check_route(scenario.source, f"{where}.route", binding.route)


def _check_route(source: Path, field: str, route: str | None) -> None:
    # The route is written into the component file and is one path segment on the app
    # (POST /{route}): a newline or quote could add YAML, a '/' another path.
    if route is not None and not _ROUTE_RE.match(route):
        raise _error(source, field, "invalid binding route", route, _ROUTE_ALLOWED)


# --- tasks (the mechanisms beyond job and binding) ---------------------------------------------

_EVERY_ALLOWED = "'@every <Go duration>' (the period), e.g. '@every 2s'"


def _check_tasks(scenario: Scenario) -> None:
    first_use: dict[str, str] = {b.name: "a binding" for b in scenario.bindings}
    for i, task in enumerate(scenario.tasks):
        where = f"tasks[{i}]"
        # The name becomes a component name, a reminder name, an instance id or a job name.
        if not _NAME_RE.match(task.name):
            raise _error(scenario.source, f"{where}.name", "invalid task name", task.name,
                         _NAME_ALLOWED)
        if task.name in first_use:
            raise _error(scenario.source, f"{where}.name", "duplicate name", task.name,
                         f"a name not used by another task or binding ({first_use[task.name]} has it)")
        first_use[task.name] = where
        _check_inside_window(scenario, where, task.at_s)
        _check_task_schedule(scenario.source, where, task)
        if task.mechanism.startswith("binding-") and task.at_s != 0:
            raise _error(scenario.source, f"{where}.at_s", "a binding is installed before start",
                         task.at_s, "0 (leave at_s out)")


def _check_task_schedule(source: Path, where: str, task: TaskSpec) -> None:
    field = f"{where}.schedule"
    if task.mechanism == "job-sdk":
        problem = _schedule.job_schedule_error(task.schedule)
        if problem:
            raise _schedule_error(source, field, "job", task.schedule, problem)
        return
    if task.mechanism.startswith("binding-"):
        problem = _schedule.binding_schedule_error(task.schedule)
        if problem:
            raise _schedule_error(source, field, "binding", task.schedule, problem)
        if _schedule.every_seconds(task.schedule) is not None:
            raise _error(source, field, f"{task.mechanism} needs a cron schedule", task.schedule,
                         "a 5- or 6-field cron schedule, e.g. '*/2 * * * * *' (@every fires out"
                         " of phase on each sidecar, so the replicas would share no tick key)")
        return
    problem = _schedule.binding_schedule_error(task.schedule)
    if problem or _schedule.every_seconds(task.schedule) is None:
        raise _error(source, field, f"invalid {task.mechanism} period", task.schedule,
                     _EVERY_ALLOWED)


def _check_template(source: Path, field: str, template: str) -> None:
    # A plain file name only: templates live in components/, never elsewhere.
    if Path(template).name == template and (COMPONENTS_DIR / template).is_file():
        return
    present = sorted(p.name for p in COMPONENTS_DIR.glob("*") if p.is_file())
    raise _error(source, field, f"no such file in {COMPONENTS_DIR}", template,
                 ", ".join(present) or "nothing (components/ is empty)")


def _check_expect(scenario: Scenario) -> None:
    used = {
        "job": any(job.expect_status == 204 for job in scenario.jobs),
        "binding": bool(scenario.bindings),
        **{m: any(t.mechanism == m for t in scenario.tasks) for m in TASK_MECHANISMS},
    }
    for mechanism in scenario.expect:
        if not used[mechanism]:
            allowed = ", ".join(repr(m) for m, is_used in used.items() if is_used)
            raise _error(scenario.source, f"expect.{mechanism}",
                         "expectation for a mechanism the scenario does not use", mechanism,
                         allowed or "nothing (no jobs with expect_status 204, no bindings)")


def _check_faults(scenario: Scenario) -> None:
    for i, fault in enumerate(scenario.faults):
        where = f"faults[{i}]"
        _check_inside_window(scenario, where, fault.at_s)
        if fault.replica is not None and fault.replica >= scenario.total_replicas:
            raise _error(scenario.source, f"{where}.replica", "no such replica", fault.replica,
                         f"0..{scenario.total_replicas - 1} (below replicas={scenario.replicas}"
                         f"{' times 2 apps' if scenario.total_replicas > scenario.replicas else ''},"
                         " the smallest value of a sweep)")
        if fault.kind == "restart_redis" and not scenario.needs_redis:
            raise _error(scenario.source, f"{where}.kind", "no Redis in this scenario", fault.kind,
                         "restart_redis only with a task of mechanism "
                         + ", ".join(sorted(REDIS_BACKED)))
        if FAULTS[fault.kind].needs_duration:
            _check_duration(scenario, where, fault)
        _check_fault_target(scenario, where, fault)
        _check_fault_follow(scenario, where, fault)


def _check_fault_follow(scenario: Scenario, where: str, fault: FaultSpec) -> None:
    if fault.follow is None:
        return
    if fault.replica is not None or FAULTS[fault.kind].target != "replica":
        problem = ("both replica and follow" if fault.replica is not None
                   else f"{fault.kind} has no replica target")
        raise _error(scenario.source, f"{where}.follow", problem, fault.follow,
                     "follow only on a replica fault, without replica")
    if not any(t.mechanism == fault.follow for t in scenario.tasks):
        raise _error(scenario.source, f"{where}.follow", "no task of this mechanism",
                     fault.follow, ", ".join(sorted({t.mechanism for t in scenario.tasks}
                                                    & {"reminder", "workflow"})) or "nothing")


def _check_fault_target(scenario: Scenario, where: str, fault: FaultSpec) -> None:
    if fault.replica is not None and FAULTS[fault.kind].target != "replica":
        raise _error(scenario.source, f"{where}.replica", f"{fault.kind} has no replica target",
                     fault.replica, "null (leave replica out)")
    if fault.member is None:
        return
    if fault.kind not in SCHEDULER_FAULTS:
        raise _error(scenario.source, f"{where}.member", f"{fault.kind} has no scheduler member",
                     fault.member, "null; member is for " + " and ".join(sorted(SCHEDULER_FAULTS)))
    if fault.member >= scenario.schedulers:
        raise _error(scenario.source, f"{where}.member", "no such scheduler member", fault.member,
                     f"0..{scenario.schedulers - 1} (below schedulers={scenario.schedulers})")


def _check_duration(scenario: Scenario, where: str, fault: FaultSpec) -> None:
    room = scenario.window_s - fault.at_s
    if fault.duration_s is None:
        raise _error(scenario.source, f"{where}.duration_s", f"{fault.kind} needs a duration",
                     _NOTHING, f"a number > 0 and <= {room:g} (window_s - at_s)")
    if fault.duration_s > room:
        raise _error(scenario.source, f"{where}.duration_s", "fault outlasts the window",
                     fault.duration_s, f"a number > 0 and <= {room:g} (window_s - at_s)")


_CALL_ID_ALLOWED = _NAME_ALLOWED + ", unique among the calls"
_CLAIM_ID_RE = re.compile(r"^C[0-9]+[a-z]{0,2}$")
_CLAIM_ID_ALLOWED = "C, a number and up to two lowercase letters (e.g. C2a), unique in the file"
CLAIM_SOURCES = ("lesson: ", "Dapr docs: ", "dapr-facts")
_CLAIM_SOURCE_ALLOWED = "'lesson: <section>', 'Dapr docs: <page>' or 'dapr-facts'"


def _check_calls(scenario: Scenario) -> None:
    first_use: dict[str, int] = {}
    for i, call in enumerate(scenario.calls):
        where = f"calls[{i}]"
        _check_inside_window(scenario, where, call.at_s)
        # The job name is pasted into the URL: "../../v1.0/shutdown" would reach another API.
        problem = _job_name_problem(call.job)
        if problem:
            raise _error(scenario.source, f"{where}.job", problem, call.job, _JOB_NAME_ALLOWED)
        for field in ("body", "raw_body"):
            if call.method != "POST" and getattr(call, field) is not None:
                raise _error(scenario.source, f"{where}.{field}", f"a body on a {call.method} call",
                             getattr(call, field), "a body only on POST calls")
        if call.omit_token and scenario.dapr_api_token is None:
            raise _error(scenario.source, f"{where}.omit_token", "no token to omit",
                         call.omit_token, "omit_token: true only with dapr_api_token set")
        if call.body is not None and call.raw_body is not None:
            raise _error(scenario.source, f"{where}.raw_body", "both body and raw_body",
                         call.raw_body, "one of body (sent as JSON) or raw_body (sent as-is)")
        for path in (*call.expect_body, *call.expect_absent):
            if not path or any(not part for part in path.split(".")):
                raise _error(scenario.source, f"{where}.expect_body", "empty path segment", path,
                             "'$' (the whole body) or dotted keys/indexes, e.g. data.value.action")
        if call.id is None:
            continue
        if not _NAME_RE.match(call.id):
            raise _error(scenario.source, f"{where}.id", "invalid call id", call.id,
                         _CALL_ID_ALLOWED)
        if call.id in first_use:
            raise _error(scenario.source, f"{where}.id", "duplicate call id", call.id,
                         f"an id not used by another call (calls[{first_use[call.id]}] has it)")
        first_use[call.id] = i


def _job_names(scenario: Scenario) -> list[str]:
    """Jobs the scenario can create: ``jobs`` entries and the targets of POST calls."""
    names = [job.name for job in scenario.jobs]
    names += [call.job for call in scenario.calls if call.method == "POST"]
    return sorted(set(names))


def _check_expect_jobs(scenario: Scenario) -> None:
    names = _job_names(scenario)
    created = {job.name for job in scenario.jobs if job.expect_status == 204}
    for i, entry in enumerate(scenario.expect_jobs):
        where = f"expect_jobs[{i}]"
        if entry.job not in names:
            raise _error(scenario.source, f"{where}.job", "no job or POST call with this name",
                         entry.job, ", ".join(names) or "nothing (the scenario creates no job)")
        if entry.from_s is not None and entry.until_s is not None and entry.from_s >= entry.until_s:
            raise _error(scenario.source, f"{where}.until_s", "not after from_s", entry.until_s,
                         f"a number > from_s ({entry.from_s:g})")
        if entry.triggers is not None and (entry.min_triggers, entry.max_triggers) != (None, None):
            field = "min_triggers" if entry.min_triggers is not None else "max_triggers"
            raise _error(scenario.source, f"{where}.{field}", "an exact count and a bound",
                         getattr(entry, field), "triggers (exact) or min/max_triggers, not both")
        for low, high in (("min_triggers", "max_triggers"), ("min_spacing_s", "max_spacing_s"),
                          ("min_first_s", "max_first_s")):
            lo, hi = getattr(entry, low), getattr(entry, high)
            if lo is not None and hi is not None and lo > hi:
                raise _error(scenario.source, f"{where}.{high}", f"below {low}", hi,
                             f"a number >= {low} ({lo:g})")
        ticks = entry.tick_fields
        if entry.empty_body and (entry.payload, entry.raw_body) != (None, None):
            field = "payload" if entry.payload is not None else "raw_body"
            raise _error(scenario.source, f"{where}.{field}", "a body and empty_body: true",
                         getattr(entry, field), "empty_body: true, or payload/raw_body, not both")
        if ticks and entry.job not in created:
            raise _error(scenario.source, f"{where}.{ticks[0]}",
                         "tick fields need a jobs entry with expect_status 204", entry.job,
                         ", ".join(sorted(created)) or "nothing (no jobs entry creates a job)")
        if ticks and (entry.from_s, entry.until_s) != (None, None):
            field = "from_s" if entry.from_s is not None else "until_s"
            raise _error(scenario.source, f"{where}.{field}",
                         "tick fields judge the whole window", getattr(entry, field),
                         "no from_s/until_s with " + ", ".join(ticks) + " (use a second entry)")


def _check_claims(scenario: Scenario) -> None:
    if scenario.claim is not None and scenario.claims:
        raise _error(scenario.source, "claims", "both claim and claims", len(scenario.claims),
                     "claim (one) or claims (a list), not both")
    field = "claim" if scenario.claim is not None else "claims"
    call_ids = sorted(call.id for call in scenario.calls if call.id is not None)
    names = _job_names(scenario)
    bindings = sorted(binding.name for binding in scenario.bindings)
    first_use: dict[str, int] = {}
    for i, claim in enumerate(scenario.all_claims):
        where = field if scenario.claim is not None else f"claims[{i}]"
        if not _CLAIM_ID_RE.match(claim.id) or claim.id in first_use:
            problem = "duplicate claim id" if claim.id in first_use else "invalid claim id"
            raise _error(scenario.source, f"{where}.id", problem, claim.id, _CLAIM_ID_ALLOWED)
        first_use[claim.id] = i
        if not claim.source.startswith(CLAIM_SOURCES) or claim.source in CLAIM_SOURCES[:2]:
            raise _error(scenario.source, f"{where}.source", "unknown source", claim.source,
                         _CLAIM_SOURCE_ALLOWED)
        for text_field in ("statement", "observed"):
            if not getattr(claim, text_field).strip():
                raise _error(scenario.source, f"{where}.{text_field}", "empty text",
                             getattr(claim, text_field), "a sentence")
        if claim.shown_by is not None:
            _check_shown_by(scenario, where, claim)
            continue  # its jobs and bindings belong to the other scenario
        for j, pattern in enumerate(claim.calls):
            if not fnmatch.filter(call_ids, pattern):
                raise _error(scenario.source, f"{where}.calls[{j}]", "matches no call id",
                             pattern, ", ".join(call_ids) or "nothing (no call has an id)")
        for j, name in enumerate(claim.jobs):
            if name not in names:
                raise _error(scenario.source, f"{where}.jobs[{j}]",
                             "no job or POST call with this name", name,
                             ", ".join(names) or "nothing (the scenario creates no job)")
        for j, name in enumerate(claim.bindings):
            if name not in bindings:
                raise _error(scenario.source, f"{where}.bindings[{j}]", "no such binding", name,
                             ", ".join(bindings) or "nothing (the scenario has no binding)")


def _check_shown_by(scenario: Scenario, where: str, claim: Claim) -> None:
    others = sorted(p.stem for p in scenario.source.parent.glob("*.yaml")
                    if p.stem != scenario.source.stem)
    if claim.shown_by not in others:
        raise _error(scenario.source, f"{where}.shown_by", "no such scenario file",
                     claim.shown_by, ", ".join(others) or "nothing (no other scenario file)")
    if claim.calls:
        raise _error(scenario.source, f"{where}.calls", "calls of another scenario",
                     list(claim.calls), "no calls with shown_by (cite its jobs or bindings)")


def _check_unique_ids(scenarios: Sequence[Scenario]) -> None:
    # Scenario ids name pytest items and run directories, so two files must not share one.
    first: dict[str, Path] = {}
    for scenario in scenarios:
        if scenario.id in first:
            raise _error(scenario.source, "name", "duplicate scenario name", scenario.name,
                         f"a name not used by {first[scenario.id]}")
        first[scenario.id] = scenario.source
