"""One numeric path in every process that audits: `check`, a pool worker, a Dask worker.

NumPy's BLAS (OpenBLAS) splits a product over as many threads as it has, and the sums come
out in another order with another count: the samples' levels differ in the last bits and
Whisper's features enough to change a word. Measured on the demo call: one BLAS thread
(what Dask's nanny sets, OPENBLAS_NUM_THREADS=1) heard the order number as 12024001, two
threads (the default on 2 cores) as 122024001, with the same decoder threads. The audit's
own matrix products are small (mel filterbank, level sums, embeddings), so one thread
costs nothing measurable; the recognizer's threads (CTranslate2's, `--threads`) are not
touched. CTranslate2 itself gave the same words with 1 and 2 threads on the machine this
was measured on (AMD EPYC, its own GEMM); with Intel MKL it does not promise it, so a
batch (one thread per worker) and a `check` with more threads may differ there."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from typing import Any


@cache
def _numpy_blas() -> tuple[Any, list[str]]:
    from threadpoolctl import ThreadpoolController

    ctl = ThreadpoolController()
    return ctl, [lib.filepath for lib in ctl.lib_controllers
                 if lib.user_api == "blas" and "ctranslate2" not in lib.filepath.lower()]


@contextmanager
def one_blas_thread() -> Iterator[list[str]]:
    """Within the block, NumPy's BLAS (OpenBLAS, MKL, BLIS: whichever it loaded) runs on one
    thread; after it, on what it ran on before (a library never changes its host process
    for good). A BLAS that CTranslate2 itself links (conda's builds link OpenBLAS: the
    recognizer's threads) is not touched. Yields the libraries limited (empty when none was
    found, e.g. a NumPy on Apple's Accelerate). Nested blocks are fine; two threads of one
    process auditing at once share the process's BLAS setting."""
    ctl, mine = _numpy_blas()
    if not mine:
        yield []
        return
    with ctl.select(filepath=mine).limit(limits=1):
        yield mine
