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

A call that stalls (a decoder or the model stuck on a recording) has the local pool's time limit
(`--time-limit`, BatchOptions.time_limit): the floor until the worker has decoded it, then its
length's share. Its clock starts when its task starts on a worker, not when it is sent: tasks
wait in the scheduler's and the workers' queues. The task itself says so (worker.audit_job: an
event on a topic of this run, through the scheduler to the driver, as it says the recording's
length once decoded): the scheduler's own view cannot tell a running task from one queued on its
worker (`processing` holds both), and asking every worker over and over would cost a round trip
each. Past its limit, a call is checked to be still on that worker (`Client.processing`: one
whose worker died meanwhile is re-run and gets a fresh clock when it starts), stored as failed
("timed out after N s (the limit for this call: M s); not audited", as the local pool says),
counted in stats.timed_out, and its future cancelled; then its worker process is restarted by
its nanny (a thread stuck in C code cannot be stopped otherwise), which loads the model again.
Other calls on that worker are run again by Dask; one that Dask would count as having crashed
its workers because of our restarts (KilledWorker for a call the restarted worker held) is sent again
under a new key, up to MAX_RERUNS times: each call is stored once. A worker without a nanny
cannot be restarted: it is retired, and the cluster goes on without it.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import logging
import os
import queue
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from callaudit.batch.jobs import BatchOptions, BatchStats
from callaudit.batch.worker import audit_job, load_auditor
from callaudit.errors import AuditError, first_line

CONNECT_TIMEOUT_S = 5  # an address nobody answers on fails in seconds, not minutes of retries
TASKS_PER_THREAD = 2  # in flight: one running and one queued per worker thread keeps them busy
EXTRA_HINT = "--cluster needs Dask: pip install 'callaudit[cluster]'"
POLL_S = 0.1  # how often results and clocks are looked at when no worker reports (as_completed's)
RESTART_TIMEOUT_S = 120  # a restarted worker reloads the model: seconds, not minutes
MAX_RERUNS = 3  # a call our restarts took from its worker is sent again, this often at most

log = logging.getLogger(__name__)

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
        _drive(client, distributed, todo, store, name, opts, stats)
    except (OSError, distributed.TimeoutError) as e:
        raise AuditError(f"{opts.cluster}: lost the Dask scheduler ({type(e).__name__}: {e}); "
                         "every stored call is kept: run the batch again to resume") from None
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


@dataclass
class _Flight:
    """A call sent to the cluster and not yet stored."""

    job: dict[str, Any]  # as the database keeps it
    path: str  # the absolute path the worker reads
    since: float | None = None  # when its task began on a worker (time.monotonic), if it has
    worker: str | None = None  # where it runs
    limit: float = 0.0  # its wall-clock limit, s (BatchOptions.time_limit)
    reruns: int = 0  # times sent again after a restart of ours took its worker


def _drive(client: Any, distributed: Any, todo: list[dict[str, Any]], store: Store,
           name: str, opts: BatchOptions, stats: BatchStats) -> None:
    """Submit a bounded window of calls and store each result as it completes; stop a call
    past its time limit (`opts.time_limit`, counted in `stats.timed_out`): see the module's
    docstring. Raises OSError when the scheduler is lost."""
    jobs = iter(todo)
    futures: dict[Any, _Flight] = {}
    by_key: dict[Any, Any] = {}  # task key -> its future, for the workers' reports
    done = distributed.as_completed()
    # workers this batch restarted (their address) -> the other calls they held then: only
    # those are owed a re-run, not a call that crashes workers by itself
    restarted: dict[str, set[Any]] = {}
    # Each task tells when it starts and how long its recording is (worker.audit_job) on a
    # topic of this run: the scheduler passes the messages on, and they arrive here on the
    # client's own thread, so they are queued, stamped with the time of arrival.
    topic = f"callaudit-{name}-{uuid.uuid4().hex[:8]}"
    events: queue.SimpleQueue[tuple[float, dict[str, Any]]] = queue.SimpleQueue()
    client.subscribe_topic(topic, lambda event: events.put((time.monotonic(), event[1])))

    def submit(flight: _Flight) -> None:
        sent = {**flight.job, "file": flight.path, "auditor": name, "events": topic}
        key = f"audit-{name}-{flight.job['sha256']}" + (f"-{flight.reruns}" if flight.reruns else "")
        f = client.submit(audit_job, sent, key=key, pure=False)
        futures[f], by_key[f.key] = flight, f
        done.add(f)

    def refill() -> None:
        limit = TASKS_PER_THREAD * max(1, sum(client.nthreads().values()))
        while len(futures) < limit:
            job = next(jobs, None)
            if job is None:
                return
            # the worker reads the file at its absolute path; the database keeps the job as given
            submit(_Flight(job, os.path.abspath(job["file"]), limit=opts.time_limit(None)))

    def forget(f: Any) -> _Flight:
        by_key.pop(f.key, None)
        return futures.pop(f)

    def note(at: float, msg: dict[str, Any]) -> None:
        flight = futures.get(by_key.get(msg.get("key")))
        if flight is None:  # stored, stopped, or sent again under another key
            return
        if "started" in msg:  # (again, after a worker died: a fresh clock)
            flight.since, flight.worker = at, msg["worker"]
            flight.limit = opts.time_limit(None)
        elif "decoded" in msg:  # its length is known: its own limit
            flight.limit = opts.time_limit(msg["decoded"])

    def collect(f: Any) -> None:
        flight = futures[f]
        job, path = flight.job, flight.path
        try:
            out = f.result()
        except (distributed.client.FutureCancelledError, OSError) as e:
            # the scheduler is gone: nothing is stored for this call, a re-run resumes it
            raise OSError(f"{type(e).__name__}: {e}") from None
        except distributed.KilledWorker as e:
            if f.key in restarted.get(e.last_worker.address, ()) and flight.reruns < MAX_RERUNS:
                # our restart of a stuck worker took it (Dask counts that as a crash): again
                forget(f)
                f.release()
                flight.reruns += 1
                flight.since = flight.worker = None
                submit(flight)
                return
            out = {"error": f"{job['file']}: crashed every worker that audited it ({e})"}
        except Exception as e:  # noqa: BLE001 - a failed task is a failed call, not a failed night
            out = {"error": f"{job['file']}: internal error on the cluster: {type(e).__name__}: {e}"}
        forget(f)
        f.release()
        out["job"] = job
        if "result" in out:
            out["result"]["file"] = job["file"]
        elif out["error"].startswith(path):
            out["error"] = job["file"] + out["error"][len(path):]  # as the local pool says
        store(out)
        refill()

    def stop_late() -> bool:
        """Stop the calls past their limit; True if one was."""
        now = time.monotonic()
        late = [f for f, fl in futures.items() if fl.since is not None and now - fl.since > fl.limit]
        if not late:
            return False
        # confirm with the scheduler: a task whose worker died meanwhile is queued again and
        # gets a fresh clock when it starts, as the local pool's retried call does
        processing = client.processing()
        for f in late:
            flight = futures[f]
            if f.done():  # finished as its time ran out: its result is stored, not the stop
                continue
            if f.key not in processing.get(flight.worker, ()):
                flight.since = flight.worker = None
                continue
            forget(f)
            stats.timed_out += 1
            job = flight.job
            store({"job": job, "error": f"{job['file']}: timed out after {now - flight.since:.0f} s "
                                        f"(the limit for this call: {flight.limit:.0f} s); not audited"})
            # released first, so that the restart does not run it again elsewhere
            f.cancel()
            f.release()
            held = set(processing.get(flight.worker, ())) - {f.key}
            _restart(client, flight.worker, restarted, held)
            for other in futures.values():  # its other tasks start again, on a fresh clock
                if other.worker == flight.worker:
                    other.since = other.worker = None
            refill()
            # one stop a pass: the restart blocked, so results and clocks are read afresh
            # before the next (a call that finished meanwhile is not stopped on old news)
            return True
        return False

    try:
        refill()
        while futures:
            while True:
                try:
                    note(*events.get_nowait())
                except queue.Empty:
                    break
            ready = [f for f in done.next_batch(block=False) if f in futures]
            for f in ready:
                collect(f)
            if not stop_late() and not ready and futures:
                # nothing to do: wait for a report (or POLL_S, for results and clocks)
                with contextlib.suppress(queue.Empty):
                    note(*events.get(timeout=POLL_S))
    finally:
        with contextlib.suppress(Exception):  # the scheduler may be gone: nothing to undo then
            client.unsubscribe_topic(topic)


def _restart(client: Any, worker: str | None, restarted: dict[str, set[Any]],
             held: set[Any]) -> None:
    """Restart the worker process of a stalled call (a thread stuck in C code cannot be
    interrupted): its nanny starts a fresh one, which loads the Auditor again (AuditorPlugin).
    `held`: the keys of the other calls it held, noted in `restarted` as owed a re-run.
    A worker without a nanny cannot be restarted: it is closed, and its tasks run elsewhere;
    AuditError when no worker is left."""
    if worker is None:
        return
    restarted.setdefault(worker, set()).update(held)
    try:
        client.restart_workers([worker], timeout=RESTART_TIMEOUT_S, raise_for_error=False)
    except KeyError:  # the scheduler had removed it already (no heartbeat while it stalled)
        pass
    except ValueError:  # no nanny (`dask worker --no-nanny`): close it instead
        log.warning("%s: a call stalled there and it has no nanny to restart it: closing it", worker)
        with contextlib.suppress(KeyError):
            client.retire_workers([worker], close_workers=True)
        if not client.nthreads():
            raise AuditError("every Dask worker was closed after a call stalled on it (workers "
                             "without a nanny cannot be restarted); every stored call is kept: "
                             "start workers with a nanny and run the batch again") from None
