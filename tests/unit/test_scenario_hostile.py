"""Hostile scenario files: each hole the issue names, and a fuzz test over the real scenarios.

Every file must either load or raise ScenarioError with one line naming the file, the field and
what is allowed; never another exception, never a memory blow-up.
"""

from __future__ import annotations

import copy
import re
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from builders import plain_yaml
from harness.paths import SCENARIOS_DIR
from harness.drive.driver import render_binding
from harness.scenario.model import ScenarioError
from harness.scenario.loading import MAX_FILE_BYTES, load_scenario

SCENARIO_FILES = sorted(SCENARIOS_DIR.glob("*.yaml"))
BASE: dict[str, Any] = {"replicas": 2, "window_s": 10,
                        "jobs": [{"name": "tick", "schedule": "@every 2s"}],
                        "bindings": [{"name": "cron", "schedule": "@every 2s"}]}


def write(tmp_path: Path, doc: dict[str, Any] | str | bytes, name: str = "hostile.yaml") -> Path:
    path = tmp_path / name
    if isinstance(doc, bytes):
        path.write_bytes(doc)
    else:
        path.write_text(doc if isinstance(doc, str) else plain_yaml(doc), encoding="utf-8")
    return path


def refused(path: Path, field: str, problem: str) -> str:
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    message = str(info.value)
    assert message.startswith(f"{path}: {field}: "), message
    assert problem in message and "; allowed: " in message and "\n" not in message, message
    return message


# --- the holes named in the issue ------------------------------------------------------------

def test_a_call_cannot_walk_out_of_the_jobs_api(tmp_path: Path) -> None:
    call = {"method": "POST", "job": "../../v1.0/shutdown", "expect_status": 204}
    path = write(tmp_path, {**BASE, "calls": [call]})
    refused(path, "calls[0].job", "job name contains '/'")


@pytest.mark.parametrize("name", ["a?x=1", "a#frag", "..", "back\\slash", "ctl\x07", "x" * 257, ""])
def test_probe_job_names_follow_daprs_rules(tmp_path: Path, name: str) -> None:
    probe = {"name": name, "schedule": "@daily", "expect_status": 400}
    path = write(tmp_path, {**BASE, "jobs": [*BASE["jobs"], probe]})
    refused(path, "jobs[1].name", "job name")


@pytest.mark.parametrize("route", ["x\n---\nkind: Component", 'x"\n  - name: evil', "a/b",
                                   "/../healthz", "UPPER", "x" * 64])
def test_a_binding_route_cannot_add_yaml_or_a_path(tmp_path: Path, route: str) -> None:
    binding = {"name": "cron", "schedule": "@every 2s", "route": route}
    refused(write(tmp_path, {**BASE, "bindings": [binding]}), "bindings[0].route",
            "invalid binding route")


def test_a_valid_route_renders_one_component_of_the_binding(tmp_path: Path) -> None:
    binding = {"name": "cron", "schedule": "@every 2s", "route": "/nightly"}
    [scenario] = load_scenario(write(tmp_path, {**BASE, "bindings": [binding]}))
    [component] = list(yaml.safe_load_all(render_binding(scenario.bindings[0])))
    assert component["metadata"]["name"] == "cron"
    assert {"name": "route", "value": "/nightly"} in component["spec"]["metadata"]


def test_a_binding_name_is_a_dns_label(tmp_path: Path) -> None:
    binding = {"name": "c" * 64, "schedule": "@every 2s"}
    refused(write(tmp_path, {**BASE, "bindings": [binding]}), "bindings[0].name",
            "invalid binding name")


@pytest.mark.parametrize("glob", ["a/*", "x\ny", "#*", "*" * 257])
def test_handler_globs_follow_the_name_rules(tmp_path: Path, glob: str) -> None:
    app = {"handlers": [{"mechanism": "job", "name": glob, "status": 500}]}
    refused(write(tmp_path, {**BASE, "app": app}), "app.handlers[0].name", "invalid handler glob")


@pytest.mark.parametrize(("field", "doc"), [
    ("app.api_token", {"app": {"api_token": "two words"}}),
    ("app.api_token", {"app": {"api_token": "line\nbreak"}}),
    ("dapr_api_token", {"dapr_api_token": "tökén"}),
    ("dapr_api_token", {"dapr_api_token": ""}),
])
def test_tokens_are_header_safe_and_never_printed(tmp_path: Path, field: str,
                                                  doc: dict[str, Any]) -> None:
    message = refused(write(tmp_path, {**BASE, **doc}), field, "invalid token")
    token = next(iter(doc.values()))
    token = token.get("api_token") if isinstance(token, dict) else token
    assert not token or token not in message


def test_omitting_a_token_needs_a_token(tmp_path: Path) -> None:
    call = {"method": "GET", "job": "tick", "expect_status": 401, "omit_token": True}
    refused(write(tmp_path, {**BASE, "calls": [call]}), "calls[0].omit_token", "no token to omit")


BILLION_LAUGHS = "lol: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"l{i}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 9)}]\n" for i in range(8))


def test_a_billion_laughs_file_fails_fast(tmp_path: Path) -> None:
    assert len(BILLION_LAUGHS) < 1024
    path = write(tmp_path, BILLION_LAUGHS)
    started = time.monotonic()
    refused(path, "line 1 column 6", "YAML anchor or alias")
    assert time.monotonic() - started < 1.0  # a condition of the check, not a benchmark


def test_an_oversized_file_is_refused_before_it_is_read(tmp_path: Path) -> None:
    path = write(tmp_path, "description: " + "x" * MAX_FILE_BYTES + "\nreplicas: 1\n")
    refused(path, "<file>", "file too large")


def test_deep_nesting_is_refused_before_the_loader_recurses(tmp_path: Path) -> None:
    refused(write(tmp_path, "description: " + "[" * 5000 + "]" * 5000), "line 1 column 45",
            "nested too deep")


@pytest.mark.parametrize(("content", "field", "problem"), [
    (b"replicas: 1\nwindow_s: \xff\xfe\n", "byte 22", "not UTF-8 text"),
    (b"", "<file>", "empty file"),
    (b"# only a comment\n", "<file>", "empty file"),
    (b"- replicas: 1\n", "<file>", "not a mapping but a list"),
    (b"just text\n", "<file>", "not a mapping but a string"),
    (b"replicas: 1\nreplicas: 2\n", "line 2 column 1", "found duplicate key"),
    (b"replicas: 1\n---\nreplicas: 2\n", "line 2 column 1", "invalid YAML"),
    (b"replicas: " + b"9" * 5000 + b"\n", "<file>", "a value cannot be read"),
])
def test_each_kind_of_unreadable_file_has_its_own_message(tmp_path: Path, content: bytes,
                                                          field: str, problem: str) -> None:
    refused(write(tmp_path, content), field, problem)


# --- the fuzz test ----------------------------------------------------------------------------

INJECTIONS = ["../../v1.0/shutdown", "x\n---\nkind: Component\nmetadata: {name: evil}",
              'a"\n  - name: evil', "{name}{schedule}{0}", "%(x)s", "$(rm -rf /)", "\x00",
              "\u202e\u2028", "𝔡𝔞𝔭𝔯", "名前", "-", ".", "..", "*", "[", "@every -1s",
              "@every 0s", "0 0 0 31 2 *", "CRON_TZ=Mars/Base * * * * * *"]
NUMBERS = [0, -1, 1, 2**31, 2**63, 10**30, -(10**30), 0.5, -0.0, 1e308, float("inf"),
           float("nan"), 3600.0001, 599, 600, 100, 10, 11]
LEAF = st.one_of(
    st.sampled_from(INJECTIONS), st.sampled_from(NUMBERS), st.booleans(), st.none(),
    st.text(max_size=40), st.integers(), st.floats(allow_nan=True),
    st.just("x" * 20_000), st.builds(lambda: list(range(500))),
)
VALUE = st.recursive(LEAF, lambda inner: st.lists(inner, max_size=3)
                     | st.dictionaries(st.text(max_size=10), inner, max_size=3), max_leaves=6)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield prefix
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _paths(value, (*prefix, index))


def _mutate(doc: Any, data: st.DataObject) -> Any:
    paths = list(_paths(doc))[1:]
    if not paths:
        return doc
    path = data.draw(st.sampled_from(paths), label="path")
    parent = doc
    for part in path[:-1]:
        parent = parent[part]
    kind = data.draw(st.sampled_from(["replace", "delete", "unknown-key", "duplicate"]))
    if kind == "replace":
        parent[path[-1]] = copy.deepcopy(data.draw(VALUE, label="value"))
    elif kind == "delete":
        del parent[path[-1]]
    elif kind == "unknown-key" and isinstance(parent, dict):
        parent[data.draw(st.sampled_from(["nme", "replicas ", "x" * 300, "ü", "__class__"]))] = 1
    elif kind == "duplicate" and isinstance(parent, list) and parent:
        parent.append(parent[path[-1]])  # e.g. a job or binding twice
    return doc


MESSAGE = re.compile(r"^(?P<file>\S+\.yaml): (?P<field>[^:]+?): .+; allowed: .+$")


@pytest.fixture(scope="module")
def fuzz_dir() -> Iterator[Path]:
    """A directory beside copies of the real scenarios, so ``shown_by`` finds its files."""
    with tempfile.TemporaryDirectory() as tmp:
        for source in SCENARIO_FILES:
            (Path(tmp) / f"{source.stem}.yaml").symlink_to(source)
        yield Path(tmp)


# A quarter of the profile's generated cases: 500 in CI, 5,000 at night, 100 while developing.
FUZZ_EXAMPLES = max(100, settings.default.max_examples // 4)


@settings(max_examples=FUZZ_EXAMPLES, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(source=st.sampled_from(SCENARIO_FILES), data=st.data())
def test_mutated_real_scenarios_load_or_fail_with_one_precise_line(
        fuzz_dir: Path, source: Path, data: st.DataObject) -> None:
    doc = yaml.safe_load(source.read_text(encoding="utf-8"))
    for _ in range(data.draw(st.integers(1, 3), label="mutations")):
        doc = _mutate(doc, data)
    text = plain_yaml(doc)
    if data.draw(st.integers(0, 9), label="duplicate top-level key") == 9 and doc:
        text += f"{next(iter(doc))}: 1\n"
    path = fuzz_dir / f"{source.stem}.yaml"
    path.unlink()
    try:
        path.write_text(text, encoding="utf-8")
        load_scenario(path)
    except ScenarioError as exc:
        message = str(exc)
        match = MESSAGE.match(message)
        assert match, f"not file: field: ...; allowed: ...: {message!r}"
        assert match["file"] == str(path) and "\n" not in message
    finally:
        path.unlink(missing_ok=True)
        path.symlink_to(source)
