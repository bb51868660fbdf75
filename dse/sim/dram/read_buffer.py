"""A read SRAM in SCALE-Sim's USER bandwidth mode: its geometry and its sliding window.

scalesim's memory/read_buffer.py (set_params, prepare_hashed_buffer) cuts the operand's
prefetch order in sets of ceil(words / 100) elements. Half the SRAM (rounded up) is the
active window the array reads from, the other half the prefetch. The window is circular
over the sets: a demand outside it slides it forward by one prefetch, so a backward
reference costs a whole lap of re-fetches.
"""
from math import ceil


class ReadBufferGeometry:
    """Sizes of one read SRAM holding one operand (all in words unless named *_sets/*_lines)."""

    __slots__ = ("words", "active_words", "prefetch_words", "set_words", "valid", "slots", "sets",
                 "active_sets", "prefetch_sets", "bandwidth", "prefetch_lines", "initial_lines", "fits")

    def __init__(self, kb: int, word_bytes: int, bandwidth: int, valid: int, slots: int):
        """valid: the operand's elements; slots: its prefetch-order length, -1 padding included;
        bandwidth: DRAM words per cycle."""
        words = (kb * 1024) // word_bytes
        self.words = words
        self.active_words = ceil(words * 0.5)
        self.prefetch_words = words - self.active_words
        self.set_words = ceil(words / 100)  # elements per hashed set
        self.valid, self.slots = valid, slots
        self.sets = valid // self.set_words + 1  # the last set may be empty
        self.active_sets = min(ceil(self.active_words / self.set_words), self.sets)
        self.prefetch_sets = min(ceil(self.prefetch_words / self.set_words), self.sets - self.active_sets)
        self.bandwidth = bandwidth
        self.prefetch_lines = ceil(self.prefetch_words / bandwidth)  # DRAM lines per prefetch (new_prefetch)
        self.initial_lines = min(ceil(self.active_words / bandwidth), ceil(slots / bandwidth))
        self.fits = self.active_sets >= self.sets  # the whole operand is in the window: never slides

    def reads(self, slides: int) -> int:
        """DRAM words read: the initial fill, then one prefetch per slide."""
        return self.initial_lines * self.bandwidth + slides * self.prefetch_lines * self.bandwidth


class ReadWindow:
    """The active window of a read SRAM: sets [start, start + active_sets) modulo the number
    of sets; a demand outside it slides it by prefetch_sets. Counts the slides."""

    __slots__ = ("geometry", "start", "slides")

    def __init__(self, geometry: ReadBufferGeometry):
        self.geometry, self.start, self.slides = geometry, 0, 0

    def run(self, a: int, b: int) -> tuple[int, int, int]:
        """Demand an ascending run of prefetch positions a..b (every set in between is walked
        through). Returns (slides to reach a, slides between a and b, offset of a's set from
        the window start once a is reached)."""
        g = self.geometry
        if g.fits:
            return 0, 0, 0
        set_a = a // g.set_words
        offset = (set_a - self.start) % g.sets
        at_a = 0
        if offset >= g.active_sets:
            at_a = -(-(offset - g.active_sets + 1) // g.prefetch_sets)
            offset -= at_a * g.prefetch_sets
        offset_a = offset
        offset += b // g.set_words - set_a  # unwrapped: the walk may go round the circle
        inside = 0
        if offset >= g.active_sets:
            inside = -(-(offset - g.active_sets + 1) // g.prefetch_sets)
        self.slides += at_a + inside
        self.start = (self.start + (at_a + inside) * g.prefetch_sets) % g.sets
        return at_a, inside, offset_a
