"""The nightly batch on a Dask cluster: the same jobs, results and database as the local pool.

`--cluster local:N` starts N single-threaded worker processes on this machine;
`--cluster tcp://host:8786` uses a scheduler started with `dask scheduler`. Each worker process
loads the model once (a WorkerPlugin, run again by Dask on a restarted worker); a task audits
one call and returns its small `audit.call/1` result, never audio. This process (the driver)
alone writes the database, as results arrive, so resume and call identity are the local
batch's. At most a few tasks per worker are in flight, so 40,000 calls are not 40,000 futures.

A worker that dies mid-call (kill -9, node lost) has its call re-run elsewhere by Dask; a call
that kills workers more often than the scheduler's `allowed-failures` allows comes back as
KilledWorker and is stored as a failed call with that reason.
"""

from __future__ import annotations

import ctypes
import hashlib
import logging
import os
import sys
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from callaudit.batch.jobs import BatchOptions, BatchStats
from callaudit.batch.worker import audit_job, load_auditor
from callaudit.errors import AuditError, first_line

CONNECT_TIMEOUT_S = 5  # an address nobody answers on fails in seconds, not minutes of retries
TASKS_PER_THREAD = 2  # in flight: one running and one queued per worker thread keeps them busy
EXTRA_HINT = "--cluster needs Dask: pip install 'callaudit[cluster]'"

Store = Callable[[dict[str, Any]], None]


def require_dask() -> Any:
    try:
        import distributed
    except ImportError:
        raise AuditError(EXTRA_HINT) from None
    return distributed


def batch_name(opts: BatchOptions, pack: Any, packs: dict[str, Any] | None = None) -> str:
    """Names this batch's Auditor on the workers: batches with other rules (or scorecards'
    `packs`) or options that share the cluster get their own, and the same batch re-run
    reuses its own."""
    key = repr((opts.model_dir, opts.beam_size, opts.full_windows, opts.max_duration_s,
                opts.separate, opts.threads, opts.lang, pack.fingerprint(), bool(opts.redact))
               + ((tuple(sorted(packs)),) if packs else ()))
    return hashlib.sha256(key.encode()).hexdigest()[:12]


def make_plugin(opts: BatchOptions, threads: int, pack: Any, name: str,
                packs: dict[str, Any] | None = None) -> Any:
    """A WorkerPlugin that loads the Auditor when a worker starts (or restarts); with
    scorecards' `packs` (fingerprint -> RulePack), one judging with each."""
    distributed = require_dask()

    class AuditorPlugin(distributed.WorkerPlugin):
        def setup(self, worker: Any) -> None:
            _undo_malloc_trim()
            load_auditor(opts, threads or worker.state.nthreads, pack, name, packs)

    plugin = AuditorPlugin()
    plugin.name = f"callaudit-{name}"
    return plugin


def _undo_malloc_trim() -> None:
    """Dask's nanny starts workers with MALLOC_TRIM_THRESHOLD_=65536, which also turns off
    glibc's adaptive mmap threshold: every large buffer is then a fresh mmap, and a worker
    audits 25 % slower than the local pool's (measured: 16.3x vs 21.3x real time, system
    time x4). Put the thresholds where glibc's own adaptation would take them."""
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 32 << 20)  # M_MMAP_THRESHOLD: glibc's adaptive maximum
        libc.mallopt(-1, 64 << 20)  # M_TRIM_THRESHOLD: twice that, as glibc sets it
    except (OSError, AttributeError):  # not glibc (musl): nothing to undo
        pass


def connect(spec: str) -> tuple[Any, Any]:
    """(client, local cluster or None) for "local:N" or a scheduler address."""
    distributed = require_dask()
    if spec == "local" or spec.startswith("local:"):
        n = spec.partition(":")[2]
        if n and (not n.isdigit() or int(n) < 1):
            raise AuditError(f"--cluster {spec}: expected local:N (N >= 1 worker processes)")
        # one thread per worker process (as the local pool); no memory limit, so the nanny
        # does not kill a worker for a long call the local pool would have audited
        cluster = distributed.LocalCluster(
            n_workers=int(n or os.cpu_count() or 1), threads_per_worker=1, processes=True,
            host="127.0.0.1", dashboard_address="127.0.0.1:0", memory_limit=0,
            silence_logs=logging.ERROR)
        return distributed.Client(cluster), cluster
    address = spec if "://" in spec else f"tcp://{spec}"
    try:
        return distributed.Client(address, timeout=CONNECT_TIMEOUT_S), None
    except (OSError, TimeoutError, ValueError) as e:
        raise AuditError(f"{address}: no Dask scheduler answers there ({type(e).__name__}); "
                         "start one with `dask scheduler` or check the address") from None


def dashboard_link(client: Any) -> str | None:
    """The dashboard's address when the scheduler runs one (it needs bokeh installed)."""
    try:
        if "dashboard" in client.scheduler_info().get("services", {}):
            return str(client.dashboard_link)
    except Exception:  # noqa: BLE001 - a link is a nicety, never a reason to stop
        pass
    return None


def run_on_cluster(todo: list[dict[str, Any]], opts: BatchOptions, store: Store,
                   stats: BatchStats, connected: Callable[[], None] = lambda: None,
                   packs: dict[str, Any] | None = None) -> None:
    """`packs`: a batch with scorecards (fingerprint -> RulePack); each job's `pack` names
    the one its worker judges it with."""
    distributed = require_dask()
    from callaudit.rules.pack import load
    from callaudit.speech.model import resolve

    # Workers get an absolute model path (the same path on every node) and the parsed rule
    # packs themselves, so a rule file need not exist on the workers.
    pack = load(opts.rules)
    wopts = replace(opts, model_dir=str(resolve(opts.model_dir).resolve()))
    name = batch_name(wopts, pack, packs)
    client, cluster = connect(opts.cluster or "local")
    try:
        stats.dashboard = dashboard_link(client)
        connected()
        try:
            client.register_plugin(make_plugin(wopts, opts.threads, pack, name, packs))
        except AuditError:
            raise
        except Exception as e:  # e.g. a worker without the model: say which and why
            raise AuditError(f"{opts.cluster}: a worker could not load the auditor: "
                             f"{first_line(e)}") from None
        _drive(client, distributed, todo, store, name)
    except (OSError, distributed.TimeoutError) as e:
        raise AuditError(f"{opts.cluster}: lost the Dask scheduler ({type(e).__name__}: {e}); "
                         "every stored call is kept: run the batch again to resume") from None
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def _drive(client: Any, distributed: Any, todo: list[dict[str, Any]], store: Store,
           name: str) -> None:
    """Submit a bounded window of calls and store each result as it completes."""
    jobs = iter(todo)
    futures: dict[Any, tuple[dict[str, Any], str]] = {}  # future -> (job, path the worker read)
    done = distributed.as_completed()

    def refill() -> None:
        limit = TASKS_PER_THREAD * max(1, sum(client.nthreads().values()))
        while len(futures) < limit:
            job = next(jobs, None)
            if job is None:
                return
            # the worker reads the file at its absolute path; the database keeps the job as given
            path = os.path.abspath(job["file"])
            sent = {**job, "file": path, "auditor": name}
            f = client.submit(audit_job, sent, key=f"audit-{name}-{job['sha256']}", pure=False)
            futures[f] = (job, path)
            done.add(f)

    refill()
    for f in done:
        job, path = futures.pop(f)
        try:
            out = f.result()
        except (distributed.client.FutureCancelledError, OSError) as e:
            # the scheduler is gone: nothing is stored for this call, a re-run resumes it
            raise OSError(f"{type(e).__name__}: {e}") from None
        except distributed.KilledWorker as e:
            out = {"error": f"{job['file']}: crashed every worker that audited it ({e})"}
        except Exception as e:  # noqa: BLE001 - a failed task is a failed call, not a failed night
            out = {"error": f"{job['file']}: internal error on the cluster: {type(e).__name__}: {e}"}
        f.release()
        out["job"] = job
        if "result" in out:
            out["result"]["file"] = job["file"]
        elif out["error"].startswith(path):
            out["error"] = job["file"] + out["error"][len(path):]  # as the local pool says
        store(out)
        refill()
