"""The focus-dse command line: one sub-command per job, errors as one line and exit code 2."""

from __future__ import annotations

import argparse
import sys

from dse.errors import UserError


class OneLineParser(argparse.ArgumentParser):
    """argparse prints usage + error over two lines; we print one line and exit 2.
    main() adds the "focus-dse: error:" prefix, so the message names only the sub-command's help."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UserError(f"{message} (see '{self.prog} --help')")


def build_parser() -> argparse.ArgumentParser:
    from dse.commands import gemm, reproduce, simulate, study, sweep, topology, workloads
    from dse.concentration.cli import add_concentrate_arguments, run_concentrate

    parser = OneLineParser(prog="focus-dse", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)
    for module in (gemm, simulate, topology, reproduce, sweep, study, workloads):
        module.register(sub)
    p = sub.add_parser("concentrate", help="measure token concentration on real video in a real ViT -> SparsityProfile")
    add_concentrate_arguments(p)
    p.set_defaults(func=run_concentrate)
    return parser


def main(argv: list[str] | None = None) -> int:
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
        where = f" {exc.filename}" if exc.filename else ""
        print(f"focus-dse: error: cannot use{where}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("focus-dse: interrupted", file=sys.stderr)
        return 130
