"""The focus-dse command line: one sub-command per job, errors as one line and exit code 2."""

from __future__ import annotations

import argparse
import atexit
import errno
import os
import sys
import threading
from pathlib import Path

from dse.errors import UserError


class OneLineParser(argparse.ArgumentParser):
    """argparse prints usage + error over two lines; we print one line and exit 2.
    main() adds the "focus-dse: error:" prefix, so the message names only the sub-command's help."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UserError(f"{message} (see '{self.prog} --help')")


def build_parser() -> argparse.ArgumentParser:
    from dse.commands import gemm, reproduce, simulate, study, sweep, topology, workloads
    from dse.concentration.cli import run_concentrate
    from dse.concentration.options import add_concentrate_arguments

    parser = OneLineParser(prog="focus-dse", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)
    for module in (gemm, simulate, topology, reproduce, sweep, study, workloads):
        module.register(sub)
    p = sub.add_parser("concentrate", help="measure token concentration on real video in a real ViT -> SparsityProfile")
    add_concentrate_arguments(p)
    p.set_defaults(func=run_concentrate)
    return parser


OUTPUT_FLAGS = (("-o", "output"), ("--results-dir", "results_dir"), ("--out", "out"))  # (flag, argparse dest)


def os_error_line(exc: OSError, args: argparse.Namespace | None) -> str:
    """An OSError in one line naming the path and what is wrong with it. A write that fails on a
    full disk is reported at write or close, without a file name: the command's outputs are named."""
    if not exc.filename:
        outputs = [f"{flag} {getattr(args, dest)}" for flag, dest in OUTPUT_FLAGS if getattr(args, dest, None)]
        where = f"cannot write the output ({', '.join(outputs)})" if outputs else "cannot write the output"
        return f"{where}: {_reason(exc)}"
    path = Path(exc.filename)
    if exc.errno in (errno.EEXIST, errno.ENOTDIR):  # a folder of the path is a file
        blocker = next((p for p in (path, *path.parents) if p.exists() and not p.is_dir()), None)
        if blocker == path and exc.errno == errno.EEXIST:  # made as a folder
            return f"cannot use {path} as a folder: it is a file"
        if blocker is not None and blocker != path:
            return f"cannot use {path}: {blocker} is a file, not a folder"
    return f"cannot use {path}: {_reason(exc)}"


def _reason(exc: OSError) -> str:
    reasons = {errno.ENOSPC: "no space left on the device", errno.EISDIR: "it is a folder, not a file",
               errno.EACCES: "permission denied", errno.EPERM: "permission denied",
               errno.EROFS: "read-only file system", errno.ENOENT: "no such file or folder"}
    return reasons.get(exc.errno, exc.strerror or str(exc))


def main(argv: list[str] | None = None) -> int:
    args = None
    try:
        args = build_parser().parse_args(argv)
        return int(args.func(args) or 0)
    except UserError as exc:
        print(f"focus-dse: error: {exc}", file=sys.stderr)
        return 2
    except OverflowError as exc:  # a knob so large that a cost exceeds floating point
        print(f"focus-dse: error: a result overflows ({exc}): use realistic sizes, clocks and bandwidths",
              file=sys.stderr)
        return 2
    except BrokenPipeError:  # output piped into head & co.
        return 0
    except OSError as exc:  # an output path that cannot be written, a full disk, ...
        print(f"focus-dse: error: {os_error_line(exc, args)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("focus-dse: interrupted", file=sys.stderr)
        return 130


def run() -> None:
    """The `focus-dse` and `python -m dse` entry point: main(), then exit without the interpreter's
    teardown, which frees every object one by one (~0.15 s after a study run: its trials, tables and
    figures' data, pyarrow's thread pool). What must be closed is closed before: each command closes
    the files it writes, and the atexit handlers run (multiprocessing's joins, logging's flush, the
    database storages' connections: dse/search/storage.py), then the output is flushed. A thread
    still running (none of ours is) gets the normal exit, which waits for it."""
    code = main()
    if any(t.is_alive() and not t.daemon for t in threading.enumerate() if t is not threading.main_thread()):
        sys.exit(code)
    atexit._run_exitfuncs()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except BrokenPipeError:  # output piped into head & co.: what it read is what it wanted
        pass
    except ValueError:  # closed
        pass
    except OSError as exc:  # the end of the output could not be written (a full disk)
        try:
            print(f"focus-dse: error: {os_error_line(exc, None)}", file=sys.stderr, flush=True)
        except (OSError, ValueError):
            pass
        code = code or 2
    os._exit(code)
