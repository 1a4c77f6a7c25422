"""Scenario fields of the fault suite: scheduler members and fault targets, validated."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from builders import plain_yaml
from harness.scenario.model import ScenarioError
from harness.scenario.loading import load_scenario


def write(tmp_path: Path, **fields: Any) -> Path:
    data = {"replicas": 3, "window_s": 20, "jobs": [{"name": "j", "schedule": "@every 2s"}],
            **fields}
    path = tmp_path / "s.yaml"
    path.write_text(plain_yaml(data))
    return path


def test_three_members_and_a_member_fault_load(tmp_path: Path) -> None:
    (scenario,) = load_scenario(write(tmp_path, schedulers=3, faults=[
        {"kind": "kill_scheduler", "at_s": 5, "duration_s": 4, "member": 2}]))
    assert scenario.schedulers == 3 and scenario.faults[0].member == 2


def test_one_scheduler_is_the_default(tmp_path: Path) -> None:
    (scenario,) = load_scenario(write(tmp_path))
    assert scenario.schedulers == 1


@pytest.mark.parametrize(("fields", "field", "allowed"), [
    ({"schedulers": 0}, "schedulers", ">= 1"),
    ({"schedulers": 6}, "schedulers", "<= 5"),
    ({"faults": [{"kind": "kill_scheduler", "at_s": 1, "member": 1}]}, "faults[0].member",
     "0..0 (below schedulers=1)"),
    ({"schedulers": 3, "faults": [{"kind": "stop_scheduler", "at_s": 1, "duration_s": 2,
                                   "member": 3}]}, "faults[0].member", "0..2"),
    ({"faults": [{"kind": "kill_daprd", "at_s": 1, "member": 0}]}, "faults[0].member",
     "member is for bandwidth, blackhole, kill_scheduler"),
    ({"faults": [{"kind": "kill_scheduler", "at_s": 1, "replica": 1}]}, "faults[0].replica",
     "leave replica out"),
    ({"faults": [{"kind": "scale_out", "at_s": 1, "replica": 0}]}, "faults[0].replica",
     "leave replica out"),
])
def test_bad_fault_targets_name_the_field(tmp_path: Path, fields: dict[str, Any], field: str,
                                          allowed: str) -> None:
    with pytest.raises(ScenarioError) as caught:
        load_scenario(write(tmp_path, **fields))
    message = str(caught.value)
    assert f"s.yaml: {field}: " in message, message
    assert allowed in message.split("; allowed: ", 1)[1], message
