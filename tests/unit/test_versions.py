"""Versions, build plumbing, flag fitting and launcher choice: pure logic, no process."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from harness.cluster import gomod
from harness.cluster.build import build_slot, cached_build
from harness.cluster.health import arg_value
from harness.cluster.flags import fit_argv, flag_name
from harness.cluster.gomod import Progress
from harness.cluster.launch import choose_launcher
from harness.cluster.runtime import project_runtime_dir, usable_version
from harness.cluster.versions import jobs_api_for, normalize_version, version_key
from harness.paths import LOCAL_RUNTIME_DIR
from harness.drive.replay import read_commands
from harness.record.rundir import new_run_dir
from harness.scenario.model import ScenarioError
from harness.scenario.loading import load_scenario


def test_versions_normalize_sort_and_name_their_jobs_api() -> None:
    assert normalize_version("v1.16.0") == "1.16.0"
    assert version_key("1.9.0") < version_key("1.14.0")
    with pytest.raises(ValueError, match="not x.y.z"):
        normalize_version("1.16")
    assert jobs_api_for("1.17.0") == "v1.0-alpha1"
    assert jobs_api_for("1.18.0") == "v1.0"


def test_only_released_versions_from_1_14_are_usable() -> None:
    assert usable_version("1.14.0") == "1.14.0"
    assert usable_version("1.13.5") is None  # no Scheduler before 1.14
    assert usable_version("edge") is None  # built without the version ldflags
    assert usable_version(None) is None


def test_each_version_has_its_own_runtime_dir_and_cache_slot() -> None:
    assert project_runtime_dir() == LOCAL_RUNTIME_DIR
    assert project_runtime_dir("1.16.0").parts[-3:] == (".dapr-versions", "1.16.0", ".dapr")
    assert build_slot("1.16.0").name.startswith("dapr-1.16.0-")
    assert build_slot("1.16.0") != build_slot("1.14.0")


def test_refused_modules_are_read_from_go_errors() -> None:
    message = ("go: github.com/dapr/components-contrib@v1.17.0: reading https://x/@v/v1.17.0.zip: "
               "403 Forbidden\n\tserver response: not available")
    assert gomod.refusals_in(message, set()) == ["github.com/dapr/components-contrib@v1.17.0"]
    assert gomod.refusals_in(message, {"github.com/dapr/components-contrib@v1.17.0"}) == []
    assert gomod.missing_sum(
        "verifying github.com/diagridio/go-etcd-cron@v0.12.7/go.mod: reading x: 404 Not Found"
    ) == ("github.com/diagridio/go-etcd-cron", "v0.12.7")


def test_replacement_candidates_are_near_patch_releases_newer_first() -> None:
    assert gomod.patch_candidates("v0.12.4")[:5] == ["v0.12.5", "v0.12.6", "v0.12.7", "v0.12.8",
                                                 "v0.12.3"]
    assert gomod.patch_candidates("v1.15.0-rc.2")[0] == "v1.15.0"
    assert gomod.patch_candidates("not-a-version") == []


def test_cached_build_renames_a_finished_build_into_place(tmp_path: Path) -> None:
    slot = tmp_path / "dapr-9.9.9-key"

    def build(tmp: Path) -> dict[str, object]:
        (tmp / "bin" / "daprd").write_text("binary")
        return {"version": "9.9.9"}

    assert cached_build(slot, build, Progress()) == slot
    assert (slot / "bin" / "daprd").read_text() == "binary"
    assert (slot / "manifest.json").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_an_interrupted_build_leaves_no_cache_entry(tmp_path: Path) -> None:
    slot = tmp_path / "dapr-9.9.9-key"
    stale = tmp_path / f".{slot.name}.tmp-999999"  # a build killed with SIGKILL earlier
    stale.mkdir()

    def interrupted(tmp: Path) -> dict[str, object]:
        (tmp / "bin" / "daprd").write_text("half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        cached_build(slot, interrupted, Progress())
    assert not slot.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"{slot.name}.lock"]


def test_argv_is_fitted_to_the_flags_a_binary_lists() -> None:
    argv = ["scheduler", "--port=1", "--etcd-embed=true", "--override-broadcast-host-port=x"]
    kept, dropped = fit_argv(argv, frozenset({"port"}))
    assert kept == ["scheduler", "--port=1"]
    assert dropped == ["etcd-embed", "override-broadcast-host-port"]
    assert fit_argv(argv, frozenset()) == (argv, [])  # no usage printed: unchanged
    assert flag_name("--app-id=x") == "app-id"
    assert flag_name("value") is None


def test_arg_value_reads_both_flag_forms() -> None:
    argv = ["daprd", "--app-id", "taskapi", "--dapr-http-port=3500"]
    assert arg_value(argv, "app-id") == "taskapi"
    assert arg_value(argv, "dapr-http-port") == "3500"
    assert arg_value(argv, "metrics-port") is None


def test_a_cli_launcher_without_a_cli_falls_back_to_daprd_saying_so(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DAPR_HARNESS_LAUNCHER", raising=False)
    choice = choose_launcher("dapr-run", lambda: None)
    assert (choice.launcher, choice.cli) == ("daprd", None)
    assert choice.note is not None and "launcher daprd instead of dapr-run" in choice.note
    assert choose_launcher(None, lambda: None).launcher == "daprd"
    monkeypatch.setenv("DAPR_HARNESS_LAUNCHER", "nonsense")
    with pytest.raises(ValueError, match="not one of"):
        choose_launcher(None, lambda: None)
    assert os.environ["DAPR_HARNESS_LAUNCHER"] == "nonsense"


def test_a_scenario_names_its_version_and_launcher_and_is_told_what_is_allowed(
        tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text("replicas: 1\nwindow_s: 5\ndapr_version: 1.16.0\nlauncher: dapr-run\n")
    scenario = load_scenario(good)[0]
    assert (scenario.dapr_version, scenario.launcher) == ("1.16.0", "dapr-run")
    bad = tmp_path / "bad.yaml"
    bad.write_text("replicas: 1\nwindow_s: 5\nlauncher: dapr-run-f\n"
                   "faults: [{kind: kill_daprd, at_s: 1}]\n")
    with pytest.raises(ScenarioError, match=r"bad.yaml: launcher: faults need a launcher per "
                                            r"replica.*allowed: daprd or dapr-run"):
        load_scenario(bad)
    bad.write_text("replicas: 1\nwindow_s: 5\nlauncher: docker\n")
    with pytest.raises(ScenarioError, match="launcher: not an allowed value"):
        load_scenario(bad)


def test_commands_sh_lines_are_read_back_with_their_comment_and_environment(
        tmp_path: Path) -> None:
    run = new_run_dir("replay-parse", base=tmp_path)
    run.note_command(["dapr", "run", "--app-id=taskapi", "--", "python3", "-m", "app"],
                     {"HARNESS_BINDINGS": '{"cron": "cron"}', "PYTHONPATH": "/repo"},
                     comment="replica-0: the same replica under the dapr CLI")
    run.note_command(["curl", "-sS", "-X", "POST", "http://127.0.0.1:1/v1.0/jobs/x"])
    first, second = read_commands(run.commands)
    assert first.comment == "replica-0: the same replica under the dapr CLI"
    assert first.env == {"HARNESS_BINDINGS": '{"cron": "cron"}', "PYTHONPATH": "/repo"}
    assert first.argv == ["dapr", "run", "--app-id=taskapi", "--", "python3", "-m", "app"]
    assert (second.comment, second.env, second.argv[0]) == ("", {}, "curl")
