"""Toxiproxy in front of a run's links: built once from its Go module, one server per run on
loopback, driven through its HTTP API.

Each daprd link gets a proxy of its own, named ``<client>--<peer>``: every daprd to every
Scheduler member (``replica-1--scheduler-0``), to its app (``replica-1--app``), to placement and
to Redis. Placement, the app and Redis are dialed at the address daprd is given (the proxy's);
daprd dials the Scheduler members at the addresses they broadcast, the same for every daprd, so
the run's kernel table redirects each daprd's connections to its own proxies (netcut.py). A link is proxied only in a run whose faults act on it
(``harness/scenario/faults.py``: ``links_used``); every other link is dialed directly, and a run
without network faults starts no server at all. The server is a ManagedProcess, so it is tagged
with the run and ended with it, its runner's death included.

What a fault does to a proxy: disable it (the partition: connections closed, new ones refused),
or add a toxic (``latency`` with jitter, ``reset_peer``, ``timeout`` with timeout 0 as a
blackhole that accepts and never answers, ``bandwidth``), on one stream or both.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from harness.cluster.build import cached_build
from harness.cluster.gomod import Progress, go
from harness.cluster.health import LOOPBACK, READY_TIMEOUT_S, exited, http_status
from harness.cluster.ports import PortReservation
from harness.cluster.process import ManagedProcess
from harness.cluster.wait import wait_until
from harness.paths import cache_dir
from harness.record.rundir import RunDir

__all__ = ["MODULE", "STREAMS", "VERSION", "LinkProxies", "Proxy", "ensure_toxiproxy",
           "proxy_name", "toxiproxy_slot"]

MODULE = "github.com/Shopify/toxiproxy/v2"
VERSION = "v2.5.0"
# Toxiproxy's own version stamp (its Makefile sets it; `go install` alone says "git").
_LDFLAGS = f"-s -w -X {MODULE}.Version={VERSION.lstrip('v')}"
BINARY = "toxiproxy-server"
STREAMS = ("upstream", "downstream")  # client to upstream server, and back


def toxiproxy_slot() -> Path:
    return cache_dir() / f"toxiproxy-{VERSION}"


def ensure_toxiproxy(progress: Progress | None = None) -> Path:
    """The Toxiproxy server binary, built from its module into the cache unless it is there."""
    def build(tmp: Path) -> dict[str, Any]:
        env = {**os.environ, "CGO_ENABLED": "0", "GOBIN": str(tmp / "bin")}
        go(["install", "-trimpath", "-ldflags", _LDFLAGS, f"{MODULE}/cmd/server@{VERSION}"],
           cwd=tmp, env=env)
        (tmp / "bin" / "server").rename(tmp / "bin" / BINARY)
        return {"module": MODULE, "version": VERSION, "go": go(["version"]).strip()}

    return cached_build(toxiproxy_slot(), build, progress or Progress()) / "bin" / BINARY


def proxy_name(client: str, peer: str) -> str:
    return f"{client}--{peer}"


@dataclass(frozen=True)
class Proxy:
    """One proxied link: ``client`` dials ``listen``, the proxy dials ``upstream``."""

    client: str  # replica-N
    link: str  # scheduler, app, placement, redis
    peer: str  # scheduler-N, app, placement, redis
    listen_port: int
    upstream: str

    @property
    def name(self) -> str:
        return proxy_name(self.client, self.peer)

    @property
    def listen(self) -> str:
        return f"{LOOPBACK}:{self.listen_port}"

    def api_body(self) -> dict[str, object]:
        return {"name": self.name, "listen": self.listen, "upstream": self.upstream,
                "enabled": True}


class LinkProxies:
    """The run's proxies, one per client and proxied link, and the server that holds them."""

    def __init__(self, run: RunDir, links: Iterable[str], binary: Path | None = None) -> None:
        self.run = run
        self.links = frozenset(links)
        self.proxies: dict[str, Proxy] = {}
        self._held: dict[str, PortReservation] = {}
        self.process: ManagedProcess | None = None
        self._client: httpx.Client | None = None
        if self.links:
            self._api = PortReservation(1)
            self.api_port = self._api.ports[0]
            argv = [str(binary or ensure_toxiproxy()), "-host", LOOPBACK,
                    "-port", str(self.api_port)]
            run.note_command(argv, comment="toxiproxy (the run's proxied links)")
            self.process = ManagedProcess("toxiproxy", argv, run_id=run.run_id,
                                          log_path=run.log("toxiproxy"), ports=self._api)

    # -- addresses --------------------------------------------------------------------------
    def route(self, client: str, link: str, peer: str, upstream: str) -> str:
        """The address ``client`` dials to reach ``upstream``: its proxy's when the link is
        proxied (created now if the server is up, else when it starts), else upstream."""
        if link not in self.links:
            return upstream
        name = proxy_name(client, peer)
        if name not in self.proxies:
            reservation = PortReservation(1)
            self._held[name] = reservation
            self.proxies[name] = Proxy(client, link, peer, reservation.ports[0], upstream)
            if self._client is not None:
                self._create([self.proxies[name]])
        return self.proxies[name].listen

    def select(self, link: str, clients: Iterable[str] | None = None,
               peers: Iterable[str] | None = None) -> list[Proxy]:
        """The proxies of ``link`` from these clients (all when None) to these peers."""
        wanted_clients = set(clients) if clients is not None else None
        wanted_peers = set(peers) if peers is not None else None
        return [p for p in self.proxies.values() if p.link == link
                and (wanted_clients is None or p.client in wanted_clients)
                and (wanted_peers is None or p.peer in wanted_peers)]

    def owned_ports(self) -> list[int]:
        own = [self.api_port] if self.process is not None else []
        return own + [p.listen_port for p in self.proxies.values()]

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self, timeout_s: float = READY_TIMEOUT_S) -> None:
        """The server, then every proxy registered so far (before any daprd dials one)."""
        if self.process is None:
            return
        self.process.start()
        url = f"http://{LOOPBACK}:{self.api_port}/version"
        wait_until(lambda: http_status(url) == 200, timeout_s=timeout_s,
                   what="toxiproxy answering", abort=lambda: exited(self.process))  # type: ignore[arg-type]
        self._client = httpx.Client(base_url=f"http://{LOOPBACK}:{self.api_port}", timeout=10.0)
        self._create(list(self.proxies.values()))

    def _create(self, proxies: list[Proxy]) -> None:
        for proxy in proxies:
            self._held.pop(proxy.name).release()  # the port is the proxy's from here on
        if proxies:
            self._call("POST", "/populate", [p.api_body() for p in proxies])

    def stop(self, grace_s: float = 5.0) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
        if self.process is not None:
            self.process.stop(grace_s)
        for reservation in self._held.values():
            reservation.release()
        self._held.clear()

    # -- faults ------------------------------------------------------------------------------
    def _call(self, method: str, path: str, body: object = None) -> Any:
        if self._client is None:
            raise RuntimeError("toxiproxy is not running")
        response = self._client.request(method, path, json=body)
        if response.status_code >= 300:
            raise RuntimeError(f"toxiproxy {method} {path}: {response.status_code} "
                               f"{response.text[:300]}")
        return response.json() if response.content else None

    def set_enabled(self, proxies: Iterable[Proxy], enabled: bool) -> None:
        """A disabled proxy closes its connections and refuses new ones (a partition)."""
        for proxy in proxies:
            self._call("POST", f"/proxies/{proxy.name}", {"enabled": enabled})

    def add_toxic(self, proxies: Iterable[Proxy], name: str, kind: str,
                  attributes: Mapping[str, int], streams: Iterable[str] = STREAMS) -> None:
        """A toxic on each proxy and stream (its name suffixed with the stream)."""
        for proxy in proxies:
            for stream in streams:
                self._call("POST", f"/proxies/{proxy.name}/toxics",
                           {"name": f"{name}-{stream}", "type": kind, "stream": stream,
                            "toxicity": 1.0, "attributes": dict(attributes)})

    def remove_toxic(self, proxies: Iterable[Proxy], name: str,
                     streams: Iterable[str] = STREAMS) -> None:
        for proxy in proxies:
            for stream in streams:
                self._call("DELETE", f"/proxies/{proxy.name}/toxics/{name}-{stream}")

    def state(self) -> dict[str, Any]:
        """Toxiproxy's own view of every proxy: enabled, toxics (for tests and the record)."""
        return self._call("GET", "/proxies")  # type: ignore[no-any-return]
