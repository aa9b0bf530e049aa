"""What a batch is asked to do: its options, the calls found in a folder or a manifest, and
which of them are not yet in the database (by content hash)."""

from __future__ import annotations

import csv
import datetime
import hashlib
import io
import os
import re
import stat
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from callaudit.audio.decode import HEADED_SUFFIXES, RAW_SUFFIXES, parse_raw
from callaudit.errors import AuditError
from callaudit.results.store import known

# What a folder batch picks up: every recording decode() reads, the headerless kinds too
# (without --raw each is stored as failed with how to give its format, never skipped unseen).
AUDIO_SUFFIXES = HEADED_SUFFIXES | RAW_SUFFIXES


@dataclass
class BatchOptions:
    db: str
    workers: int = 0  # 0 = chosen for the machine
    threads: int = 0  # CTranslate2 threads per worker; 0 = cores // workers
    model_dir: str | None = None
    rules: str | None = None
    scorecards: str | None = None  # a pack per business line (batch/scorecards.py); not with rules
    pattern: str | None = None  # filename pattern, e.g. "{date}_{agent_id}_{call_id}"
    force: bool = False
    retry_failed: bool = False
    max_duration_s: float = 4 * 3600
    beam_size: int = 5
    full_windows: bool = False  # pad every window to 30 s (faster-whisper's way; for the bench)
    limit: int | None = None
    cluster: str | None = None  # "local:N" or a Dask scheduler address (see cluster.py)
    separate: bool = True  # mono calls: speaker separation (speech/diarize.py)
    mono_words: str = "turns"  # a two-speaker mono call: turns, regions, words (AuditOptions)
    lang: str = "zh"  # language of the stored messages and details (strings.py)
    max_missing_s: float | None = None  # truncated by more than this: stored as failed
    raw: str | None = None  # headerless files' format, "ulaw:8000" (a manifest row's `raw` wins)
    # store masked transcripts; None: the database's own setting (a new database masks)
    redact: bool | None = None
    # a call's wall-clock limit (local pool): the floor, in s, until its length is known, then
    # `time_limit_per_audio` s per s of recording when that is more (a call is audited at
    # about 20x real time on 2 cores: 0.5 leaves ten times that); over it: stored as failed
    time_limit_s: float = 300.0
    time_limit_per_audio: float = 0.5

    def time_limit(self, duration_s: float | None) -> float:
        """The wall-clock seconds a call of `duration_s` (None: not yet decoded) may take."""
        if duration_s is None:
            return self.time_limit_s
        return max(self.time_limit_s, self.time_limit_per_audio * duration_s)

    def __post_init__(self) -> None:
        if self.rules and self.scorecards:
            raise AuditError("--rules and --scorecards: give one (a scorecard names each "
                             "business line's pack)")
        if self.raw:  # one line now, not one failed call per file
            try:
                parse_raw(self.raw)
            except ValueError as e:
                raise AuditError(f"--raw '{self.raw}': {e}") from None


@dataclass
class BatchStats:
    total: int = 0
    skipped: int = 0  # already in the database
    duplicates: int = 0  # copies (same content) of a file earlier in this batch
    unreadable: list[str] = field(default_factory=list)  # paths discovery could not enter
    unmatched: list[str] = field(default_factory=list)  # names that do not fit --pattern
    done: int = 0
    passed: int = 0
    failed_audit: int = 0
    no_speech: int = 0  # recordings in which nobody was heard (stored as status no_speech)
    not_connected: int = 0  # calls that never reached a person (status not_connected)
    errors: int = 0
    audio_s: float = 0.0
    started: float = field(default_factory=time.perf_counter)
    model_loads: dict[int, int] = field(default_factory=dict)  # worker pid -> models it loaded
    worker_deaths: int = 0  # local-pool workers that died (killed, e.g. out of memory)
    timed_out: int = 0  # calls stopped at their time limit (stored as failed)
    # calls another run on the same database was auditing (results/claims.py): left to it
    left_to_other: int = 0
    dashboard: str | None = None  # the Dask dashboard's address, on a cluster

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    @property
    def speed(self) -> float:
        """Seconds of audio audited per second of wall time (x real time)."""
        return self.audio_s / self.elapsed if self.elapsed > 0 else 0.0


def not_regular(path: str) -> str:
    """Why `path` is not a recording to open ("" when it is a regular file): a FIFO, a
    device (/dev/zero), a socket or a folder would block or never end a read. Told from
    stat (a link is followed), never by opening it. OSError when it cannot be stat'ed."""
    mode = os.stat(path).st_mode
    if stat.S_ISREG(mode):
        return ""
    kind = ("a FIFO (named pipe)" if stat.S_ISFIFO(mode) else
            "a character device" if stat.S_ISCHR(mode) else
            "a block device" if stat.S_ISBLK(mode) else
            "a socket" if stat.S_ISSOCK(mode) else
            "a folder" if stat.S_ISDIR(mode) else "not a regular file")
    return f"{kind}, not a recording: skipped"


def file_sha256(path: str) -> str:
    """The content hash of the regular file `path` (OSError when it cannot be read; callers
    check `not_regular` first: a FIFO would block here)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


# What a field of a file name pattern may match: a date is a date (so that "dead_late_x"
# is not filed under agent "late" on day "dead"); other fields are anything but a separator
# of the pattern's own.
_DATE = r"\d{4}-?\d{2}-?\d{2}(?:[-_T .]?\d{2}[:.-]?\d{2}(?:[:.-]?\d{2})?)?"
PATTERN_FIELDS = ("date", "agent_id", "call_id")  # and {_anything}: a part to skip


def pattern_regex(pattern: str, extra: tuple[str, ...] = ()) -> re.Pattern[str]:
    """'{date}_{agent_id}_{call_id}' -> a regex over the file name without its suffix.
    `{date}` matches YYYYMMDD or YYYY-MM-DD (optionally with a time); another field matches
    characters up to the text that follows it in the pattern (the last field: the rest); a
    field named with a leading underscore ({_direction}) matches a part that is not kept;
    `extra` names more fields to keep (the business line's field, `{queue}`: scorecards.py).

    Raises AuditError (one line) for an unknown or repeated field, or two fields with no
    text between them (where one ends would be a guess)."""
    parts = re.split(r"\{([^{}]*)\}", pattern)
    kept = PATTERN_FIELDS + tuple(f for f in extra if f.isidentifier() and f not in PATTERN_FIELDS)
    rx, seen = "", set()
    for i, p in enumerate(parts):
        if i % 2 == 0:
            rx += re.escape(p)
            continue
        if p not in kept and not re.fullmatch(r"_\w*", p):
            raise AuditError(f"--pattern {pattern!r}: unknown field {{{p}}} (fields: "
                             f"{', '.join('{' + f + '}' for f in kept)}, or {{_name}} "
                             "for a part to skip)")
        if p in seen and p != "_":
            raise AuditError(f"--pattern {pattern!r}: field {{{p}}} appears twice")
        seen.add(p)
        after = parts[i + 1][:1] if i + 1 < len(parts) else ""
        if i + 1 < len(parts) - 1 and not parts[i + 1]:
            raise AuditError(f"--pattern {pattern!r}: {{{p}}} and {{{parts[i + 2]}}} need text "
                             "between them (e.g. _), or where one ends is a guess")
        body = _DATE if p == "date" else f"[^{re.escape(after)}]+" if after else ".+"
        rx += f"(?P<{p}>{body})" if p in kept else f"(?:{body})"
    return re.compile(f"^{rx}$")


def name_fields(rx: re.Pattern[str], stem: str) -> dict[str, str] | None:
    """The pattern's fields in a file name, or None when the name does not fit the pattern
    (including a {date} that is no calendar date)."""
    m = rx.match(stem)
    if not m:
        return None
    fields = m.groupdict()
    if fields.get("date") and _day(fields["date"]) is None:
        return None
    return fields


def _day(value: str | None) -> str | None:
    """YYYY-MM-DD of a date at the start of `value`; None when there is no real date."""
    if not value:
        return None
    m = re.match(r"(\d{4})-?(\d{2})-?(\d{2})", value)
    if not m:
        return None
    try:
        return datetime.date(int(m.group(1)), int(m.group(2)), int(m.group(3))).isoformat()
    except ValueError:  # 2026-13-45
        return None


@dataclass
class Found:
    """What discovery found: the jobs, the paths it could not enter or read (their calls are
    not audited: the night is incomplete), and the names that did not fit --pattern (audited,
    stored without the pattern's fields)."""

    jobs: list[dict[str, Any]]
    unreadable: list[str] = field(default_factory=list)  # "path: reason"
    unmatched: list[str] = field(default_factory=list)


def discover(source: str, pattern: str | None = None, line_by: str | None = None) -> Found:
    """Jobs from a folder (recursive) or a CSV manifest (column `path` required).

    `line_by`: the manifest column or --pattern field that names each call's business line
    (scorecards.py): every job gets `line`, that value (None where it is empty or the name
    does not fit the pattern). AuditError when the manifest has no such column or the
    pattern no such field.

    Raises AuditError when `source` itself cannot be read. A subfolder that cannot be
    entered is not skipped silently: it is in `Found.unreadable`."""
    src = Path(source)
    if not src.exists():
        raise AuditError(f"{source}: no such file or folder")
    if src.is_file() and src.suffix.lower() == ".csv":
        return _manifest(src, line_by)
    found = Found([])
    if src.is_file():
        files = [src]
    else:
        if not os.access(src, os.R_OK | os.X_OK):
            raise AuditError(f"{source}: cannot read this folder (permission denied)")
        files = sorted(_audio_files(src, found.unreadable))
    rx = pattern_regex(pattern, (line_by,) if line_by else ()) if pattern else None
    if line_by and (rx is None or line_by not in rx.groupindex):
        raise AuditError(f"{source}: the business line is the file name's {{{line_by}}} field, "
                         + (f"and --pattern {pattern!r} has none" if pattern else
                            f"and no --pattern gives it (e.g. '{{{line_by}}}_{{agent_id}}_{{call_id}}')"))
    for p in files:
        fields: dict[str, str] = {}
        if rx:
            fields = name_fields(rx, p.stem) or {}
            if not fields:
                found.unmatched.append(str(p))
        try:  # a link to nothing is still a call that was given: stored as failed later
            mtime = (p.stat() if p.exists() else p.lstat()).st_mtime
        except OSError as e:
            found.unreadable.append(f"{p}: {e.strerror or e}")
            continue
        found.jobs.append({
            "file": str(p), "call_id": fields.get("call_id") or p.stem,
            "agent_id": fields.get("agent_id"),
            "day": _day(fields.get("date")) or time.strftime("%Y-%m-%d", time.localtime(mtime)),
            "started_at": fields.get("date"), "agent_channel": "auto",
            **({"line": _value(fields.get(line_by))} if line_by else {}),
        })
    return found


def _audio_files(folder: Path, unreadable: list[str]) -> list[Path]:
    """Recordings under `folder` by suffix; every folder that cannot be entered is noted."""
    def failed(e: OSError) -> None:
        unreadable.append(f"{e.filename}: {e.strerror or e}")

    out = []
    seen = {os.path.realpath(folder)}
    # Linked folders (a day's folder on a NAS mount) are followed: skipping them would leave
    # their calls out without a word. A link back into the tree is followed once.
    for root, dirs, names in os.walk(folder, onerror=failed, followlinks=True):
        real = [os.path.realpath(os.path.join(root, d)) for d in dirs]
        dirs[:] = [d for d, r in zip(dirs, real, strict=True) if r not in seen]
        seen.update(real)
        out.extend(Path(root) / n for n in names if Path(n).suffix.lower() in AUDIO_SUFFIXES)
    return out


def _value(cell: str | None) -> str | None:
    return (cell or "").strip() or None


MANIFEST_ENCODINGS = ("utf-8-sig", "gb18030")  # a Windows PBX's export is often GBK


def _manifest_text(path: Path) -> str:
    """The manifest's text: UTF-8 (with or without a BOM), else GB18030 (GBK's superset);
    AuditError when it is neither."""
    data = path.read_bytes()
    for encoding in MANIFEST_ENCODINGS:
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise AuditError(f"{path}: the manifest is neither UTF-8 nor GBK text; save it as UTF-8 CSV")


def _manifest(path: Path, line_by: str | None = None) -> Found:
    """The jobs of a CSV manifest; a row that names no recording (no `path` cell, a row
    shorter than the header) is in `Found.unreadable` with its line number, and the other
    rows are audited."""
    rows = list(csv.DictReader(io.StringIO(_manifest_text(path), newline="")))
    if not rows or "path" not in rows[0]:
        raise AuditError(f"{path}: a manifest needs a header row with a `path` column")
    if line_by and line_by not in rows[0]:
        raise AuditError(f"{path}: no `{line_by}` column, which names each call's business line "
                         f"(columns: {', '.join(c for c in rows[0] if c)})")
    found = Found([])
    for i, row in enumerate(rows, start=2):
        cell = _value(row.get("path"))
        if cell is None:
            found.unreadable.append(f"{path}: line {i}: no recording named (the `path` cell is "
                                    "empty or the row is shorter than the header)")
            continue
        p = Path(cell)
        p = p if p.is_absolute() else path.parent / p
        channel = _value(row.get("agent_channel")) or "auto"
        if channel not in ("auto", "left", "right"):
            raise AuditError(f"{path}: line {i}: agent_channel must be auto, left or right")
        raw = _value(row.get("raw"))
        if raw:  # an empty cell: the batch's --raw
            try:
                parse_raw(raw)
            except ValueError as e:
                raise AuditError(f"{path}: line {i}: raw '{raw}': {e}") from None
        found.jobs.append({
            "file": str(p), "call_id": _value(row.get("call_id")) or p.stem,
            "agent_id": _value(row.get("agent_id")),
            "day": _day(_value(row.get("started_at")) or _value(row.get("day"))),
            "started_at": _value(row.get("started_at")), "agent_channel": channel, "raw": raw,
            **({"line": _value(row.get(line_by))} if line_by else {}),
        })
    return found


def pending(jobs: list[dict[str, Any]], conn: Any, opts: BatchOptions,
            stats: BatchStats | None = None) -> Iterator[dict[str, Any]]:
    """Jobs not yet stored (by content hash), hashed; unreadable files fail here already.
    What is left out is counted in `stats`: already stored, or a copy of a file earlier in
    this batch."""
    done = {} if opts.force else known(conn)
    seen: set[str] = set()
    stats = stats or BatchStats()
    for job in jobs:
        try:
            why = not_regular(job["file"])
            if why:
                job["sha256"] = "unreadable:" + job["file"]
                job["error"] = f"{job['file']}: {why}"
            else:
                job["sha256"] = file_sha256(job["file"])
        except OSError as e:
            job["sha256"] = "unreadable:" + job["file"]
            job["error"] = f"{job['file']}: cannot read ({e.strerror or e})"
        status = done.get(job["sha256"])
        if job["sha256"] in seen:
            stats.duplicates += 1
            continue
        if status in ("ok", "no_speech", "not_connected") or (status == "failed" and not opts.retry_failed):
            stats.skipped += 1
            continue
        seen.add(job["sha256"])
        job["raw"] = job.get("raw") or opts.raw  # the batch's --raw where the manifest gives none
        yield job


