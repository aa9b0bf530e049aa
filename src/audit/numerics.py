"""One numeric path in every process that audits: `check`, a pool worker, a Dask worker.

NumPy's BLAS (OpenBLAS) splits a product over as many threads as it has, and the sums come
out in another order with another count: the samples' levels differ in the last bits and
Whisper's features enough to change a word. Measured on the demo call: one BLAS thread
(what Dask's nanny sets, OPENBLAS_NUM_THREADS=1) heard the order number as 12024001, two
threads (the default on 2 cores) as 122024001, with the same decoder threads. The audit's
own matrix products are small (mel filterbank, level sums, embeddings), so one thread
costs nothing measurable; the recognizer's threads (CTranslate2's, `--threads`) are not
BLAS's and are not touched."""

from __future__ import annotations

from functools import cache


@cache
def one_blas_thread() -> None:
    """Limit NumPy's OpenBLAS (and any other OpenBLAS loaded) to one thread, for the rest of
    this process. Idempotent."""
    from threadpoolctl import ThreadpoolController

    ThreadpoolController().select(internal_api="openblas").limit(limits=1)
