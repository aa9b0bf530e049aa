"""The nightly batch: a folder (or a manifest) of recordings into the results database.

Worker processes each load the model once and audit one call per task; the parent alone
writes the database, one transaction per call, as results arrive. So a batch killed at any
moment (Ctrl-C, kill -9, power loss) keeps every finished call, and the same command run
again audits only what is missing. A file that cannot be audited is stored as a failure
with its reason and the batch goes on.
"""

from __future__ import annotations

import csv
import hashlib
import multiprocessing as mp
import os
import re
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import AuditError, first_line
from .store import CallMeta, connect, known, write_failure, write_result

AUDIO_SUFFIXES = {".wav", ".mp3", ".m4a", ".aac", ".flac", ".ogg", ".opus", ".amr", ".wma",
                  ".mp4", ".webm"}


@dataclass
class BatchOptions:
    db: str
    workers: int = 0  # 0 = chosen for the machine
    threads: int = 0  # CTranslate2 threads per worker; 0 = cores // workers
    model_dir: str | None = None
    rules: str | None = None
    pattern: str | None = None  # filename pattern, e.g. "{date}_{agent_id}_{call_id}"
    force: bool = False
    retry_failed: bool = False
    max_duration_s: float = 4 * 3600
    beam_size: int = 5
    full_windows: bool = False  # pad every window to 30 s (faster-whisper's way; for the bench)
    limit: int | None = None
    cluster: str | None = None  # "local:N" or a Dask scheduler address (see cluster.py)
    separate: bool = True  # mono calls: speaker separation (diarize.py)


@dataclass
class BatchStats:
    total: int = 0
    skipped: int = 0
    done: int = 0
    passed: int = 0
    failed_audit: int = 0
    errors: int = 0
    audio_s: float = 0.0
    started: float = field(default_factory=time.perf_counter)
    model_loads: dict[int, int] = field(default_factory=dict)  # worker pid -> models it loaded
    dashboard: str | None = None  # the Dask dashboard's address, on a cluster

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    @property
    def speed(self) -> float:
        """Seconds of audio audited per second of wall time (x real time)."""
        return self.audio_s / self.elapsed if self.elapsed > 0 else 0.0


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


# --- finding the calls -----------------------------------------------------------------------
def file_sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def pattern_regex(pattern: str) -> re.Pattern[str]:
    """'{date}_{agent_id}_{call_id}' -> a regex over the file name without its suffix."""
    parts = re.split(r"\{(\w+)\}", pattern)
    rx = "".join(re.escape(p) if i % 2 == 0 else f"(?P<{p}>.+?)" for i, p in enumerate(parts))
    return re.compile(f"^{rx}$")


def _day(value: str | None) -> str | None:
    if not value:
        return None
    m = re.match(r"(\d{4})-?(\d{2})-?(\d{2})", value)
    return f"{m.group(1)}-{m.group(2)}-{m.group(3)}" if m else None


def discover(source: str, pattern: str | None = None) -> list[dict[str, Any]]:
    """Jobs from a folder (recursive) or a CSV manifest (column `path` required)."""
    src = Path(source)
    if not src.exists():
        raise AuditError(f"{source}: no such file or folder")
    if src.is_file() and src.suffix.lower() == ".csv":
        return _manifest(src)
    if src.is_file():
        files = [src]
    else:
        files = sorted(p for p in src.rglob("*") if p.is_file() and
                       p.suffix.lower() in AUDIO_SUFFIXES)
    rx = pattern_regex(pattern) if pattern else None
    jobs = []
    for p in files:
        fields: dict[str, str] = {}
        if rx:
            m = rx.match(p.stem)
            fields = m.groupdict() if m else {}
        jobs.append({
            "file": str(p), "call_id": fields.get("call_id") or p.stem,
            "agent_id": fields.get("agent_id"),
            "day": _day(fields.get("date")) or time.strftime("%Y-%m-%d",
                                                              time.localtime(p.stat().st_mtime)),
            "started_at": fields.get("date"), "agent_channel": "auto",
        })
    return jobs


def _manifest(path: Path) -> list[dict[str, Any]]:
    with path.open(newline="", encoding="utf-8-sig") as f:
        rows = list(csv.DictReader(f))
    if not rows or "path" not in rows[0]:
        raise AuditError(f"{path}: a manifest needs a header row with a `path` column")
    jobs = []
    for i, row in enumerate(rows, start=2):
        p = Path(row["path"])
        p = p if p.is_absolute() else path.parent / p
        channel = (row.get("agent_channel") or "auto").strip() or "auto"
        if channel not in ("auto", "left", "right"):
            raise AuditError(f"{path}: line {i}: agent_channel must be auto, left or right")
        jobs.append({
            "file": str(p), "call_id": row.get("call_id") or p.stem,
            "agent_id": row.get("agent_id") or None,
            "day": _day(row.get("started_at") or row.get("day")),
            "started_at": row.get("started_at") or None, "agent_channel": channel,
        })
    return jobs


# --- workers -----------------------------------------------------------------------------------
# One Auditor (model + rule pack) per worker process and batch, made once: by the pool's
# initializer here, by a Dask WorkerPlugin on a cluster, where a long-lived worker may serve
# batches with different rules: each batch's Auditor is kept under its own name.
# LOADS counts how often this process loaded the model.
_AUDITORS: dict[str, Any] = {}
_SETUP_ERRORS: dict[str, str] = {}
_LOCK = threading.Lock()  # a Dask worker may run tasks in several threads; an Auditor is one
LOADS = 0
KEEP_AUDITORS = 2  # a worker keeps the Auditors of the last two batches it served


def load_auditor(opts: BatchOptions, threads: int, pack: Any = None, name: str = "local") -> None:
    """Make this process's Auditor for batch `name`, unless it is already loaded."""
    global LOADS
    from .asr import AsrOptions
    from .pipeline import AuditOptions, Auditor

    if name in _AUDITORS:
        return
    try:
        auditor = Auditor(AuditOptions(model_dir=opts.model_dir, rules=opts.rules,
                                       asr=AsrOptions(beam_size=opts.beam_size, cpu_threads=threads,
                                                      full_windows=opts.full_windows),
                                       max_duration_s=opts.max_duration_s, separate=opts.separate),
                          pack=pack)
    except Exception as e:
        _SETUP_ERRORS[name] = first_line(e)
        raise
    while len(_AUDITORS) >= KEEP_AUDITORS:
        _AUDITORS.pop(next(iter(_AUDITORS)))
    _AUDITORS[name] = auditor
    LOADS += 1


def _init_worker(opts: BatchOptions, threads: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    load_auditor(opts, threads)


def audit_job(job: dict[str, Any]) -> dict[str, Any]:
    """Runs in a worker: one call -> its result (or its error), small enough to send back."""
    from .errors import AuditError

    worker = {"pid": os.getpid(), "loads": LOADS}
    name = job.get("auditor", "local")
    auditor = _AUDITORS.get(name)
    if auditor is None:  # this worker's setup failed (e.g. no model on a node that joined late)
        why = _SETUP_ERRORS.get(name, "not set up")
        return {"job": job, "worker": worker, "transient": True,
                "error": f"{job['file']}: not audited: worker {os.getpid()} has no auditor ({why}); "
                         "it is audited when the batch runs again"}
    try:
        with _LOCK:
            auditor.opts.agent_channel = job.get("agent_channel", "auto")
            r = auditor.audit(job["file"])
        regions = [{"channel": g.channel, "start": g.start, "end": g.end,
                    "level_dbfs": g.level_dbfs} for g in r.regions]
        return {"job": job, "result": r.to_json(), "regions": regions,
                "acoustics": r.acoustics, "worker": worker}
    except AuditError as e:
        return {"job": job, "error": str(e), "worker": worker}
    except Exception as e:  # noqa: BLE001 - one bad file must not stop the night's batch
        return {"job": job, "error": f"{job['file']}: internal error: {type(e).__name__}: {e}",
                "worker": worker}


# --- the batch ---------------------------------------------------------------------------------
def pending(jobs: list[dict[str, Any]], conn: Any, opts: BatchOptions,
            ) -> Iterator[dict[str, Any]]:
    """Jobs not yet stored (by content hash), hashed; unreadable files fail here already."""
    done = {} if opts.force else known(conn)
    seen: set[str] = set()
    for job in jobs:
        try:
            job["sha256"] = file_sha256(job["file"])
        except OSError as e:
            job["sha256"] = "unreadable:" + job["file"]
            job["error"] = f"{job['file']}: cannot read ({e.strerror or e})"
        status = done.get(job["sha256"])
        if job["sha256"] in seen or status == "ok" or (status == "failed" and not opts.retry_failed):
            continue
        seen.add(job["sha256"])
        yield job


def run(source: str, opts: BatchOptions,
        on_progress: Callable[[BatchStats, dict[str, Any] | None], None] | None = None,
        ) -> BatchStats:
    jobs = discover(source, opts.pattern)
    conn = connect(opts.db)
    todo = list(pending(jobs, conn, opts))
    if opts.limit is not None:
        todo = todo[: opts.limit]
    stats = BatchStats(total=len(todo), skipped=len(jobs) - len(todo))
    if on_progress:
        on_progress(stats, None)
    broken = [j for j in todo if "error" in j]
    for job in broken:
        _store(conn, {"job": job, "error": job["error"]}, stats, on_progress)
    todo = [j for j in todo if "error" not in j]
    if not todo:
        return stats
    if opts.cluster:
        from .cluster import run_on_cluster

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
    pool = ctx.Pool(workers, initializer=_init_worker, initargs=(opts, threads),
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
        if r["passed"]:
            stats.passed += 1
        else:
            stats.failed_audit += 1
    if on_progress:
        on_progress(stats, out)
