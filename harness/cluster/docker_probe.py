"""Is there a `dapr init` (Docker mode) scheduler on this machine? Say so, and say what we do.

The harness always runs its own scheduler on free ports with a fresh etcd data dir, so a run
never shares jobs with (or disturbs) a user's `dapr_scheduler` container on port 50006.
"""

from __future__ import annotations

__all__ = ["docker_scheduler_status"]

CONTAINER = "dapr_scheduler"


def docker_scheduler_status() -> str:
    """One line: what Docker has, and which scheduler the harness uses."""
    import docker
    from docker.errors import DockerException

    try:
        client = docker.from_env(timeout=3)
        client.ping()
    except DockerException:
        return ("no Docker engine here, so no `dapr init` scheduler container; "
                "the harness runs its own scheduler")
    try:
        found = client.containers.list(filters={"name": CONTAINER})
    finally:
        client.close()
    if not found:
        return f"Docker engine found, no {CONTAINER} container; the harness runs its own scheduler"
    container = found[0]
    ports = ", ".join(sorted(container.ports)) or "no published ports"
    return (f"found container {CONTAINER} ({container.status}, {ports}); the harness does not use "
            "it and runs its own scheduler on free loopback ports with a fresh etcd, so runs "
            "never share jobs with it")
