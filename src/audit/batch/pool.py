"""The nightly batch: a folder (or a manifest) of recordings into the results database.

Worker processes each load the model once and audit one call per task; the parent alone
writes the database, one transaction per call, as results arrive. So a batch killed at any
moment (Ctrl-C, kill -9, power loss) keeps every finished call, and the same command run
again audits only what is missing. A file that cannot be audited is stored as a failure
with its reason and the batch goes on.
"""

from __future__ import annotations

import multiprocessing as mp
import os
from collections.abc import Callable
from typing import Any

from audit.batch.jobs import BatchOptions, BatchStats, discover, pending
from audit.batch.worker import audit_job, init_worker
from audit.results.store import CallMeta, connect, write_failure, write_result

WORKER_MEMORY_GB = 0.8  # measured peak RSS of one worker with Whisper base int8: ~0.65 GB


def default_split(cores: int | None = None) -> tuple[int, int]:
    """(worker processes, threads each). Measured on 2 cores over the sample calls: two
    single-threaded workers audit 21x real time, one worker with two threads 14.5x (calls
    are short, and a worker's decode/VAD/rules leave its threads idle). Bounded by memory:
    each worker holds its own model."""
    cores = cores or os.cpu_count() or 1
    try:
        avail_gb = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") / 2**30
    except (ValueError, OSError):
        avail_gb = float("inf")
    workers = max(1, min(cores, int(avail_gb / WORKER_MEMORY_GB)))
    return workers, max(1, cores // workers)


def run(source: str, opts: BatchOptions,
        on_progress: Callable[[BatchStats, dict[str, Any] | None], None] | None = None,
        ) -> BatchStats:
    found = discover(source, opts.pattern)
    conn = connect(opts.db)
    stats = BatchStats(unreadable=found.unreadable, unmatched=found.unmatched)
    todo = list(pending(found.jobs, conn, opts, stats))
    if opts.limit is not None:
        todo = todo[: opts.limit]
    stats.total = len(todo)
    if on_progress:
        on_progress(stats, None)
    broken = [j for j in todo if "error" in j]
    for job in broken:
        _store(conn, {"job": job, "error": job["error"]}, stats, on_progress)
    todo = [j for j in todo if "error" not in j]
    if not todo:
        return stats
    if opts.cluster:
        from audit.batch.cluster import run_on_cluster

        try:
            run_on_cluster(todo, opts, lambda out: _store(conn, out, stats, on_progress), stats,
                           lambda: on_progress(stats, None) if on_progress else None)
        finally:
            conn.close()
        return stats
    default_workers, _ = default_split()
    workers = min(opts.workers or default_workers, len(todo))
    threads = opts.threads or max(1, (os.cpu_count() or 1) // workers)
    # spawn: each worker starts clean (no inherited threads or open database handles)
    ctx = mp.get_context("spawn")
    pool = ctx.Pool(workers, initializer=init_worker, initargs=(opts, threads),
                    maxtasksperchild=200)
    try:
        for out in pool.imap_unordered(audit_job, todo, chunksize=1):
            _store(conn, out, stats, on_progress)
        pool.close()
    except BaseException:
        pool.terminate()  # Ctrl-C: stop the workers now; every stored call is whole
        raise
    finally:
        pool.join()
        conn.close()
    return stats


def _store(conn: Any, out: dict[str, Any], stats: BatchStats,
           on_progress: Callable[[BatchStats, dict[str, Any] | None], None] | None) -> None:
    job = out["job"]
    if "worker" in out:
        stats.model_loads[out["worker"]["pid"]] = out["worker"]["loads"]
    meta = CallMeta(file=job["file"], sha256=job["sha256"], call_id=job["call_id"],
                    agent_id=job.get("agent_id"), day=job.get("day"),
                    started_at=job.get("started_at"), agent_channel=job.get("agent_channel", "auto"))
    if out.get("transient"):  # not the file's fault: nothing stored, a re-run audits it
        stats.errors += 1
    elif "error" in out:
        write_failure(conn, meta, out["error"])
        stats.errors += 1
    else:
        r = out["result"]
        write_result(conn, meta, r, out["regions"], out["acoustics"])
        stats.done += 1
        stats.audio_s += r["duration_s"]
        if r.get("outcome") == "no_speech":  # not a call: neither passed nor failed
            stats.no_speech += 1
        elif r["passed"]:
            stats.passed += 1
        else:
            stats.failed_audit += 1
    if on_progress:
        on_progress(stats, out)
