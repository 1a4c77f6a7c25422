"""Scenario rules across fields: what the schema alone cannot say (names, schedules, fault
targets inside the window, claims that cite what shows them), and the one-line error every
rule raises (``_error``: the file, the field, the value and what is allowed).
"""

from __future__ import annotations

import fnmatch
import re
import unicodedata
from collections.abc import Sequence
from pathlib import Path
from typing import Any


import harness.scenario.schedule as _schedule
from harness.scenario.faults import FAULTS, fault_kinds
from harness.scenario.mechanisms import REDIS_BACKED, TASK_MECHANISMS
from harness.paths import COMPONENTS_DIR
from harness.scenario.model import (
    Claim,
    FailurePolicy,
    FaultSpec,
    JobSpec,
    Scenario,
    ScenarioError,
    TaskSpec,
)

__all__ = ["SCHEDULER_FAULTS", "check_semantics", "check_unique_ids"]

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
_JOB_NAME_FORBIDDEN = "/\\#?"
_JOB_NAME_ALLOWED = "1-256 characters without / \\ # ? or control characters, not '.' or '..'"
SCHEDULER_FAULTS = fault_kinds("scheduler")
_NOTHING = object()  # "got" value for fields that are missing rather than wrong



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



# --- checks across fields ----------------------------------------------------------------------


def check_semantics(scenario: Scenario) -> None:
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
        _check_job_name(scenario, f"{where}.name", job.name)
        if job.expect_status != 204:
            continue  # a bad-input probe: its body goes to Dapr as written, to see it rejected
        if job.name in first_use:
            raise _error(scenario.source, f"{where}.name", "duplicate job name", job.name,
                         f"a name not used by another job (jobs[{first_use[job.name]}] has it)")
        first_use[job.name] = i
        _check_job_timing(scenario.source, where, job)
        _check_failure_policy(scenario.source, where, job.failurePolicy)


def _check_job_name(scenario: Scenario, field: str, name: str) -> None:
    problem = _job_name_problem(name)
    if problem:
        raise _error(scenario.source, field, problem, name, _JOB_NAME_ALLOWED)


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
        _check_job_name(scenario, f"{where}.job", call.job)
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


def check_unique_ids(scenarios: Sequence[Scenario]) -> None:
    # Scenario ids name pytest items and run directories, so two files must not share one.
    first: dict[str, Path] = {}
    for scenario in scenarios:
        if scenario.id in first:
            raise _error(scenario.source, "name", "duplicate scenario name", scenario.name,
                         f"a name not used by {first[scenario.id]}")
        first[scenario.id] = scenario.source
