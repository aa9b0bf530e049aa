"""A Dask worker preload for the fault tests: a call whose file name contains "crashme" kills
the worker process auditing it (as a segfault in a decoder would). Tasks reach the worker as a
reference to callaudit.batch.worker.audit_job, so patching that name here is what the worker runs."""

import os

import callaudit.batch.worker

# Dask may import a preload twice in one process: wrap the real function, never the wrapper
_audit_job = getattr(callaudit.batch.worker, "_real_audit_job", callaudit.batch.worker.audit_job)
callaudit.batch.worker._real_audit_job = _audit_job  # type: ignore[attr-defined]


def _crashing(job: dict) -> dict:
    if "crashme" in job["file"]:
        os._exit(1)
    return _audit_job(job)


callaudit.batch.worker.audit_job = _crashing
