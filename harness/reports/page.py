"""One page to look at: ``results/index.html``, self-contained (no network at view time).

The headline (from the latest cited run of the headline scenario, with its timeline), then the
Markdown reports as the other commands wrote them (faults, claims, versions, benchmarks, the
decision record, the full comparison), rendered with Python-Markdown, and a timeline of every
cited run (``results/evidence/``), drawn as inline SVG from its stored history and judged
again by today's checker. Links to a cited run's evidence go to its timeline on the page;
images are inlined. A Content-Security-Policy forbids every fetch, so a page that needed the
network would show it as an error in the browser.
"""

from __future__ import annotations

import base64
import html
import re
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from xml.etree.ElementTree import Element

import markdown
from markdown.extensions import Extension
from markdown.treeprocessors import Treeprocessor

from harness.reports.comparison import (
    HEADLINE_HEADERS,
    headline_caption,
    headline_rows,
    readme_headline_run,
)
from harness.reports.context import commit_cell, faults_cell
from harness.reports.svg import legend_html, timeline_svg
from harness.reports.timeline import Timeline, lanes_text, run_timeline
from harness.summary import (
    RunSummary,
    StoredRun,
    contention_note,
    evidence_ids,
    latest_runs,
    load_stored_run,
)

__all__ = ["DOCUMENTS", "cited_runs", "headline_run", "render_page", "run_anchor", "write_page"]

# (section id, heading, file under results/, the command that writes it)
DOCUMENTS: tuple[tuple[str, str, str, str], ...] = (
    ("faults", "Faults", "faults.md", "faults"),
    ("claims", "Claims", "claims.md", "claims"),
    ("versions", "Dapr versions", "versions.md", "matrix"),
    ("bench", "Benchmarks", "bench.md", "bench"),
    ("adr", "Decision record", "adr-jobs-api-or-cron-binding.md", "adr"),
    ("comparison", "Comparison, every table", "comparison.md", "report"),
)
_EVIDENCE = re.compile(r"^(?:\.?/?results/)?evidence/(?P<run>[^/]+)\.json$")
_TIMELINE_PNG = re.compile(r"^(?:\.?/?results/)?plots/(?P<run>[^/]+)-timeline\.png$")
CSP = ("default-src 'none'; img-src data:; style-src 'unsafe-inline'; "
       "script-src 'unsafe-inline'")


def run_anchor(run_id: str) -> str:
    return f"run-{run_id}"


class _LocalLinks(Treeprocessor):
    """Evidence links go to the run's timeline on the page, a run's PNG timeline becomes a link
    to its SVG one, other images are inlined, links to a report go to its section."""

    def __init__(self, md: markdown.Markdown, results: Path, runs: set[str]) -> None:
        super().__init__(md)
        self.results, self.runs = results, runs
        self.sections = {name: f"#{section}" for section, _, name, _ in DOCUMENTS}

    def run(self, root: Element) -> None:
        for element in root.iter():
            if element.tag == "a":
                self._link(element)
            elif element.tag == "img":
                self._image(element)

    def _link(self, element: Element) -> None:
        href = element.get("href", "")
        found = _EVIDENCE.match(href)
        if found and found["run"] in self.runs:
            element.set("href", f"#{run_anchor(found['run'])}")
        elif href.removeprefix("results/") in self.sections:
            element.set("href", self.sections[href.removeprefix("results/")])

    def _image(self, element: Element) -> None:
        src = element.get("src", "")
        found = _TIMELINE_PNG.match(src)
        if found and found["run"] in self.runs:
            element.tag, element.attrib = "a", {"href": f"#{run_anchor(found['run'])}"}
            element.text = f"timeline of {found['run']} (below)"
            return
        path = self.results / src
        if src.endswith(".png") and path.is_file():
            data = base64.b64encode(path.read_bytes()).decode()
            element.set("src", f"data:image/png;base64,{data}")
        else:
            element.tag, element.attrib = "span", {"class": "missing"}
            element.text = f"[image {src} not inlined]"


class _LocalLinksExtension(Extension):
    def __init__(self, results: Path, runs: set[str]) -> None:
        super().__init__()
        self.results, self.runs = results, runs

    def extendMarkdown(self, md: markdown.Markdown) -> None:  # noqa: N802 (the library's name)
        md.treeprocessors.register(_LocalLinks(md, self.results, self.runs), "local_links", 5)


def markdown_html(text: str, results: Path, runs: set[str]) -> str:
    return markdown.markdown(text, extensions=[
        "tables", "fenced_code", "sane_lists", _LocalLinksExtension(results, runs)])


# --------------------------------------------------------------------------------------------


def _headline(summary: RunSummary | None, runs: dict[str, StoredRun]) -> str:
    if summary is None:
        return "<p class='missing'>No cited run of the headline scenario in results/evidence/.</p>"
    head = "".join(f"<th>{html.escape(h)}</th>" for h in HEADLINE_HEADERS)
    body = []
    for entry, cells in zip(summary.mechanisms, headline_rows(summary), strict=True):
        tds = "".join(f'<td data-col="{html.escape(h)}">{html.escape(c)}</td>'
                      for h, c in zip(HEADLINE_HEADERS, cells, strict=True))
        body.append(f'<tr data-mechanism="{html.escape(entry.mechanism)}" '
                    f'data-name="{html.escape(entry.name)}">{tds}</tr>')
    caption = headline_caption(summary, f"run [`{summary.run_id}`](#{run_anchor(summary.run_id)})")
    parts = [markdown.markdown(caption) + _flag(summary, runs),
             f'<table id="headline-table"><thead><tr>{head}</tr></thead>'
             f'<tbody>{"".join(body)}</tbody></table>']
    if summary.run_id in runs:
        run = runs[summary.run_id]
        parts.append(_timeline_block(run, run_timeline(run), f"headline-{summary.run_id}"))
    return "\n".join(parts)


def _timeline_block(run: StoredRun, timeline: Timeline, uid: str) -> str:
    notes = "".join(f"<p class='note'>{html.escape(n)}</p>" for n in timeline.notes)
    return (f'<figure class="timeline" data-run="{html.escape(run.summary.run_id)}">'
            f"<figcaption>{html.escape(timeline.title)}</figcaption>{notes}"
            f'<div class="scroll">{timeline_svg(timeline, uid)}</div>'
            f"{legend_html(timeline)}</figure>")


def _flag(summary: RunSummary, runs: dict[str, StoredRun]) -> str:
    note = contention_note(summary, [r.summary for r in runs.values()])
    return "" if note is None else f' <span class="flag" title="{html.escape(note)}">{html.escape(note)}</span>'


def _run_line(run: StoredRun, timeline: Timeline, flag: str) -> str:
    s = run.summary
    lanes = lanes_text(timeline.lanes, s.replicas)
    return (f"<b>{html.escape(s.scenario)}</b> <code>{html.escape(s.run_id)}</code>{flag} "
            f"<span class='verdict {html.escape(s.verdict)}'>{html.escape(s.verdict)}</span> "
            f"Dapr {html.escape(s.dapr.version)}, {html.escape(lanes)}, window {s.window_s:g} s, "
            f"faults: {html.escape(faults_cell(s))}, harness {html.escape(commit_cell(s))}")


def _timelines(runs: dict[str, StoredRun]) -> str:
    blocks = []
    for run_id, run in sorted(runs.items(), key=lambda kv: (kv[1].summary.scenario, kv[0])):
        timeline = run_timeline(run)
        blocks.append(
            f'<details id="{run_anchor(run_id)}" class="run">'
            f"<summary>{_run_line(run, timeline, _flag(run.summary, runs))}</summary>"
            f'<p><a href="evidence/{html.escape(run_id)}.json">summary</a> · '
            f'<a href="evidence/{html.escape(run_id)}.history.jsonl.gz">history</a> · '
            f'<a href="evidence/{html.escape(run_id)}.scenario.json">scenario</a></p>'
            f"{_timeline_block(run, timeline, run_id)}</details>")
    return "\n".join(blocks)


def _document(results: Path, section: str, title: str, name: str, command: str,
              runs: set[str]) -> str:
    path = results / name
    if not path.is_file():
        missing = (f"<p class='missing'>{html.escape(name)} has not been written: run "
                   f"<code>python3 -m harness {command}</code>.</p>")
        return f'<section id="{section}"><h1>{html.escape(title)}</h1>{missing}</section>'
    body = markdown_html(path.read_text(encoding="utf-8"), results, runs)
    return f'<section id="{section}">{body}</section>'


STYLE = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;color:#1d1d1f;margin:0;background:#fff}
header{background:#1f2937;color:#f9fafb;padding:14px 24px}
header h1{margin:0 0 4px;font-size:22px}
header p{margin:0;color:#cbd5e1;font-size:13px}
nav{position:sticky;top:0;z-index:2;background:#f3f4f6;border-bottom:1px solid #d1d5db;padding:6px 24px}
nav a{margin-right:16px;color:#1d4ed8;text-decoration:none;font-weight:600}
main{padding:8px 24px 80px;max-width:1400px}
section>h1:first-child{font-size:21px;border-bottom:2px solid #1f2937;padding-bottom:3px;margin-top:34px}
section h2{font-size:16.5px}section h3{font-size:14.5px}
header code{background:#374151;color:#f9fafb}
table{border-collapse:collapse;display:block;overflow-x:auto;max-width:100%;font-size:12.5px;margin:8px 0}
th,td{border:1px solid #d1d5db;padding:3px 7px;text-align:left;vertical-align:top}
th{background:#f3f4f6;position:sticky;top:0}
tr:nth-child(even) td{background:#fafafa}
#headline-table{font-size:15px}
#headline-table td,#headline-table th{padding:5px 10px}
code{font-size:12px;background:#f3f4f6;padding:0 3px;border-radius:3px}
img{max-width:100%}
figure.timeline{margin:12px 0}
figcaption{font-weight:600;margin-bottom:4px}
.scroll{overflow-x:auto}
ul.legend{list-style:none;padding:0;margin:6px 0;display:flex;flex-wrap:wrap;gap:4px 18px;font-size:12.5px}
ul.legend li{display:flex;align-items:center;gap:5px}
details.run{border:1px solid #e5e7eb;border-radius:4px;margin:6px 0;padding:4px 10px}
details.run summary{cursor:pointer}
.verdict{padding:0 6px;border-radius:3px;font-size:12px;font-weight:600}
.verdict.pass{background:#dcfce7;color:#166534}.verdict.fail{background:#fee2e2;color:#991b1b}
.verdict.ambiguous{background:#fef3c7;color:#92400e}
.missing,.note{color:#92400e}
.flag{background:#fef3c7;color:#92400e;padding:0 6px;border-radius:3px;font-size:12px}
#record{position:fixed;right:12px;bottom:12px;width:380px;max-height:45vh;overflow:auto;
background:#111827;color:#e5e7eb;font:12px/1.35 ui-monospace,monospace;padding:8px 10px;
border-radius:6px;white-space:pre-wrap;box-shadow:0 2px 10px rgba(0,0,0,.3);z-index:3}
svg.timeline [data-record]{cursor:crosshair}
svg.timeline .mark:hover,svg.timeline .lost:hover{stroke:#000;stroke-width:2.5}
"""

SCRIPT = """
(function () {
  const panel = document.getElementById('record');
  document.addEventListener('mouseover', function (event) {
    const target = event.target.closest('[data-record]');
    if (!target) { return; }
    panel.textContent = JSON.stringify(JSON.parse(target.getAttribute('data-record')), null, 1);
    panel.hidden = false;
  });
  document.addEventListener('click', function (event) {
    const link = event.target.closest('a[href^="#run-"]');
    if (!link) { return; }
    const details = document.getElementById(link.getAttribute('href').slice(1));
    if (details && details.tagName === 'DETAILS') { details.open = true; }
  });
  if (location.hash.startsWith('#run-')) {
    const details = document.getElementById(location.hash.slice(1));
    if (details) { details.open = true; }
  }
})();
"""


def render_page(results: Path, runs: dict[str, StoredRun], headline: RunSummary | None,
                *, generated_at: str | None = None) -> str:
    """The whole page for ``runs`` (run id -> stored run) and the reports under ``results``."""
    ids = set(runs)
    versions = sorted({r.summary.dapr.version for r in runs.values()})
    commits = sorted({commit_cell(r.summary) for r in runs.values()})
    stamp = generated_at or time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    nav = [("headline", "Headline"), *((s, t) for s, t, _, _ in DOCUMENTS), ("timelines", "Timelines")]
    sections = [f'<section id="headline"><h1>Headline</h1>'
                f"{_headline(headline, runs)}</section>"]
    sections += [_document(results, *doc, ids) for doc in DOCUMENTS]
    sections.append(
        '<section id="timelines"><h1>Timelines of every cited run</h1>'
        "<p>One lane per replica, one mark per trigger the app received, in its mechanism's "
        "colour and shape; app-wide tasks (jobs, reminders, gated bindings, workflows) have a row "
        "of their ticks above the lanes. Ticks, lost ticks and duplicates are the checker's, "
        "judged again from the stored history. Hover a mark to see its record.</p>"
        f"{_timelines(runs)}</section>")
    links = "".join(f'<a href="#{s}">{html.escape(t)}</a>' for s, t in nav)
    return "\n".join([
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        "<title>Dapr schedule harness: evidence</title>", f"<style>{STYLE}</style></head><body>",
        "<header><h1>Dapr schedule harness: the evidence on one page</h1>"
        f"<p>{len(runs)} cited runs · Dapr {html.escape(', '.join(versions))} · harness "
        f"{html.escape(', '.join(commits))} · generated {html.escape(stamp)} by "
        "<code>python3 -m harness report --html</code></p></header>",
        f"<nav>{links}</nav><main>", *sections, "</main>",
        '<aside id="record" hidden aria-live="polite"></aside>',
        f"<script>{SCRIPT}</script></body></html>",
    ]) + "\n"


def cited_runs(evidence_dir: Path, run_ids: Sequence[str] | None = None) -> dict[str, StoredRun]:
    return {run_id: load_stored_run(evidence_dir, run_id)
            for run_id in (run_ids if run_ids is not None else evidence_ids(evidence_dir))}


def headline_run(runs: dict[str, StoredRun], readme: Path, scenario: str) -> RunSummary | None:
    """The run the README's headline cites, else the latest cited run of ``scenario``."""
    cited = readme_headline_run(readme)
    if cited in runs:
        return runs[cited].summary
    latest = latest_runs([r.summary for r in runs.values()], scenario, clean_only=True)
    return latest[0] if latest else None


def write_page(results: Path, *, readme: Path, headline_scenario: str, out: Path | None = None,
               **kwargs: Any) -> Path:
    """Write ``index.html`` from the reports and evidence under ``results``."""
    runs = cited_runs(results / "evidence")
    target = out or results / "index.html"
    headline = headline_run(runs, readme, headline_scenario)
    target.write_text(render_page(results, runs, headline, **kwargs), encoding="utf-8")
    return target
