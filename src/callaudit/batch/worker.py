"""Runs in each worker process: one Auditor (model + rule pack) per process and batch, made
once, and one call audited per task into a small result that travels back to the driver."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

from callaudit.batch.jobs import BatchOptions
from callaudit.errors import AuditError, ScratchError, first_line

# One Auditor (model + rule pack) per worker process and batch, made once: by the pool's
# initializer here, by a Dask WorkerPlugin on a cluster, where a long-lived worker may serve
# batches with different rules: each batch's Auditor is kept under its own name.
# LOADS counts how often this process loaded the model.
_AUDITORS: dict[str, Any] = {}
# A batch with scorecards (scorecards.py): its Auditor judging with each line's pack, by the
# pack's fingerprint (the job's `pack`); one model for them all (Auditor.with_pack).
_PACK_AUDITORS: dict[str, dict[str, Any]] = {}
_SETUP_ERRORS: dict[str, str] = {}
_LOCK = threading.Lock()  # a Dask worker may run tasks in several threads; an Auditor is one
LOADS = 0
KEEP_AUDITORS = 2  # a worker keeps the Auditors of the last two batches it served


def load_auditor(opts: BatchOptions, threads: int, pack: Any = None, name: str = "local",
                 packs: dict[str, Any] | None = None) -> None:
    """Make this process's Auditor for batch `name`, unless it is already loaded; with
    `packs` (fingerprint -> RulePack, a batch with scorecards) one judging with each."""
    global LOADS
    from callaudit.pipeline import AuditOptions, Auditor
    from callaudit.speech.asr import AsrOptions

    if name in _AUDITORS:
        return
    try:
        auditor = Auditor(AuditOptions(model_dir=opts.model_dir, rules=opts.rules,
                                       asr=AsrOptions(beam_size=opts.beam_size, cpu_threads=threads,
                                                      full_windows=opts.full_windows),
                                       max_duration_s=opts.max_duration_s, separate=opts.separate,
                                       lang=opts.lang, max_missing_s=opts.max_missing_s,
                                       redact=bool(opts.redact),
                                       mono_words=opts.mono_words),  # type: ignore[arg-type]
                          pack=pack)
    except Exception as e:
        _SETUP_ERRORS[name] = first_line(e)
        raise
    while len(_AUDITORS) >= KEEP_AUDITORS:
        _PACK_AUDITORS.pop(old := next(iter(_AUDITORS)), None)
        _AUDITORS.pop(old)
    _AUDITORS[name] = auditor
    if packs:
        _PACK_AUDITORS[name] = {key: auditor.with_pack(p) for key, p in packs.items()}
    LOADS += 1


def init_worker(opts: BatchOptions, threads: int, packs: dict[str, Any] | None = None) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    load_auditor(opts, threads, packs=packs)


def serve(conn: Connection, opts: BatchOptions, threads: int,
          packs: dict[str, Any] | None = None) -> None:
    """A local-pool worker (pool.run): load the Auditor, say "ready", then audit each call the
    parent sends until it sends None or goes away. One call at a time, so the parent knows
    exactly which call was in flight when this process dies."""
    with contextlib.suppress(Exception):  # if it fails, audit_job answers each call with why
        init_worker(opts, threads, packs)
    conn.send({"ready": os.getpid()})
    with contextlib.suppress(EOFError, BrokenPipeError):  # the parent is gone (killed)
        while (job := conn.recv()) is not None:
            conn.send(audit_job(job, lambda s: conn.send({"decoded": s})))


def audit_job(job: dict[str, Any], on_decoded: Callable[[float], None] | None = None,
              ) -> dict[str, Any]:
    """Runs in a worker: one call -> its result (or its error), small enough to send back.
    `on_decoded(seconds)`: told the recording's length once it is decoded (the local pool's
    time limit for the call follows it). On a Dask worker, a job naming an `events` topic
    (cluster.py) reports there when it starts and its length once decoded, for the same limit."""
    # One call at a time per process (a Dask worker with several threads queues them here):
    # a call's clock starts when it holds the lock, so its wait is not counted against it
    with _LOCK:
        reporter = _TaskReporter.for_job(job)
        if reporter is not None:
            reporter.tell({"started": True})
            on_decoded = on_decoded or reporter.decoded
        return _audit_one(job, on_decoded)


def _audit_one(job: dict[str, Any], on_decoded: Callable[[float], None] | None,
               ) -> dict[str, Any]:
    # Test hook (tests/batch/test_batch.py): a worker auditing a file whose path contains
    # $CALLAUDIT_TEST_KILL kills itself with SIGKILL, as the kernel's out-of-memory killer would.
    kill = os.environ.get("CALLAUDIT_TEST_KILL")
    if kill and kill in job["file"]:
        os.kill(os.getpid(), signal.SIGKILL)
    # ... and one whose path contains $CALLAUDIT_TEST_STALL never finishes, as a decoder or
    # the model stuck on a recording would (the pool's time limit stops it)
    stall = os.environ.get("CALLAUDIT_TEST_STALL")
    if stall and stall in job["file"]:
        threading.Event().wait()
    worker = {"pid": os.getpid(), "loads": LOADS}
    name = job.get("auditor", "local")
    auditor = _AUDITORS.get(name)
    if auditor is not None and job.get("pack"):  # scorecards: the pack of the call's line
        auditor = _PACK_AUDITORS.get(name, {}).get(job["pack"])
    if auditor is None:  # this worker's setup failed (e.g. no model on a node that joined late)
        why = _SETUP_ERRORS.get(name) or ("not set up" if name not in _AUDITORS else
                                          f"none for rule pack {job.get('pack')}")
        return {"job": job, "worker": worker, "transient": True,
                "error": f"{job['file']}: not audited: worker {os.getpid()} has no auditor ({why}); "
                         "it is audited when the batch runs again"}
    try:
        r = auditor.audit(job["file"], raw=job.get("raw"),
                          agent_channel=job.get("agent_channel", "auto"), on_decoded=on_decoded)
        return {"job": job, "result": auditor.result_json(r), "regions": [g.to_json() for g in r.regions],
                "acoustics": r.acoustics, "worker": worker}
    except ScratchError as e:  # the worker's disk, not the file: audited on the next run
        return {"job": job, "worker": worker, "transient": True, "error": str(e)}
    except AuditError as e:
        return {"job": job, "error": str(e), "worker": worker}
    except Exception as e:  # noqa: BLE001 - one bad file must not stop the night's batch
        return {"job": job, "error": f"{job['file']}: internal error: {type(e).__name__}: {e}",
                "worker": worker}


class _TaskReporter:
    """On a Dask worker, when the driver asked for it (the job's `events` topic): messages
    about this task to the driver, with the task's key and this worker's address added."""

    def __init__(self, worker: Any, topic: str, key: Any) -> None:
        self.worker, self.topic, self.key = worker, topic, key

    @classmethod
    def for_job(cls, job: dict[str, Any]) -> _TaskReporter | None:
        """None in the local pool, or when the job asks for no reports."""
        topic = job.get("events")
        if not topic:
            return None
        try:
            from distributed import get_worker

            worker = get_worker()
            return cls(worker, topic, worker.get_current_task())
        except (ImportError, ValueError, KeyError):  # not in a Dask task after all
            return None

    def tell(self, msg: dict[str, Any]) -> None:
        # Worker.log_event is thread-safe and does not wait: it goes on the worker's stream to
        # the scheduler, which passes it on to the driver's subscription (cluster._drive)
        self.worker.log_event(self.topic, {"key": self.key, "worker": self.worker.address, **msg})

    def decoded(self, seconds: float) -> None:
        self.tell({"decoded": seconds})
