"""The one exception type the CLI turns into a one-line message and exit code 2, and the one-line
warning for an input that has a sensible meaning, done as the warning says."""

import sys
from functools import cache


class UserError(Exception):
    """Bad input from the user: the message names the problem and the fix."""


@cache
def warn(message: str) -> None:
    """One line on stderr, once per process (a study evaluates the same design many times)."""
    print(f"focus-dse: warning: {message}", file=sys.stderr)
