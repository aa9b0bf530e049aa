"""Where a long recording's samples live: in a temporary file, read a slice at a time.

A 3-hour stereo call is 1.4 GB of 16 kHz float32 samples, more than a worker may hold
(issue 16: under 1 GB whatever the length). The audit needs them only a stretch at a time
(a block of a sweep, a region, a window), so a long recording's channels are `FileSamples`:
sliced like an array, each slice read from an unlinked temporary file with `pread`. The
file's pages sit in the page cache, which the system reclaims, not in the worker's memory
(np.memmap's would count in it once touched). Short recordings keep plain arrays.

Every stage treats a channel as a `Channel`: `len(x)`, `x[a:b]` (a new array or a view) and,
in audio/condition.py only, `x[a:b] = values`. Whole-channel work goes through `blocks`.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator

import numpy as np

DTYPE = np.dtype(np.float32)
SWEEP = 1 << 22  # samples per block of a whole-channel sweep (4.2 M: 17 MB, 4.4 min)


class FileSamples:
    """One channel of float32 samples in an unlinked temporary file (in TMPDIR; gone when
    this object is, even if the process is killed). `x[a:b]` (any step) is a new writable
    array; `x[a:b] = v` writes through; samples never written read as 0."""

    def __init__(self, length: int = 0) -> None:
        self._file = tempfile.TemporaryFile(prefix="callaudit-")  # noqa: SIM115 - kept open
        self._fd = self._file.fileno()
        self._len = 0
        self.resize(length)

    def __len__(self) -> int:
        return self._len

    @property
    def dtype(self) -> np.dtype:
        return DTYPE

    def resize(self, length: int) -> None:
        """Make the channel `length` samples long (new samples are 0), its disk space taken
        now: a full disk is told here, not by a later write."""
        os.ftruncate(self._fd, length * DTYPE.itemsize)
        if length:
            os.posix_fallocate(self._fd, 0, length * DTYPE.itemsize)
        self._len = length

    def write(self, at: int, values: np.ndarray) -> None:
        """Write `values` from sample `at`, growing the channel if they end past it."""
        data = np.ascontiguousarray(values, DTYPE)
        view, off = memoryview(data).cast("B"), at * DTYPE.itemsize
        while len(view):
            n = os.pwrite(self._fd, view, off)
            view, off = view[n:], off + n
        self._len = max(self._len, at + len(data))

    def __getitem__(self, key: slice) -> np.ndarray:
        if not isinstance(key, slice):
            raise TypeError("FileSamples takes slices only (x[a:b])")
        start, stop, step = key.indices(self._len)
        if step < 0:
            raise ValueError("FileSamples: negative steps are not supported")
        n = max(0, stop - start)
        out = np.zeros(n, DTYPE)
        view, off = memoryview(out).cast("B"), start * DTYPE.itemsize
        while len(view):
            got = os.preadv(self._fd, [view], off)
            if got <= 0:
                break  # past the file's end: zeros, as never written
            view, off = view[got:], off + got
        return out[::step] if step != 1 else out

    def __setitem__(self, key: slice, values: np.ndarray) -> None:
        if not isinstance(key, slice):
            raise TypeError("FileSamples takes slices only (x[a:b] = v)")
        start, stop, step = key.indices(self._len)
        if step != 1:
            raise ValueError("FileSamples: writes take a step of 1")
        v = np.broadcast_to(np.asarray(values, DTYPE), (max(0, stop - start),))
        self.write(start, v)

    def copy(self) -> FileSamples:
        """Another file with the same samples."""
        out = FileSamples(self._len)
        for a, x in blocks(self):
            out.write(a, x)
        return out


Channel = np.ndarray | FileSamples  # a channel of samples, in memory or in a file


def blocks(x: Channel, size: int = SWEEP, stop: int | None = None,
           ) -> Iterator[tuple[int, np.ndarray]]:
    """(start, samples) of consecutive blocks of `size` samples of x[:stop] (the last may be
    shorter): a sweep over a whole channel holding one block at a time."""
    end = len(x) if stop is None else min(stop, len(x))
    for a in range(0, end, size):
        yield a, x[a:min(a + size, end)]
