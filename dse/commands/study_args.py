"""What every `focus-dse study` sub-command takes: the STUDY argument and where it is stored."""

from __future__ import annotations

import argparse

from dse.errors import UserError

DEFAULT_RESULTS = "results"
DEFAULT_EXPORT = "accel_configs"
DEFAULT_EXPORT_BEST = 5


def add_study_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("study", metavar="STUDY", help="study file (.yaml/.toml) or built-in name, e.g. quickstart")
    p.add_argument("--storage", help="SQLAlchemy URL (sqlite:///..., postgresql://...) or a journal file path *.log "
                                     "(overrides the study file)")
    p.add_argument("--results-dir", default=DEFAULT_RESULTS, help="where <study>/ reports go (default results/)")


# -- resolving STUDY and its storage ------------------------------------------------------------------
def spec_and_storage(args: argparse.Namespace, stored: bool = False):
    """(spec, storage ref). From the study file when STUDY is one; else the spec stored with the study."""
    from dse.search.study_store import load_stored_spec
    from dse.search.storage import resolve_storage
    from dse.search.studyfile import load_study, locate

    path = locate(args.study)
    if path is not None:
        spec = load_study(args.study)
        ref = resolve_storage(spec.name, args.results_dir, args.storage, spec.storage)
        if stored:
            spec_stored = load_stored_spec(spec.name, ref)
            if spec_stored.fingerprint() != spec.fingerprint():
                raise UserError(f"study '{spec.name}' in {ref.display} was created from a different definition "
                                f"than {path}: rename the study or use another storage")
        return spec, ref
    if not args.study or "/" in args.study or "\\" in args.study:
        raise UserError(f"no study file {args.study}")
    ref = resolve_storage(args.study, args.results_dir, args.storage, None)
    if ref.path is not None and not ref.path.exists():
        from dse.search.studyfile import builtin_studies

        raise UserError(f"no study '{args.study}': not a study file, not a built-in ({', '.join(builtin_studies())}), "
                        f"and no storage at {ref.path}")
    return load_stored_spec(args.study, ref), ref
