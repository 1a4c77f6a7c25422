"""Free loopback ports, held as listening sockets until just before the process that uses them.

Holding the socket keeps any other process (or another reservation of ours) off the port; the
window between release and the child's bind is a few milliseconds.
"""

from __future__ import annotations

import socket

__all__ = ["PortReservation", "port_is_free"]

HOST = "127.0.0.1"


class PortReservation:
    def __init__(self, count: int) -> None:
        if count < 1:
            raise ValueError(f"count must be >= 1, got {count}")
        self._sockets: list[socket.socket] = []
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind((HOST, 0))
            sock.listen(1)
            self._sockets.append(sock)
        self.ports: tuple[int, ...] = tuple(s.getsockname()[1] for s in self._sockets)

    def release(self) -> None:
        for sock in self._sockets:
            sock.close()
        self._sockets.clear()

    def __enter__(self) -> PortReservation:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def port_is_free(port: int) -> bool:
    """True when nothing listens on 127.0.0.1:port (a bind would succeed)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
    return True
