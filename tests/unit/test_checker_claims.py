"""The checker's verdicts on API calls and per-job expectations (no Dapr).

Built histories exercise each rule; three histories recorded from real Dapr 1.18.3 runs of the
claim scenarios (tests/histories/claims_*.jsonl, with the scenario files they ran) must give the
verdicts those runs gave, and must fail when an expectation is changed to what Dapr did not do.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from builders import plain_yaml

from harness.check import CheckReport, check_run, same_json
from harness.record.history import Event, History, Trigger, load_history
from harness.scenario.model import ApiCall, JobExpectation, JobSpec, Scenario
from harness.scenario.loading import load_scenario

T0 = 1_764_000_000.0


def check(h: History, s: Scenario) -> CheckReport:
    return check_run(s, h)
HISTORIES = Path(__file__).parent / "histories"


def ev(event: str, wall: float, **attrs: Any) -> Event:
    return Event(event=event, wall=wall, mono=wall - T0, attrs=attrs)


def trig(name: str, wall: float, *, payload: Any = None, raw: str | None = None,
         status: int = 200, replica: int = 0, headers: dict[str, str] | None = None) -> Trigger:
    return Trigger(mechanism="job", name=name, replica=replica, pid=4000, wall=wall,
                   mono=wall - T0, payload=payload, raw=raw, status=status,
                   outcome="ok" if status < 400 else "failed", headers=headers or {})


def history(*records: Trigger | Event, end: float = T0 + 20) -> History:
    events = [ev("replica_ready", T0 - 1, replica=0), ev("window_start", T0),
              ev("window_end", end)]
    events += [r for r in records if isinstance(r, Event)]
    return History(triggers=tuple(r for r in records if isinstance(r, Trigger)),
                   events=tuple(sorted(events, key=lambda e: e.wall)))


def created(name: str, sent: float = T0, status: int = 204, **spec: Any) -> Event:
    return ev("job_created", sent + 0.01, name=name, spec=spec, sent_wall=sent, status=status)


def api_call(index: int, method: str, job: str, status: int | None, response: str = "",
             sent: float = T0, error: str | None = None) -> Event:
    return ev("api_call", sent + 0.01, index=index, id=None, method=method, api="v1.0", job=job,
              url=f"http://x/v1.0/jobs/{job}", body=None, sent_wall=sent, status=status,
              response=response, error=error)


def scenario(*, jobs: tuple[JobSpec, ...] = (), calls: tuple[ApiCall, ...] = (),
             expect_jobs: tuple[JobExpectation, ...] = ()) -> Scenario:
    return Scenario(name="t", source=Path("t.yaml"), replicas=1, window_s=20, jobs=jobs,
                    calls=calls, expect_jobs=expect_jobs)


# --- calls -------------------------------------------------------------------------------------

GET_BODY = ('{"name":"a","schedule":"@daily","data":{"@type":"type.googleapis.com/'
            'google.protobuf.Value","value":{"k":[1,{"z":true}]}}}')


def test_call_with_expected_status_and_body_passes() -> None:
    call = ApiCall(method="GET", job="a", expect_status=200, expect_body={
        "schedule": "@daily", "data.value.k.1.z": True, "data.@type":
        "type.googleapis.com/google.protobuf.Value", "data.value": {"k": [1, {"z": True}]}},
        expect_absent=["dueTime", "data.value.k.5"], expect_contains='"name":"a"')
    result = check(history(api_call(0, "GET", "a", 200, GET_BODY)), scenario(calls=(call,)))
    [c] = result.calls
    assert (c.verdict, c.reasons, c.observed_status) == ("pass", [], 200)
    assert len(c.checks) == 7 and result.passed
    assert result.calls[0].to_dict()["observed_status"] == 200


def test_call_status_mismatch_fails_with_both_codes() -> None:
    call = ApiCall(method="POST", job="a", expect_status=400)
    result = check(history(api_call(0, "POST", "a", 409, '{"errorCode":"X"}')),
                   scenario(calls=(call,)))
    assert result.calls[0].reasons == ["status 409, expected 400"] and not result.passed


@pytest.mark.parametrize(("expect_body", "absent", "contains", "reason"), [
    ({"schedule": "@hourly"}, (), None, "body schedule: '@daily', expected '@hourly'"),
    ({"data.value.k.1.z": 1}, (), None, "body data.value.k.1.z: True, expected 1"),
    ({"repeats": 24}, (), None, "body repeats: missing, expected 24"),
    ({}, ("data.value",), None, ("body data.value: present ({'k': [1, {'z': True}]}), "
                                 "expected absent")),
    ({}, (), "not found", "body does not contain 'not found'"),
])
def test_call_body_mismatches(expect_body: dict[str, Any], absent: tuple[str, ...],
                              contains: str | None, reason: str) -> None:
    call = ApiCall(method="GET", job="a", expect_status=200, expect_body=expect_body,
                   expect_absent=absent, expect_contains=contains)
    result = check(history(api_call(0, "GET", "a", 200, GET_BODY)), scenario(calls=(call,)))
    assert result.calls[0].verdict == "fail"
    assert result.calls[0].reasons[0].startswith(reason), result.calls[0].reasons


def test_whole_body_path_and_empty_body() -> None:
    calls = (ApiCall(method="DELETE", job="a", expect_status=204, expect_body={"$": None}),
             ApiCall(method="GET", job="a", expect_status=500, expect_body={"$": "oops"}))
    h = history(api_call(0, "DELETE", "a", 204, ""), api_call(1, "GET", "a", 500, "oops"))
    assert [c.verdict for c in check(h, scenario(calls=calls)).calls] == ["pass", "pass"]


def test_call_without_answer_or_never_made_fails() -> None:
    calls = (ApiCall(method="GET", job="a", expect_status=200),
             ApiCall(method="GET", job="b", expect_status=200))
    h = history(api_call(0, "GET", "a", None, None, error="ReadTimeout: timed out"))
    result = check(h, scenario(calls=calls))
    assert result.calls[0].reasons == ["no answer (ReadTimeout: timed out), expected status 200"]
    assert result.calls[1].reasons == ["the call was not made (no api_call event in the history)"]


def test_same_json_is_json_equality() -> None:
    assert same_json({"a": [1, 2.0]}, {"a": [1.0, 2]})
    assert not same_json(True, 1) and not same_json(1, True)
    assert not same_json("1", 1) and not same_json(None, {})
    assert not same_json({"a": 1}, {"a": 1, "b": 2}) and not same_json([1], [1, 1])


# --- per-job expectations ------------------------------------------------------------------------

EVERY1 = JobSpec(name="tick", schedule="@every 1s")


def ticks(n: int, start: float = T0 + 1.003, step: float = 1.0, **kw: Any) -> list[Trigger]:
    return [trig("tick", start + step * k, **kw) for k in range(n)]


def one(h: History, entry: JobExpectation, jobs: tuple[JobSpec, ...] = (EVERY1,)) -> Any:
    result = check(h, scenario(jobs=jobs, expect_jobs=(entry,)))
    [e] = result.job_expectations
    assert result.passed is (e.verdict == "pass")
    return e


def test_exact_count_spacing_and_first_trigger() -> None:
    h = history(created("tick"), *ticks(4))
    e = one(h, JobExpectation(job="tick", triggers=4, min_spacing_s=0.9, max_spacing_s=1.1,
                              min_first_s=1.0, max_first_s=1.1))
    assert (e.verdict, e.triggers, e.first_s) == ("pass", 4, pytest.approx(1.003))
    assert e.spacing_s == {"min": pytest.approx(1.0), "max": pytest.approx(1.0)}
    bad = one(h, JobExpectation(job="tick", triggers=3, min_spacing_s=1.5, max_first_s=0.5))
    assert bad.reasons == ["4 triggers, expected exactly 3",
                           "smallest spacing 1 s, expected at least 1.5 s",
                           "first trigger after create 1.003 s, expected at most 0.5 s"]


def test_time_window_selects_triggers() -> None:
    h = history(created("tick"), *ticks(10))
    assert one(h, JobExpectation(job="tick", from_s=4.5, until_s=7.5, triggers=3)).triggers == 3
    assert one(h, JobExpectation(job="tick", until_s=4.5, min_triggers=4)).verdict == "pass"
    late = one(h, JobExpectation(job="tick", from_s=20, max_triggers=0))
    assert (late.verdict, late.triggers) == ("pass", 0)
    e = one(h, JobExpectation(job="tick", from_s=2, min_triggers=10, max_triggers=20))
    assert e.reasons == ["triggers 9, expected at least 10"]


def test_spacing_needs_two_triggers_and_first_needs_a_trigger() -> None:
    h = history(created("tick"), *ticks(1))
    e = one(h, JobExpectation(job="tick", max_spacing_s=2))
    assert e.reasons == ["no spacing to judge: 1 trigger(s)"]
    e = one(history(created("tick")), JobExpectation(job="tick", min_first_s=1))
    assert e.reasons == ["no trigger to time"]


def test_first_trigger_is_timed_from_the_latest_create_before_it() -> None:
    # Created at T0, overwritten by a POST call at T0+5.5: triggers after it count from there.
    h = history(created("tick"), *ticks(5), api_call(0, "POST", "tick", 204, sent=T0 + 5.5),
                *ticks(3, start=T0 + 7.504, step=2.0))
    e = one(h, JobExpectation(job="tick", from_s=5.5, min_first_s=2.0, max_first_s=2.05))
    assert e.first_s == pytest.approx(2.004) and e.verdict == "pass"
    # A refused POST (409) is not a create.
    h409 = history(created("tick"), *ticks(5), api_call(0, "POST", "tick", 409, sent=T0 + 5.5),
                   *ticks(3, start=T0 + 7.504, step=2.0))
    assert one(h409, JobExpectation(job="tick", from_s=5.5, max_first_s=3)).first_s == \
        pytest.approx(7.504)


def test_payload_raw_body_headers_and_empty_body() -> None:
    json_header = {"content-type": "application/json"}
    h = history(created("tick"), trig("tick", T0 + 1, payload={"b": 1, "a": "é"},
                                      raw='{"a":"é","b":1}', headers=json_header),
                trig("tick", T0 + 2, payload=None, raw=None, headers=json_header))
    good = JobExpectation(job="tick", until_s=1.5, payload={"a": "é", "b": 1},
                          raw_body='{"a":"é","b":1}', headers=json_header)
    assert one(h, good).verdict == "pass"
    assert one(h, JobExpectation(job="tick", from_s=1.5, empty_body=True)).verdict == "pass"
    bad = one(h, JobExpectation(job="tick", payload={"a": "é", "b": 1}, empty_body=True,
                                headers={"content-type": "text/plain"}))
    assert bad.reasons == [
        "1 of 2 triggers had payload None, expected {'a': 'é', 'b': 1}",
        "1 of 2 triggers had body '{\"a\":\"é\",\"b\":1}', expected None",
        "2 of 2 triggers had header content-type 'application/json', expected 'text/plain'",
    ]
    nothing = one(history(created("tick")), JobExpectation(job="tick", payload=1))
    assert nothing.reasons == ["no trigger to check the payload of"]


def test_tick_fields_judge_the_jobs_tick_model() -> None:
    # @every 1s from T0: ticks T0+1..T0+18 judged (the window ends at T0+18.5); T0+5 missing
    # and one more 0.1 s before T0+10. Kind reading: every tick from T0+5 on came one tick
    # late; strict: T0+5 lost and T0+9 delivered twice, the second nearer T0+10 than T0+9 (so
    # maybe T0+10 early). The tick fields take the upper bounds.
    triggers = [t for t in ticks(18) if t.wall < T0 + 5 or t.wall > T0 + 6]
    triggers.append(trig("tick", T0 + 9.9))
    h = history(created("tick"), *triggers, end=T0 + 18.5)
    e = one(h, JobExpectation(job="tick", min_ticks=20, max_lost=0, max_early=0,
                              max_duplicated=0, max_lateness_ms=2))
    assert e.reasons == ["window too short: 18 ticks judged, need at least 20",
                         "1 lost ticks, allowed 0", "1 duplicated ticks, allowed 0",
                         "1 early attempts, allowed 0", "lateness up to 3 ms, allowed 2 ms"]
    ok = one(h, JobExpectation(job="tick", max_lost=1, max_early=1, max_duplicated=1))
    assert ok.verdict == "pass"


def test_tick_model_uses_the_rfc3339_due_time_that_was_sent() -> None:
    job = JobSpec(name="once", due_rfc3339_in_s=3)
    due = "2025-11-24T16:00:04Z"  # T0 + 4: the whole second after T0 + 3
    h = history(created("once", dueTime=due), trig("once", T0 + 4.002))
    result = check(h, scenario(jobs=(job,), expect_jobs=(
        JobExpectation(job="once", min_ticks=1, max_lost=0, max_early=0, max_lateness_ms=5),)))
    assert result.passed, result.job_expectations[0].reasons
    early = history(created("once", dueTime=due), trig("once", T0 + 3.5))
    failed = check(early, scenario(jobs=(job,), expect_jobs=(
        JobExpectation(job="once", max_early=0),)))
    assert failed.job_expectations[0].reasons == ["1 early attempts, allowed 0"]


def test_delete_call_ends_the_expected_ticks() -> None:
    h = history(created("tick"), *ticks(4), api_call(0, "DELETE", "tick", 204, sent=T0 + 4.5))
    result = check(h, scenario(jobs=(EVERY1,), expect_jobs=(
        JobExpectation(job="tick", max_lost=0),)))
    assert result.mechanisms[0].across.ticks == 4 and result.passed


def test_job_triggers_summarise_every_job() -> None:
    h = history(created("tick"), *ticks(3, status=500), created("other", sent=T0 + 2))
    stats = check(h, scenario(jobs=(EVERY1, JobSpec(name="other", dueTime="1s")))).job_triggers
    assert stats["tick"]["triggers"] == 3 and stats["tick"]["app_status"] == {"500": 3}
    assert stats["tick"]["at_s"] == [1.003, 2.003, 3.003]
    assert stats["tick"]["spacing_s"] == {"min": 1.0, "max": 1.0}
    assert stats["other"] == {"triggers": 0, "app_status": {}, "per_replica": {},
                              "first_after_create_s": None, "spacing_s": None, "at_s": [],
                              "payloads": []}


# --- recorded runs on real Dapr 1.18.3 -----------------------------------------------------------


def recorded(name: str) -> tuple[History, Scenario]:
    [scenario] = load_scenario(HISTORIES / f"{name.replace('_', '-')}.yaml")
    return load_history(HISTORIES / f"{name}.jsonl"), scenario


def modified(tmp_path: Path, name: str, change: Any) -> Scenario:
    """The recorded run's scenario with one expectation changed (via the YAML, validated)."""
    stem = name.replace("_", "-")
    doc = yaml.safe_load((HISTORIES / f"{stem}.yaml").read_text(encoding="utf-8"))
    change(doc)
    path = tmp_path / f"{stem}.yaml"
    path.write_text(plain_yaml(doc), encoding="utf-8")
    return load_scenario(path)[0]


@pytest.mark.parametrize("name", ["claims_api", "claims_handlers", "claims_restart"])
def test_recorded_claim_runs_pass(name: str) -> None:
    h, scenario = recorded(name)
    result = check(h, scenario)
    failing = [c.reasons for c in result.calls if c.verdict == "fail"]
    failing += [e.reasons for e in result.job_expectations if e.verdict == "fail"]
    assert result.passed, failing
    assert len(result.calls) == len(scenario.calls)
    assert len(result.job_expectations) == len(scenario.expect_jobs)


def test_recorded_api_run_status_codes() -> None:
    h, scenario = recorded("claims_api")
    observed = {c.id: c.observed_status for c in check(h, scenario).calls}
    assert observed["dup-again-v1"] == 409 and observed["get-missing"] == 500
    assert observed["delete-missing"] == 204 and observed["five-fields"] == 500
    assert observed["bad-json"] == 400 and observed["no-schedule"] == 400


def test_recorded_api_run_fails_if_400_were_expected_for_a_duplicate(tmp_path: Path) -> None:
    def expect_400(doc: dict[str, Any]) -> None:
        call = next(c for c in doc["calls"] if c.get("id") == "dup-again-v1")
        call["expect_status"] = 400
    h, _ = recorded("claims_api")
    result = check(h, modified(tmp_path, "claims_api", expect_400))
    [bad] = [c for c in result.calls if c.verdict == "fail"]
    assert bad.id == "dup-again-v1" and bad.reasons == ["status 409, expected 400"]


def test_recorded_handlers_run_fails_if_retry_body_were_retried(tmp_path: Path) -> None:
    def expect_retries(doc: dict[str, Any]) -> None:
        entry = next(e for e in doc["expect_jobs"] if e["job"] == "h-retry-body")
        entry["triggers"] = 4
    h, _ = recorded("claims_handlers")
    result = check(h, modified(tmp_path, "claims_handlers", expect_retries))
    [bad] = [e for e in result.job_expectations if e.verdict == "fail"]
    assert (bad.job, bad.reasons) == ("h-retry-body", ["1 triggers, expected exactly 4"])


def test_recorded_restart_run_shows_the_silent_gap_and_the_replay() -> None:
    h, scenario = recorded("claims_restart")
    by_window = {(e.job, e.from_s, e.until_s): e for e in check(h, scenario).job_expectations}
    assert by_window[("survivor", 5.0, 22.0)].triggers == 0
    burst = by_window[("survivor", 22.0, 29.0)]
    assert burst.triggers >= 15 and burst.spacing_s is not None and burst.spacing_s["min"] < 0.1
