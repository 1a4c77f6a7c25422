"""results/index.html from fake runs and from the stored evidence: self-contained, the headline
the summary's, a timeline per cited run, the reports' links kept on the page (no browser)."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

import pytest
from fakeruns import comparison_history, comparison_scenario, fake_run

from harness.paths import REPO_ROOT, RESULTS_DIR
from harness.reports.comparison import HEADLINE_HEADERS, readme_headline_run, update_readme
from harness.reports.page import DOCUMENTS, write_page
from harness.summary import copy_evidence, evidence_ids, load_summaries

RUN = "0001-20261128-194634-comparison-f2e5"
OTHER = "0002-20261128-195210-comparison-a1b2"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16
RESOURCE_ATTRS = {("img", "src"), ("script", "src"), ("link", "href"), ("iframe", "src"),
                  ("source", "src"), ("image", "href"), ("use", "href")}


class Elements(HTMLParser):
    """Every start tag with its attributes, and the text inside each element with an id."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, {k: v or "" for k, v in attrs}))

    def with_attr(self, name: str, value: str | None = None) -> list[dict[str, str]]:
        return [a for _, a in self.tags if name in a and (value is None or a[name] == value)]


def parse(text: str) -> Elements:
    parser = Elements()
    parser.feed(text)
    return parser


def headline_cells(text: str) -> list[dict[str, str]]:
    """The headline table's rows as {column: text} (its cells carry their column name)."""
    table = text.split('<table id="headline-table">', 1)[1].split("</table>", 1)[0]
    rows = []
    for row in table.split("<tr data-mechanism=")[1:]:
        cells = {}
        for cell in row.split('<td data-col="')[1:]:
            column, _, rest = cell.partition('">')
            cells[column] = rest.split("</td>", 1)[0]
        rows.append(cells)
    return rows


@pytest.fixture
def results(tmp_path: Path) -> Path:
    runs, out = tmp_path / "runs", tmp_path / "results"
    fake_run(runs, RUN, comparison_scenario(), comparison_history(3, skip_tick=6),
             "2026-11-28T19:46:34Z")
    fake_run(runs, OTHER, comparison_scenario(), comparison_history(2), "2026-11-28T19:52:10Z")
    copy_evidence(runs, out / "evidence", load_summaries(runs))
    (out / "plots").mkdir()
    (out / "plots" / "lateness.png").write_bytes(PNG)
    (out / "faults.md").write_text(
        "# Faults\n\nSee [run 1](evidence/" + RUN + ".json) and [the claims](claims.md).\n\n"
        f"![timeline](plots/{RUN}-timeline.png)\n\n![lateness](plots/lateness.png)\n\n"
        "| a | b |\n|---|---|\n| 1 | 2 |\n", encoding="utf-8")
    readme = tmp_path / "README.md"
    readme.write_text("# x\n\n<!-- headline:start -->\n<!-- headline:end -->\n", encoding="utf-8")
    update_readme(readme, next(s for s in load_summaries(runs) if s.run_id == RUN))
    return out


def _page(results: Path) -> str:
    path = write_page(results, readme=results.parent / "README.md", headline_scenario="comparison",
                      generated_at="fixed")
    return path.read_text(encoding="utf-8")


def test_the_page_loads_nothing_from_anywhere(results: Path) -> None:
    page = parse(_page(results))
    csp = page.with_attr("http-equiv", "Content-Security-Policy")
    assert csp and "default-src 'none'" in csp[0]["content"]
    for tag, attrs in page.tags:
        for name, value in attrs.items():
            if (tag, name) in RESOURCE_ATTRS:
                assert value.startswith("data:"), (tag, name, value)


def test_the_headline_is_the_readme_run_and_its_cells_are_the_summary(results: Path) -> None:
    text = _page(results)
    assert readme_headline_run(results.parent / "README.md") == RUN
    summary = next(s for s in load_summaries(results.parent / "runs") if s.run_id == RUN)
    rows = headline_cells(text)
    assert len(rows) == len(summary.mechanisms) == 2
    for row, entry in zip(rows, summary.mechanisms, strict=True):
        assert set(row) == set(HEADLINE_HEADERS)
        assert row["mechanism"] == entry.mechanism
        assert row["ticks"] == str(entry.across.ticks)
        assert row["attempts"] == str(entry.attempts)
        assert row["exactly once"] == str(entry.across.once)
        assert row["duplicated"] == str(entry.across.duplicated)
        assert row["lost"] == str(entry.across.lost)
    assert rows[0]["lost"] == "1"  # the skipped tick
    assert f'data-run="{RUN}"' in text.split('<section id="faults">')[0]  # its timeline


def test_a_timeline_per_cited_run_and_links_kept_on_the_page(results: Path) -> None:
    text = _page(results)
    page = parse(text)
    for run_id in (RUN, OTHER):
        assert page.with_attr("id", f"run-{run_id}")
    faults = parse(text.split('<section id="faults">')[1].split("</section>")[0])
    hrefs = [a["href"] for a in faults.with_attr("href")]
    assert f"#run-{RUN}" in hrefs and "#claims" in hrefs
    assert not any(h.startswith("evidence/") for h in hrefs)
    assert [i["src"][:22] for i in faults.with_attr("src")] == ["data:image/png;base64,"]
    assert "<table>" in text  # Markdown tables rendered by the library
    for section, _, name, command in DOCUMENTS:
        if name != "faults.md":
            assert f"python3 -m harness {command}" in text.split(f'<section id="{section}">')[1]


def test_the_page_of_the_stored_evidence(tmp_path: Path) -> None:
    out = write_page(RESULTS_DIR, readme=REPO_ROOT / "README.md", headline_scenario="comparison",
                     out=tmp_path / "index.html")
    page = parse(out.read_text(encoding="utf-8"))
    ids = evidence_ids(RESULTS_DIR / "evidence")
    assert ids and all(page.with_attr("id", f"run-{run_id}") for run_id in ids)
    headline = readme_headline_run(REPO_ROOT / "README.md")
    assert page.with_attr("data-run", headline)
