"""The study run's progress bar: tqdm, with its rate (and so the time left) counted from the first
trials stored."""

from __future__ import annotations

from typing import Any

from tqdm import tqdm


class StudyBar(tqdm):
    """tqdm whose rate, and so the time left, counts from when it first shows trials stored. On a fresh
    machine the first trials wait for CACTI to price their SRAMs (once per machine): a rate through that
    wait promised hours (`1/600 [00:20<3:25:10]`) for a run that ended seconds later. Until a second
    look finds more trials stored, rate and time left show "?"; the elapsed time is the whole run's, and
    so is the rate once the bar is full (the run's summary line gives the same)."""

    _first_stored: tuple[float, float] | None = None  # (trials shown, clock) when trials were first seen

    @property
    def format_dict(self) -> dict[str, Any]:
        d = super().format_dict
        if self.total and self.n >= self.total:
            d["rate"] = None  # tqdm then shows (trials of this run) / elapsed
            return d
        now = self._time()  # tqdm's own clock: the one its elapsed time reads
        if self._first_stored is None and self.n > self.initial:
            self._first_stored = (self.n, now)
        n0, t0 = self._first_stored or (self.n, now)
        d["rate"] = (self.n - n0) / (now - t0) if self.n > n0 and now > t0 else 0  # 0: tqdm shows "?"
        return d
