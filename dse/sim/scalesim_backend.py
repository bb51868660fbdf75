"""The real scalesim package, run in-process through its own top-level class.

Every run gets its own temporary folder (config, topology, layout and scalesim's reports),
so parallel runs never share files. Results are cached per (shape, array, bandwidth).
scalesim calls exit() on a missing file and its get_total_cycles() raises a TypeError;
we read its report files instead and turn any SystemExit into a ScaleSimError.
"""

from __future__ import annotations

import contextlib
import csv
import io
import tempfile
from functools import lru_cache
from pathlib import Path

from dse.errors import UserError
from dse.sim.scalesim_io import TopologyRow, write_config, write_layout, write_topology
from dse.sim.hardware import ArrayConfig, GemmCounts, check_gemm_shape

# scalesim's time and memory grow with cycles x array edge (~0.1 ms per cycle on 32x32, ~0.6 ms on
# 256x256, measured): above 2 M cycles on a 32x32 array (proportionally fewer on larger arrays) a run
# takes minutes and GBs.
MAX_SIMULATED_CYCLES = 2_000_000
REFERENCE_EDGE = 64  # rows + cols of the 32x32 array the cycle limit is for


def cycle_limit(array: ArrayConfig) -> int:
    """The most cycles scalesim may simulate for one GEMM on this array."""
    return MAX_SIMULATED_CYCLES * REFERENCE_EDGE // max(REFERENCE_EDGE, array.rows + array.cols)


class ScaleSimError(UserError):
    """scalesim failed or refused; the message says what it printed."""


def _read_report(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    header = [h.strip() for h in rows[0] if h.strip()]
    return [dict(zip(header, (v.strip() for v in row))) for row in rows[1:] if any(v.strip() for v in row)]


def run_scalesim_files(config: Path, topology: Path, layout: Path, out_dir: Path) -> list[dict[str, str]]:
    """Run scalesim on files; returns one merged report row (compute + access) per layer."""
    from scalesim.scale_sim import scalesim

    printed = io.StringIO()
    try:
        with contextlib.redirect_stdout(printed):
            sim = scalesim(save_disk_space=True, verbose=False, config=str(config),
                           topology=str(topology), layout=str(layout), input_type_gemm=True)
            sim.run_scale(top_path=str(out_dir))
    except SystemExit:
        last = printed.getvalue().strip().splitlines()
        raise ScaleSimError(f"scalesim exited: {' / '.join(last[-2:]) or 'no message'}") from None
    except Exception as exc:  # e.g. ZeroDivisionError on a 1x1x1 OS GEMM on a 1x1 array
        raise ScaleSimError(f"scalesim failed: {type(exc).__name__}: {exc}") from None
    run_dir = out_dir / sim.config.get_run_name()
    compute = _read_report(run_dir / "COMPUTE_REPORT.csv")
    access = _read_report(run_dir / "DETAILED_ACCESS_REPORT.csv")
    return [{**c, **a} for c, a in zip(compute, access)]


@lru_cache(maxsize=4096)
def _run_one(M: int, K: int, N: int, array: ArrayConfig, bandwidth_words: int | None) -> dict[str, str]:
    with tempfile.TemporaryDirectory(prefix="focus-dse-scalesim-") as tmp:
        tmp_path = Path(tmp)
        topo = write_topology(tmp_path / "gemm.csv", [TopologyRow("gemm", M, N, K)])
        layout = write_layout(tmp_path / "layout.csv", ["gemm"])
        cfg = write_config(tmp_path / "scalesim.cfg", array, "run", bandwidth_words)
        return run_scalesim_files(cfg, topo, layout, tmp_path / "out")[0]


class ScaleSimBackend:
    name = "scalesim"

    def report(self, M: int, K: int, N: int, array: ArrayConfig, bandwidth_words: int | None = None) -> dict[str, str]:
        """scalesim's report row for one GEMM (cached)."""
        check_gemm_shape(M, K, N)
        from dse.sim.analytic import compute_cycles

        expected = compute_cycles(M, K, N, array.rows, array.cols, array.dataflow)
        limit = cycle_limit(array)
        if expected > limit:
            raise ScaleSimError(
                f"GEMM {M}x{K}x{N} is ~{expected:,} cycles: too big for scalesim here (limit {limit:,} on a "
                f"{array.rows}x{array.cols} array, ~0.1-0.6 ms per cycle); use --backend analytic"
            )
        return _run_one(M, K, N, array, bandwidth_words)

    def gemm(self, M: int, K: int, N: int, array: ArrayConfig) -> GemmCounts:
        row = self.report(M, K, N, array)
        return GemmCounts(
            compute_cycles=int(float(row["Total Cycles"])),
            ifmap_sram_reads=int(float(row["SRAM IFMAP Reads"])),
            filter_sram_reads=int(float(row["SRAM Filter Reads"])),
            ofmap_sram_writes=int(float(row["SRAM OFMAP Writes"])),
        )
