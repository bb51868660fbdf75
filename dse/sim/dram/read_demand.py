"""The demand lines at which a read SRAM's window slides, for the two operand layouts SCALE-Sim
streams: diagonal-unrolled fold stacks and row-major column folds.

Each function walks the operand's fold visits in compute order through a ReadWindow and
returns [(demand line, slides at that line)]; only lines with a slide are listed.
"""
from math import ceil

from dse.sim.dram.diagonal import DiagonalOperand
from dse.sim.dram.read_buffer import ReadWindow

Slides = list[tuple[int, int]]


def _spread(events: Slides, window: ReadWindow, operand: DiagonalOperand, f: int, a: int, inside: int,
            offset_a: int, line0: int) -> None:
    """Lines of the `inside` slides taken while walking up a visit of fold f from position a:
    the i-th one happens at the first demanded element of set set_a + active_sets - offset_a
    + i * prefetch_sets (the walk crosses the window's front every prefetch_sets sets)."""
    g = window.geometry
    set_a = a // g.set_words
    for i in range(inside):
        s = set_a + g.active_sets - offset_a + i * g.prefetch_sets
        events.append((line0 + operand.line_of(f, s * g.set_words), 1))


def diagonal_slides(window: ReadWindow, operand: DiagonalOperand, order: list[int], fold_lines: int,
                    head: int) -> Slides:
    """Visits of a diagonal-unrolled operand, fold order[v] at visit v. Each visit occupies
    fold_lines demand lines; its first element is demanded at line `head` of the visit."""
    events: Slides = []
    for v, f in enumerate(order):
        a, b = operand.fold_span(f)
        line0 = v * fold_lines + head
        at_a, inside, offset_a = window.run(a, b)
        if at_a:
            events.append((line0, at_a))
        if inside:
            _spread(events, window, operand, f, a, inside, offset_a, line0)
    return events


def row_major_slides(window: ReadWindow, rows: int, width: int, last_width: int, folds: int, array_rows: int,
                     fold_lines: int) -> Slides:
    """Row-major stacked column folds (rows x width each, the last with last_width valid
    columns), demanded fold by fold in blocks of array_rows rows read bottom-up (np.flip),
    one row per demand line."""
    events: Slides = []
    row_folds = ceil(rows / array_rows)
    for fc in range(folds):
        w = last_width if fc == folds - 1 else width
        base = fc * rows * width
        for fr in range(row_folds):
            lo = fr * array_rows
            hi = min(lo + array_rows, rows)
            # a short last block leaves its first lines empty
            line0 = (fc * row_folds + fr) * fold_lines + (array_rows - (hi - lo))
            for i, r in enumerate(range(hi - 1, lo - 1, -1)):
                a = base + r * w
                at_a, inside, _ = window.run(a, a + w - 1)
                if at_a + inside:
                    events.append((line0 + i, at_a + inside))
    return events
