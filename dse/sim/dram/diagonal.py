"""Where each element of a diagonal-unrolled operand sits in SCALE-Sim's prefetch order.

SCALE-Sim stacks an operand's folds into one matrix and prefetches it anti-diagonal by
anti-diagonal (ascending), rows descending inside a diagonal, skipping the -1 padding of the
last, narrower fold. Counting cells below a diagonal in closed form (instead of building
the matrix) keeps each position O(1) and each line lookup O(log diagonals).
"""


def _ramp_sum(x: int, c0: int, c1: int) -> int:
    """sum over c in [c0, c1) of max(0, x - c)."""
    hi = min(c1, x)
    n = hi - c0
    if n <= 0:
        return 0
    return n * x - (c0 + hi - 1) * n // 2


def cells_before_diagonal(d: int, r0: int, r1: int, c0: int, c1: int) -> int:
    """Number of cells (r, c) in [r0, r1) x [c0, c1) with r + c < d."""
    if r1 <= r0 or c1 <= c0:
        return 0
    x = d - r0
    return _ramp_sum(x, c0, c1) - _ramp_sum(x - (r1 - r0), c0, c1)


class DiagonalOperand:
    """`folds` folds of `fold_rows` rows x `width` columns stacked vertically and unrolled by
    anti-diagonals; the last fold has only `last_width` valid columns (the rest is padding)."""

    def __init__(self, folds: int, fold_rows: int, width: int, last_width: int):
        self.folds, self.fold_rows, self.width, self.last_width = folds, fold_rows, width, last_width
        self.rows = folds * fold_rows
        self.last_fold_row = (folds - 1) * fold_rows  # first row of the last fold
        self.valid = self.rows * width - (self.rows - self.last_fold_row) * (width - last_width)
        self.slots = self.rows * width

    def position(self, r: int, c: int) -> int:
        """Prefetch position of valid element (r, c) (padding not counted)."""
        d = r + c
        rows, width, h0, wl = self.rows, self.width, self.last_fold_row, self.last_width
        before = cells_before_diagonal(d, 0, rows, 0, width)
        padding = cells_before_diagonal(d, h0, rows, wl, width) if wl < width else 0
        first_col = max(0, d - rows + 1)
        within = c - first_col
        if wl < width:  # padding cells of diagonal d left of column c
            within -= max(0, min(c, d - h0 + 1) - max(wl, first_col))
        return before - padding + within

    def fold_span(self, f: int) -> tuple[int, int]:
        """(first, last) valid position demanded by a visit of fold f (ascending walk)."""
        w = self.last_width if f == self.folds - 1 else self.width
        return self.position(f * self.fold_rows, 0), self.position((f + 1) * self.fold_rows - 1, w - 1)

    def _valid_before(self, d: int) -> int:
        """Valid elements on anti-diagonals < d."""
        n = cells_before_diagonal(d, 0, self.rows, 0, self.width)
        if self.last_width < self.width:
            n -= cells_before_diagonal(d, self.last_fold_row, self.rows, self.last_width, self.width)
        return n

    def line_of(self, f: int, p: int) -> int:
        """Demand line (relative to the fold's first line) of the first element of a visit of
        fold f whose prefetch position is >= p."""
        Q = self.fold_rows
        w = self.last_width if f == self.folds - 1 else self.width
        lo_d, hi_d = f * Q, (f + 1) * Q + w - 2  # diagonals touched by the fold
        if p <= self._valid_before(lo_d):
            return 0
        if p >= self._valid_before(hi_d + 1):
            return hi_d - lo_d
        while lo_d < hi_d:  # last d with _valid_before(d) <= p
            mid = (lo_d + hi_d + 1) // 2
            if self._valid_before(mid) <= p:
                lo_d = mid
            else:
                hi_d = mid - 1
        d = lo_d
        k = p - self._valid_before(d)  # index inside diagonal d
        c = max(0, d - self.rows + 1) + k  # its column (skip padding columns)
        if self.last_width < self.width:
            pad0 = max(self.last_width, max(0, d - self.rows + 1))
            pad1 = min(self.width - 1, d - self.last_fold_row)
            if pad1 >= pad0 and c >= pad0:
                c += pad1 - pad0 + 1
        c_hi = min(w - 1, d - f * Q)  # last column of fold f on d
        return d - f * Q + (1 if c > c_hi else 0)
