"""Faults of the harness itself, tried for real: what each left running, held or lost.

- the runner (``python -m harness run comparison``) killed by SIGKILL, SIGINT or SIGTERM while
  its window is open: every process of the run must end (within 2 s for SIGKILL, through the
  watchdog), no port stay held, and the history written so far stay readable;
- the sample app SIGKILLed in the middle of a burst of triggers: every trigger it acknowledged
  must be in the history, and the history must have no torn line;
- malformed scenario files by category, and mutations of the real scenarios: each must be one
  ScenarioError line naming file, field and what is allowed, never another exception;
- bad environments: an unwritable runs directory, too little disk, a port taken between
  reservation and exec (once: retried; every time: one clear error).

Writes results/reliability.json; harness/reports/reliability.py renders results/reliability.md.
"""

from __future__ import annotations

import asyncio
import copy
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml

from harness.cluster.controlplane import Cluster, started_cluster
from harness.cluster.ports import HOST, PortReservation, port_is_free
from harness.cluster.preflight import MIN_FREE_ENV, EnvironmentProblem, check_runs_dir
from harness.cluster.process import ManagedProcess
from harness.cluster.reaper import tagged_processes
from harness.cluster.runtime import DaprRuntime
from harness.cluster.wait import DeadlineExceeded, wait_until
from harness.paths import REPO_ROOT, SCENARIOS_DIR
from harness.record.history import load_history
from harness.record.rundir import new_run_dir
from harness.runner import harness_commit, machine
from harness.scenario.model import ScenarioError
from harness.scenario.loading import load_scenario

__all__ = ["PortThief", "ReliabilitySettings", "hostile_cases", "run_reliability"]

RUNNER_SCENARIO = "comparison"
SIGNALS = ("SIGKILL", "SIGINT", "SIGTERM")
SIGKILL_DEADLINE_S = 2.0
CLEAN_TIMEOUT_S = 20.0  # SIGINT/SIGTERM tear down gracefully: stop, then kill after a grace


@dataclass(frozen=True)
class ReliabilitySettings:
    runner_trials: int = 3
    burst_trials: int = 3
    burst_triggers: int = 20_000
    burst_concurrency: int = 50
    mutations: int = 500
    port_trials: int = 2


def _tree_state() -> str:
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                           cwd=REPO_ROOT, capture_output=True, text=True, check=False).stdout
    return "dirty" if dirty.strip() else "clean"


# -- 1. the runner dies mid-window ------------------------------------------------------------

def _job_triggers(history: Path) -> int:
    return len(load_history(history).received("job"))


def _left(run_id: str, ports: list[int]) -> tuple[int, int]:
    return len(tagged_processes([run_id])), sum(not port_is_free(p) for p in ports)


def runner_death_trial(sig: str, runs_dir: Path) -> dict[str, Any]:
    env = {**os.environ, "DAPR_HARNESS_RUNS": str(runs_dir)}
    child = subprocess.Popen([sys.executable, "-m", "harness", "run", RUNNER_SCENARIO],
                             cwd=REPO_ROOT, env=env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        table_path = wait_until(lambda: next(runs_dir.glob("*/processes.json"), None),
                                timeout_s=120, what="the run's cluster up")
        history = table_path.parent / "history.jsonl"
        # Mid-window: the job has fired a few times, the binding on every replica.
        wait_until(lambda: _job_triggers(history) >= 3, timeout_s=60, what="3 job triggers")
        table = json.loads(table_path.read_text())
        running = len(tagged_processes([table["run_id"]]))
        child.send_signal(getattr(signal, sig))
        killed = time.monotonic()
        try:
            wait_until(lambda: _left(table["run_id"], table["ports"]) == (0, 0),
                       timeout_s=CLEAN_TIMEOUT_S, what="nothing left", interval_s=0.02)
        except DeadlineExceeded:
            pass
        clean_s = time.monotonic() - killed
        left, held = _left(table["run_id"], table["ports"])
        exit_code = child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
    return {"signal": sig, "run_id": table["run_id"], "processes": running, "left": left,
            "ports_held": held, "clean_s": round(clean_s, 3), "exit_code": exit_code,
            **_history_state(history)}


def _history_state(history: Path) -> dict[str, Any]:
    try:
        records = load_history(history)
    except ValueError as exc:  # a torn line: a record lost mid-write
        return {"history_readable": False, "history_error": str(exc)[:200], "triggers": None}
    return {"history_readable": True, "history_error": None, "triggers": len(records.triggers)}


# -- 2. the app dies during a burst -------------------------------------------------------------

async def _burst(port: int, count: int, concurrency: int, kill: Callable[[], None],
                 kill_after: int) -> list[str]:
    acknowledged: list[str] = []
    names = iter(range(count))
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(timeout=10.0, limits=limits) as client:
        async def worker() -> None:
            for i in names:
                name = f"burst-{i}"
                try:
                    response = await client.post(f"http://{HOST}:{port}/job/{name}", json={"i": i})
                except httpx.HTTPError:
                    continue  # the app is gone: this trigger was never acknowledged
                if response.status_code < 300:
                    acknowledged.append(name)
                    if len(acknowledged) == kill_after:
                        kill()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return acknowledged


def burst_trial(index: int, s: ReliabilitySettings, base: Path) -> dict[str, Any]:
    run = new_run_dir(f"reliability-burst-{index}", base=base)
    ports = PortReservation(1)
    port = ports.ports[0]
    app = ManagedProcess("app", [sys.executable, "-m", "uvicorn", "harness.apps.app:app", "--host",
                                 HOST, "--port", str(port), "--log-level", "warning",
                                 "--no-access-log"],
                         run_id=run.run_id, log_path=run.log("app"), cwd=REPO_ROOT, ports=ports,
                         env={"HARNESS_HISTORY": str(run.history), "HARNESS_REPLICA": "0"})
    app.start()
    try:
        wait_until(lambda: httpx.get(f"http://{HOST}:{port}/healthz", timeout=1).status_code == 200,
                   timeout_s=30, what="app healthy")
        kill_after = s.burst_triggers // 2
        acknowledged = asyncio.run(_burst(port, s.burst_triggers, s.burst_concurrency,
                                          lambda: app.signal_group(signal.SIGKILL), kill_after))
        wait_until(lambda: not app.alive(), timeout_s=5, what="the app dead")
    finally:
        app.stop()
    state = _history_state(run.history)
    recorded = ({t.name for t in load_history(run.history).triggers}
                if state["history_readable"] else set())
    return {"sent": s.burst_triggers, "killed_after": kill_after,
            "acknowledged": len(acknowledged), "recorded": len(recorded),
            "lost_acknowledged": len(set(acknowledged) - recorded),
            "recorded_unacknowledged": len(recorded - set(acknowledged)),
            "left": len(tagged_processes([run.run_id])), "ports_held": int(not port_is_free(port)),
            **state}


# -- 3. malformed scenario files ----------------------------------------------------------------

_BASE = {"replicas": 2, "window_s": 10, "jobs": [{"name": "tick", "schedule": "@every 2s"}],
         "bindings": [{"name": "cron", "schedule": "@every 2s"}]}


def _doc(**fields: Any) -> bytes:
    return yaml.safe_dump({**_BASE, **fields}).encode()


def _laughs(levels: int) -> bytes:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, levels)]
    return ("\n".join(lines) + "\n").encode()


def hostile_cases() -> dict[str, list[bytes]]:
    """Malformed scenario files by category: each must fail with one precise line."""
    call = {"method": "POST", "expect_status": 204}
    return {
        "YAML bomb (anchors, aliases, merges)": [
            _laughs(9), _laughs(4), b"a: &x 1\nb: *x\n", b"j: &j {a: 1}\nk: {<<: *j}\n"],
        "oversized file": [b"description: " + b"x" * (300 * 1024) + b"\n",
                           b"replicas: 1\n" + b"# pad\n" * 60_000],
        "nested too deep": [b"description: " + b"[" * 5000 + b"]" * 5000 + b"\n",
                            b"description:" + b"".join(b"\n" + b"  " * i + b"k:" for i in range(40)) + b" 1\n"],
        "not UTF-8": [b"replicas: \xff\n", "replicas: 1\n".encode("utf-16"), b"\xc3\x28: 1\n"],
        "empty or comments only": [b"", b"\n\n", b"# nothing\n", b"---\n"],
        "not a mapping": [b"- 1\n", b"just text\n", b"42\n", b"null\n"],
        "duplicate keys": [b"replicas: 1\nreplicas: 2\n", _doc() + b"window_s: 5\n"],
        "name into a URL (calls, probe jobs)": [
            _doc(calls=[{**call, "job": "../../v1.0/shutdown"}]),
            _doc(calls=[{**call, "job": "a?b"}]),
            _doc(jobs=[_BASE["jobs"][0], {"name": "x/y", "schedule": "@daily", "expect_status": 400}]),
            _doc(jobs=[{"name": "..", "schedule": "@daily"}])],
        "name into a component file (binding name, route)": [
            _doc(bindings=[{"name": "cron", "schedule": "@every 2s", "route": "x\n---\nkind: C"}]),
            _doc(bindings=[{"name": "cron", "schedule": "@every 2s", "route": 'x"\n  - a: b'}]),
            _doc(bindings=[{"name": "Cron\n", "schedule": "@every 2s"}]),
            _doc(bindings=[{"name": "c" * 64, "schedule": "@every 2s"}])],
        "handler glob or token": [
            _doc(app={"handlers": [{"mechanism": "job", "name": "a/*"}]}),
            _doc(app={"api_token": "two words"}), _doc(dapr_api_token="line\nbreak")],
        "wrong type": [_doc(replicas="3"), _doc(window_s=[1]), _doc(jobs={"name": "x"}),
                       _doc(app="x")],
        "unknown key": [_doc(replica=2), _doc(jobs=[{"name": "t", "schedule": "@daily", "x": 1}])],
        "out-of-range or huge number": [_doc(replicas=0), _doc(replicas=10**30),
                                        _doc(window_s=-1.0), _doc(window_s=float("inf")),
                                        b"replicas: " + b"9" * 5000 + b"\n"],
    }


def _judge(path: Path) -> tuple[str, float]:
    """'loaded', 'precise' (one ScenarioError line with file, field, allowed) or 'other: ...'."""
    started = time.monotonic()
    try:
        load_scenario(path)
        outcome = "loaded"
    except ScenarioError as exc:
        text = str(exc)
        precise = (text.startswith(f"{path}: ") and "; allowed: " in text and "\n" not in text
                   and len(text.split(": ", 2)) == 3)
        outcome = "precise" if precise else f"imprecise: {text[:120]}"
    except Exception as exc:  # noqa: BLE001 - exactly what this trial looks for
        outcome = f"other: {type(exc).__name__}: {str(exc)[:120]}"
    return outcome, time.monotonic() - started


def _mutations(count: int, seed: int = 12) -> Iterator[tuple[str, bytes]]:
    """Seeded random mutations of the real scenarios: a value replaced, a key dropped or added."""
    rng = random.Random(seed)
    sources = sorted(SCENARIOS_DIR.glob("*.yaml"))
    values: list[Any] = [None, -1, 0, 10**30, 1e308, "", "../x", "a\n---\nb: c", "ü" * 300, [],
                         {}, True, "x" * 5000, [1, 2], {"k": "v"}, float("nan")]
    for _ in range(count):
        source = rng.choice(sources)
        doc = yaml.safe_load(source.read_text(encoding="utf-8"))
        node: Any = doc
        while isinstance(node, (dict, list)) and node and rng.random() < 0.6:
            key = rng.choice(list(node)) if isinstance(node, dict) else rng.randrange(len(node))
            if not isinstance(node[key], (dict, list)) or not node[key]:
                break
            node = node[key]
        if isinstance(node, dict) and node:
            key = rng.choice(list(node))
            action = rng.choice(["replace", "drop", "add"])
            if action == "replace":
                node[key] = copy.deepcopy(rng.choice(values))
            elif action == "drop":
                del node[key]
            else:
                node[f"{key}x"] = copy.deepcopy(rng.choice(values))
        elif isinstance(node, list) and node:
            node[rng.randrange(len(node))] = copy.deepcopy(rng.choice(values))
        yield source.name, yaml.safe_dump(doc, allow_unicode=True).encode()


def malformed_trials(s: ReliabilitySettings) -> list[dict[str, Any]]:
    groups = {name: list(cases) for name, cases in hostile_cases().items()}
    groups[f"mutation of a real scenario (seeded, {s.mutations})"] = [
        text for _, text in _mutations(s.mutations)]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for category, cases in groups.items():
            outcomes: dict[str, int] = {}
            slowest = 0.0
            for i, content in enumerate(cases):
                path = Path(tmp) / f"case-{i}.yaml"
                path.write_bytes(content)
                outcome, seconds = _judge(path)
                outcomes[outcome] = outcomes.get(outcome, 0) + 1
                slowest = max(slowest, seconds)
                path.unlink()
            rows.append({"category": category, "cases": len(cases),
                         "precise": outcomes.pop("precise", 0), "loaded": outcomes.pop("loaded", 0),
                         "other": outcomes, "slowest_ms": round(slowest * 1000, 1)})
    return rows


# -- 4. bad environments -------------------------------------------------------------------------

class PortThief:
    """Binds the placement port the moment the harness releases its reservation, once per
    cluster: another program taking a port between reservation and exec."""

    def __init__(self) -> None:
        self.sockets: list[socket.socket] = []

    def rig(self, cluster: Cluster) -> Cluster:
        reservation = cluster.placement.process.ports
        assert reservation is not None
        release = reservation.release

        def release_then_steal() -> None:
            release()
            reservation.release = release  # type: ignore[method-assign]  # steal once
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind((HOST, cluster.placement.port))
            sock.listen(1)
            self.sockets.append(sock)

        reservation.release = release_then_steal  # type: ignore[method-assign]
        return cluster

    def close(self) -> None:
        for sock in self.sockets:
            sock.close()


def port_trial(runtime: DaprRuntime, base: Path, steal_every_time: bool) -> dict[str, Any]:
    run = new_run_dir("reliability-port-thief", base=base)
    thief = PortThief()
    made: list[Cluster] = []

    def make() -> Cluster:
        cluster = Cluster(runtime, run, replicas=1)
        made.append(cluster)
        return thief.rig(cluster) if steal_every_time or len(made) == 1 else cluster

    outcome = "started"
    try:
        with started_cluster(make) as cluster:
            outcome = f"started on attempt {len(made)}" if cluster.placement.process.alive() else "?"
    except EnvironmentProblem as exc:
        outcome = f"error: {str(exc).split('; see the logs')[0]}"  # the same line, minus paths
    finally:
        thief.close()
    ports = [p for c in made for p in c.owned_ports()]
    return {"outcome": outcome, "attempts": len(made), "left": len(tagged_processes([run.run_id])),
            "ports_held": sum(not port_is_free(p) for p in ports)}


def env_trials(runtime: DaprRuntime, base: Path, s: ReliabilitySettings) -> list[dict[str, Any]]:
    def refused(check: Callable[[], None]) -> str:
        try:
            check()
        except EnvironmentProblem as exc:
            return f"error: {str(exc).replace(str(base), '<runs dir>')}"
        return "not refused"

    def low_disk() -> None:
        os.environ[MIN_FREE_ENV] = str(10**12)
        try:
            check_runs_dir(base)
        finally:
            del os.environ[MIN_FREE_ENV]

    rows = [
        {"fault": "unwritable runs directory", "trials": [
            {"outcome": refused(lambda: check_runs_dir(Path("/proc/self/runs"))), "left": 0,
             "ports_held": 0}]},
        {"fault": f"too little free disk (a run's need raised above the free space with "
                  f"{MIN_FREE_ENV})", "trials": [
            {"outcome": refused(low_disk), "left": 0, "ports_held": 0}]},
    ]
    rows.append({"fault": "port taken between reservation and exec, once",
                 "trials": [port_trial(runtime, base, False) for _ in range(s.port_trials)]})
    rows.append({"fault": "port taken between reservation and exec, every attempt",
                 "trials": [port_trial(runtime, base, True) for _ in range(s.port_trials)]})
    return rows


# -- all of it -------------------------------------------------------------------------------------

def run_reliability(runtime: DaprRuntime, s: ReliabilitySettings, out: Path,
                    say: Callable[[str], None]) -> Path:
    with tempfile.TemporaryDirectory(prefix="reliability-") as tmp:
        base = Path(tmp)
        runner_rows = []
        for sig in SIGNALS:
            for trial in range(s.runner_trials):
                row = runner_death_trial(sig, base / f"{sig}-{trial}")
                say(f"runner {sig} trial {trial + 1}: {row['processes']} processes, "
                    f"{row['left']} left, {row['ports_held']} ports held, clean in {row['clean_s']} s")
                runner_rows.append(row)
        burst_rows = []
        for trial in range(s.burst_trials):
            burst_rows.append(burst_trial(trial, s, base / "bursts"))
            say(f"app SIGKILL in a burst, trial {trial + 1}: {burst_rows[-1]['acknowledged']} "
                f"acknowledged, {burst_rows[-1]['lost_acknowledged']} lost")
        malformed = malformed_trials(s)
        say(f"malformed files: {sum(r['cases'] for r in malformed)} cases")
        environments = env_trials(runtime, base / "env", s)
        say("bad environments tried")
    document = {
        "dapr": runtime.version, "harness_commit": harness_commit(), "tree": _tree_state(),
        "machine": machine(), "generated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "settings": asdict(s), "runner_scenario": _scenario_context(),
        "runner_death": runner_rows, "app_burst": burst_rows, "malformed": malformed,
        "environments": environments, "sigkill_deadline_s": SIGKILL_DEADLINE_S,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(document, indent=2))
    return out


def _scenario_context() -> dict[str, Any]:
    [scenario] = load_scenario(SCENARIOS_DIR / f"{RUNNER_SCENARIO}.yaml")
    return {"name": scenario.name, "replicas": scenario.replicas, "window_s": scenario.window_s,
            "schedules": sorted({j.schedule for j in scenario.jobs if j.schedule}
                                | {b.schedule for b in scenario.bindings})}
