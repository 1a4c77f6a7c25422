"""What an app is started with, validated once at its start by the scenario's own models.

- ``HARNESS_HISTORY``: the history file the app appends its triggers to (required);
- ``HARNESS_REPLICA``: the replica's index (an integer >= 0, default 0);
- ``APP_API_TOKEN``: what daprd sends as dapr-api-token (unset or empty: none);
- ``HARNESS_APP_HANDLERS``: JSON list of answer rules, each a ``scenario.model.AppHandler``;
- ``HARNESS_TASKS``: JSON list of the scenario's tasks, each a ``scenario.model.TaskSpec``;
- ``HARNESS_BINDINGS``: JSON object, app route -> binding name (the route daprd POSTs a
  ``BindingSpec``'s trigger to, and the component's name).

A bad value stops the app at start with one line naming the variable, the field and what was
wrong (``AppEnvironmentError``), never later at a trigger.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, TypeAdapter, ValidationError

from harness.errors import UserError
from harness.scenario.model import AppHandler, BindingSpec, TaskSpec

__all__ = ["AppEnvironment", "AppEnvironmentError", "binding_routes", "read_environment"]

_HANDLERS = TypeAdapter(tuple[AppHandler, ...])
_TASKS = TypeAdapter(tuple[TaskSpec, ...])
# A route and a binding name are what a BindingSpec calls them: non-empty strings.
_Name = Annotated[str, Field(min_length=1)]
_BINDINGS = TypeAdapter(dict[_Name, _Name])
_REPLICA = TypeAdapter(Annotated[int, Field(ge=0)])
_SHOWN = 80  # characters of a bad value shown in the error line


class AppEnvironmentError(UserError):
    """An app's environment that cannot be used; one line: variable, field, problem."""


@dataclass(frozen=True)
class AppEnvironment:
    history: Path
    replica: int
    token: str | None
    handlers: tuple[AppHandler, ...]
    tasks: tuple[TaskSpec, ...]
    bindings: Mapping[str, str]  # app route -> binding name


def _field(loc: Sequence[int | str]) -> str:
    return "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in loc)


def _validated(variable: str, adapter: TypeAdapter[Any], text: str, *, json: bool) -> Any:
    try:
        return adapter.validate_json(text) if json else adapter.validate_python(text)
    except ValidationError as exc:
        err = exc.errors()[0]
        got = repr(err["input"]) if err["type"] != "json_invalid" else repr(text)
        got = got if len(got) <= _SHOWN else got[: _SHOWN - 3] + "..."
        message = f"{variable}{_field(err['loc'])}: {err['msg']}, got {got}"
        raise AppEnvironmentError(" ".join(message.splitlines())) from None


def read_environment(environ: Mapping[str, str] | None = None) -> AppEnvironment:
    """The app's environment (``os.environ`` unless given), every variable validated."""
    env = os.environ if environ is None else environ
    history = env.get("HARNESS_HISTORY")
    if not history:
        raise AppEnvironmentError("HARNESS_HISTORY: missing; set it to the run's history file")
    return AppEnvironment(
        history=Path(history),
        replica=_validated("HARNESS_REPLICA", _REPLICA, env.get("HARNESS_REPLICA", "0"),
                           json=False),
        token=env.get("APP_API_TOKEN") or None,
        handlers=_validated("HARNESS_APP_HANDLERS", _HANDLERS,
                            env.get("HARNESS_APP_HANDLERS", "[]"), json=True),
        tasks=_validated("HARNESS_TASKS", _TASKS, env.get("HARNESS_TASKS", "[]"), json=True),
        bindings=_validated("HARNESS_BINDINGS", _BINDINGS, env.get("HARNESS_BINDINGS", "{}"),
                            json=True),
    )


def binding_routes(bindings: Sequence[BindingSpec]) -> dict[str, str]:
    """The HARNESS_BINDINGS mapping for these bindings: route (default: the name) -> name."""
    return {(b.route or b.name).lstrip("/"): b.name for b in bindings}
