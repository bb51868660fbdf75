"""`user` accuracy: your own evaluation (e.g. an lmms-eval run on GPUs) plugged into the study.

Study file:
    accuracy: {provider: user, function: "mypkg.evals:accuracy"}       # a Python callable, or
    accuracy: {provider: user, command: "python run_eval.py", timeout: 3600}

Calling convention (both forms get the same request):
    request = {"design": DesignPoint.to_dict(), "workload": "<name>", "tokens": S, "frames": F,
               "model": "<model spec>"}
- function: `module:function` (importable from the current directory or PYTHONPATH) is called
  as function(request) and returns a number (the accuracy) or a dict with "accuracy" and
  optionally "dense_accuracy";
- command: run by the shell with the request as JSON on stdin and in the file named by the
  environment variable FOCUS_DSE_REQUEST; its last line of stdout is a number or such a JSON
  object. A non-zero exit, a timeout or an unreadable answer fails that trial (kept, marked
  FAIL with the message).
Drops are taken against `dense_accuracy` (option: a number, or {workload: number}), else the
answer's "dense_accuracy", else the Focus paper's dense score; without any, the drop is NaN.
Answers are cached within a process per workload and the knobs that decide what the model
sees (CONCENTRATION_KNOBS: accelerator, convention, concentration, threshold, sec_scale, vector_size,
block, m_tile, precision: the design dict's "precision" says at which precision to evaluate);
the array, buffers, frequency, cores and memory do not change the accuracy. A command that
times out is killed with its whole process group (its children too). A function that raises
fails that trial (FAIL, with the exception's message); the study goes on.
"""

from __future__ import annotations

import importlib
import json
import math
import os
import subprocess
import sys
import tempfile
from typing import Any

from dse.accuracy.base import AccuracyResult, dense_accuracy
from dse.errors import UserError

CONCENTRATION_KNOBS = ("accelerator", "convention", "concentration", "threshold", "sec_scale", "vector_size", "block",
                       "m_tile", "precision")


def _check_dense(dense: Any) -> None:
    def number(v: Any) -> bool:
        return not isinstance(v, bool) and isinstance(v, (int, float)) and math.isfinite(v)

    if dense is None or number(dense):
        return
    if isinstance(dense, dict) and dense and all(isinstance(k, str) and number(v) for k, v in dense.items()):
        return
    raise UserError(f"accuracy.dense_accuracy: a number or {{workload: number}}, got {dense!r}")


def _resolve(spec: str):
    module, _, name = spec.partition(":")
    if not module or not name:
        raise UserError(f"accuracy.function: 'module:function', got {spec!r}")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        fn = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as exc:
        raise UserError(f"accuracy.function: cannot load {spec}: {exc}") from None
    if not callable(fn):
        raise UserError(f"accuracy.function: {spec} is not callable")
    return fn


def _parse_answer(answer: Any, where: str) -> tuple[float, float | None]:
    dense = None
    if isinstance(answer, dict):
        if "accuracy" not in answer:
            raise UserError(f"{where}: answer has no 'accuracy': {answer!r}")
        dense = answer.get("dense_accuracy")
        answer = answer["accuracy"]
    try:
        value = float(answer)
    except (TypeError, ValueError):
        raise UserError(f"{where}: answer is not a number: {answer!r}") from None
    if not math.isfinite(value):
        raise UserError(f"{where}: answer is not finite: {answer!r}")
    return value, (float(dense) if dense is not None else None)


def _kill_group(proc: subprocess.Popen) -> None:
    """Kill the command and everything it started (its own session / process group)."""
    import signal

    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        proc.communicate(timeout=5)
    except (subprocess.TimeoutExpired, OSError, ValueError):
        pass  # reaped or not, the group is gone


class UserProvider:
    name = "user"
    cheap = False  # a user's function or command may take any time
    OPTIONS = frozenset({"function", "command", "timeout", "dense_accuracy"})

    def __init__(self, options: dict[str, Any] | None = None):
        options = dict(options or {})
        self.function = options.get("function")
        self.command = options.get("command")
        if bool(self.function) == bool(self.command):
            raise UserError("accuracy: provider 'user' needs exactly one of 'function' (module:function) or 'command'")
        for key in ("function", "command"):
            if options.get(key) is not None and not isinstance(options[key], str):
                raise UserError(f"accuracy.{key}: text, got {options[key]!r}")
        self.timeout = options.get("timeout")
        if self.timeout is not None and (isinstance(self.timeout, bool) or not isinstance(self.timeout, (int, float))
                                         or not self.timeout > 0):
            raise UserError(f"accuracy.timeout: seconds > 0, got {self.timeout!r}")
        self.dense = options.get("dense_accuracy")
        _check_dense(self.dense)
        self._fn = None
        self._cache: dict[str, tuple[float, float | None]] = {}

    @property
    def label(self) -> str:
        return f"user ({self.function or self.command})"

    def _call(self, request: dict[str, Any]) -> tuple[float, float | None]:
        if self.function:
            if self._fn is None:
                self._fn = _resolve(self.function)
            try:
                answer = self._fn(request)
            except (KeyboardInterrupt, SystemExit):
                raise
            except UserError:
                raise
            except Exception as exc:  # noqa: BLE001 - the user's code failed: that trial fails, not the study
                message = (str(exc).strip().splitlines() or [""])[0]
                raise UserError(f"accuracy function {self.function} raised {type(exc).__name__}"
                                f"{': ' + message if message else ''}") from None
            return _parse_answer(answer, f"accuracy function {self.function}")
        text = json.dumps(request)
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
            f.write(text)
        try:
            proc = subprocess.Popen(self.command, shell=True, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True, start_new_session=True,
                                    env={**os.environ, "FOCUS_DSE_REQUEST": f.name})
            try:
                stdout, stderr = proc.communicate(text, timeout=self.timeout)
            except subprocess.TimeoutExpired:
                _kill_group(proc)
                raise UserError(f"accuracy command timed out after {self.timeout} s: {self.command}") from None
            except BaseException:
                _kill_group(proc)
                raise
        finally:
            os.unlink(f.name)
        if proc.returncode != 0:
            last = (stderr.strip().splitlines() or ["no message"])[-1]
            raise UserError(f"accuracy command exited {proc.returncode}: {last}")
        lines = stdout.strip().splitlines()
        if not lines:
            raise UserError(f"accuracy command printed nothing: {self.command}")
        try:
            answer = json.loads(lines[-1])
        except json.JSONDecodeError:
            answer = lines[-1]
        return _parse_answer(answer, f"accuracy command {self.command}")

    def _dense_for(self, workload_name: str, answered: float | None) -> float | None:
        if isinstance(self.dense, (int, float)):
            return float(self.dense)
        if isinstance(self.dense, dict) and workload_name in self.dense:
            return float(self.dense[workload_name])
        return answered if answered is not None else dense_accuracy(workload_name)

    def predict(self, design, workload) -> AccuracyResult:
        request = {"design": design.to_dict(), "workload": workload.name, "tokens": workload.tokens,
                   "frames": workload.frames, "model": workload.model}
        knobs = {k: request["design"].get(k) for k in CONCENTRATION_KNOBS}
        key = json.dumps({"knobs": knobs, "workload": [workload.name, workload.tokens, workload.frames,
                                                        str(workload.model)]}, sort_keys=True, default=str)
        if key not in self._cache:
            self._cache[key] = self._call(request)
        acc, answered_dense = self._cache[key]
        dense = self._dense_for(workload.name, answered_dense)
        drop = dense - acc if dense is not None else float("nan")
        return AccuracyResult(acc, drop, dense if dense is not None else float("nan"), self.label, {})

    def summary(self) -> str:
        return (f"accuracy provider: {self.label} (request JSON: design, workload, tokens, frames, model; "
                "answer: a number or {accuracy, dense_accuracy})")
