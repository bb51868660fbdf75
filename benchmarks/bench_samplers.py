"""How close each sampler gets to the exact front: hv_ratio after 100, 300 and 600 trials.

    .venv/bin/python benchmarks/bench_samplers.py [--study quickstart] [--exhaustive DIR]
                                                  [--seeds 0 1 2] [--samplers nsga2 tpe random]

Needs the study's exact front first: `focus-dse study exhaustive quickstart` (writes
results/quickstart/exhaustive/, the default DIR). Each (sampler, seed) is one `study run` of
600 trials (the study file's settings, its NSGA-II population and skips included, with only the
sampler and seed changed) in a fresh journal in a temporary folder; two run at a time. A sampler
is a name (the study file's own settings when it names the study's sampler, else Optuna's
defaults) or a study file's sampler mapping, e.g. '{name: nsga2, population_size: 20}'.
hv_ratio after n trials = hypervolume of the feasible front of trials 0..n-1 / hypervolume of
the exact front, both at the exact front's reference point (summary.json). Printed: every run,
then per sampler the mean and the range over the seeds.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from dse.errors import UserError
from dse.search.exhaustive import code_version, maximized, objective_metrics
from dse.search.front import hypervolume, nondominated
from dse.search.studyfile import SamplerConfig, load_study, parse_sampler

CHECKPOINTS = (100, 300, 600)


def sampler_config(sampler: str, default: SamplerConfig) -> SamplerConfig:
    """`sampler` (a name or a YAML mapping) as the study file would have it."""
    if sampler == default.name:
        return default
    return parse_sampler(yaml.safe_load(sampler), f"--samplers {sampler}")


def hv_ratios(study: str, sampler: str, seed: int, reference: list[float], exact_hv: float) -> list[float]:
    """One study run of max(CHECKPOINTS) trials; hv_ratio after each checkpoint."""
    from dse.report.tables import trials_dataframe
    from dse.search import open_study, run_study
    from dse.search.storage import StorageRef

    spec = load_study(study)
    spec = replace(spec, sampler=sampler_config(sampler, spec.sampler), seed=seed, name=f"{spec.name}-bench-{seed}")
    metrics, maximize = objective_metrics(spec), maximized(spec)
    with tempfile.TemporaryDirectory() as tmp:
        ref = StorageRef("journal", str(Path(tmp) / "journal.log"))
        run_study(spec, ref, max(CHECKPOINTS), seed=seed, progress=False)
        df = trials_dataframe(open_study(spec, ref, create=False), spec)
    out = []
    for n in CHECKPOINTS:
        first = df[df["number"] < n]
        ok = first[(first["state"] == "COMPLETE") & first["feasible"]]
        values = ok[metrics].to_numpy(float)
        out.append(hypervolume(values[nondominated(values, maximize)], maximize, np.array(reference)) / exact_hv)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--study", default="quickstart")
    ap.add_argument("--exhaustive", help="the study's `study exhaustive` folder (default results/<study>/exhaustive)")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--samplers", nargs="+", default=["nsga2", "tpe", "random"],
                    help="names or sampler mappings, e.g. '{name: nsga2, population_size: 20}'")
    args = ap.parse_args()
    spec = load_study(args.study)
    folder = Path(args.exhaustive or Path("results") / spec.name / "exhaustive")
    try:
        summary = json.loads((folder / "summary.json").read_text())
    except OSError:
        sys.exit(f"no exact front in {folder}: run `focus-dse study exhaustive {args.study}` first")
    if summary["code"] != code_version():
        print(f"note: the exact front was computed by another version of the model ({summary['code']}, here "
              f"{code_version()})", file=sys.stderr)
    reference = [summary["reference_point"][o] for o in spec.objectives]
    print(f"{spec.name}: exact front of {summary['points']:,} grid points, {summary['front_size']} designs, "
          f"hypervolume {summary['hypervolume']:.6g}; default sampler {spec.sampler.to_dict()}")
    for sampler in args.samplers:
        try:
            sampler_config(sampler, spec.sampler)  # a bad one stops here, not in a worker
        except (UserError, yaml.YAMLError) as exc:
            sys.exit(str(exc).splitlines()[0])
    jobs = [(s, seed) for s in args.samplers for seed in args.seeds]
    with ProcessPoolExecutor(2) as pool:
        futures = {job: pool.submit(hv_ratios, args.study, *job, reference, summary["hypervolume"]) for job in jobs}
        rows = [(s, seed, *futures[(s, seed)].result()) for s, seed in jobs]
    table = pd.DataFrame(rows, columns=["sampler", "seed", *(f"hv_ratio@{n}" for n in CHECKPOINTS)])
    print(table.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    print("\nper sampler: mean [min, max] over seeds " + " ".join(map(str, args.seeds)))
    for sampler, group in table.groupby("sampler", sort=False):
        cells = [f"{group[c].mean():.4f} [{group[c].min():.4f}, {group[c].max():.4f}]"
                 for c in table.columns[2:]]
        label = f"  {sampler:7s} " if len(sampler) <= 7 else f"  {sampler}\n{'':10s}"
        print(label + "   ".join(f"@{n}: {cell}" for n, cell in zip(CHECKPOINTS, cells)))


if __name__ == "__main__":
    main()
