"""The driver sends DAPR_API_TOKEN (never the app's token) on every Jobs API call but one that
omits it on purpose; checked against a recording transport, no process."""

from __future__ import annotations

from pathlib import Path

import httpx

from harness.drive.driver import JobsClient
from harness.record.history import HistoryWriter, load_history
from harness.record.rundir import new_run_dir
from harness.scenario.model import ApiCall, JobSpec


def test_every_jobs_api_call_carries_the_dapr_token_unless_told_to_omit_it(tmp_path: Path) -> None:
    run = new_run_dir("driver-token", base=tmp_path)
    seen: list[tuple[str, str | None]] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append((request.method, request.headers.get("dapr-api-token")))
        return httpx.Response(204)

    with HistoryWriter(run.history) as history:
        client = JobsClient("http://127.0.0.1:1", history, run, api_token="dapr-tok")
        client.http = httpx.Client(transport=httpx.MockTransport(answer),
                                   headers=client.http.headers)
        client.schedule(JobSpec(name="j", schedule="@daily"))
        client.get("j")
        client.delete("j")
        client.call(0, ApiCall(method="GET", job="j", expect_status=200))
        client.call(1, ApiCall(method="GET", job="j", expect_status=401, omit_token=True))
        client.close()
    assert seen == [("POST", "dapr-tok"), ("GET", "dapr-tok"), ("DELETE", "dapr-tok"),
                    ("GET", "dapr-tok"), ("GET", None)]
    calls = load_history(run.history).events_named("api_call")
    assert [c.attrs["omit_token"] for c in calls] == [False, True]
