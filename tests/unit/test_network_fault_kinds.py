"""Network faults without a network: the catalog and its injections agree, scenario fields are
validated, the proxies and kernel rules a fault asks for are the ones it gets, member logs
read into trigger events."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from builders import plain_yaml
from harness.cluster import netcut
from harness.cluster.netcut import KernelTable, RunGroups, RunTable, cut_rules, pairs_between
from harness.cluster.toxiproxy import LinkProxies
from harness.cluster.triggerlog import parse_trigger_lines
from harness.drive.injections import INJECTIONS, describe, steps_for
from harness.drive.nemesis import fault_actions
from harness.record.history import HistoryWriter, load_history
from harness.record.rundir import new_run_dir
from harness.runner import network_options
from harness.scenario.faults import FAULTS, links_used, tools_used
from harness.scenario.loading import load_scenario
from harness.scenario.model import FaultSpec, ScenarioError


def test_every_catalog_kind_has_one_injection_that_says_what_it_does() -> None:
    assert set(INJECTIONS) == set(FAULTS)
    for kind in FAULTS:
        text = describe(kind)
        assert "Begins:" in text and "Ends:" in text, (kind, text)


def test_only_network_faults_ask_for_tools_and_links() -> None:
    assert tools_used(["kill_daprd", "scale_out", "rolling_restart_scheduler"]) == frozenset()
    assert tools_used(["partition_member"]) == {"nftables"}
    assert tools_used(["partition"]) == {"nftables", "toxiproxy"}
    assert links_used([("kill_daprd", None), ("partition_member", None)]) == frozenset()
    assert links_used([("latency", None), ("blackhole", "app")]) == {"scheduler", "app"}


# --- scenario fields ---------------------------------------------------------------------------


def write(tmp_path: Path, *faults: dict[str, Any], **fields: Any) -> Path:
    data = {"replicas": 3, "schedulers": 3, "window_s": 20,
            "jobs": [{"name": "j", "schedule": "@every 2s"}], **fields, "faults": list(faults)}
    path = tmp_path / "s.yaml"
    path.write_text(plain_yaml(data))
    return path


def test_network_faults_load(tmp_path: Path) -> None:
    (scenario,) = load_scenario(write(
        tmp_path,
        {"kind": "latency", "at_s": 2, "duration_s": 4, "latency_ms": 300, "jitter_ms": 100},
        {"kind": "partition", "at_s": 2, "duration_s": 4, "one_way": True,
         "sides": [["scheduler-0", "replica-0"], ["scheduler-2"]]},
        {"kind": "rolling_restart_scheduler", "at_s": 10}))
    assert scenario.faults[1].sides == (("scheduler-0", "replica-0"), ("scheduler-2",))
    assert network_options(scenario) == {"proxied_links": {"scheduler"}, "member_cuts": True,
                                         "trigger_log": True}


@pytest.mark.parametrize(("fault", "fields", "field", "allowed"), [
    ({"kind": "latency", "at_s": 1, "duration_s": 2}, {}, "faults[0].latency_ms", "a latency_ms"),
    ({"kind": "blackhole", "at_s": 1, "duration_s": 2, "latency_ms": 5}, {},
     "faults[0].latency_ms", "latency_ms is for latency"),
    ({"kind": "latency", "at_s": 1, "duration_s": 2, "latency_ms": 5, "link": "app",
      "member": 1}, {}, "faults[0].member", "link: scheduler"),
    ({"kind": "reset_peer", "at_s": 1, "duration_s": 2, "link": "redis"}, {}, "faults[0].link",
     "scheduler, app, placement"),
    ({"kind": "partition_member", "at_s": 1, "duration_s": 2}, {"schedulers": 1},
     "faults[0].kind", "schedulers: 2 or more"),
    ({"kind": "lose_majority", "at_s": 1, "duration_s": 2}, {"schedulers": 2},
     "faults[0].kind", "schedulers: 3 or more"),
    ({"kind": "partition", "at_s": 1, "duration_s": 2, "sides": [["scheduler-0"], ["node-9"]]},
     {}, "faults[0].sides", "replica-0, replica-1, replica-2, scheduler-0"),
    ({"kind": "partition", "at_s": 1, "duration_s": 2, "one_way": True,
      "sides": [["scheduler-0"], ["scheduler-1"], ["scheduler-2"]]}, {}, "faults[0].sides",
     "e.g. [["),
    ({"kind": "partition", "at_s": 1, "duration_s": 2,
      "sides": [["scheduler-0"], ["scheduler-0", "replica-1"]]}, {}, "faults[0].sides",
     "each node on one side at most"),
    ({"kind": "partition", "at_s": 1, "duration_s": 2}, {}, "faults[0].sides", "a sides"),
    ({"kind": "partition_replica", "at_s": 1}, {}, "faults[0].duration_s", "window_s - at_s"),
    ({"kind": "rolling_update_app", "at_s": 1, "replica": 0}, {}, "faults[0].replica",
     "leave replica out"),
])
def test_bad_network_faults_fail_with_one_line(tmp_path: Path, fault: dict[str, Any],
                                               fields: dict[str, Any], field: str,
                                               allowed: str) -> None:
    with pytest.raises(ScenarioError) as caught:
        load_scenario(write(tmp_path, fault, **fields))
    message = str(caught.value)
    assert f"s.yaml: {field}: " in message and "\n" not in message, message
    assert allowed in message.split("; allowed: ", 1)[1], message


# --- kernel cuts ------------------------------------------------------------------------------


def test_cut_sets_are_directed_member_pairs() -> None:
    assert pairs_between([[2], [0, 1]]) == {(2, 0), (2, 1), (0, 2), (1, 2)}  # a minority
    assert pairs_between([[0, 1], [2]], one_way=True) == {(0, 2), (1, 2)}
    assert pairs_between([[0], [1], [2]]) == {(a, b) for a in range(3) for b in range(3) if a != b}


def test_a_cut_drops_what_the_sender_sends_on_either_side_of_a_connection() -> None:
    opened, accepted = cut_rules(100, [7001, 7002], 200, [8001])
    assert opened[0] == {"match": {"op": "==", "left": {"meta": {"key": "skgid"}}, "right": 100}}
    assert opened[1]["match"]["left"] == {"payload": {"protocol": "tcp", "field": "dport"}}
    assert opened[1]["match"]["right"] == {"set": [8001]}
    assert accepted[1] == {"match": {"op": "==", "left": {"ct": {"key": "mark"}}, "right": 200}}
    assert accepted[2]["match"]["right"] == {"set": [7001, 7002]}
    assert opened[-1] == accepted[-1] == {"drop": None}


def test_group_ids_are_distinct_per_process_and_run() -> None:
    a, b = RunGroups("run-a"), RunGroups("run-b")
    gids = [a.member(i) for i in range(3)] + [a.replica(i) for i in range(6)]
    assert len(set(gids)) == 9 and gids == [RunGroups("run-a").member(i) for i in range(3)] + [
        RunGroups("run-a").replica(i) for i in range(6)]
    assert not set(gids) & ({b.member(i) for i in range(3)} | {b.replica(i) for i in range(6)})
    assert min(gids) > 65535
    with pytest.raises(ValueError):
        a.member(8)


def test_a_table_name_carries_its_run_and_owner() -> None:
    name = netcut.table_name("0007-20261201-x-1a2b", 4242, "1764622000.12")
    table = RunTable.parse(name)
    assert table == RunTable(name, "0007-20261201-x-1a2b", 4242, "1764622000.12")
    assert RunTable.parse("filter") is None and RunTable.parse("dapr-harness.x.1.r") is None


class _Nft:
    """Stands in for the nft command: records every batch."""

    def __init__(self) -> None:
        self.batches: list[list[dict[str, Any]]] = []

    def __call__(self, commands: list[dict[str, Any]] | None = None, *args: str) -> dict[str, Any]:
        assert commands is not None, "a listing: the tests give markers instead"
        self.batches.append(commands)
        return {}


def test_cuts_from_overlapping_faults_hold_until_each_heals(tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    fake = _Nft()
    monkeypatch.setattr(netcut, "nft", fake)
    monkeypatch.setattr(netcut, "MARKS", tmp_path)
    cuts = KernelTable("r1", [10, 11, 12], [[1], [2], [3]], 99, "5.00")
    cuts.install()
    assert (tmp_path / cuts.name).exists()
    cuts.cut({(0, 1), (0, 2)})
    cuts.cut({(0, 1)})
    cuts.heal({(0, 1), (0, 2)})
    assert cuts.active == {(0, 1)}
    last = fake.batches[-1]
    assert last[0] == {"flush": {"chain": {"family": "inet", "table": cuts.name, "name": "cuts"}}}
    assert len(last) == 1 + 2  # one pair, two rules
    cuts.remove()
    assert fake.batches[-1] == [{"delete": {"table": {"family": "inet", "name": cuts.name}}}]
    assert not (tmp_path / cuts.name).exists()


def test_redirects_made_later_are_added_at_once(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    fake = _Nft()
    monkeypatch.setattr(netcut, "nft", fake)
    monkeypatch.setattr(netcut, "MARKS", tmp_path)
    table = KernelTable("r2", [10], [[1]], 99, "5.00")
    table.redirect(500, 7000, 7100)
    table.install()
    nat = [c["add"]["rule"]["expr"] for c in fake.batches[0]
           if "rule" in c.get("add", {}) and c["add"]["rule"]["chain"] == "redirects"]
    assert nat == [netcut.redirect_rule(500, 7000, 7100)]
    assert nat[0][-1] == {"redirect": {"port": 7100}}
    table.redirect(501, 7000, 7101)  # a replica added later
    assert fake.batches[-1][0]["add"]["rule"]["expr"] == netcut.redirect_rule(501, 7000, 7101)


def test_reaping_finds_orphaned_tables_by_their_markers(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    fake = _Nft()
    monkeypatch.setattr(netcut, "nft", fake)
    monkeypatch.setattr(netcut, "MARKS", tmp_path)
    gone, alive = netcut.table_name("dead", 1, "1.00"), netcut.table_name("live", 2, "2.00")
    for name in (gone, alive):
        (tmp_path / name).touch()
    reaped = netcut.reap_tables(lambda t: t.run_id == "dead")
    assert [t.name for t in reaped] == [gone]
    assert fake.batches == [[{"delete": {"table": {"family": "inet", "name": gone}}}]]
    assert sorted(p.name for p in tmp_path.iterdir()) == [alive]


# --- proxies ----------------------------------------------------------------------------------


def test_unproxied_links_are_dialed_directly(tmp_path: Path) -> None:
    proxies = LinkProxies(new_run_dir("t", base=tmp_path), [])
    assert proxies.route("replica-0", "scheduler", "scheduler-0", "127.0.0.1:5") == "127.0.0.1:5"
    assert proxies.process is None and proxies.owned_ports() == []


class _Api:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str, Any]] = []

    def __call__(self, method: str, path: str, body: object = None) -> Any:
        self.calls.append((method, path, body))


def _proxied(tmp_path: Path, links: list[str]) -> tuple[LinkProxies, _Api]:
    proxies = LinkProxies(new_run_dir("t", base=tmp_path), links, binary=Path("toxiproxy-server"))
    for r in range(3):
        for m in range(3):
            proxies.route(f"replica-{r}", "scheduler", f"scheduler-{m}", f"127.0.0.1:{5000 + m}")
    api = _Api()
    proxies._call = api  # type: ignore[method-assign]
    return proxies, api


def test_every_client_gets_a_proxy_of_its_own_per_member(tmp_path: Path) -> None:
    proxies, _ = _proxied(tmp_path, ["scheduler"])
    listens = {p.listen for p in proxies.proxies.values()}
    assert len(proxies.proxies) == 9 and len(listens) == 9
    again = proxies.route("replica-1", "scheduler", "scheduler-2", "127.0.0.1:5002")
    assert again == proxies.proxies["replica-1--scheduler-2"].listen
    assert [p.name for p in proxies.select("scheduler", ["replica-1"], ["scheduler-0"])] == [
        "replica-1--scheduler-0"]
    assert proxies.route("replica-0", "app", "app", "127.0.0.1:9") == "127.0.0.1:9"
    proxies.stop()


def _cluster(proxies: LinkProxies | None, writer: HistoryWriter, table: Any = None) -> Any:
    return SimpleNamespace(proxies=proxies, table=table, history=writer,
                           schedulers=[object()] * 3, all_replicas=[object()] * 3,
                           run=SimpleNamespace(history=writer.path))


def test_a_replica_partition_disables_its_proxies_to_every_member(tmp_path: Path) -> None:
    proxies, api = _proxied(tmp_path, ["scheduler"])
    proxies.process = SimpleNamespace()  # type: ignore[assignment]  # "running"
    with HistoryWriter(tmp_path / "h.jsonl") as writer:
        fault = FaultSpec(kind="partition_replica", at_s=1, duration_s=2, replica=2)
        for action in fault_actions(_cluster(proxies, writer), fault):
            action.act()
    assert api.calls == [("POST", f"/proxies/replica-2--scheduler-{m}", {"enabled": on})
                         for on in (False, True) for m in range(3)]
    start = load_history(tmp_path / "h.jsonl").first_event("fault_start")
    assert start is not None and start.attrs["target"] == "replica-2"


def test_latency_adds_a_toxic_both_ways_on_the_chosen_links_only(tmp_path: Path) -> None:
    proxies, api = _proxied(tmp_path, ["scheduler"])
    proxies.process = SimpleNamespace()  # type: ignore[assignment]
    with HistoryWriter(tmp_path / "h.jsonl") as writer:
        fault = FaultSpec(kind="latency", at_s=1.5, duration_s=2, member=1, latency_ms=400,
                          jitter_ms=100)
        steps = steps_for(_cluster(proxies, writer), fault)
        steps.begin()
        added = list(api.calls)
        assert steps.end is not None
        steps.end()
    assert {path for _, path, _ in added} == {f"/proxies/replica-{r}--scheduler-1/toxics"
                                              for r in range(3)}
    assert len(added) == 6 and {body["stream"] for _, _, body in added} == {"upstream", "downstream"}
    assert all(body["type"] == "latency" and body["attributes"] == {"latency": 400, "jitter": 100}
               for _, _, body in added)
    removed = api.calls[len(added):]
    assert len(removed) == 6 and all(m == "DELETE" and "latency-1500-" in p for m, p, _ in removed)


def test_a_one_way_split_cuts_members_in_the_kernel_and_one_stream_of_the_proxies(
        tmp_path: Path) -> None:
    proxies, api = _proxied(tmp_path, ["scheduler"])
    proxies.process = SimpleNamespace()  # type: ignore[assignment]
    cuts = SimpleNamespace(pairs=[], cut=lambda p: cuts.pairs.append(("cut", p)),
                           heal=lambda p: cuts.pairs.append(("heal", p)))
    with HistoryWriter(tmp_path / "h.jsonl") as writer:
        fault = FaultSpec(kind="partition", at_s=1, duration_s=2, one_way=True,
                          sides=(("scheduler-0", "scheduler-1", "replica-0"),
                                 ("scheduler-2", "replica-2")))
        steps = steps_for(_cluster(proxies, writer, cuts), fault)
        steps.begin()
    assert cuts.pairs == [("cut", {(0, 2), (1, 2)})]
    toxics = {(path, body["stream"]) for _, path, body in api.calls}
    assert toxics == {("/proxies/replica-0--scheduler-2/toxics", "upstream"),
                      ("/proxies/replica-2--scheduler-0/toxics", "downstream"),
                      ("/proxies/replica-2--scheduler-1/toxics", "downstream")}
    assert all(body["type"] == "timeout" and body["attributes"] == {"timeout": 0}
               for _, _, body in api.calls)


# --- which member sent each trigger -----------------------------------------------------------

WALL = datetime(2026, 12, 1, 20, 56, 27, 973502, tzinfo=timezone.utc).timestamp()
LOG = [
    'time="2026-12-01T20:56:27.973501992Z" level=debug msg="Triggering job: app||default||taskapi||j0"',
    'time="2026-12-01T20:56:27.974Z" level=debug msg="Triggering job: actorreminder||default||CleanupActor||cleanup||r"',
    'time="2026-12-01T20:56:27.976449622Z" level=debug msg="Triggered job app||default||taskapi||j0 in 2.781142ms (SUCCESS)"',
    'time="2026-12-01T20:56:28.1Z" level=info msg="something else"',
]


def test_member_logs_say_which_member_sent_which_trigger() -> None:
    job, reminder = parse_trigger_lines(LOG, member=2)
    assert job["member"] == 2 and job["name"] == "j0" and job["result"] == "SUCCESS"
    assert job["ms"] == 2.781 and abs(float(job["wall"]) - WALL) < 1e-6
    assert reminder["name"] == "r" and reminder["result"] is None  # no answer logged
