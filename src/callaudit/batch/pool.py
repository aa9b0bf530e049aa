"""The nightly batch: a folder (or a manifest) of recordings into the results database.

Worker processes each load the model once and audit one call per task; the parent alone
writes the database, one transaction per call, as results arrive. So a batch killed at any
moment (Ctrl-C, kill -9, power loss) keeps every finished call, and the same command run
again audits only what is missing. A file that cannot be audited is stored as a failure
with its reason and the batch goes on.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from multiprocessing.connection import Connection, wait
from multiprocessing.context import SpawnContext
from multiprocessing.process import BaseProcess
from typing import Any

from callaudit.batch import scorecards
from callaudit.batch.jobs import BatchOptions, BatchStats, discover, pending
from callaudit.batch.worker import serve
from callaudit.errors import AuditError
from callaudit.records import CallResult, Region
from callaudit.results import claims
from callaudit.results.store import (
    CallMeta,
    connect,
    redaction,
    status_of,
    stored_redaction,
    write_failure,
    write_result,
)
from callaudit.rules.pack import RulePack

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
    """Audit the calls of `source` not yet in the database; store each as it arrives and call
    `on_progress` per stored call. On the local pool a worker that dies (kill -9, out of
    memory) is replaced; the one call it was auditing runs again alone on a fresh worker,
    and if that worker dies too the call is stored as failed ("worker died"). Calls on the
    other workers are not touched; stats.worker_deaths counts the deaths (see _local_pool)."""
    cards = scorecards.load(opts.scorecards) if opts.scorecards else None
    found = discover(source, opts.pattern, cards.by if cards else None)
    if cards:
        cards.assign(found.jobs)  # each call's pack, or why it is not judged
    packs = cards.packs if cards else None
    conn = connect(opts.db)
    opts = replace(opts, redact=redaction(conn, opts.redact))  # the database says, or is told once
    stats = BatchStats(unreadable=found.unreadable, unmatched=found.unmatched)
    refresh = _reviewed_refresher(conn, opts, packs)
    as_stored = _as_stored(conn, opts, packs)
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
    me = claims.owner()

    def store(out: dict[str, Any]) -> None:
        _store(conn, out, stats, on_progress, refresh, as_stored)
        claims.release(conn, out["job"]["sha256"], me)  # stored, or left for the next run

    take = _claimer(conn, opts, stats, me)
    try:
        if opts.cluster:
            from callaudit.batch.cluster import run_on_cluster

            todo = [j for j in todo if take(j)]  # a cluster is sent every call at once
            run_on_cluster(todo, opts, store, stats,
                           lambda: on_progress(stats, None) if on_progress else None, packs)
            return stats
        default_workers, _ = default_split()
        workers = min(opts.workers or default_workers, len(todo))
        threads = opts.threads or max(1, (os.cpu_count() or 1) // workers)
        _local_pool(todo, opts, workers, threads, stats, store, packs, take)
        return stats
    finally:
        with contextlib.suppress(Exception):  # a database that cannot be written said so
            claims.release_all(conn, me)
        conn.close()


def _claimer(conn: Any, opts: BatchOptions, stats: BatchStats,
             me: str) -> Callable[[dict[str, Any]], bool]:
    """`take(job)`: whether this run audits the call now. False for a call another live run
    on the database holds (counted in stats.left_to_other) or stored meanwhile by one
    (counted as already stored)."""
    def take(job: dict[str, Any]) -> bool:
        if claims.claim(conn, job["sha256"], me) is not None:
            stats.left_to_other += 1
            stats.total -= 1
            return False
        status = None if opts.force else status_of(conn, job["sha256"])
        if status is not None and (status != "failed" or not opts.retry_failed):
            claims.release(conn, job["sha256"], me)
            stats.skipped += 1
            stats.total -= 1
            return False
        return True
    return take


MAX_TASKS = 200  # calls per worker process before a fresh one takes over


@dataclass
class _Worker:
    proc: BaseProcess
    conn: Connection
    job: dict[str, Any] | None = None  # the call it owns: in flight once sent
    sent: bool = False
    ready: bool = False  # its Auditor is loaded
    tasks: int = 0
    since: float = 0.0  # when the call in flight was sent (time.monotonic)
    limit: float = 0.0  # its wall-clock limit, s (BatchOptions.time_limit)


def _local_pool(todo: list[dict[str, Any]], opts: BatchOptions, workers: int, threads: int,
                stats: BatchStats, store: Callable[[dict[str, Any]], None],
                packs: dict[str, RulePack] | None = None,
                take: Callable[[dict[str, Any]], bool] = lambda job: True) -> None:
    """Audit `todo` on `workers` processes, each sent one call at a time, and store each
    result as it arrives. `packs`: a batch with scorecards, each worker judges a call with
    the pack its job names (sent to the workers: the files need not be read again).

    A worker that dies (kill -9, the out-of-memory killer) closes its pipe, so its death is
    seen at once, and so is the one call it was auditing: calls on the other workers are not
    touched. That call runs again on a fresh worker while no other call is in flight; if it
    kills that worker too, it is stored as failed ("worker died"). Every dead worker is
    replaced; the count is stats.worker_deaths."""
    ctx = mp.get_context("spawn")  # each worker starts clean (no inherited threads or handles)
    queue = deque(todo)
    died: dict[str, str] = {}  # sha256 of a call that killed a worker -> how it died
    load_deaths = 0  # workers that died loading the model, since one last came up
    pool: list[_Worker] = []
    try:
        pool.extend(_start(ctx, opts, threads, packs) for _ in range(workers))
        while queue or any(w.job for w in pool):
            _dispatch(pool, queue, died, opts, take)
            if not queue and not any(w.job for w in pool):
                break  # the last calls were another run's: nothing is in flight
            late = [w for w in pool if w.sent and time.monotonic() - w.since > w.limit]
            for w in late:  # stalled (a decoder, the model): stopped, the night goes on
                pool.remove(w)
                w.proc.kill()
                w.proc.join()
                w.conn.close()
                stats.timed_out += 1
                job = w.job or {}
                store({"job": job, "error": f"{job.get('file')}: timed out after "
                                            f"{time.monotonic() - w.since:.0f} s (the limit for this "
                                            f"call: {w.limit:.0f} s); not audited"})
                pool.append(_start(ctx, opts, threads, packs))
            if late:
                continue
            sent = [w for w in pool if w.sent]
            timeout = max(0.0, min(w.since + w.limit for w in sent) - time.monotonic()) + 0.05 \
                if sent else None
            for conn in wait([w.conn for w in pool], timeout):
                w = next(w for w in pool if w.conn is conn)
                try:
                    msg = conn.recv()
                except (EOFError, OSError):  # the worker is gone
                    pool.remove(w)
                    w.proc.join()
                    stats.worker_deaths += 1
                    how = _how(w.proc.exitcode)
                    job = w.job
                    if not w.ready:
                        load_deaths += 1
                        if load_deaths > workers:  # would respawn forever
                            raise AuditError(f"workers die while loading the model ({how}); every "
                                             "stored call is kept: run the batch again with fewer "
                                             "--workers or more memory") from None
                    if job and w.sent and job["sha256"] not in died:  # once more, alone
                        died[job["sha256"]] = how
                    elif job and w.sent:  # it killed a fresh worker alone: the call is the cause
                        first = died[job["sha256"]]
                        why = f"{how}, twice" if first == how else f"{first}, then {how}"
                        store({"job": job, "error": f"{job['file']}: worker died while auditing "
                                                    f"it ({why}); not audited"})
                        job = None
                    pool.append(_start(ctx, opts, threads, packs, job))  # a call not sent stays its own
                    continue
                if "ready" in msg:
                    w.ready, load_deaths = True, 0
                    continue
                if "decoded" in msg:  # its length is known: its own limit
                    w.limit = opts.time_limit(msg["decoded"])
                    continue
                w.job, w.sent, w.tasks = None, False, w.tasks + 1
                store(msg)
                if w.tasks >= MAX_TASKS:  # a fresh process now and then, as maxtasksperchild did
                    _send(w, None)
                    pool.remove(w)
                    w.proc.join()
                    pool.append(_start(ctx, opts, threads, packs))
    except BaseException:
        for w in pool:
            w.proc.terminate()  # Ctrl-C: stop the workers now; every stored call is whole
        raise
    finally:
        for w in pool:
            _send(w, None)
            w.proc.join()
            w.conn.close()


def _start(ctx: SpawnContext, opts: BatchOptions, threads: int,
           packs: dict[str, RulePack] | None, job: dict[str, Any] | None = None) -> _Worker:
    conn, child = ctx.Pipe()
    proc = ctx.Process(target=serve, args=(child, opts, threads, packs), daemon=True)
    proc.start()
    child.close()  # the worker holds the only other end: its death is an EOF here
    return _Worker(proc, conn, job)


def _dispatch(pool: list[_Worker], queue: deque[dict[str, Any]], died: dict[str, str],
              opts: BatchOptions, take: Callable[[dict[str, Any]], bool] = lambda job: True,
              ) -> None:
    """Send calls to the ready workers that have none. A call that killed a worker runs
    again alone, so that if it dies once more, it is the cause (the out-of-memory killer
    may pick another process than the one that took the memory). Each call sent starts its
    clock (the floor of its time limit until the worker says its length)."""
    retry = next((w for w in pool if w.job and w.job["sha256"] in died), None)
    if retry:
        if retry.ready and not any(w.sent for w in pool):
            retry.sent, retry.since, retry.limit = True, time.monotonic(), opts.time_limit(None)
            _send(retry, retry.job)
        return
    for w in pool:
        while w.ready and w.job is None and queue:
            job = queue.popleft()
            if not take(job):  # another run has it, or stored it meanwhile
                continue
            w.job, w.sent = job, True
            w.since, w.limit = time.monotonic(), opts.time_limit(None)
            _send(w, w.job)


def _send(w: _Worker, msg: dict[str, Any] | None) -> None:
    with contextlib.suppress(OSError):  # it has just died: its EOF comes next in the loop
        w.conn.send(msg)


def _how(code: int | None) -> str:
    return f"killed by signal {-code}" if code and code < 0 else f"exited with code {code}"


def _reviewed_refresher(conn: Any, opts: BatchOptions, packs: dict[str, RulePack] | None = None,
                        ) -> Callable[..., None]:
    """What re-auditing a reviewed call (--force) does after storing it: its reviewed score
    is computed again from the new findings and what people decided (kept by content hash),
    with the pack the call was judged with (`refresh(sha, pack)`: a key of `packs`)."""
    from callaudit.results import reviews
    from callaudit.rules.pack import load

    decided = set(reviews.reviewed_calls(conn))
    pack = load(opts.rules) if decided else None

    def refresh(sha: str, key: str | None = None) -> None:
        if pack is not None and sha in decided:
            reviews.refresh_reviewed(conn, sha, (packs or {}).get(key or "", pack))
    return refresh


def _as_stored(conn: Any, opts: BatchOptions, packs: dict[str, RulePack] | None = None,
               ) -> Callable[..., CallResult]:
    """A result as this database keeps it: masked when it stores masked transcripts, though
    the batch began on a plain one (`audit redact` ran meanwhile): never a mix. Masked with
    the pack the call was judged with (`apply(result, pack)`: a key of `packs`)."""
    pack: list[Any] = []

    def apply(r: CallResult, key: str | None = None) -> CallResult:
        if (r.privacy is not None and r.privacy.redacted) or not stored_redaction(conn):
            return r
        from callaudit.privacy.mask import redact_result
        from callaudit.rules.pack import load

        if packs and key in packs:
            return redact_result(r, packs[key])
        pack[:] = pack or [load(opts.rules)]
        return redact_result(r, pack[0])

    return apply


def _store(conn: Any, out: dict[str, Any], stats: BatchStats,
           on_progress: Callable[[BatchStats, dict[str, Any] | None], None] | None,
           refresh: Callable[..., None] | None = None,
           as_stored: Callable[..., CallResult] = lambda r, key=None: r) -> None:
    job = out["job"]
    if "worker" in out:
        stats.model_loads[out["worker"]["pid"]] = out["worker"]["loads"]
    meta = CallMeta(file=job["file"], sha256=job["sha256"], call_id=job["call_id"],
                    agent_id=job.get("agent_id"), day=job.get("day"),
                    started_at=job.get("started_at"), agent_channel=job.get("agent_channel", "auto"),
                    line=job.get("line"))
    if out.get("transient"):  # not the file's fault: nothing stored, a re-run audits it
        stats.errors += 1
    elif "error" in out:
        write_failure(conn, meta, out["error"])
        stats.errors += 1
    else:
        # a worker sends the result as its JSON (a process or a Dask node away)
        r = as_stored(CallResult.from_json(out["result"],
                                           [Region.from_json(g) for g in out["regions"]],
                                           out["acoustics"], check=False), job.get("pack"))
        write_result(conn, meta, r)
        if refresh:
            refresh(meta.sha256, job.get("pack"))
        stats.done += 1
        stats.audio_s += r.duration_s
        if r.outcome == "no_speech":  # not a call: neither passed nor failed
            stats.no_speech += 1
        elif r.outcome == "not_connected":
            stats.not_connected += 1
        elif r.passed:
            stats.passed += 1
        else:
            stats.failed_audit += 1
    if on_progress:
        on_progress(stats, out)
