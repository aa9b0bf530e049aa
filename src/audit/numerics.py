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

from functools import cache


@cache
def one_blas_thread() -> list[str]:
    """Limit NumPy's BLAS (OpenBLAS, MKL, BLIS: whichever it loaded) to one thread for the
    rest of this process, but not a BLAS that CTranslate2 itself links (conda's builds link
    OpenBLAS: those are the recognizer's threads). Idempotent; returns the libraries
    limited (empty when none was found, e.g. a NumPy on Apple's Accelerate)."""
    from threadpoolctl import ThreadpoolController

    ctl = ThreadpoolController()
    mine = [lib.filepath for lib in ctl.lib_controllers
            if lib.user_api == "blas" and "ctranslate2" not in lib.filepath.lower()]
    if mine:
        ctl.select(filepath=mine).limit(limits=1)
    return mine
