"""The harness's one exception tree.

``HarnessError`` is the root of every error the harness raises on purpose. ``UserError`` is what
the user can fix (a bad scenario file, a bad environment, a missing tool with the way to get it):
the command line prints it as one line, without a traceback. Anything else is a bug.
"""

from __future__ import annotations

__all__ = ["HarnessError", "UserError"]


class HarnessError(Exception):
    """Raised by the harness on purpose."""


class UserError(HarnessError):
    """Something the user can fix; its message (one line) says what and how."""
