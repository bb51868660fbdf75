"""Reading the JSON files users hand us (specs, profiles, design points) with one-line errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from dse.errors import UserError


def read_json(path: str | Path, what: str) -> Any:
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise UserError(f"{what} file not found: {path}") from None
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UserError(f"cannot read {what} {path}: {exc}") from None


def read_named_spec(name_or_path: str, folder: Path, what: str) -> tuple[Any, Path]:
    """A shipped spec by name (folder/<name>.json) or a user's by path; (parsed JSON, path)."""
    path = Path(name_or_path)
    if path.suffix != ".json":
        path = folder / f"{name_or_path}.json"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in folder.glob("*.json")))
        raise UserError(f"unknown {what} '{name_or_path}': use one of {known} or a path to a JSON spec")
    return read_json(path, f"{what} spec"), path
