"""Random design points of every kind, shared by the recorded-numbers test and its recorder."""

from __future__ import annotations

import random
from dataclasses import replace

import optuna

from dse.cost.accelerator import default_buffer_bytes
from dse.errors import UserError
from dse.design import DesignPoint

PREFILL_KEYS = ("total_cycles", "compute_cycles", "stall_cycles", "memory_stall_cycles", "execution_time_s",
                "energy_j", "area_mm2", "onchip_power_mw", "buffer_kb", "dram_bytes", "compute_fraction")
PHASE_KEYS = ("macs", "cycles", "compute_cycles", "memory_stall_cycles", "time_s", "energy_j", "dram_bytes")
QUERY_KEYS = ("ttft_s", "tpot_s", "query_time_s", "query_energy_j", "kv_cache_bytes")
QUERIES = [  # phases, P, G, B, encoder_threshold
    (("encoder", "prefill", "decode"), 64, 2, 1, None), (("prefill", "decode"), 0, 33, 3, None),
    (("encoder", "prefill"), 16, 0, 2, 0.9), (("prefill",), 32, 0, 2, None), (("encoder", "prefill", "decode"), 8, 5, 1, 0.8)]


def random_point(rng: random.Random) -> DesignPoint:
    accelerator = rng.choice(["dense", "focus", "focus", "adaptiv", "cmc"])
    convention = rng.choice(["faithful", "focus-paper"])
    knobs = {"rows": rng.choice(range(8, 257, 8)), "cols": rng.choice(range(8, 257, 8)),
             "m_tile": rng.choice([256, 512, 1024, 2048, 4096]), "n_tile": rng.choice([32, 64, 96, 128, 192, 256]),
             "n_scatter": rng.randint(1, 8)}
    buffers = {}
    if rng.random() < 0.4:  # some buffers resized from what the tiles need, smaller or larger
        needed = default_buffer_bytes(accelerator, knobs, convention == "focus-paper")
        buffers = {name: size / 1024 * rng.choice([0.25, 0.5, 2.0]) for name, size in needed.items()
                   if rng.random() < 0.5}
    level = rng.choice(["sec+sic", "sec+sic", "sec", "sic", "none"]) if accelerator == "focus" else "sec+sic"
    return DesignPoint(
        accelerator=accelerator, convention=convention, dataflow=rng.choice(["ws", "os", "is"]),
        frequency_mhz=float(rng.choice(range(200, 1001, 100))), vector_size=rng.choice([8, 16, 32, 64, 128]),
        block=rng.choice([(1, 1, 1), (2, 1, 1), (1, 2, 2), (2, 2, 2), (3, 3, 3)]),
        threshold=rng.choice([None, round(rng.uniform(0.7, 0.99), 4)]), sec_scale=rng.uniform(0.25, 4.0),
        concentration=level, buffer_kb=buffers,
        dram_bandwidth_gbps=rng.choice([None, 16.0, 64.0, rng.uniform(8, 512)]),
        dram_pj_per_byte=rng.choice([99.98, rng.uniform(5, 150)]),
        precision=rng.choice(["fp16", "bf16", "fp8", "int8"]), cores=rng.choice([1, 1, 2, 3, 4]),
        sram_model="compiler", **knobs)  # the numbers recorded before CACTI priced buffers


def random_points(n: int, seed: int) -> list[DesignPoint]:
    rng = random.Random(seed)
    out = []
    while len(out) < n:
        try:
            out.append(random_point(rng))
        except UserError:  # a combination the design refuses (e.g. a level's unbuilt buffer sized)
            continue
    return out


def query_points(n: int, seed: int) -> list[DesignPoint]:
    """Random points with random whole queries (decode without a bandwidth is refused)."""
    rng = random.Random(seed)
    out = []
    for p in random_points(n, seed):
        phases, P, G, B, enc = rng.choice(QUERIES)
        out.append(replace(p, phases=phases, prompt_tokens=P, output_tokens=G or 1, batch=B, encoder_threshold=enc))
    return out


def study_rows(spec, n: int, seed: int) -> list[dict]:
    """n random points of a study's space, as a sampler proposes them (params)."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    rows = []
    for _ in range(n):
        trial = study.ask()
        rows.append(spec.space.suggest(trial))
        study.tell(trial, 0.0)
    return rows


def compiler_study(name: str):
    """A built-in study with its buffers priced by the memory compiler (as when the numbers were recorded)."""
    from dse.search.studyfile import locate, parse_study, read_study_file

    raw = read_study_file(locate(name))
    raw["space"] = {**raw["space"], "sram_model": "compiler"}  # a fixed knob: the sampler draws as before
    return parse_study(raw, f"{name} (sram_model compiler)")


def study_designs(spec, n: int, seed: int = 11) -> list[dict]:
    return [spec.space.design_dict(params, spec.accelerator, spec.convention) for params in study_rows(spec, n, seed)]


def assert_batch_is_evaluate(points: list[DesignPoint], workload, prompt_tokens: int = 0):
    """evaluate_batch gives each point evaluate()'s numbers to the last bit, or its error; the result."""
    from dse.batch import evaluate_batch
    from dse.evaluate import evaluate
    from dse.llm_run import RESULT_KEYS

    got = evaluate_batch(points, workload, prompt_tokens=prompt_tokens)
    for i, p in enumerate(points):
        try:
            ev = evaluate(p, workload, prompt_tokens=prompt_tokens)
        except UserError as exc:
            assert got.errors[i] == str(exc)
            continue
        assert [got.values[k][i] for k in RESULT_KEYS] == [getattr(ev, k) for k in RESULT_KEYS], p
    return got
