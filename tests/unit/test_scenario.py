"""Scenario files: valid ones load as documented; each malformed one fails with one precise line."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from builders import plain_yaml
from harness.scenario import schedule
from harness.paths import COMPONENTS_DIR
from harness.scenario.loading import load_scenario, load_scenarios
from harness.scenario.model import AppSpec, JobSpec, Scenario, ScenarioError

REPO = Path(__file__).resolve().parents[2]
REAL_SCENARIOS = sorted([*(REPO / "scenarios").glob("*.yaml"), *(REPO / "scenarios" / "load").glob("*.yaml")])

JOB = {"name": "tick", "schedule": "@every 2s"}
BINDING = {"name": "cron-tick", "schedule": "@every 1s"}
BASE: dict[str, Any] = {
    "replicas": 1,
    "window_s": 10,
    "jobs": [JOB],
    "expect": {"job": {"delivery": "exactly_once"}},
}


def write(tmp_path: Path, content: str | dict[str, Any], name: str = "case.yaml") -> Path:
    path = tmp_path / name
    path.write_text(content if isinstance(content, str) else plain_yaml(content))
    return path


def variant(**changes: Any) -> dict[str, Any]:
    """BASE with top-level fields replaced (a value of None deletes the field)."""
    doc = {**BASE, **changes}
    return {key: value for key, value in doc.items() if value is not None}


def job_variant(**fields: Any) -> dict[str, Any]:
    return variant(jobs=[{"name": "tick", **fields}])


# --- valid files -------------------------------------------------------------------------------


def test_minimal_job_scenario_gets_defaults(tmp_path: Path) -> None:
    path = write(tmp_path, BASE, "minimal-job.yaml")
    [scenario] = load_scenario(path)
    assert scenario.name == scenario.id == "minimal-job"  # the file stem
    assert scenario.source == path
    assert (scenario.replicas, scenario.window_s) == (1, 10.0)
    assert scenario.description == ""
    assert scenario.app == AppSpec()
    assert scenario.bindings == () and scenario.faults == ()
    [job] = scenario.jobs
    assert (job.name, job.schedule, job.api, job.at_s, job.expect_status) == (
        "tick", "@every 2s", "v1.0", 0.0, 204)
    assert job.extra_fields == {}
    assert scenario.expect["job"].delivery == "exactly_once"
    assert (scenario.expect["job"].min_ticks, scenario.expect["job"].max_lost) == (1, 0)


def test_binding_scenario(tmp_path: Path) -> None:
    doc = variant(name="cron-only", description="bindings only", jobs=None, bindings=[
        {**BINDING, "route": "/tick"}], expect={"binding": {"delivery": "once_per_replica"}})
    [scenario] = load_scenario(write(tmp_path, doc))
    assert scenario.name == "cron-only"
    assert scenario.jobs == ()
    [binding] = scenario.bindings
    assert (binding.name, binding.schedule, binding.route, binding.template) == (
        "cron-tick", "@every 1s", "/tick", "cron.yaml")
    assert scenario.expect["binding"].delivery == "once_per_replica"


def test_sweep_expands_one_scenario_per_replica_count(tmp_path: Path) -> None:
    doc = variant(name="sweep", replicas=[1, 3, 5],
                  faults=[{"kind": "kill_daprd", "at_s": 2, "replica": 0}])
    scenarios = load_scenario(write(tmp_path, doc))
    assert [s.id for s in scenarios] == [
        "sweep[replicas=1]", "sweep[replicas=3]", "sweep[replicas=5]"]
    assert [s.replicas for s in scenarios] == [1, 3, 5]
    assert all(s.jobs == scenarios[0].jobs and s.faults == scenarios[0].faults for s in scenarios)


def test_single_replica_list_is_still_a_sweep(tmp_path: Path) -> None:
    [scenario] = load_scenario(write(tmp_path, variant(name="one", replicas=[2])))
    assert (scenario.name, scenario.replicas) == ("one[replicas=2]", 2)


def test_job_body_is_the_jobs_api_body(tmp_path: Path) -> None:
    job = {
        "name": "full", "api": "v1.0-alpha1", "schedule": "*/2 * * * * *", "dueTime": "1s",
        "repeats": 3, "ttl": "30s", "data": {"k": [1, 2]}, "overwrite": True,
        "failurePolicy": {"constant": {"interval": "2s", "maxRetries": 3}},
        "extra_fields": {"unknownField": "x"}, "at_s": 1.5,
    }
    [scenario] = load_scenario(write(tmp_path, variant(jobs=[job])))
    assert scenario.jobs[0].body() == {
        "schedule": "*/2 * * * * *", "dueTime": "1s", "repeats": 3, "ttl": "30s",
        "data": {"k": [1, 2]}, "overwrite": True,
        "failurePolicy": {"constant": {"interval": "2s", "maxRetries": 3}},
        "unknownField": "x",
    }


def test_job_body_omits_unset_fields() -> None:
    assert JobSpec(name="a", dueTime="2s").body() == {"dueTime": "2s"}
    assert JobSpec(name="a", schedule="@daily", failurePolicy={"drop": {}}).body() == {
        "schedule": "@daily", "failurePolicy": {"drop": {}}}


def test_bad_input_probes_skip_semantic_job_checks(tmp_path: Path) -> None:
    # Probes exist to send Dapr what it should refuse; only the window and the name (a URL
    # path segment) still apply to them.
    probes = [{"name": "tick", "schedule": "bogus", "repeats": 5, "expect_status": 500}]
    [scenario] = load_scenario(write(tmp_path, variant(jobs=[JOB, *probes])))
    assert [job.expect_status for job in scenario.jobs] == [204, 500]


def test_a_probe_name_is_still_a_url_segment(tmp_path: Path) -> None:
    path = write(tmp_path, variant(jobs=[JOB, {"name": "a/b", "expect_status": 400}]))
    with pytest.raises(ScenarioError, match=r"jobs\[1\]\.name: job name contains '/'"):
        load_scenario(path)


def test_yaml_merge_keys_are_refused_like_every_alias(tmp_path: Path) -> None:
    text = ("replicas: 1\nwindow_s: 10\njobs:\n- &j {name: a, schedule: '@daily'}\n"
            "- <<: *j\n  name: b\n")
    with pytest.raises(ScenarioError, match=r"line 4 column 3: YAML anchor or alias, got '&j'"):
        load_scenario(write(tmp_path, text))


def test_load_scenarios_sorts_by_file_name_and_concatenates(tmp_path: Path) -> None:
    write(tmp_path, variant(replicas=[1, 2]), "b.yaml")
    write(tmp_path, BASE, "a.yaml")
    write(tmp_path, "not: [scenario", "ignored.yml")
    assert [s.id for s in load_scenarios(tmp_path)] == ["a", "b[replicas=1]", "b[replicas=2]"]


def test_load_scenarios_of_empty_directory(tmp_path: Path) -> None:
    assert load_scenarios(tmp_path) == []


def test_load_scenarios_rejects_two_files_with_one_name(tmp_path: Path) -> None:
    write(tmp_path, variant(name="same"), "a.yaml")
    write(tmp_path, variant(name="same"), "b.yaml")
    with pytest.raises(ScenarioError, match=r"b\.yaml: name: duplicate scenario name"):
        load_scenarios(tmp_path)


def test_cron_template_formats_into_a_component() -> None:
    text = (COMPONENTS_DIR / "cron.yaml").read_text()
    route_line = "  - name: route\n    value: /tick"
    filled = text.format(name="tick", schedule="@every 1s", route_line=route_line)
    component = yaml.safe_load(filled)
    assert component["metadata"]["name"] == "tick"
    assert component["spec"]["type"] == "bindings.cron"
    assert {"name": "schedule", "value": "@every 1s"} in component["spec"]["metadata"]
    assert {"name": "route", "value": "/tick"} in component["spec"]["metadata"]


@pytest.mark.parametrize("path", REAL_SCENARIOS, ids=lambda path: path.name)
def test_repo_scenarios_load(path: Path) -> None:
    assert load_scenario(path)


# --- malformed files ---------------------------------------------------------------------------

Allowed = str | Callable[[], str]  # a callable is evaluated at test time (schedule.py's wording)


def allowed_part(message: str | None) -> str:
    """What schedule.py says is allowed, without depending on how it words the problem."""
    assert message, "schedule.py accepted a schedule this test needs to be invalid"
    return message.rpartition("; allowed: ")[2]

MALFORMED: list[tuple[str, str | dict[str, Any], str, Allowed]] = [
    # (id, file content, field path, fragment of what is allowed)
    ("unknown-top-level-field", variant(colour="red"), "colour", "window_s"),
    ("source-is-not-a-file-field", variant(source="x.yaml"), "source", "replicas"),
    ("unknown-job-field", job_variant(schedul="@daily"), "jobs[0].schedul", "schedule"),
    ("unknown-nested-field", job_variant(dueTime="1s", failurePolicy={"constant": {"retries": 1}}),
     "jobs[0].failurePolicy.constant.retries", "interval, maxRetries"),
    ("bad-name", variant(name="My_Scenario"), "name", "lowercase"),
    ("replicas-missing", variant(replicas=None), "replicas", "integer 1..10"),
    ("replicas-0", variant(replicas=0), "replicas", "1..10"),
    ("replicas-11", variant(replicas=11), "replicas", "1..10"),
    ("replicas-duplicates", variant(replicas=[1, 2, 2]), "replicas", "distinct"),
    ("replicas-empty-list", variant(replicas=[]), "replicas", "non-empty list"),
    ("replicas-item-out-of-range", variant(replicas=[1, 12]), "replicas[1]", "1..10"),
    ("replicas-string", variant(replicas="three"), "replicas", "integer"),
    ("replicas-bool", variant(replicas=True), "replicas", "integer"),
    ("window-negative", variant(window_s=-5), "window_s", "> 0"),
    ("window-too-long", variant(window_s=7200), "window_s", "<= 3600"),
    ("window-missing", variant(window_s=None), "window_s", "a number > 0"),
    ("window-wrong-type", variant(window_s="long"), "window_s", "a number"),
    ("jobs-not-a-list", variant(jobs={"tick": {}}), "jobs", "a list"),
    ("job-name-missing", variant(jobs=[{"schedule": "@daily"}]), "jobs[0].name", "a string"),
    ("job-api-unknown", job_variant(schedule="@daily", api="v2"), "jobs[0].api", "'v1.0-alpha1'"),
    ("schedule-5-fields", job_variant(schedule="* * * * *"), "jobs[0].schedule",
     lambda: allowed_part(schedule.job_schedule_error("* * * * *"))),
    ("schedule-bogus", job_variant(schedule="bogus"), "jobs[0].schedule",
     lambda: allowed_part(schedule.job_schedule_error("bogus"))),
    ("job-without-schedule-or-due-time", job_variant(), "jobs[0].schedule", "dueTime"),
    ("repeats-0", job_variant(schedule="@daily", repeats=0), "jobs[0].repeats", ">= 1"),
    ("repeats-without-schedule", job_variant(dueTime="1s", repeats=3), "jobs[0].repeats",
     "set schedule"),
    ("ttl-without-schedule", job_variant(dueTime="1s", ttl="10s"), "jobs[0].ttl", "schedule"),
    ("job-at-after-window", job_variant(schedule="@daily", at_s=10), "jobs[0].at_s",
     "< window_s (10)"),
    ("duplicate-job-names", variant(jobs=[JOB, JOB]), "jobs[1].name", "jobs[0] has it"),
    ("job-name-slash", job_variant(name="a/b", dueTime="1s"), "jobs[0].name", "without /"),
    ("job-name-dot-dot", job_variant(name="..", dueTime="1s"), "jobs[0].name", "not '.' or '..'"),
    ("job-name-too-long", job_variant(name="x" * 257, dueTime="1s"), "jobs[0].name",
     "1-256 characters"),
    ("failure-policy-both", job_variant(dueTime="1s", failurePolicy={
        "constant": {"interval": "1s"}, "drop": {}}), "jobs[0].failurePolicy", "exactly one of"),
    ("failure-policy-neither", job_variant(dueTime="1s", failurePolicy={}),
     "jobs[0].failurePolicy", "exactly one of"),
    ("binding-name-uppercase", variant(bindings=[{**BINDING, "name": "Cron"}]),
     "bindings[0].name", "lowercase letters"),
    ("duplicate-binding-names", variant(bindings=[BINDING, BINDING]), "bindings[1].name",
     "bindings[0] has it"),
    ("binding-schedule-bad", variant(bindings=[{**BINDING, "schedule": "bogus"}]),
     "bindings[0].schedule", lambda: allowed_part(schedule.binding_schedule_error("bogus"))),
    ("binding-template-missing", variant(bindings=[{**BINDING, "template": "nope.yaml"}]),
     "bindings[0].template", "cron.yaml"),
    ("binding-template-outside-components", variant(bindings=[
        {**BINDING, "template": "../components/cron.yaml"}]), "bindings[0].template", "cron.yaml"),
    ("delivery-unknown", variant(expect={"job": {"delivery": "twice"}}), "expect.job.delivery",
     "'exactly_once'"),
    ("expect-key-unknown", variant(expect={"cron": {"delivery": "exactly_once"}}), "expect.cron",
     "'binding'"),
    ("expect-unused-mechanism", variant(expect={"binding": {"delivery": "exactly_once"}}),
     "expect.binding", "'job'"),
    ("expect-job-only-probes", variant(jobs=[{"name": "p", "expect_status": 400}]), "expect.job",
     "nothing"),
    ("fault-kind-unknown", variant(faults=[{"kind": "explode", "at_s": 1}]), "faults[0].kind",
     "'kill_daprd'"),
    ("fault-replica-out-of-range", variant(replicas=2, faults=[
        {"kind": "kill_daprd", "at_s": 1, "replica": 2}]), "faults[0].replica", "0..1"),
    ("fault-replica-beyond-smallest-sweep-value", variant(replicas=[3, 1], faults=[
        {"kind": "kill_app", "at_s": 1, "replica": 1}]), "faults[0].replica", "0..0"),
    ("fault-at-window-end", variant(faults=[{"kind": "kill_daprd", "at_s": 10}]),
     "faults[0].at_s", "< window_s (10)"),
    ("fault-needs-duration", variant(faults=[{"kind": "pause_replica", "at_s": 2}]),
     "faults[0].duration_s", "<= 8"),
    ("fault-outlasts-window", variant(faults=[{"kind": "app_down", "at_s": 2, "duration_s": 9}]),
     "faults[0].duration_s", "<= 8"),
    ("yaml-syntax-error", "replicas: 1\nwindow_s: 10\njobs:\n- name: a\n  schedule: @daily\n",
     "line 5 column 13", "quote values that start with @"),
    ("yaml-duplicate-key", "replicas: 1\nwindow_s: 10\nwindow_s: 20\n", "line 3 column 1",
     "valid YAML"),
    ("not-a-mapping", "- replicas: 1\n", "<file>", "a mapping with fields"),
    ("empty-file", "", "<file>", "a mapping with fields"),
    ("comments-only-file", "# nothing here\n", "<file>", "a mapping with fields"),
]


@pytest.mark.parametrize(("content", "field", "allowed"),
                         [case[1:] for case in MALFORMED], ids=[case[0] for case in MALFORMED])
def test_malformed_file_fails_with_one_precise_line(
    tmp_path: Path, content: str | dict[str, Any], field: str, allowed: Allowed
) -> None:
    path = write(tmp_path, content, "broken-scenario.yaml")
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    message = str(caught.value)
    fragment = allowed() if callable(allowed) else allowed
    assert "\n" not in message
    assert message.startswith(f"{path}: {field}: "), message
    assert ", got " in message and "; allowed: " in message, message
    assert fragment in message.split("; allowed: ", 1)[1], message


def test_invalid_file_stem_needs_explicit_name(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match=r"Bad_Stem\.yaml: name: .*rename the file"):
        load_scenario(write(tmp_path, BASE, "Bad_Stem.yaml"))
    assert load_scenario(write(tmp_path, variant(name="ok"), "Bad_Stem.yaml"))[0].name == "ok"


def test_scenario_model_is_frozen(tmp_path: Path) -> None:
    [scenario] = load_scenario(write(tmp_path, BASE))
    with pytest.raises(ValueError):
        scenario.replicas = 2  # type: ignore[misc]
    assert isinstance(scenario, Scenario)
