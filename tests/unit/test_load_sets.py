"""Load sets: the schema generates members judged one by one, the checker folds them into one
result per set, and the driver creates them concurrently, each recorded as any job is."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiohttp import web
from builders import plain_yaml
from fakeruns import fake_run
from loadruns import load_history, load_scenario

from harness.check import check_run
from harness.drive.driver import JobsClient
from harness.record.history import HistoryWriter
from harness.record.history import load_history as read_history
from harness.record.rundir import new_run_dir
from harness.reports.load import HEADERS, write_load_report
from harness.scenario.loading import load_scenario as load_file
from harness.scenario.model import ScenarioError
from harness.scenario.timing import grace_period


def _file(tmp_path: Path, **doc: object) -> Path:
    path = tmp_path / "load-test.yaml"
    path.write_text(plain_yaml({"replicas": 3, "window_s": 30, **doc}))
    return path


def test_a_set_generates_members_after_the_listed_jobs(tmp_path: Path) -> None:
    [scenario] = load_file(_file(tmp_path, jobs=[{"name": "one", "schedule": "@every 2s"}],
                                 load=[{"name": "load", "jobs": 1000, "schedule": "@every 1s",
                                        "data": {"a": 1}},
                                       {"name": "rem", "reminders": 12, "schedule": "@every 1s"}],
                                 grace_s=20))
    assert [j.name for j in scenario.jobs[:3]] == ["one", "load-000", "load-001"]
    assert scenario.jobs[-1].name == "load-999" and len(scenario.jobs) == 1001
    assert scenario.jobs[5].body() == {"schedule": "@every 1s", "data": {"a": 1}}
    assert [t.name for t in scenario.tasks] == [f"rem-{i:02d}" for i in range(12)]
    assert {t.mechanism for t in scenario.tasks} == {"reminder"}
    assert [j.name for j in scenario.listed_jobs] == ["one"] and scenario.listed_tasks == ()
    assert grace_period(scenario) == 20


@pytest.mark.parametrize(("load", "field", "problem"), [
    ({"name": "a", "schedule": "@every 1s"}, "load[0]", "needs exactly one of jobs or reminders"),
    ({"name": "a", "jobs": 2, "reminders": 2, "schedule": "@every 1s"}, "load[0]", "exactly one"),
    ({"name": "a", "jobs": 0, "schedule": "@every 1s"}, "load[0].jobs", "out of range"),
    ({"name": "A", "jobs": 2, "schedule": "@every 1s"}, "load[0].name", "invalid load set name"),
    ({"name": "a", "jobs": 2}, "load[0].schedule", "a job needs schedule or dueTime"),
    ({"name": "a", "reminders": 2, "schedule": "0 * * * * *"}, "load[0].schedule", "period"),
    ({"name": "a", "reminders": 2, "schedule": "@every 1s", "repeats": 3}, "load[0].repeats",
     "a reminder set takes no repeats"),
    ({"name": "one", "jobs": 2, "schedule": "@every 1s"}, "load[0].name", "named like jobs[0]"),
    ({"name": "a", "jobs": 2, "schedule": "@every 1s", "at_s": 31}, "load[0].at_s", "window"),
])
def test_a_bad_set_is_one_line_naming_the_set(tmp_path: Path, load: dict, field: str,
                                              problem: str) -> None:
    path = _file(tmp_path, jobs=[{"name": "one-1", "schedule": "@every 2s"}], load=[load])
    with pytest.raises(ScenarioError) as caught:
        load_file(path)
    assert f": {field}: " in str(caught.value) and problem in str(caught.value)


def test_a_set_is_one_result_with_its_members_summed() -> None:
    scenario = load_scenario(40, window_s=10)
    history = load_history(scenario, lost=frozenset({("load-07", 3), ("load-07", 4)}),
                           twice=frozenset({("load-21", 5)}))
    report = check_run(scenario, history)
    [result] = report.mechanisms
    assert (result.mechanism, result.name) == ("job", "load")
    assert result.across.ticks == 40 * 9  # ticks created + 1 s .. created + 9 s of a 10 s window
    assert (result.across.lost.high, result.across.duplicated.high) == (2, 1)
    assert result.accounting.judged == 40 * 9 - 2 + 1
    assert result.verdict == "fail"
    assert result.reasons[0].startswith("1 ambiguous, 1 fail of 40 jobs; worst load-21: duplicated 1 ")
    assert result.lateness_ms["p50"] == pytest.approx(20.0)
    assert result.app_ms["max"] == pytest.approx(0.6)
    assert report.checker("accounting").details["per_task"].keys() == {"load"}


def test_a_clean_set_passes() -> None:
    scenario = load_scenario(25, window_s=8)
    [result] = check_run(scenario, load_history(scenario)).mechanisms
    assert (result.verdict, result.across.once.high, result.reasons) == ("pass", 25 * 7, [])


@pytest.fixture
def sidecar() -> Iterator[tuple[str, list[tuple[str, str | None]]]]:
    """A Jobs API endpoint on loopback in this process: records path and token, answers 204
    (409 for job load-3)."""
    seen: list[tuple[str, str | None]] = []

    async def create(request: web.Request) -> web.Response:
        seen.append((request.path, request.headers.get("dapr-api-token")))
        await request.json()
        return web.Response(status=409 if request.path.endswith("/load-3") else 204)

    loop = asyncio.new_event_loop()
    app = web.Application()
    app.router.add_post("/v1.0/jobs/{name}", create)
    runner = web.AppRunner(app)
    loop.run_until_complete(runner.setup())
    site = web.TCPSite(runner, "127.0.0.1", 0)
    loop.run_until_complete(site.start())
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{port}", seen
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)
    loop.run_until_complete(runner.cleanup())
    loop.close()


def test_the_driver_creates_a_set_concurrently_each_recorded(
        tmp_path: Path, sidecar: tuple[str, list[tuple[str, str | None]]]) -> None:
    url, seen = sidecar
    run = new_run_dir("load-driver", base=tmp_path)
    [scenario] = load_file(_file(tmp_path, load=[{"name": "load", "jobs": 10, "schedule": "@every 1s"}]))
    with HistoryWriter(run.history) as history:
        client = JobsClient(url, history, run, api_token="tok")
        # two "sidecars": the same endpoint under two names, so the spread is visible
        problems = client.schedule_many(scenario.jobs, [url, url.replace("127.0.0.1", "localhost")], 4)
        client.close()
    assert problems == ["job 'load-3': create returned 409, expected 204: "]
    assert sorted(seen) == sorted((f"/v1.0/jobs/load-{i}", "tok") for i in range(10))
    created = read_history(run.history).events_named("job_created")
    assert sorted(e.attrs["name"] for e in created) == [f"load-{i}" for i in range(10)]
    assert all(e.attrs["sent_wall"] <= e.wall and e.attrs["spec"] == {"schedule": "@every 1s"}
               for e in created)
    assert {e.attrs["name"]: e.attrs["status"] for e in created}["load-3"] == 409


def test_the_load_report_shows_each_set_with_rates_per_1000_ticks(tmp_path: Path) -> None:
    scenario = load_scenario(20, window_s=10)
    history = load_history(scenario, twice=frozenset({("load-03", 2)}))

    def write(writer: HistoryWriter) -> None:
        for record in (*history.events, *history.triggers):
            writer.append(record)

    fake_run(tmp_path, "0001-load", scenario, write, "2026-12-01T00:00:00Z")
    [doc, *evidence] = write_load_report(tmp_path, tmp_path / "out")
    text = doc.read_text()
    row = next(line for line in text.splitlines() if line.startswith("| load-fake"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[:4] == ["load-fake", "load (job)", "3", "180"]  # 20 jobs x 9 ticks judged
    assert cells[HEADERS.index("dup / 1,000")] == "5.56"  # 1 duplicated of 180
    assert cells[HEADERS.index("verdict")] == "fail" and "worst load-03" in text
    assert cells[HEADERS.index("app p50/p99 (ms)")] == "0.3/0.6"
    assert any(p.name == "0001-load.json" for p in evidence)
