"""dram_gemm: one GEMM's DRAM traffic and bandwidth-limited cycles, as SCALE-Sim 3.0.0's USER
bandwidth mode reports them: scalesim's line loop (double_buffered_scratchpad.
service_memory_requests) replayed over the demand lines that carry a prefetch or an ofmap write.
"""
from math import ceil

from dse.sim.analytic import compute_cycles
from dse.sim.dram.diagonal import DiagonalOperand
from dse.sim.dram.read_buffer import ReadBufferGeometry, ReadWindow
from dse.sim.dram.read_demand import Slides, diagonal_slides, row_major_slides
from dse.sim.dram.write_buffer import WriteBuffer, ofmap_write_lines


def _read_side(M: int, K: int, N: int, R: int, C: int, dataflow: str, kb: tuple[int, ...], bw: tuple[int, ...],
               word_bytes: int) -> tuple[ReadWindow, ReadWindow, Slides, Slides]:
    """The ifmap and filter read windows after the whole GEMM, and the lines where each slid.
    A (M x K) is the ifmap, B (K x N) the filter; the stationary operand of WS/IS is streamed
    row-major, every other one diagonal-unrolled."""
    if dataflow == "os":
        RF, CF = ceil(M / R), ceil(N / C)
        fold_lines = K + R + C - 2
        ifmap = DiagonalOperand(RF, K, R, M - (RF - 1) * R)  # A^T row folds
        filt = DiagonalOperand(CF, K, C, N - (CF - 1) * C)  # B column folds
        win_i = ReadWindow(ReadBufferGeometry(kb[0], word_bytes, bw[0], ifmap.valid, ifmap.slots))
        win_f = ReadWindow(ReadBufferGeometry(kb[1], word_bytes, bw[1], filt.valid, filt.slots))
        ev_i = diagonal_slides(win_i, ifmap, [fr for fc in range(CF) for fr in range(RF)], fold_lines, 0)
        ev_f = diagonal_slides(win_f, filt, [fc for fc in range(CF) for fr in range(RF)], fold_lines, 0)
    elif dataflow == "ws":
        RF, CF = ceil(K / R), ceil(N / C)
        fold_lines = M + 2 * R + C - 2
        ifmap = DiagonalOperand(RF, M, R, K - (RF - 1) * R)  # A column (K) folds
        win_i = ReadWindow(ReadBufferGeometry(kb[0], word_bytes, bw[0], ifmap.valid, ifmap.slots))
        win_f = ReadWindow(ReadBufferGeometry(kb[1], word_bytes, bw[1], K * N, CF * K * C))
        ev_i = diagonal_slides(win_i, ifmap, [fr for fc in range(CF) for fr in range(RF)], fold_lines, R)
        ev_f = row_major_slides(win_f, K, C, N - (CF - 1) * C, CF, R, fold_lines)
    else:
        RF, CF = ceil(K / R), ceil(M / C)
        fold_lines = N + 2 * R + C - 2
        filt = DiagonalOperand(RF, N, R, K - (RF - 1) * R)  # B^T row (K) folds
        win_f = ReadWindow(ReadBufferGeometry(kb[1], word_bytes, bw[1], filt.valid, filt.slots))
        win_i = ReadWindow(ReadBufferGeometry(kb[0], word_bytes, bw[0], K * M, CF * K * C))
        ev_i = row_major_slides(win_i, K, C, M - (CF - 1) * C, CF, R, fold_lines)
        ev_f = diagonal_slides(win_f, filt, [fr for fc in range(CF) for fr in range(RF)], fold_lines, R)
    return win_i, win_f, ev_i, ev_f


def _scalesim(M: int, K: int, N: int, R: int, C: int, dataflow: str, kb: tuple[int, ...], bw: tuple[int, ...],
              word_bytes: int) -> dict:
    cc = compute_cycles(M, K, N, R, C, dataflow)
    nlines = cc + 1
    win_i, win_f, ev_i, ev_f = _read_side(M, K, N, R, C, dataflow, kb, bw, word_bytes)

    # per line: [ifmap slides, filter slides, ofmap elements written]
    events: dict[int, list[int]] = {}
    for operand, slides in ((0, ev_i), (1, ev_f)):
        for line, n in slides:
            e = events.get(line)
            if e is None:
                e = events[line] = [0, 0, 0]
            e[operand] += n
    for line, n in ofmap_write_lines(M, K, N, R, C, dataflow):
        e = events.get(line)
        if e is None:
            e = events[line] = [0, 0, 0]
        e[2] += n

    wr = WriteBuffer(kb[2], word_bytes, bw[2])
    geometry = (win_i.geometry, win_f.geometry)
    prefetch_end = [-1, -1]  # cycle each read SRAM's last prefetch ends; start_cycle - 1 = -1
    stall = 0
    last_out = 0
    for line in sorted(events):
        n_i, n_f, n_out = events[line]
        c = line + stall
        s = 0
        for operand, slides in ((0, n_i), (1, n_f)):
            if slides:
                # each slide's prefetch runs right after the previous one on the operand's own DRAM
                # clock; an early arrival (p <= 0) absorbs waiting, a late one is counted twice
                # (scalesim's double count)
                prefetch_lines = geometry[operand].prefetch_lines
                off = 1
                end = prefetch_end[operand]
                for _ in range(slides):
                    end += prefetch_lines + 1
                    p = end - (c + off)
                    off += p
                    if p > 0:
                        off += p
                prefetch_end[operand] = end
                if off - 1 > s:
                    s = off - 1
        s_out = wr.write_line(n_out, c) if n_out else 0
        if s_out > s:
            s = s_out  # per line the stall is the max over the three SRAMs
        if line == nlines - 1:
            last_out = c + s_out
        stall += s
    if nlines - 1 not in events:
        last_out = nlines - 1 + stall
    wr.flush(last_out)
    initial_fill = max(win_i.geometry.initial_lines, win_f.geometry.initial_lines)
    return dict(
        compute_cycles=cc,
        stall_cycles=stall,
        total_cycles=last_out,
        ifmap_dram_reads=win_i.geometry.reads(win_i.slides),
        filter_dram_reads=win_f.geometry.reads(win_f.slides),
        ofmap_dram_writes=wr.written,
        overall_cycles=wr.last_drain_cycle + initial_fill if wr.last_drain_cycle is not None else None,
        slides=(win_i.slides, win_f.slides),
    )


def dram_gemm(M, K, N, rows, cols, dataflow, sram_kb=(256, 256, 128),
              bandwidth_words_per_cycle=10, word_bytes=2):
    """Predict DRAM traffic (words) and cycles of one GEMM (A: MxK, B: KxN).

    sram_kb: (ifmap, filter, ofmap) SRAM sizes in kB; bandwidth_words_per_cycle: a number
    or an (ifmap, filter, ofmap) triple; word_bytes: bytes per word (SCALE-Sim's own runs
    use 1).  Returns compute_cycles, stall_cycles, total_cycles, ifmap_dram_reads,
    filter_dram_reads, ofmap_dram_writes (words), dram_bytes, overall_cycles (SCALE-Sim's
    "Total Cycles (incl. prefetch)") and slides (window moves of the ifmap / filter read
    buffers)."""
    bw = bandwidth_words_per_cycle
    if isinstance(bw, (int, float)):
        bw = (int(bw),) * 3
    bw = tuple(int(x) for x in bw)
    kb = tuple(int(x) for x in sram_kb)
    out = _scalesim(M, K, N, rows, cols, dataflow.lower(), kb, bw, word_bytes)
    out["dram_bytes"] = (out["ifmap_dram_reads"] + out["filter_dram_reads"]
                         + out["ofmap_dram_writes"]) * word_bytes
    return out
