"""Failure modes (docs/LIMITS.md, "Failure modes"): damaged input, a database that cannot be written,
a batch that cannot read all it was given, pages that cannot mix calls up. Each is one line
and an exit status of its own; nothing already stored is lost."""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from callaudit import cli
from callaudit.audio.decode import decode
from callaudit.errors import StorageError
from callaudit.results import store
from callaudit.results.store import CallMeta, connect, write_failure, write_result
from tests.helpers import ROOT, SAMPLES, record, remount_ro
from tests.helpers.results import ACOUSTICS, REGIONS, meta, result, written

AUDIT = [sys.executable, "-m", "callaudit.cli"]
DEMO = SAMPLES / "demo_call.wav"  # 62.87 s, 8 kHz stereo PCM, data chunk at byte 44


# --- damaged recordings ----------------------------------------------------------------------
def _with_data_size(tmp_path: Path, name: str, size: int, riff: int | None = None) -> Path:
    data = bytearray(DEMO.read_bytes())
    assert data[36:40] == b"data"
    data[40:44] = struct.pack("<I", size)
    if riff is not None:
        data[4:8] = struct.pack("<I", riff)
    p = tmp_path / name
    p.write_bytes(data)
    return p


def test_truncated_wav_is_audited_on_what_is_there_and_says_so(tmp_path: Path) -> None:
    whole = DEMO.read_bytes()
    cut = tmp_path / "cut.wav"
    cut.write_bytes(whole[: len(whole) // 5])  # a copy that stopped at one fifth
    a = decode(str(cut))
    assert a.duration == pytest.approx(62.87 / 5, abs=0.1)
    assert a.declared_s == pytest.approx(62.87, abs=0.01)
    assert a.missing_s == pytest.approx(62.87 * 4 / 5, abs=0.1)
    assert [w.key for w in a.warnings] == ["warn_truncated"]
    assert "62.9" in a.warnings[0].text("en") and "truncated" in a.warnings[0].text("en")
    assert decode(str(DEMO)).warnings == []  # a whole file: nothing to say


@pytest.mark.parametrize("size", [0, 0xFFFFFFFF])
def test_wav_without_a_length_is_read_to_its_end(tmp_path: Path, size: int) -> None:
    """Recorders still writing, or that crashed, leave the size fields unset."""
    a = decode(str(_with_data_size(tmp_path, "unset.wav", size, riff=size)))
    assert a.duration == pytest.approx(62.87, abs=0.01) and a.missing_s == 0
    assert [w.key for w in a.warnings] == ["warn_wav_size_unset"]


def test_wav_whose_header_is_short_of_its_data_is_read_whole(tmp_path: Path) -> None:
    # FFmpeg alone stops at the declared 3.1 s and would audit 5 % of the call
    a = decode(str(_with_data_size(tmp_path, "short.wav", 25000)))
    assert a.duration == pytest.approx(62.87, abs=0.01)
    assert [w.key for w in a.warnings] == ["warn_wav_size_short"]
    assert DEMO.read_bytes()[40:44] != b"\0\0\0\0"  # the original is never modified


def test_a_path_is_a_file_never_a_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shutil.copy(DEMO, tmp_path / "call-10:32:05.wav")
    monkeypatch.chdir(tmp_path)
    assert decode("call-10:32:05.wav").duration == pytest.approx(62.87, abs=0.01)


@pytest.mark.model
def test_truncated_call_refused_with_max_missing(tmp_path: Path) -> None:
    whole = DEMO.read_bytes()
    cut = tmp_path / "cut.wav"
    cut.write_bytes(whole[: len(whole) // 5])
    p = subprocess.run([*AUDIT, "check", str(cut), "--max-missing", "10"], capture_output=True,
                       text=True, cwd=ROOT, timeout=300)
    assert p.returncode == 2 and p.stdout == ""
    assert p.stderr.count("\n") == 1 and f"{cut}: truncated" in p.stderr


# --- the results database ---------------------------------------------------------------------
@pytest.mark.slow
def test_readers_need_no_write_access(tmpfs: Path, tmp_path: Path) -> None:
    """On a read-only medium summary, export and report read the database; writers refuse at
    once with one line (no 60 s wait, no traceback)."""
    db = written(tmpfs)
    remount_ro(tmpfs)
    for args in (["summary", "--db", str(db), "--format", "json"],
                 ["export", "--db", str(db), "--format", "csv", "--out", str(tmp_path / "x.csv")],
                 ["report", "--db", str(db), "-o", str(tmp_path / "d.html")]):
        p = subprocess.run([*AUDIT, *args], capture_output=True, text=True, cwd=ROOT, timeout=60)
        assert p.returncode == 0, (args, p.stderr)
    assert len(json.loads(subprocess.run([*AUDIT, "summary", "--db", str(db), "--format", "json"],
                                         capture_output=True, text=True, cwd=ROOT).stdout)) == 2
    for args in (["rescore", "--db", str(db)], ["batch", str(tmp_path), "--db", str(db)],
                 ["batch", str(tmp_path), "--db", str(tmpfs / "new.sqlite")]):
        p = subprocess.run([*AUDIT, *args], capture_output=True, text=True, cwd=ROOT, timeout=30)
        assert p.returncode == cli.EXIT_STORAGE, (args, p.stderr)
        assert "Traceback" not in p.stderr and "read-only file system" in p.stderr


def test_disk_full_keeps_every_stored_call(tmpfs: Path) -> None:
    db = tmpfs / "night.sqlite"
    conn = connect(db)
    big = result()
    big["utterances"] = big["utterances"] * 400  # ~50 KB a call: the 1 MB disk fills soon
    stored = 0
    with pytest.raises(StorageError, match="disk is full") as e:
        for i in range(1000):
            write_result(conn, meta(i), record(big, REGIONS, ACOUSTICS))
            stored += 1
    assert "\n" not in str(e.value) and str(db) in str(e.value)
    conn.close()
    check = sqlite3.connect(db)
    assert check.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert check.execute("SELECT count(*) FROM calls").fetchone()[0] == stored > 0


def _dangling(folder: Path, n: int) -> None:
    """Files a batch stores as failures without starting a worker: links to nothing."""
    folder.mkdir(exist_ok=True)
    for i in range(n):
        (folder / f"2026-11-22_A001_c{i}.wav").symlink_to(folder / f"missing{i}")


def test_batch_on_a_full_disk_is_one_line_and_its_own_status(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """SQLITE_FULL on the third call (simulated: this runs on any machine): exit 4, one line
    that says what was stored, and the stored calls intact."""
    _dangling(tmp_path / "night", 5)
    db = tmp_path / "r.sqlite"
    calls = []

    def failing(conn: sqlite3.Connection, m: CallMeta, error: str) -> None:
        calls.append(m.file)
        if len(calls) < 3:
            return write_failure(conn, m, error)
        with store.transaction(conn):
            raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr("callaudit.batch.pool.write_failure", failing)
    assert cli.main(["batch", str(tmp_path / "night"), "--db", str(db)]) == cli.EXIT_STORAGE
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1 and "database or disk is full" in lines[0]
    assert "2 calls of this run were stored" in lines[0] and "Traceback" not in err
    assert sqlite3.connect(db).execute("SELECT count(*) FROM calls").fetchone()[0] == 2


# --- what a batch is given --------------------------------------------------------------------
def test_batch_reports_folders_it_cannot_read(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    night = tmp_path / "night"
    _dangling(night, 1)
    _dangling(night / "locked", 2)
    real = os.scandir

    def scandir(path):  # type: ignore[no-untyped-def]
        if str(path).endswith("locked"):  # root ignores permissions: refuse here instead
            raise PermissionError(13, "Permission denied", str(path))
        return real(path)

    monkeypatch.setattr(os, "scandir", scandir)
    assert cli.main(["batch", str(night), "--db", str(tmp_path / "r.sqlite")]) == cli.EXIT_INCOMPLETE
    out = capsys.readouterr().out
    assert "could not be read: 1 paths" in out and f"{night / 'locked'}: Permission denied" in out


@pytest.mark.model
def test_batch_names_duplicates_and_names_off_pattern(tmp_path: Path) -> None:
    night = tmp_path / "night"
    night.mkdir()
    for i in range(5):  # five copies of one (unreadable) recording, named for no pattern
        (night / f"dead_late_x{i}.wav").write_bytes(b"not audio at all")
    db = tmp_path / "r.sqlite"
    p = subprocess.run([*AUDIT, "batch", str(night), "--db", str(db), "--workers", "1",
                        "--pattern", "{date}_{agent_id}_{call_id}"],
                       capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert p.returncode == cli.EXIT_FAIL, p.stderr
    assert "0 already in" in p.stdout and "4 duplicates of files in this batch" in p.stdout
    assert "5 file names do not fit --pattern" in p.stdout
    rows = sqlite3.connect(db).execute("SELECT agent_id, call_id, status FROM calls").fetchall()
    assert rows == [(None, "dead_late_x0", "failed")]  # not filed under agent "late"


# --- reports ----------------------------------------------------------------------------------
def test_dashboard_pages_are_one_per_stored_call(tmp_path: Path) -> None:
    """The same call id on two days: two pages, each showing its own call."""
    from callaudit.cli.results import write_dashboard

    db = tmp_path / "r.sqlite"
    conn = connect(db)
    fatal = result(35.0)
    fatal["fatal"], fatal["passed"] = True, False
    write_result(conn, CallMeta("/rec/a.wav", "h-monday", "C100", "A001", "2026-11-23"),
                 record(fatal, REGIONS, ACOUSTICS))
    write_result(conn, CallMeta("/rec/b.wav", "h-tuesday", "C100", "A001", "2026-11-24"),
                 record(result(100.0), REGIONS, ACOUSTICS))
    conn.close()
    out = tmp_path / "nightly.html"
    write_dashboard(str(db), str(out))
    pages = sorted((tmp_path / "nightly_calls").glob("*.html"))
    assert len(pages) == 2
    html = out.read_text("utf-8")
    for page in pages:
        assert f"nightly_calls/{page.name}" in html
    shown = {re.search(r'id="score">([\d.]+)<', p.read_text("utf-8")).group(1)  # type: ignore[union-attr]
             for p in pages}
    assert shown == {"35.0", "100.0"}


def test_result_with_an_unknown_role_is_one_line(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    r = result()
    r["utterances"][0]["role"] = "supervisor"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(r), encoding="utf-8")
    assert cli.main(["report", str(bad), "-o", str(tmp_path / "x.html")]) == cli.EXIT_ERROR
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "utterances/0/role: 'supervisor'" in err and str(bad) in err


@pytest.mark.model
def test_closed_stdout_costs_no_file(tmp_path: Path) -> None:
    """`audit check call.wav --json out.json | head`: the reader is gone before the verdict is
    printed; the JSON is whole and there is no traceback."""
    out = tmp_path / "out.json"
    proc = subprocess.Popen([*AUDIT, "check", str(DEMO), "--json", str(out)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # like `head` exiting before anything was printed
    err = proc.stderr.read().decode()
    code = proc.wait(timeout=300)
    assert "Traceback" not in err and "Exception ignored" not in err
    r = json.loads(out.read_text("utf-8"))
    assert r["schema"] == "audit.call/1"
    assert code == (cli.EXIT_PASS if r["passed"] else cli.EXIT_FAIL)  # the verdict, not an error


@pytest.mark.model
def test_batch_refuses_truncated_calls_with_max_missing(tmp_path: Path) -> None:
    night = tmp_path / "night"
    night.mkdir()
    whole = DEMO.read_bytes()
    (night / "cut.wav").write_bytes(whole[: len(whole) // 5])
    db = tmp_path / "r.sqlite"
    p = subprocess.run([*AUDIT, "batch", str(night), "--db", str(db), "--workers", "1",
                        "--max-missing", "5"], capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert p.returncode == cli.EXIT_FAIL, p.stderr
    status, error = sqlite3.connect(db).execute("SELECT status, error FROM calls").fetchone()
    assert status == "failed" and error.startswith(f"{night / 'cut.wav'}: truncated")


@pytest.mark.parametrize("flag", ["--html", "--json"])
def test_output_paths_are_checked_before_any_work(tmp_path: Path, flag: str,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """An output into a folder that does not exist is refused before the recording is even
    opened (here the recording does not exist either: the output is what is named)."""
    out = tmp_path / "no" / "such" / "page.html"
    assert cli.main(["check", str(tmp_path / "call.wav"), flag, str(out)]) == cli.EXIT_ERROR
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{tmp_path / 'no' / 'such'} does not exist" in err


@pytest.mark.parametrize("change", [
    {"utterances": None}, {"findings": [1]}, {"metrics": []}, {"score": "x"},
    {"utterances": [{"role": "agent", "text": "x"}]}])
def test_a_malformed_result_json_is_one_line(tmp_path: Path, change: dict,  # type: ignore[type-arg]
                                             capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({**result(), **change}), encoding="utf-8")
    assert cli.main(["report", str(bad), "-o", str(tmp_path / "x.html")]) == cli.EXIT_ERROR
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(bad) in err
