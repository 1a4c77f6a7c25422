"""results/bench.md from results/bench.json: each figure beside Dapr's target, with what limits it."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from tabulate import tabulate

__all__ = ["TARGETS", "fig", "headline_lines", "limited_by", "peak_trigger_rate", "recording_ratio",
           "render_bench", "write_bench_report"]

# Dapr's own perf-test assertions (tests/perf/jobs, on Kubernetes) and this project's issue targets.
TARGETS = {
    "scheduling": 600.0,  # job creations accepted per second, 1,000/s offered for 1 min
    "triggering": 12_700.0,  # triggers per second, 20,000 jobs due at once, 50 workers
    "recording_ratio": 0.6,  # recording app / null sink, triggers/s, same N due at once
    "recorder_headroom": 1.0,  # the recorder alone >= the fastest delivery Dapr achieved
    "ready_s_3": 6.0,  # control plane with 3 replicas ready (issue target on 2 cores)
    "teardown_s_3": 2.0,  # and torn down
}
Entry = dict[str, Any]


def fig(value: dict[str, Any] | None) -> str:
    """median [min-max] (n trials), or '-' when nothing was measured."""
    if not value:
        return "-"
    return f"{value['median']:g} [{value['min']:g}-{value['max']:g}] (n={value['n']})"


def _ratio(value: dict[str, Any] | None, target: float | None) -> str:
    if not value or not target:
        return "-"
    return f"{value['median'] / target:.2f}x"


def limited_by(sides: Sequence[str]) -> str:
    """The most frequent limiting side over the trials, e.g. 'daprd (180% of a core) (2/3)'."""
    if not sides:
        return "-"
    kinds = Counter(side.split(" (")[0] for side in sides)
    kind, count = kinds.most_common(1)[0]
    example = next(side for side in sides if side.startswith(kind))
    return f"{example} ({count}/{len(sides)} trials)" if len(sides) > 1 else example


def _stamp(entry: Entry) -> str:
    m = entry["machine"]
    load = entry.get("load_avg_1m")
    tree = "" if entry.get("tree", "clean") == "clean" else " (uncommitted changes)"
    return (f"Dapr {entry['dapr']}, harness {entry['harness_commit']}{tree}, {m['cpus']} CPUs / "
            f"{m['memory_gib']} GiB ({m.get('hostname', '?')}), measured {entry['measured_at']}, "
            f"{entry['settings']['trials']} trial(s), {entry['settings'].get('profile', 'full')} "
            f"profile, {entry['seconds']:g} s" + (f", load average {load[0]:g} -> {load[1]:g}" if load else ""))


def _table(rows: list[list[Any]], headers: list[str]) -> str:
    return tabulate(rows, headers=headers, tablefmt="github")


# -- sections ------------------------------------------------------------------------------------
def _setup(entry: Entry, bench: dict[str, Entry]) -> list[str]:
    f = entry["figures"]
    return [_table([["warm setup (s)", fig(f.get("warm_s"))], ["cold setup (s)", fig(f.get("cold_s"))]],
                   ["figure", "median [min-max]"])]


def _scheduling(entry: Entry, bench: dict[str, Entry]) -> list[str]:
    f = entry["figures"]
    rows = [[client, fig(c["accepted_per_s"]), f"{TARGETS['scheduling']:g}",
             _ratio(c["accepted_per_s"], TARGETS["scheduling"]), fig(c["latency_p50_ms"]),
             fig(c["latency_p99_ms"]), json.dumps(c["errors_by_status"]) if c["errors_by_status"] else "none",
             limited_by(c["limited_by"])] for client, c in f["clients"].items()]
    return [f"Jobs with `dueTime: 1h` created by {f['concurrency']} workers for {f['seconds']:g} s "
            f"per client and mode: `fixed` offers {f['offered_rate']:g}/s (Dapr's perf test offers "
            "1,000/s for 1 min), `full-speed` finds the ceiling on this machine (when a client's "
            "rows have only `fixed`, only the offered rate was measured). The HTTP clients spread "
            "requests over 3 sidecars, the gRPC client (Dapr Python SDK, `schedule_job`) uses one; "
            "client, daprd, scheduler and load generator share the cores.", "",
            _table(rows, ["client", "accepted/s", "Dapr target", "ratio", "latency p50 (ms)",
                          "p99 (ms)", "errors", "limited by (CPU during the run)"])]


def recording_ratio(sizes: dict[str, Any]) -> float | None:
    """Recording app / null sink triggers/s (medians) for one N."""
    null, app = sizes["null-sink"]["triggers_per_s"], sizes["recording-app"]["triggers_per_s"]
    return round(app["median"] / null["median"], 3) if null and app else None


def _app_cost(s: dict[str, Any]) -> str:
    if not s.get("app_p50_ms"):
        return "-"
    return f"{s['app_p50_ms']['median']:.2g}/{s['app_p99_ms']['median']:.2g}"


def _triggering(entry: Entry, bench: dict[str, Entry]) -> list[str]:
    f = entry["figures"]
    rows = []
    for n, sizes in f["sizes"].items():
        for sink in ("null-sink", "recording-app"):
            s = sizes[sink]
            rows.append([n, sink, fig(s["triggers_per_s"]), f"{TARGETS['triggering']:g}",
                         _ratio(s["triggers_per_s"], TARGETS["triggering"]), fig(s["first_to_last_s"]),
                         _app_cost(s), s["lost"], limited_by(s["limited_by"])])
    target = TARGETS["recording_ratio"]
    ratios = [f"- {n} jobs: recording app / null sink = **{recording_ratio(sizes)}x** (target at "
              f"least {target:g}x: {'met' if (recording_ratio(sizes) or 0) >= target else 'short'})"
              for n, sizes in f["sizes"].items()]
    return [f"One-time jobs due at the same moment, created beforehand (native client), delivered "
            f"to {f['replicas']} replicas; triggers/s is delivered / (last arrival - first). The null "
            "sink (Go, answers 200 and counts) shows Dapr's side; the recording app writes every "
            "trigger to the history before answering (its own time per trigger, p50/p99, measured "
            "in the app). Each trial delivers to one, then the other, so their ratio is what the "
            "recording leaves of Dapr's rate:", "",
            *ratios, "", _table(rows, ["jobs due at once", "app", "triggers/s", "Dapr target", "ratio",
                                       "first-to-last (s)", "app p50/p99 (ms)",
                                       "lost (all trials)", "limited by"]),
            "", "![triggers per second against N](plots/bench-triggering.png)"]


def _same_run(bench: dict[str, Entry], entry: Entry) -> dict[str, Entry]:
    """The entries measured in the invocation that measured ``entry`` (all, for older ones)."""
    run = entry.get("invocation")
    return {k: v for k, v in bench.items() if run is None or v.get("invocation") == run}


def peak_trigger_rate(bench: dict[str, Entry]) -> float | None:
    """The fastest delivery Dapr achieved in any trial of triggering or the replicas sweep."""
    rates = []
    if "triggering" in bench:
        rates += [t["triggers_per_s"] for sizes in bench["triggering"]["figures"]["sizes"].values()
                  for sink in ("null-sink", "recording-app") for t in sizes[sink]["trials"]]
    if "replicas" in bench:
        rates += [t["triggers_per_s"] for c in bench["replicas"]["figures"]["cells"].values()
                  for t in c["trials"]]
    rates = [r for r in rates if r]
    return max(rates) if rates else None


def _recorder(entry: Entry, bench: dict[str, Entry]) -> list[str]:
    f = entry["figures"]
    same = _same_run(bench, entry)
    peak = peak_trigger_rate(same)
    where = "in the same run" if entry.get("invocation") else "in the figures above"
    needed = TARGETS["recorder_headroom"] * peak if peak else None
    measured = f["accepted_per_s"]
    rows = [["recording app, requests/s with no record lost", fig(measured),
             f"{needed:g}" if needed else "-", _ratio(measured, peak)],
            ["app's own time per request p50/p99 (ms)", _app_cost(f), "-", "-"],
            ["records lost (all trials)", f["lost_records"], "0", "-"]]
    verdict = ""
    if peak and measured:
        short = measured["median"] < needed
        verdict = (f"The recorder sustains {measured['median'] / peak:.2f}x the fastest delivery "
                   f"Dapr achieved {where} ({peak:g}/s; target at least "
                   f"{TARGETS['recorder_headroom']:g}x: {'short' if short else 'met'}). Limited by "
                   f"{limited_by(f['limited_by'])}: three Python processes share 2 cores with the "
                   "load generator.")
    elif not peak:
        verdict = "No triggering or replicas figures in the same run to compare with."
    return [f"{f['apps']} recording apps driven directly (no Dapr) by the native load generator "
            "(request i to app i % 3), every request recorded before its answer; a record is lost "
            "when a 2xx came back and no line reached the history.", "",
            _table(rows, ["figure", "measured", f"needed ({TARGETS['recorder_headroom']:g}x the "
                          "fastest delivery)", "ratio to the fastest delivery"]),
            "", verdict]


def _precision(entry: Entry, bench: dict[str, Entry]) -> list[str]:
    f = entry["figures"]
    cron = [[m, fig(f[k]["p50"]), fig(f[k]["p99"]), fig(f[k]["max"]), f[k]["fires"]]
            for m, k in (("job", "cron_job"), ("binding (every replica)", "cron_binding"))]
    job, binding = f["every_job"], f["every_binding"]
    drift_rows = [
        ["job (go-etcd-cron)", fig(job["per_tick_ms"]), fig(job["per_day_s"]),
         f"first ticks {fig(job['grid_first_ms'])}; last ticks {fig(job['grid_last_ms'])}"],
        [f"binding (dapr/kit cron, {binding['streams']} replica streams)", fig(binding["per_tick_ms"]),
         fig(binding["per_day_s"]), f"total slip over the window {fig(binding['total_ms'])} ms"],
    ]
    return [f"{f['replicas']} replicas, {f['ticks']} ticks per trial; trials run at the same time, each "
            "with its own control plane. **Absolute lateness** on the cron spec `* * * * * *` "
            "(ms past each whole second):", "",
            _table(cron, ["mechanism", "lateness p50 (ms)", "p99 (ms)", "max (ms)", "fires (all trials)"]),
            "", "**Drift** on `@every 1s` (mean gap between consecutive fires minus 1 s, per "
            "stream: the job across replicas, the binding per replica; dapr/kit's cron sets "
            "next = wake + period, go-etcd-cron counts from the job's start). The job was created "
            "with an RFC3339 dueTime on a whole second; its lateness on that grid at the start and "
            "the end of the window shows whether it stays there:", "",
            _table(drift_rows, ["@every 1s", "drift per tick (ms)", "projected per day (s)", "on its grid (ms late)"])]


def _replicas(entry: Entry, bench: dict[str, Entry]) -> list[str]:
    f = entry["figures"]
    rows = [[c["members"], c["replicas"], fig(c["triggers_per_s"]), _ratio(c["triggers_per_s"], TARGETS["triggering"]),
             c["lost"], limited_by(c["limited_by"])] for c in f["cells"].values()]
    return [f"{f['jobs']} one-time jobs due at once, delivered to null sinks.", "",
            _table(rows, ["scheduler members", "replicas", "triggers/s", "ratio to 12,700", "lost", "limited by"]),
            "", "![triggers per second against replicas](plots/bench-replicas.png)"]


def _stored(entry: Entry, bench: dict[str, Entry]) -> list[str]:
    f = entry["figures"]
    rows = [[level, fig(v["creations_per_s"]), _ratio(v["creations_per_s"], TARGETS["scheduling"]),
             fig(v["scheduler_rss_mib"]), fig(v["etcd_db_mib"]), limited_by(v["limited_by"])]
            for level, v in f["levels"].items()]
    return ["Jobs with `dueTime: 24h` created at full speed (native client, 1 replica) up to each "
            "level; creations/s is the rate while growing to that level; RSS and the etcd "
            "database file (`member/snap/db`) are read at the level.", "",
            _table(rows, ["stored jobs", "creations/s", "ratio to 600", "scheduler RSS (MiB)",
                          "etcd db (MiB)", "limited by"]),
            "", "![scheduler cost against stored jobs](plots/bench-stored-jobs.png)"]


def _recurring(entry: Entry, bench: dict[str, Entry]) -> list[str]:
    f = entry["figures"]
    rows = [[n, fig(v["p50"]), fig(v["p99"]), fig(v["max"]), f"{v['triggers']}/{v['expected']}",
             limited_by(v["limited_by"])] for n, v in f["sizes"].items()]
    return [f"N jobs `@every 1s` with one RFC3339 dueTime on a whole second, {f['replicas']} replicas "
            f"(recording app), {f['window_s']:g} s window; the k-th fire of a job is due at "
            "dueTime + k s.", "",
            _table(rows, ["recurring jobs", "lateness p50 (ms)", "p99 (ms)", "max (ms)",
                          "fires / expected", "limited by"]),
            "", "![lateness against recurring jobs](plots/bench-recurring.png)"]


def _cost(entry: Entry, bench: dict[str, Entry]) -> list[str]:
    rows = []
    for n, f in entry["figures"].items():
        rss = ", ".join(f"{k} {fig(v).split(' (')[0]}" for k, v in f["rss_mib_per_process"].items())
        target = n == "3"
        rows.append([n, fig(f["ready_s"]), f"{TARGETS['ready_s_3']:g}" if target else "-",
                     fig(f["teardown_s"]), f"{TARGETS['teardown_s_3']:g}" if target else "-", rss])
    return [_table(rows, ["replicas", "ready (s)", "target", "teardown (s)", "target",
                          "RSS MiB per process (median)"])]


def _registration(entry: Entry, bench: dict[str, Entry]) -> list[str]:
    rows = [[mechanism, fig(f["accepted_per_s"]), _ratio(f["accepted_per_s"], TARGETS["scheduling"]),
             fig(f["latency_p50_ms"]), fig(f["latency_p99_ms"]),
             ", ".join(f"{k} {v}" for k, v in f["errors_by_status"].items()) or "none"]
            for mechanism, f in entry["figures"].items()]
    jobs = bench.get("scheduling", {}).get("figures", {}).get("clients", {})
    rows += [[f"job ({client} client)", fig(c["accepted_per_s"]),
              _ratio(c["accepted_per_s"], TARGETS["scheduling"]), fig(c["latency_p50_ms"]),
              fig(c["latency_p99_ms"]), "see section 1"] for client, c in jobs.items()]
    return ["Full speed, 50 clients: actor reminders registered over HTTP (one actor id each), "
            "workflow instances started over HTTP, jobs created through the Python SDK (gRPC); "
            "3 replicas of each app and the run's Redis. The Jobs API's own rows (section 1) "
            "beside them.", "",
            _table(rows, ["mechanism", "accepted/s", "ratio to 600", "latency p50 (ms)",
                          "p99 (ms)", "errors"])]


def _checker(entry: Entry, bench: dict[str, Entry]) -> list[str]:
    f = entry["figures"]
    rows = [[key.split("_")[1], fig(value)] for key, value in f.items() if key.startswith("check_")]
    recheck = f["recheck"]
    return ["The checkers on a history built in memory (a job `@every 1s` across 3 replicas and "
            "a cron binding on each), and `recheck` over every run cited under results/evidence/ "
            "(no Dapr):", "",
            _table(rows, ["triggers in the history", "check_run (s)"]), "",
            f"recheck: {recheck['runs']} cited runs in {recheck['seconds']} s, "
            f"{recheck['differences']} difference(s)."]


SECTIONS: dict[str, tuple[str, Callable[[Entry, dict[str, Entry]], list[str]]]] = {
    "setup": ("Setup time", _setup),
    "scheduling": ("1. Scheduling: job creations, three clients", _scheduling),
    "triggering": ("2. Triggering: null sink against the recording app", _triggering),
    "recorder": ("3. The recorder's headroom", _recorder),
    "precision": ("4. Precision without drift", _precision),
    "replicas": ("5. Triggers/s against replicas and scheduler members", _replicas),
    "stored-jobs": ("6. Scheduler cost as stored jobs grow", _stored),
    "recurring": ("7. Lateness as recurring jobs grow", _recurring),
    "cost": ("8. Control-plane start and stop", _cost),
    "registration": ("9. Registering work with the other mechanisms", _registration),
    "checker": ("10. The checkers' own speed", _checker),
}


def render_bench(data: dict[str, Any]) -> str:
    bench = data["benchmarks"]
    lines = ["# Benchmarks", "",
             "_Generated by `python -m harness bench` (rendered from results/bench.json); do not "
             "edit by hand. Figures are median [min-max] over n trials on one shared 2-core "
             "machine, beside Dapr's own perf-test targets (measured on Kubernetes). Each section "
             "is stamped with its commit, machine and the 1-minute load average before and after: "
             "other engineers' builds and Dapr runs shared the cores, so figures are noisy. "
             "\"Limited by\" names the side that used the CPU (psutil, during the measured "
             "interval): the machine when its cores were >= 90% busy, else the busiest process._", ""]
    for name, (title, render) in SECTIONS.items():
        if name in bench:
            note = [f"_Note: {bench[name]['note']}_", ""] if bench[name].get("note") else []
            lines += [f"## {title}", "", _stamp(bench[name]), "", *note, *render(bench[name], bench), ""]
    return "\n".join(lines)


def headline_lines(bench: dict[str, Entry]) -> list[str]:
    """The figures a decision record cites, one bullet each (medians)."""
    lines = []
    if "scheduling" in bench:
        for client, c in bench["scheduling"]["figures"]["clients"].items():
            if c["accepted_per_s"]:
                lines.append(f"- job creations accepted ({client}): {c['accepted_per_s']['median']:g}/s "
                             f"median (n={c['accepted_per_s']['n']}), {_ratio(c['accepted_per_s'], TARGETS['scheduling'])} "
                             "of Dapr's 600/s")
    if "triggering" in bench:
        for n, sizes in bench["triggering"]["figures"]["sizes"].items():
            null, app = sizes["null-sink"], sizes["recording-app"]
            lines.append(f"- {n} jobs due at once: {fig(null['triggers_per_s'])} triggers/s to a null sink, "
                         f"{fig(app['triggers_per_s'])} to the recording app "
                         f"({recording_ratio(sizes)}x), lost {null['lost'] + app['lost']}")
    if "precision" in bench:
        f = bench["precision"]["figures"]
        lines.append(f"- cron `* * * * * *` lateness p99: job {fig(f['cron_job']['p99'])} ms, binding "
                     f"{fig(f['cron_binding']['p99'])} ms; `@every 1s` drift per tick: job "
                     f"{fig(f['every_job']['per_tick_ms'])} ms, binding {fig(f['every_binding']['per_tick_ms'])} ms "
                     f"({fig(f['every_binding']['per_day_s'])} s per day)")
    if "cost" in bench and "3" in bench["cost"]["figures"]:
        lines.append(f"- 3 replicas ready in {bench['cost']['figures']['3']['ready_s']['median']:g} s")
    return lines


# -- plots ---------------------------------------------------------------------------------------
def _errorbar(ax: Any, xs: list[float], spreads: list[dict[str, Any] | None], label: str) -> None:
    points = [(x, s) for x, s in zip(xs, spreads, strict=True) if s]
    if not points:
        return
    med = [s["median"] for _, s in points]
    ax.errorbar([x for x, _ in points], med, marker="o", capsize=4, label=label,
                yerr=[[m - s["min"] for m, (_, s) in zip(med, points, strict=True)],
                      [s["max"] - m for m, (_, s) in zip(med, points, strict=True)]])


def _save(figure: Figure, out: Path) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    FigureCanvasAgg(figure).print_png(str(out))
    return out


def plot_triggering(entry: Entry, out: Path) -> Path:
    sizes = entry["figures"]["sizes"]
    ns = [int(n) for n in sizes]
    figure = Figure(figsize=(7, 4), layout="constrained")
    ax = figure.add_subplot()
    for sink in ("null-sink", "recording-app"):
        _errorbar(ax, ns, [sizes[str(n)][sink]["triggers_per_s"] for n in ns], sink)
    ax.axhline(TARGETS["triggering"], color="grey", linestyle="--", label="Dapr target (Kubernetes)")
    ax.set_xscale("log")
    ax.set(xlabel="jobs due at the same moment", ylabel="triggers per second",
           title=f"Triggering, Dapr {entry['dapr']}, 3 replicas (median, min-max)")
    ax.legend(fontsize=8)
    return _save(figure, out)


def plot_replicas(entry: Entry, out: Path) -> Path:
    cells = list(entry["figures"]["cells"].values())
    figure = Figure(figsize=(7, 4), layout="constrained")
    ax = figure.add_subplot()
    for members in sorted({c["members"] for c in cells}):
        mine = [c for c in cells if c["members"] == members]
        _errorbar(ax, [c["replicas"] for c in mine], [c["triggers_per_s"] for c in mine],
                  f"{members} scheduler member(s)")
    ax.set(xlabel="replicas (null sink)", ylabel="triggers per second",
           title=f"{entry['figures']['jobs']} jobs due at once, Dapr {entry['dapr']}")
    ax.legend(fontsize=8)
    return _save(figure, out)


def plot_stored(entry: Entry, out: Path) -> Path:
    levels = entry["figures"]["levels"]
    xs = [int(n) for n in levels]
    figure = Figure(figsize=(10, 3.5), layout="constrained")
    for i, (key, label) in enumerate((("creations_per_s", "creations/s"),
                                      ("scheduler_rss_mib", "scheduler RSS (MiB)"),
                                      ("etcd_db_mib", "etcd db (MiB)"))):
        ax = figure.add_subplot(1, 3, i + 1)
        _errorbar(ax, xs, [levels[str(x)][key] for x in xs], label)
        ax.set(xscale="log", xlabel="stored jobs", ylabel=label)
    figure.suptitle(f"Scheduler cost as stored jobs grow, Dapr {entry['dapr']}", fontsize=10)
    return _save(figure, out)


def plot_recurring(entry: Entry, out: Path) -> Path:
    sizes = entry["figures"]["sizes"]
    xs = [int(n) for n in sizes]
    figure = Figure(figsize=(7, 4), layout="constrained")
    ax = figure.add_subplot()
    for q in ("p50", "p99"):
        _errorbar(ax, xs, [sizes[str(x)][q] for x in xs], f"lateness {q}")
    ax.set(xscale="log", xlabel="jobs @every 1s", ylabel="ms late",
           title=f"Lateness as recurring jobs grow, Dapr {entry['dapr']}, 3 replicas")
    ax.legend(fontsize=8)
    return _save(figure, out)


PLOTS: dict[str, tuple[str, Callable[[Entry, Path], Path]]] = {
    "triggering": ("bench-triggering.png", plot_triggering),
    "replicas": ("bench-replicas.png", plot_replicas),
    "stored-jobs": ("bench-stored-jobs.png", plot_stored),
    "recurring": ("bench-recurring.png", plot_recurring),
}


def write_bench_report(bench_json: Path, out_dir: Path) -> list[Path]:
    data = json.loads(bench_json.read_text())
    doc = out_dir / "bench.md"
    doc.write_text(render_bench(data), encoding="utf-8")
    plots = [plot(data["benchmarks"][name], out_dir / "plots" / filename)
             for name, (filename, plot) in PLOTS.items() if name in data["benchmarks"]]
    return [doc, *plots]
