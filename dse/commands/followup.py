"""The exact command lines that continue a study run: resume or extend it, export more, open it in
optuna-dashboard, re-simulate an exported design. Each repeats the options the run was given that
locate the study or shape the run (--results-dir, --storage, --out, --workers, --seed,
--export-best, --no-reports), so it acts on this study, wherever it is stored; options left at
their defaults are left out.
"""

from __future__ import annotations

import argparse
import shlex
from dataclasses import dataclass
from pathlib import Path

from dse.search.storage import StorageRef, mask

PROGRAM = "focus-dse"


def command_line(words: list[str]) -> str:
    """Words joined as a shell would read them back."""
    return " ".join(shlex.quote(str(w)) for w in words)


@dataclass(frozen=True)
class StudyCommandLine:
    study: str  # STUDY as the run was given it (a file path or a name)
    results_dir: str | None  # None: the default
    storage: str | None  # as given (a password masked)
    out: str | None
    workers: int
    seed: int | None
    export_best: int | None
    no_reports: bool

    @classmethod
    def from_args(cls, args: argparse.Namespace, defaults: dict[str, object]) -> StudyCommandLine:
        """From a `study run/resume` command's arguments; `defaults`: its parser's defaults by dest."""
        def given(name: str):
            value = getattr(args, name)
            return None if value == defaults.get(name) else value

        return cls(study=args.study, results_dir=given("results_dir"),
                   storage=mask(args.storage) if args.storage else None, out=given("out"),
                   workers=args.workers, seed=args.seed, export_best=given("export_best"),
                   no_reports=bool(args.no_reports))

    def _locate(self) -> list[str]:
        words = []
        if self.results_dir is not None:
            words += ["--results-dir", self.results_dir]
        if self.storage is not None:
            words += ["--storage", self.storage]
        return words

    def resume(self, trials: int | None = None) -> str:
        """Continues the study to its stored target (or to `trials`) with this run's options."""
        words = [PROGRAM, "study", "resume", self.study, *self._locate()]
        if trials is not None:
            words += ["--trials", str(trials)]
        if self.workers != 1:
            words += ["--workers", str(self.workers)]
        if self.seed is not None:
            words += ["--seed", str(self.seed)]
        if self.out is not None:
            words += ["--out", self.out]
        if self.export_best is not None:
            words += ["--export-best", str(self.export_best)]
        if self.no_reports:
            words.append("--no-reports")
        return command_line(words)

    def plot(self) -> str:
        return command_line([PROGRAM, "study", "plot", self.study, *self._locate()])

    def export(self, best: int) -> str:
        words = [PROGRAM, "study", "export", self.study, *self._locate(), "--best", str(best)]
        if self.out is not None:
            words += ["--out", self.out]
        return command_line(words)


def dashboard(ref: StorageRef) -> str:
    """optuna-dashboard on the study's storage (a journal file is opened by its path; a password
    stays masked: type it in)."""
    return command_line(["optuna-dashboard", ref.url if ref.kind == "journal" else ref.display])


def resimulate(design_json: Path) -> str:
    return command_line([PROGRAM, "simulate", "--design", str(design_json), "--json"])
