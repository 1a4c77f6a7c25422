"""The driver: creates, reads and deletes jobs through a sidecar's Jobs API, installs bindings.

Every call is written to the history (with the moment the request was sent, which the checker
uses as the earliest possible creation time) and to the run's commands.sh as a curl line.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import aiohttp
import httpx
import yaml

from harness.apps.environment import binding_routes
from harness.record.history import HistoryWriter
from harness.paths import COMPONENTS_DIR
from harness.record.rundir import RunDir
from harness.scenario.model import ApiCall, BindingSpec, JobSpec

__all__ = ["TOKEN_HEADER", "JobsClient", "Post", "install_bindings", "post_concurrently",
           "render_binding"]

TOKEN_HEADER = "dapr-api-token"


class JobsClient:
    def __init__(self, dapr_url: str, history: HistoryWriter, run: RunDir,
                 api_token: str | None = None, default_api: str = "v1.0") -> None:
        """``api_token``: daprd's DAPR_API_TOKEN (never the app's APP_API_TOKEN, which is
        what daprd sends the app), sent as dapr-api-token on every Jobs API call;
        ``default_api``: the Jobs API path of jobs and calls that name none (``/v1.0-alpha1``
        before Dapr 1.18)."""
        self.dapr_url = dapr_url
        # For jobs and calls whose scenario names no `api:`: the version's Jobs API path
        # (/v1.0/jobs exists from Dapr 1.18 on; older versions serve /v1.0-alpha1/jobs only).
        self.default_api = default_api
        self.history = history
        self.run = run
        self.headers = headers = {TOKEN_HEADER: api_token} if api_token else {}
        self.http = httpx.Client(timeout=10.0, headers=headers)

    def url(self, name: str, api: str = "v1.0") -> str:
        return f"{self.dapr_url}/{api}/jobs/{name}"

    def _api(self, spec: JobSpec | ApiCall) -> str:
        return spec.api if "api" in spec.model_fields_set else self.default_api

    def _note(self, method: str, url: str, body: dict[str, Any] | None = None) -> None:
        argv = ["curl", "-sS", "-X", method, url]
        if body is not None:
            argv += ["-H", "Content-Type: application/json", "-d", json.dumps(body)]
        self.run.note_command(argv)

    def schedule(self, job: JobSpec) -> httpx.Response:
        sent_wall = time.time()
        body = job.body(now=sent_wall)
        api = self._api(job)
        url = self.url(job.name, api)
        self._note("POST", url, body)
        response = self.http.post(url, json=body)
        self._created(job, api, body, sent_wall, response.status_code, response.text)
        return response

    def _created(self, job: JobSpec, api: str, body: dict[str, Any], sent_wall: float,
                 status: int | None, text: str) -> str | None:
        """Record a create call; the problem when it did not answer what the job expects."""
        self.history.event("job_created", name=job.name, api=api, spec=body,
                           sent_wall=sent_wall, status=status, response=text[:2000])
        if status == job.expect_status:
            return None
        return f"job {job.name!r}: create returned {status}, expected {job.expect_status}: {text[:300]}"

    def schedule_many(self, jobs: Sequence[JobSpec], dapr_urls: Sequence[str],
                      concurrency: int) -> list[str]:
        """Create ``jobs`` (a load set's members) ``concurrency`` at a time, request i through
        ``dapr_urls[i % len]``; each is recorded as ``schedule`` records one. The problems."""
        posts = []
        for i, job in enumerate(jobs):
            api = self._api(job)
            body = job.body()
            posts.append(Post(f"{dapr_urls[i % len(dapr_urls)]}/{api}/jobs/{job.name}", body,
                              partial(self._created, job, api, body)))
        if posts:
            self.run.note_command(
                ["curl", "-sS", "-X", "POST", posts[0].url, "-H", "Content-Type: application/json",
                 "-d", json.dumps(posts[0].body)],
                comment=f"{len(posts)} jobs like this one, {concurrency} at a time over "
                        f"{len(dapr_urls)} sidecar(s)")
        return post_concurrently(posts, concurrency=concurrency, headers=self.headers)

    def get(self, name: str, api: str = "v1.0") -> httpx.Response:
        self._note("GET", self.url(name, api))
        return self.http.get(self.url(name, api))

    def delete(self, name: str, api: str = "v1.0") -> httpx.Response:
        self._note("DELETE", self.url(name, api))
        response = self.http.delete(self.url(name, api))
        self.history.event("job_deleted", name=name, api=api, status=response.status_code)
        return response

    def call(self, index: int, call: ApiCall) -> httpx.Response | None:
        """One request of a scenario's ``calls``, recorded as an ``api_call`` event (with
        ``status`` None and the error when no answer came back)."""
        api = self._api(call)
        url = self.url(call.job, api)
        content: bytes | None = None
        if call.raw_body is not None:
            content = call.raw_body.encode()
        elif call.body is not None:
            content = json.dumps(call.body).encode()
        headers = {"Content-Type": "application/json"} if content is not None else {}
        argv = ["curl", "-sS", "-X", call.method, url]
        if content is not None:
            argv += ["-H", "Content-Type: application/json", "-d", content.decode()]
        self.run.note_command(argv)
        sent_wall = time.time()
        response: httpx.Response | None = None
        error = None
        try:
            request = self.http.build_request(call.method, url, content=content, headers=headers)
            if call.omit_token:
                request.headers.pop(TOKEN_HEADER, None)
            response = self.http.send(request)
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"
        self.history.event(
            "api_call", index=index, id=call.id, method=call.method, api=api, job=call.job,
            url=url, body=call.body if call.raw_body is None else call.raw_body,
            omit_token=call.omit_token,
            sent_wall=sent_wall, status=None if response is None else response.status_code,
            response=None if response is None else response.text[:4000], error=error)
        return response

    def close(self) -> None:
        self.http.close()


@dataclass(frozen=True)
class Post:
    """One POST of many sent at once, and what records its answer (``done(sent_wall, status,
    text)``: status None and the error as text when no answer came; returns a problem or None)."""

    url: str
    body: Any
    done: Callable[[float, int | None, str], str | None]


def post_concurrently(posts: Sequence[Post], *, concurrency: int,
                      headers: Mapping[str, str]) -> list[str]:
    """Send every post, ``concurrency`` at a time (aiohttp: httpx's pure-Python HTTP/1.1 caps
    a client near 200 requests/s here, a fraction of what daprd accepts); the problems."""
    return asyncio.run(_post_all(posts, concurrency, headers))


async def _post_all(posts: Sequence[Post], concurrency: int,
                    headers: Mapping[str, str]) -> list[str]:
    problems: list[str] = []
    pending = iter(posts)
    # As many connections as workers: no request waits for one after its sent_wall is taken.
    connector = aiohttp.TCPConnector(limit=concurrency)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout,
                                     headers=dict(headers)) as session:
        async def worker() -> None:
            for post in pending:  # shared by the workers: each takes the next post
                sent_wall = time.time()
                try:
                    async with session.post(post.url, json=post.body) as response:
                        status, text = response.status, await response.text()
                except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                    status, text = None, f"{type(exc).__name__}: {exc}"
                if problem := post.done(sent_wall, status, text):
                    problems.append(problem)

        await asyncio.gather(*(worker() for _ in range(max(1, min(concurrency, len(posts))))))
    return problems


def render_binding(binding: BindingSpec) -> str:
    template = (COMPONENTS_DIR / binding.template).read_text()
    route_line = (
        f"  - name: route\n    value: \"{binding.route}\"" if binding.route else ""
    )
    text = template.format(name=binding.name, schedule=binding.schedule, route_line=route_line)
    # The scenario's names are validated; this guards the template too: one component, ours.
    documents = [d for d in yaml.safe_load_all(text) if d is not None]
    if len(documents) != 1 or documents[0].get("metadata", {}).get("name") != binding.name:
        raise ValueError(f"component for binding {binding.name!r} did not render to one "
                         f"component of that name ({len(documents)} documents)")
    return text


def install_bindings(bindings: Sequence[BindingSpec], run: RunDir,
                     history: HistoryWriter) -> dict[str, str]:
    """Write one component file per binding into the run's resources dir.

    Returns the app routes daprd will POST to, mapped to their binding names.
    """
    for binding in bindings:
        path = run.resources / f"{binding.name}.yaml"
        path.write_text(render_binding(binding))
        history.event("binding_installed", name=binding.name, schedule=binding.schedule,
                      file=str(path))
    return binding_routes(bindings)
