"""Scenario fields for claims: API calls, per-job expectations, claim blocks, RFC3339 due times.

Valid files load as documented; each malformed one fails with one precise line (the same
format as tests/test_scenario.py checks). No Dapr needed.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from builders import plain_yaml
from harness.scenario.model import JobSpec, ScenarioError
from harness.scenario.loading import load_scenario

REPO = Path(__file__).resolve().parents[2]
CLAIM_SCENARIOS = sorted((REPO / "scenarios").glob("claims-*.yaml"))

CALL = {"id": "get-tick", "method": "GET", "job": "tick", "expect_status": 200}
CLAIM = {"id": "C1", "source": "lesson: Managing Jobs", "statement": "GET works.",
         "verdict": "holds", "observed": "200."}
BASE: dict[str, Any] = {
    "replicas": 1,
    "window_s": 10,
    "jobs": [{"name": "tick", "schedule": "@every 2s"}],
    "calls": [CALL],
}


def write(tmp_path: Path, doc: dict[str, Any] | str, name: str = "case.yaml") -> Path:
    path = tmp_path / name
    path.write_text(doc if isinstance(doc, str) else plain_yaml(doc))
    return path


def variant(**changes: Any) -> dict[str, Any]:
    doc = {**BASE, **changes}
    return {key: value for key, value in doc.items() if value is not None}


def call_variant(**fields: Any) -> dict[str, Any]:
    return variant(calls=[{**CALL, **fields}])


def expect_variant(**fields: Any) -> dict[str, Any]:
    return variant(expect_jobs=[{"job": "tick", **fields}])


def claim_variant(**fields: Any) -> dict[str, Any]:
    return variant(claims=[{**CLAIM, **fields}])


# --- valid files -------------------------------------------------------------------------------


def test_calls_expectations_and_claims_load(tmp_path: Path) -> None:
    doc = variant(
        calls=[CALL, {"id": "post-x", "at_s": 1.5, "method": "POST", "api": "v1.0-alpha1",
                      "job": "x", "body": {"schedule": "@daily"}, "expect_status": 409,
                      "expect_body": {"errorCode": "E", "details.0.reason": "E"},
                      "expect_absent": ["data"], "expect_contains": "exists"},
               {"method": "POST", "job": "bad", "raw_body": "{", "expect_status": 400}],
        expect_jobs=[{"job": "tick", "triggers": 3, "min_spacing_s": 1.9, "max_spacing_s": 2.1},
                     {"job": "x", "from_s": 2, "until_s": 5, "payload": {"v": 2}},
                     {"job": "tick", "max_lost": 0, "max_early": 0, "max_lateness_ms": 100}],
        claims=[{**CLAIM, "calls": ["get-*", "post-x"], "jobs": ["tick", "x"]},
                {**CLAIM, "id": "C1b", "source": "dapr-facts", "verdict": "wrong"}],
    )
    [scenario] = load_scenario(write(tmp_path, doc))
    assert [c.method for c in scenario.calls] == ["GET", "POST", "POST"]
    assert scenario.calls[1].expect_body == {"errorCode": "E", "details.0.reason": "E"}
    assert scenario.calls[0].api == "v1.0" and scenario.calls[0].at_s == 0.0
    assert scenario.calls[2].id is None and scenario.calls[2].raw_body == "{"
    assert scenario.expect_jobs[2].tick_fields == ("max_lost", "max_early", "max_lateness_ms")
    assert scenario.expect_jobs[0].tick_fields == ()
    assert [c.id for c in scenario.all_claims] == ["C1", "C1b"]
    assert scenario.claim is None


def test_single_claim_block(tmp_path: Path) -> None:
    [scenario] = load_scenario(write(tmp_path, variant(claim=CLAIM)))
    assert [c.id for c in scenario.all_claims] == ["C1"]


def test_claim_shown_by_another_scenario(tmp_path: Path) -> None:
    write(tmp_path, variant(), "other.yaml")
    doc = claim_variant(shown_by="other", jobs=["only-in-other"], bindings=["cron-there"])
    [scenario] = load_scenario(write(tmp_path, doc))
    assert scenario.all_claims[0].shown_by == "other"


def test_due_rfc3339_in_s_sends_a_whole_second_utc_timestamp() -> None:
    job = JobSpec(name="a", due_rfc3339_in_s=3)
    now = 1_795_000_000.25
    body = job.body(now=now)
    assert body == {"dueTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(1_795_000_004))}
    assert JobSpec(name="a", due_rfc3339_in_s=3).body(now=1_795_000_000.0)["dueTime"].endswith(
        time.strftime("%H:%M:%SZ", time.gmtime(1_795_000_003)))


def test_due_rfc3339_in_s_counts_as_a_due_time(tmp_path: Path) -> None:
    doc = variant(jobs=[{"name": "once", "due_rfc3339_in_s": 2}], calls=None)
    [scenario] = load_scenario(write(tmp_path, doc))
    assert scenario.jobs[0].dueTime is None and scenario.jobs[0].due_rfc3339_in_s == 2


@pytest.mark.parametrize("path", CLAIM_SCENARIOS, ids=lambda path: path.name)
def test_repo_claim_scenarios_load_with_claims(path: Path) -> None:
    [scenario] = load_scenario(path)
    assert scenario.all_claims, f"{path.name} records no claim"
    assert all(c.source.startswith(("lesson: ", "dapr-facts")) for c in scenario.all_claims)


def test_repo_claim_ids_are_unique() -> None:
    ids = [c.id for path in CLAIM_SCENARIOS for c in load_scenario(path)[0].all_claims]
    assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)


def test_claim_scenarios_stay_within_the_time_budget() -> None:
    # Each run costs its window plus about 5 s of startup and teardown; the set stays < 4 min.
    total = sum(load_scenario(path)[0].window_s + 5 for path in CLAIM_SCENARIOS)
    assert total < 240, total


# --- malformed files ---------------------------------------------------------------------------

MALFORMED: list[tuple[str, dict[str, Any], str, str]] = [
    # (id, file content, field path, fragment of what is allowed)
    ("call-method-unknown", call_variant(method="PUT"), "calls[0].method", "'DELETE'"),
    ("call-without-expected-status", variant(calls=[{"method": "GET", "job": "tick"}]),
     "calls[0].expect_status", "an integer"),
    ("call-unknown-field", call_variant(expect_json={}), "calls[0].expect_json",
     "expect_body"),
    ("call-after-window", call_variant(at_s=10), "calls[0].at_s", "< window_s (10)"),
    ("call-body-on-get", call_variant(body={"a": 1}), "calls[0].body", "only on POST"),
    ("call-raw-body-on-delete", call_variant(method="DELETE", raw_body="x"),
     "calls[0].raw_body", "only on POST"),
    ("call-both-bodies", call_variant(method="POST", body={}, raw_body="{}"),
     "calls[0].raw_body", "one of body"),
    ("call-empty-path-segment", call_variant(expect_body={"data..x": 1}),
     "calls[0].expect_body", "dotted keys"),
    ("call-bad-id", call_variant(id="Get Tick"), "calls[0].id", "lowercase"),
    ("call-duplicate-id", variant(calls=[CALL, CALL]), "calls[1].id", "calls[0] has it"),
    ("expect-unknown-job", expect_variant(job="nope"), "expect_jobs[0].job", "tick"),
    ("expect-unknown-field", expect_variant(count=3), "expect_jobs[0].count", "triggers"),
    ("expect-window-reversed", expect_variant(from_s=5, until_s=2), "expect_jobs[0].until_s",
     "> from_s (5)"),
    ("expect-exact-and-bound", expect_variant(triggers=3, max_triggers=4),
     "expect_jobs[0].max_triggers", "not both"),
    ("expect-min-above-max", expect_variant(min_spacing_s=2, max_spacing_s=1),
     "expect_jobs[0].max_spacing_s", ">= min_spacing_s (2)"),
    ("expect-first-min-above-max", expect_variant(min_first_s=3, max_first_s=1),
     "expect_jobs[0].max_first_s", ">= min_first_s (3)"),
    ("expect-empty-body-and-payload", expect_variant(empty_body=True, payload={"a": 1}),
     "expect_jobs[0].payload", "not both"),
    ("expect-tick-fields-with-window", expect_variant(max_lost=0, from_s=2),
     "expect_jobs[0].from_s", "second entry"),
    ("expect-tick-fields-need-a-jobs-entry",
     variant(calls=[{"method": "POST", "job": "x", "body": {}, "expect_status": 204}],
             expect_jobs=[{"job": "x", "max_early": 0}]),
     "expect_jobs[0].max_early", "tick"),
    ("expect-negative-count", expect_variant(triggers=-1), "expect_jobs[0].triggers", ">= 0"),
    ("claim-and-claims", variant(claim=CLAIM, claims=[CLAIM]), "claims", "not both"),
    ("claim-bad-id", claim_variant(id="claim-1"), "claims[0].id", "e.g. C2a"),
    ("claim-duplicate-id", variant(claims=[CLAIM, CLAIM]), "claims[1].id", "unique"),
    ("claim-unknown-source", claim_variant(source="blog post"), "claims[0].source",
     "'lesson: <section>'"),
    ("claim-source-without-section", claim_variant(source="lesson: "), "claims[0].source",
     "'dapr-facts'"),
    ("claim-unknown-verdict", claim_variant(verdict="maybe"), "claims[0].verdict", "'partly'"),
    ("claim-empty-statement", claim_variant(statement=" "), "claims[0].statement", "a sentence"),
    ("claim-call-glob-matches-nothing", claim_variant(calls=["post-*"]), "claims[0].calls[0]",
     "get-tick"),
    ("claim-unknown-job", claim_variant(jobs=["nope"]), "claims[0].jobs[0]", "tick"),
    ("claim-unknown-binding", claim_variant(bindings=["cron"]), "claims[0].bindings[0]",
     "no binding"),
    ("claim-single-block-bad-id", variant(claim={**CLAIM, "id": "X"}), "claim.id", "e.g. C2a"),
    ("claim-shown-by-missing-file", claim_variant(shown_by="nowhere"), "claims[0].shown_by",
     "nothing"),
    ("job-both-due-times", variant(jobs=[{"name": "a", "dueTime": "1s", "due_rfc3339_in_s": 2}]),
     "jobs[0].due_rfc3339_in_s", "one of dueTime"),
    ("job-due-rfc3339-zero", variant(jobs=[{"name": "a", "due_rfc3339_in_s": 0}]),
     "jobs[0].due_rfc3339_in_s", "> 0"),
]


@pytest.mark.parametrize(("content", "field", "allowed"),
                         [case[1:] for case in MALFORMED], ids=[case[0] for case in MALFORMED])
def test_malformed_file_fails_with_one_precise_line(
    tmp_path: Path, content: dict[str, Any], field: str, allowed: str
) -> None:
    path = write(tmp_path, content, "broken-scenario.yaml")
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"{path}: {field}: "), message
    assert ", got " in message and "; allowed: " in message, message
    assert allowed in message.split("; allowed: ", 1)[1], message


def test_shown_by_with_calls_is_refused_once_the_file_exists(tmp_path: Path) -> None:
    write(tmp_path, variant(), "other.yaml")
    path = write(tmp_path, claim_variant(shown_by="other", calls=["get-*"]))
    with pytest.raises(ScenarioError, match=r"claims\[0\]\.calls: calls of another scenario"):
        load_scenario(path)
