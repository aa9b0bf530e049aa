"""What a batch is asked to do: its options, the calls found in a folder or a manifest, and
which of them are not yet in the database (by content hash)."""

from __future__ import annotations

import csv
import hashlib
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from audit.errors import AuditError
from audit.results.store import known

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
    separate: bool = True  # mono calls: speaker separation (speech/diarize.py)
    lang: str = "zh"  # language of the stored messages and details (strings.py)


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


