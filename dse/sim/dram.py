"""DRAM traffic and bandwidth-limited cycles of one GEMM, as SCALE-Sim 3.0.0's USER bandwidth
mode (``InterfaceBandwidth = USER``) reports them, artefacts included.

Pure Python (standard library only). Verified exact (cycles, stalls and all DRAM word counts)
against scalesim on 64 grid cases and 9 odd-size runs during development, and on 33 cases in
tests/test_dram_vs_scalesim.py. Cost: loops over fold visits (diagonal-unrolled operands),
operand rows (row-major streamed operands) and ofmap-writing demand lines, roughly
O(compute cycles / 10) Python steps: ~1-100 ms for verification-size GEMMs (scalesim:
0.1-150 s), seconds for 1k-2k GEMMs, far too slow for whole-LLM sweeps (those use the
physical tiling model in dse/sim/traffic.py).

GEMM: A = M x K (ifmap), B = K x N (filter), O = M x N (ofmap).  Dataflows os/ws/is follow
SCALE-Sim's mapping. What scalesim's USER mode really does (checked in its source):
each read SRAM is a circular window over the operand's prefetch order, cut in sets of
ceil(T/100) words; a miss slides the window by the prefetch half, so a backward reference
(every fold change of a diagonal-ordered operand) costs a whole lap of re-fetches;
prefetches run back to back on their own DRAM clock; read stalls are counted twice and then
partly absorbed by early arrivals (net: a few % above the DRAM-bound time, not 2x); per
line the stall is the max over operands; "Total Cycles" = compute + "Stall Cycles".
"""
from math import ceil

from dse.sim.analytic import compute_cycles

__all__ = ["dram_gemm"]


# ----------------------------------------------------------------------------------------
# read buffer geometry (memory/read_buffer.py set_params / prepare_hashed_buffer)
class _RdGeom:
    __slots__ = ("T", "A", "P", "eps", "V", "F", "L", "nA", "nP", "bw", "n", "init_lines", "fits")

    def __init__(self, kb, word_bytes, bw, V, F):
        T = (kb * 1024) // word_bytes
        self.T = T
        self.A = ceil(T * 0.5)
        self.P = T - self.A
        self.eps = ceil(T / 100)                 # elements per hashed "set"
        self.V, self.F = V, F                    # valid elements / slots (incl. -1 padding)
        self.L = V // self.eps + 1               # number of sets (last one may be empty)
        self.nA = min(ceil(self.A / self.eps), self.L)
        self.nP = min(ceil(self.P / self.eps), self.L - self.nA)
        self.bw = bw
        self.n = ceil(self.P / bw)               # DRAM lines per prefetch (new_prefetch)
        self.init_lines = min(ceil(self.A / bw), ceil(F / bw))
        self.fits = self.nA >= self.L

    def reads(self, slides):
        return self.init_lines * self.bw + slides * self.n * self.bw


# ----------------------------------------------------------------------------------------
# valid-element positions in a diagonal-unrolled stacked operand (prefetch order)
def _S(x, c0, c1):
    """sum_{c=c0}^{c1-1} max(0, x - c)"""
    hi = min(c1, x)
    n = hi - c0
    if n <= 0:
        return 0
    return n * x - (c0 + hi - 1) * n // 2


def _rect_before(d, r0, r1, c0, c1):
    """# of (r, c) in [r0,r1) x [c0,c1) with r + c < d"""
    if r1 <= r0 or c1 <= c0:
        return 0
    x = d - r0
    return _S(x, c0, c1) - _S(x - (r1 - r0), c0, c1)


class _Diag:
    """Stacked matrix of RF folds, each Q rows x W cols, diagonal-unrolled (anti-diagonals
    ascending, rows descending).  The last fold has only wl valid columns."""

    def __init__(self, RF, Q, W, wl):
        self.RF, self.Q, self.W, self.wl = RF, Q, W, wl
        self.H = RF * Q
        self.h0 = (RF - 1) * Q
        self.V = self.H * W - (self.H - self.h0) * (W - wl)
        self.F = self.H * W

    def vpos(self, r, c):
        d = r + c
        H, W, h0, wl = self.H, self.W, self.h0, self.wl
        before = _rect_before(d, 0, H, 0, W)
        inv = _rect_before(d, h0, H, wl, W) if wl < W else 0
        lo = max(0, d - H + 1)
        within = c - lo
        if wl < W:
            within -= max(0, min(c, d - h0 + 1) - max(wl, lo))
        return before - inv + within

    def fold_run(self, f):
        """(first, last) valid position demanded by a visit of fold f (ascending walk)."""
        w = self.wl if f == self.RF - 1 else self.W
        return self.vpos(f * self.Q, 0), self.vpos((f + 1) * self.Q - 1, w - 1)

    def _cum(self, d):
        """valid elements on anti-diagonals < d"""
        n = _rect_before(d, 0, self.H, 0, self.W)
        if self.wl < self.W:
            n -= _rect_before(d, self.h0, self.H, self.wl, self.W)
        return n

    def line_of(self, f, p):
        """Demand line (relative to the fold's first line) of the first element of a visit
        of fold f whose prefetch position is >= p."""
        Q = self.Q
        w = self.wl if f == self.RF - 1 else self.W
        lo_d, hi_d = f * Q, (f + 1) * Q + w - 2          # diagonals touched by the fold
        if p <= self._cum(lo_d):
            return 0
        if p >= self._cum(hi_d + 1):
            return hi_d - lo_d
        while lo_d < hi_d:                                # last d with cum(d) <= p
            mid = (lo_d + hi_d + 1) // 2
            if self._cum(mid) <= p:
                lo_d = mid
            else:
                hi_d = mid - 1
        d = lo_d
        k = p - self._cum(d)                              # index inside diagonal d
        c = max(0, d - self.H + 1) + k                    # its column (skip padding cols)
        if self.wl < self.W:
            inv0 = max(self.wl, max(0, d - self.H + 1))
            inv1 = min(self.W - 1, d - self.h0)
            if inv1 >= inv0 and c >= inv0:
                c += inv1 - inv0 + 1
        c_hi = min(w - 1, d - f * Q)                      # last column of fold f on d
        return d - f * Q + (1 if c > c_hi else 0)


# ----------------------------------------------------------------------------------------
class _Walk:
    """The active window of read_buffer: sets [w, w+nA) mod L; a miss slides it by nP."""
    __slots__ = ("g", "w", "k")

    def __init__(self, g):
        self.g, self.w, self.k = g, 0, 0

    def run(self, a, b):
        """Demand an ascending run of prefetch positions a..b (every set in between is
        walked through).  Returns (slides at a, slides between a and b)."""
        g = self.g
        if g.fits:
            return 0, 0, 0
        sa = a // g.eps
        off = (sa - self.w) % g.L
        ja = 0
        if off >= g.nA:
            ja = -(-(off - g.nA + 1) // g.nP)
            off -= ja * g.nP
        off_a = off
        off += b // g.eps - sa          # unwrapped: the walk may go round the circle
        jb = 0
        if off >= g.nA:
            jb = -(-(off - g.nA + 1) // g.nP)
        self.k += ja + jb
        self.w = (self.w + (ja + jb) * g.nP) % g.L
        return ja, jb, off_a


def _spread(ev, g, dg, f, a, jb, off_a, line0):
    """Lines of the jb slides taken while walking up a fold visit from position a: the i-th
    one happens at the first demanded element of set sa + nA - off_a + i*nP."""
    sa = a // g.eps
    for i in range(jb):
        s = sa + g.nA - off_a + i * g.nP
        ev.append((line0 + dg.line_of(f, s * g.eps), 1))


def _diag_events(walk, dg, order, fold_lines, gap_lines, head):
    """Cyclic / repeated visits of a diagonal-unrolled operand.  order: fold index per visit.
    Each visit occupies fold_lines demand lines; its first element is demanded at line
    head (relative), its last at head + Q + W - 2.  Returns [(line, slides)]."""
    ev = []
    for v, f in enumerate(order):
        a, b = dg.fold_run(f)
        base = v * fold_lines
        ja, jb, off_a = walk.run(a, b)
        if ja:
            ev.append((base + head, ja))
        if jb:
            # slides inside the run: spread them over the run's lines (the walk crosses a
            # window front every nP sets)
            _spread(ev, walk.g, dg, f, a, jb, off_a, base + head)
    return ev


def _rows_events(walk, KK, CW, cw_last, CF, R, fold_lines, row0_line):
    """Row-major stacked column folds (KK rows x CW cols each, last fold cw_last valid cols),
    demanded fold by fold in blocks of R rows read bottom-up (np.flip), one row per line.
    Returns [(line, slides)]."""
    ev = []
    RFk = ceil(KK / R)
    for fc in range(CF):
        cv = cw_last if fc == CF - 1 else CW
        base_pos = fc * KK * CW
        for fr in range(RFk):
            lo = fr * R
            hi = min(lo + R, KK)
            line0 = (fc * RFk + fr) * fold_lines + row0_line + (R - (hi - lo))
            for i, r in enumerate(range(hi - 1, lo - 1, -1)):
                a = base_pos + r * cv
                ja, jb, _ = walk.run(a, a + cv - 1)
                if ja + jb:
                    ev.append((line0 + i, ja + jb))
    return ev


# ----------------------------------------------------------------------------------------
def _ofmap_lines(M, K, N, R, C, df):
    """Yield (line, n_valid_elements) for every demand line that writes ofmap elements,
    in order.  Mirrors create_ofmap_demand_mat of the three compute classes."""
    if df == "os":
        RF, CF = ceil(M / R), ceil(N / C)
        fl = K + R + C - 2
        v = 0
        for fc in range(CF):
            cu = min(C, N - fc * C)
            for fr in range(RF):
                ru = min(R, M - fr * R)
                base = v * fl + K - 1
                # fold block R x C flipped (unused rows first), skewed over R + C - 1 lines
                for t in range(R + C - 1):
                    # line t holds block rows (t - c) for c in [0, C); flipped row index
                    # rr = R - 1 - (t - c) is a real output iff rr < ru and c < cu
                    c_lo = max(0, t - R + 1)
                    c_hi = min(C - 1, t)
                    # valid: c < cu and t - c >= R - ru  -> c <= t - R + ru
                    hi = min(c_hi, cu - 1, t - R + ru)
                    nvalid = hi - c_lo + 1
                    if nvalid > 0:
                        yield base + t, nvalid
                v += 1
        return
    if df == "ws":
        RF, CF = ceil(K / R), ceil(N / C)
        T, cols_total = M, N
    else:
        RF, CF = ceil(K / R), ceil(M / C)
        T, cols_total = N, M
    fl = T + 2 * R + C - 2
    v = 0
    for fc in range(CF):
        cu = min(C, cols_total - fc * C)
        for fr in range(RF):
            base = v * fl + 2 * R - 1          # prefix of 2R-1 empty lines
            # T x C block skewed over T + C - 1 lines; line t has cols c with 0<=t-c<T, c<cu
            for t in range(T + C - 1):
                lo = max(0, t - T + 1)
                hi = min(t, cu - 1)
                if hi >= lo:
                    yield base + t, hi - lo + 1
            v += 1


class _WrBuf:
    """memory/write_buffer.py, aggregated per line."""

    def __init__(self, kb, word_bytes, bw):
        T = (kb * 1024) // word_bytes
        self.T, self.A = T, ceil(T * 0.5)
        self.D = T - self.A
        self.bw = bw
        self.nl = ceil(self.D / bw)
        self.free = T
        self.lines = []           # valid count of each completed trace line
        self.idx = 0              # fill of the current line
        self.start = 0
        self.drain_end = 0
        self.acc = 0
        self.stop = None

    def _drain(self, t):
        end = min(self.start + self.nl, len(self.lines))
        ls = self.lines[self.start:end]
        data = (len(ls) - 1) * self.bw + ls[-1]
        self.acc += data
        self.free += data
        self.start = end
        e = t + len(ls) - 1
        self.stop = e if self.stop is None else max(self.stop, e)
        return e

    def line(self, n, cycle):
        """n valid elements arriving at cycle (per-element logic of service_writes,
        aggregated); returns the stall of this line."""
        cur = cycle
        while n > 0:
            if cur < self.drain_end:
                ok = self.free - 1                   # stores that leave free > 0
                if n <= ok:
                    self._store(n)
                    break
                if ok > 0:
                    self._store(ok)
                    n -= ok
                self._store(1)                       # free <= 0: wait for the drain
                n -= 1
                cur = self.drain_end
            else:
                need = self.free - self.A + 1        # stores until free < A
                if need < 1:
                    need = 1
                if need > n:
                    self._store(n)
                    break
                self._store(need)
                n -= need
                if self.idx:                          # append_to_trace_mat(force=True)
                    self.lines.append(self.idx)
                    self.idx = 0
                self.drain_end = self._drain(cur)
        return cur - cycle

    def _store(self, n):
        self.free -= n
        bw = self.bw
        idx = self.idx + n
        full, self.idx = divmod(idx, bw)
        if full:
            self.lines.extend([bw] * full)

    def flush(self, t):
        if self.idx:
            self.lines.append(self.idx)
            self.idx = 0
        while self.start < len(self.lines):
            self.drain_end = self._drain(t)
            t = self.drain_end + 1


# ----------------------------------------------------------------------------------------
def _scalesim(M, K, N, R, C, df, kb, bw, wb):
    cc = compute_cycles(M, K, N, R, C, df)
    nlines = cc + 1
    if df == "os":
        RF, CF = ceil(M / R), ceil(N / C)
        fl = K + R + C - 2
        dgI = _Diag(RF, K, R, M - (RF - 1) * R)          # A^T row folds
        dgF = _Diag(CF, K, C, N - (CF - 1) * C)          # B col folds
        gI = _RdGeom(kb[0], wb, bw[0], dgI.V, dgI.F)
        gF = _RdGeom(kb[1], wb, bw[1], dgF.V, dgF.F)
        wI, wF = _Walk(gI), _Walk(gF)
        evI = _diag_events(wI, dgI, [fr for fc in range(CF) for fr in range(RF)], fl, 0, 0)
        evF = _diag_events(wF, dgF, [fc for fc in range(CF) for fr in range(RF)], fl, 0, 0)
    elif df == "ws":
        RF, CF = ceil(K / R), ceil(N / C)
        fl = M + 2 * R + C - 2
        dgI = _Diag(RF, M, R, K - (RF - 1) * R)          # A column (K) folds
        gI = _RdGeom(kb[0], wb, bw[0], dgI.V, dgI.F)
        gF = _RdGeom(kb[1], wb, bw[1], K * N, CF * K * C)
        wI, wF = _Walk(gI), _Walk(gF)
        evI = _diag_events(wI, dgI, [fr for fc in range(CF) for fr in range(RF)], fl, 0, R)
        evF = _rows_events(wF, K, C, N - (CF - 1) * C, CF, R, fl, 0)
    else:
        RF, CF = ceil(K / R), ceil(M / C)
        fl = N + 2 * R + C - 2
        dgF = _Diag(RF, N, R, K - (RF - 1) * R)          # B^T row (K) folds
        gF = _RdGeom(kb[1], wb, bw[1], dgF.V, dgF.F)
        gI = _RdGeom(kb[0], wb, bw[0], K * M, CF * K * C)
        wI, wF = _Walk(gI), _Walk(gF)
        evI = _rows_events(wI, K, C, M - (CF - 1) * C, CF, R, fl, 0)
        evF = _diag_events(wF, dgF, [fr for fc in range(CF) for fr in range(RF)], fl, 0, R)

    # ---- timing: the line loop of double_buffered_scratchpad.service_memory_requests,
    # visiting only lines that carry a prefetch or an ofmap write.
    ev = {}
    for X, evs in ((0, evI), (1, evF)):
        for line, j in evs:
            e = ev.get(line)
            if e is None:
                e = ev[line] = [0, 0, 0]
            e[X] += j
    for line, nv in _ofmap_lines(M, K, N, R, C, df):
        e = ev.get(line)
        if e is None:
            e = ev[line] = [0, 0, 0]
        e[2] += nv
    wr = _WrBuf(kb[2], wb, bw[2])
    geo = (gI, gF)
    last = [-1, -1]              # L_0 = start_cycle - 1 = -1
    stall = 0
    last_out = 0
    for line in sorted(ev):
        jI, jF, no = ev[line]
        c = line + stall
        s = 0
        for X, j in ((0, jI), (1, jF)):
            if j:
                g = geo[X]
                off = 1
                Lk = last[X]
                for _ in range(j):
                    Lk += g.n + 1
                    p = Lk - (c + off)
                    off += p
                    if p > 0:
                        off += p
                last[X] = Lk
                if off - 1 > s:
                    s = off - 1
        so = wr.line(no, c) if no else 0
        if so > s:
            s = so
        if line == nlines - 1:
            last_out = c + so
        stall += s
    if nlines - 1 not in ev:
        last_out = nlines - 1 + stall
    wr.flush(last_out)
    total = last_out
    out = dict(
        compute_cycles=cc,
        stall_cycles=int(stall),
        total_cycles=int(total),
        ifmap_dram_reads=gI.reads(wI.k),
        filter_dram_reads=gF.reads(wF.k),
        ofmap_dram_writes=wr.acc,
        overall_cycles=int(wr.stop + max(gI.init_lines, gF.init_lines)) if wr.stop is not None else None,
        slides=(wI.k, wF.k),
    )
    return out


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
    df = dataflow.lower()
    out = _scalesim(M, K, N, rows, cols, df, kb, bw, word_bytes)
    out["dram_bytes"] = (out["ifmap_dram_reads"] + out["filter_dram_reads"]
                         + out["ofmap_dram_writes"]) * word_bytes
    return out
