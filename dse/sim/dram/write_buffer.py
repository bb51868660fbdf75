"""The ofmap side of SCALE-Sim's USER bandwidth mode: which demand lines write outputs, and
the write SRAM that drains them to DRAM (memory/write_buffer.py, aggregated per line)."""
from collections.abc import Iterator
from math import ceil


def ofmap_write_lines(M: int, K: int, N: int, R: int, C: int, dataflow: str) -> Iterator[tuple[int, int]]:
    """(demand line, valid ofmap elements written) for every line that writes any, in order.
    Mirrors create_ofmap_demand_mat of scalesim's three compute classes."""
    if dataflow == "os":
        RF, CF = ceil(M / R), ceil(N / C)
        fold_lines = K + R + C - 2
        v = 0
        for fc in range(CF):
            cu = min(C, N - fc * C)  # columns used by this fold
            for fr in range(RF):
                ru = min(R, M - fr * R)  # rows used
                base = v * fold_lines + K - 1
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
    if dataflow == "ws":
        RF, CF = ceil(K / R), ceil(N / C)
        T, cols_total = M, N
    else:
        RF, CF = ceil(K / R), ceil(M / C)
        T, cols_total = N, M
    fold_lines = T + 2 * R + C - 2
    v = 0
    for fc in range(CF):
        cu = min(C, cols_total - fc * C)
        for fr in range(RF):
            base = v * fold_lines + 2 * R - 1  # prefix of 2R-1 empty lines
            # T x C block skewed over T + C - 1 lines; line t has cols c with 0<=t-c<T, c<cu
            for t in range(T + C - 1):
                lo = max(0, t - T + 1)
                hi = min(t, cu - 1)
                if hi >= lo:
                    yield base + t, hi - lo + 1
            v += 1


class WriteBuffer:
    """The ofmap SRAM: outputs fill trace lines of `bandwidth` words; once fewer than half the
    words are free, the next drain_lines lines go to DRAM, one line per cycle. A line that
    finds the SRAM full waits for the drain in flight (a stall)."""

    __slots__ = ("active_words", "bandwidth", "drain_lines", "free", "lines", "fill", "drained", "drain_end",
                 "written", "last_drain_cycle")

    def __init__(self, kb: int, word_bytes: int, bandwidth: int):
        words = (kb * 1024) // word_bytes
        self.active_words = ceil(words * 0.5)
        self.bandwidth = bandwidth
        self.drain_lines = ceil((words - self.active_words) / bandwidth)  # lines per drain
        self.free = words
        self.lines: list[int] = []  # valid words of each completed trace line
        self.fill = 0  # words in the current trace line
        self.drained = 0  # lines before this one are drained
        self.drain_end = 0  # cycle the drain in flight ends
        self.written = 0  # words written to DRAM
        self.last_drain_cycle: int | None = None

    def _drain(self, t: int) -> int:
        """Drain up to drain_lines completed lines from cycle t; returns its last cycle."""
        end = min(self.drained + self.drain_lines, len(self.lines))
        lines = self.lines[self.drained:end]
        data = (len(lines) - 1) * self.bandwidth + lines[-1]
        self.written += data
        self.free += data
        self.drained = end
        e = t + len(lines) - 1
        self.last_drain_cycle = e if self.last_drain_cycle is None else max(self.last_drain_cycle, e)
        return e

    def write_line(self, n: int, cycle: int) -> int:
        """n valid elements arriving at cycle (per-element logic of service_writes,
        aggregated); returns the stall of this line."""
        cur = cycle
        while n > 0:
            if cur < self.drain_end:
                ok = self.free - 1  # stores that leave free > 0
                if n <= ok:
                    self._store(n)
                    break
                if ok > 0:
                    self._store(ok)
                    n -= ok
                self._store(1)  # free <= 0: wait for the drain
                n -= 1
                cur = self.drain_end
            else:
                need = self.free - self.active_words + 1  # stores until free < active_words
                if need < 1:
                    need = 1
                if need > n:
                    self._store(n)
                    break
                self._store(need)
                n -= need
                if self.fill:  # append_to_trace_mat(force=True)
                    self.lines.append(self.fill)
                    self.fill = 0
                self.drain_end = self._drain(cur)
        return cur - cycle

    def _store(self, n: int) -> None:
        self.free -= n
        bw = self.bandwidth
        full, self.fill = divmod(self.fill + n, bw)
        if full:
            self.lines.extend([bw] * full)

    def flush(self, t: int) -> None:
        """Drain everything left, drain after drain, from cycle t."""
        if self.fill:
            self.lines.append(self.fill)
            self.fill = 0
        while self.drained < len(self.lines):
            self.drain_end = self._drain(t)
            t = self.drain_end + 1
