"""The one exception type the CLI turns into a one-line message and exit code 2, and the one-line
warning for an input that has a sensible meaning, done as the warning says."""

import sys


class UserError(Exception):
    """Bad input from the user: the message names the problem and the fix."""


_WARNED: set[str] = set()


def warn(message: str, key: str | None = None) -> None:
    """One line on stderr, once per process and `key` (default: the message), since a study
    evaluates the same design, or many values of one knob, many times."""
    key = message if key is None else key
    if key not in _WARNED:
        _WARNED.add(key)
        print(f"focus-dse: warning: {message}", file=sys.stderr)


def reset_warnings() -> None:
    """Forget which warnings were printed (tests: each command as in a fresh process)."""
    _WARNED.clear()
