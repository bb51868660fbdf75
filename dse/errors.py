"""The one exception type the CLI turns into a one-line message and exit code 2."""


class UserError(Exception):
    """Bad input from the user: the message names the problem and the fix."""


def require(condition: bool, message: str) -> None:
    if not condition:
        raise UserError(message)


def positive_int(value: int, name: str) -> int:
    require(isinstance(value, int) and value > 0, f"{name} must be a positive integer, got {value!r}")
    return value
