"""The nightly batch: resumable after a real kill, failures as data, one writer, summaries."""

from __future__ import annotations

import csv
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from callaudit.audio.decode import decode
from callaudit.batch.jobs import discover, name_fields, pattern_regex
from callaudit.errors import AuditError
from tests.helpers import ROOT, SAMPLES
from tests.helpers.audio_util import distinct_calls, write_wav

AUDIT = [sys.executable, "-m", "callaudit.cli"]


def _calls(dst: Path, n: int, first: int = 0) -> list[Path]:
    return distinct_calls(dst, n, first)


def _broken(dst: Path) -> list[Path]:
    (dst / "sub").mkdir()
    (dst / "sub" / "2026-11-22_A001_notaudio.wav").write_text("not audio at all")
    (dst / "2026-11-22_A002_empty.mp3").write_bytes(b"")
    trunc = dst / "2026-11-22_A001_trunc.wav"
    data = (SAMPLES / "ringback_call.wav").read_bytes()
    trunc.write_bytes(data[:44])  # header only: no samples at all
    return [dst / "sub" / "2026-11-22_A001_notaudio.wav", dst / "2026-11-22_A002_empty.mp3", trunc]


def _rows(db: Path) -> list[sqlite3.Row]:
    conn = sqlite3.connect(db)
    conn.row_factory = sqlite3.Row
    rows = conn.execute("SELECT * FROM calls").fetchall()
    conn.close()
    return rows


def _batch(folder: Path, db: Path, *extra: str, **kw) -> subprocess.CompletedProcess:  # type: ignore[no-untyped-def]
    return subprocess.run([*AUDIT, "batch", str(folder), "--db", str(db),
                           "--pattern", "{date}_{agent_id}_{call_id}", *extra],
                          capture_output=True, text=True, cwd=ROOT, timeout=900, **kw)


def test_pattern_and_manifest(tmp_path: Path) -> None:
    m = pattern_regex("{date}_{agent_id}_{call_id}").match("20261122_A007_c42")
    assert m and m.groupdict() == {"date": "20261122", "agent_id": "A007", "call_id": "c42"}
    (tmp_path / "a b.wav").write_bytes(b"x")
    man = tmp_path / "calls.csv"
    with man.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["path", "call_id", "agent_id", "agent_channel", "started_at"])
        w.writerow(["a b.wav", "C1", "张三", "right", "2026-11-22 09:30:00"])
    jobs = discover(str(man)).jobs
    assert jobs[0]["file"] == str(tmp_path / "a b.wav") and jobs[0]["agent_id"] == "张三"
    assert jobs[0]["agent_channel"] == "right" and jobs[0]["day"] == "2026-11-22"
    found = discover(str(tmp_path), "{date}_{agent_id}_{call_id}")
    assert [j["call_id"] for j in found.jobs] == ["a b"]  # no match: the stem is the call id
    assert found.unmatched == [str(tmp_path / "a b.wav")]  # ... and it is reported


def test_pattern_fields_are_what_they_say() -> None:
    rx = pattern_regex("{date}_{agent_id}_{call_id}")
    assert name_fields(rx, "2026-11-22_A007_c_42") == {"date": "2026-11-22", "agent_id": "A007",
                                                        "call_id": "c_42"}
    assert name_fields(rx, "20261122T103205_A007_c42")["date"] == "20261122T103205"  # type: ignore[index]
    # names the pattern was not written for are not half-matched into agents "late", "x"
    for stem in ("dead_late_x", "20261345_A007_c42", "2026-11-22_A007", "notes"):
        assert name_fields(rx, stem) is None, stem
    for stem in ("20261122-093015_A007_c42", "2026-11-22 09.30.15_A007_c42", "20261122_093015_A007_c42"):
        assert name_fields(rx, stem)["agent_id"] == "A007", stem  # type: ignore[index]
    assert name_fields(pattern_regex("{_dir}-{agent_id}-{call_id}"), "in-A7-c9") == {
        "agent_id": "A7", "call_id": "c9"}
    for bad in ("{agent}_{call_id}", "{date}_{date}", "{agent_id}{call_id}", "{1a}"):
        with pytest.raises(AuditError, match="--pattern"):
            pattern_regex(bad)


def test_discovery_reports_what_it_cannot_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A subfolder the batch cannot enter is reported and counted, never skipped silently.
    (Permissions do not stop root, so the refusal is injected where os.walk lists a folder.)"""
    (tmp_path / "ok").mkdir()
    (tmp_path / "ok" / "a.wav").write_bytes(b"x")
    (tmp_path / "locked").mkdir()
    (tmp_path / "locked" / "b.wav").write_bytes(b"x")
    real = os.scandir

    def scandir(path):  # type: ignore[no-untyped-def]
        if str(path).endswith("locked"):
            raise PermissionError(13, "Permission denied", str(path))
        return real(path)

    monkeypatch.setattr(os, "scandir", scandir)
    found = discover(str(tmp_path))
    assert [Path(j["file"]).name for j in found.jobs] == ["a.wav"]
    assert found.unreadable == [f"{tmp_path / 'locked'}: Permission denied"]


def test_discovery_follows_linked_folders_once(tmp_path: Path) -> None:
    night, nas = tmp_path / "night", tmp_path / "nas"
    night.mkdir()
    nas.mkdir()
    (nas / "b.wav").write_bytes(b"x")
    (night / "a.wav").write_bytes(b"x")
    (night / "mount").symlink_to(nas)  # a day's folder on another disk
    (nas / "loop").symlink_to(night)  # and a link back: followed once, not forever
    names = sorted(Path(j["file"]).name for j in discover(str(night)).jobs)
    assert names == ["a.wav", "b.wav"]


@pytest.mark.model
def test_killed_batch_resumes_without_loss_or_duplicates(tmp_path: Path) -> None:
    folder = tmp_path / "night"
    folder.mkdir()
    good = _calls(folder, 6)
    broken = _broken(folder)
    db = tmp_path / "results.sqlite"
    proc = subprocess.Popen([*AUDIT, "batch", str(folder), "--db", str(db), "--workers", "2",
                             "--pattern", "{date}_{agent_id}_{call_id}"],
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.time() + 300
    while time.time() < deadline:  # wait until some, not all, calls are stored
        try:
            if sum(r["status"] == "ok" for r in _rows(db)) >= 2:
                break
        except sqlite3.OperationalError:  # not created yet
            pass
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)  # the whole batch, workers too, mid-run
    proc.wait()
    before = _rows(db)
    assert 2 <= sum(r["status"] == "ok" for r in before) < len(good)

    p = _batch(folder, db)
    # exit 1 exactly when this run met files it could not audit (some failed before the kill)
    assert p.returncode == (0 if " 0 could not be audited" in p.stdout else 1), p.stderr
    rows = _rows(db)
    ok = [r for r in rows if r["status"] == "ok"]
    assert sorted(r["file"] for r in ok) == sorted(str(g) for g in good)  # each exactly once
    assert len({r["sha256"] for r in rows}) == len(rows) == len(good) + len(broken)
    failed = {r["file"]: r["error"] for r in rows if r["status"] == "failed"}
    assert set(failed) == {str(b) for b in broken}
    assert all(e.startswith(f) for f, e in failed.items())  # the error names the file
    # calls stored before the kill were kept, not redone
    kept = {r["sha256"]: r["audited_at"] for r in before if r["status"] == "ok"}
    assert all(r["audited_at"] == kept[r["sha256"]] for r in ok if r["sha256"] in kept)
    assert {r["agent_id"] for r in ok} == {"A001", "A002"} and {r["day"] for r in ok} == {"2026-11-22"}

    # a third run has nothing to do
    p = _batch(folder, db)
    assert p.returncode == 0 and "0 audited" in p.stdout and len(_rows(db)) == len(rows)

    # the summary's numbers match the rows
    s = subprocess.run([*AUDIT, "summary", "--db", str(db), "--format", "json"],
                       capture_output=True, text=True, cwd=ROOT, check=True)
    agents = {a["agent"]: a for a in json.loads(s.stdout)}
    for agent in ("A001", "A002"):
        mine = [r for r in ok if r["agent_id"] == agent]
        assert agents[agent]["calls"] == len(mine)
        assert agents[agent]["avg_score"] == pytest.approx(np.mean([r["score"] for r in mine]),
                                                           abs=0.05)
        assert agents[agent]["pass_rate"] == pytest.approx(np.mean([r["passed"] for r in mine]),
                                                           abs=0.001)
    assert sum(a["unreadable_files"] for a in agents.values()) == len(broken)

    # changed content is audited again and replaces its row; --force redoes everything
    a = decode(str(good[0]))
    write_wav(good[0], [c * 0.5 for c in a.channels], 16000)
    p = _batch(folder, db)
    assert "1 audited" in p.stdout and len(_rows(db)) == len(rows)

    # exports of every format
    for fmt in ("csv", "jsonl", "xlsx"):
        out = tmp_path / f"calls.{fmt}"
        subprocess.run([*AUDIT, "export", "--db", str(db), "--format", fmt, "--out", str(out)],
                       check=True, cwd=ROOT, capture_output=True)
        assert out.stat().st_size > 100
    assert len((tmp_path / "calls.jsonl").read_text(encoding="utf-8").splitlines()) == len(rows)


@pytest.mark.model
def test_two_batches_share_one_database(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    _calls(a, 2)
    _calls(b, 4, first=2)  # content distinct from folder a's
    db = tmp_path / "shared.sqlite"
    procs = [subprocess.Popen([*AUDIT, "batch", str(f), "--db", str(db), "--workers", "1"],
                              cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for f in (a, b)]
    outs = [p.communicate(timeout=900) for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    assert not any("locked" in o[1] for o in outs)
    rows = _rows(db)
    assert all(r["status"] == "ok" for r in rows)
    assert sorted(Path(r["file"]).parent.name for r in rows) == ["a"] * 2 + ["b"] * 4


@pytest.mark.model
def test_rescore_reproduces_and_changes_verdicts(tmp_path: Path) -> None:
    folder = tmp_path / "calls"
    folder.mkdir()
    for name in ("demo_call", "bad_call"):
        (folder / f"{name}.wav").write_bytes((SAMPLES / f"{name}.wav").read_bytes())
    db = tmp_path / "r.sqlite"
    assert _batch(folder, db).returncode == 0
    before = {r["file"]: json.loads(r["result_json"]) for r in _rows(db)}
    subprocess.run([*AUDIT, "rescore", "--db", str(db)], check=True, cwd=ROOT, capture_output=True)
    after = {r["file"]: json.loads(r["result_json"]) for r in _rows(db)}
    for f, r in before.items():  # same pack: the very same verdict, rule by rule
        assert after[f]["score"] == r["score"] and after[f]["findings"] == r["findings"]
    strict = tmp_path / "strict.yaml"
    strict.write_text("version: strict\nsettings:\n  speech_rate_min_cpm: 100\n"
                      "  speech_rate_max_cpm: 150\n", encoding="utf-8")
    subprocess.run([*AUDIT, "rescore", "--db", str(db), "--rules", str(strict)], check=True,
                   cwd=ROOT, capture_output=True)
    demo = next(json.loads(r["result_json"]) for r in _rows(db) if "demo" in r["file"])
    rate = next(f for f in demo["findings"] if f["rule"] == "speech_rate")
    assert not rate["passed"] and demo["score"] == 95 and "strict" in demo["versions"]["rules"]


@pytest.mark.slow
def test_a_call_that_kills_its_worker_is_a_failure_row_not_a_hang(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No model needed: workers without one answer each call "not audited" (nothing stored),
    except the call whose worker is killed (the CALLAUDIT_TEST_KILL hook in worker.audit_job):
    run again alone on a fresh worker, killed again, stored as failed; the batch finishes."""
    from callaudit.batch.jobs import BatchOptions
    from callaudit.batch.pool import run

    folder = tmp_path / "night"
    folder.mkdir()
    for i in range(4):
        (folder / f"c{i}.wav").write_bytes(f"call {i}".encode())
    killer = folder / "c9_KILLME.wav"
    killer.write_bytes(b"killer")
    monkeypatch.setenv("CALLAUDIT_TEST_KILL", "KILLME")
    db = tmp_path / "r.sqlite"
    seen: list[dict] = []

    def hang(*_: object) -> None:
        raise TimeoutError("the batch hangs")

    old = signal.signal(signal.SIGALRM, hang)
    signal.alarm(120)
    try:
        stats = run(str(folder), BatchOptions(db=str(db), workers=2, model_dir=str(tmp_path / "none")),
                    lambda _s, out: seen.append(out) if out else None)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
    assert stats.worker_deaths == 2 and stats.errors == 5 and stats.done == 0
    # every other call was answered exactly once, by a live worker: none was blamed
    assert sorted(Path(o["job"]["file"]).name for o in seen if o.get("transient")) == \
        [f"c{i}.wav" for i in range(4)]
    rows = _rows(db)
    assert [(r["file"], r["status"]) for r in rows] == [(str(killer), "failed")]
    assert rows[0]["error"] == (f"{killer}: worker died while auditing it "
                                "(killed by signal 9, twice); not audited")


@pytest.mark.model
def test_a_killed_worker_does_not_hang_the_batch(tmp_path: Path) -> None:
    """A worker killed (kill -9, out of memory) while it audits a call: the batch notices, runs
    that call once more on a fresh worker, stores it as failed when it dies again, audits
    every other call exactly once, and finishes."""
    folder = tmp_path / "night"
    folder.mkdir()
    good = _calls(folder, 4)
    killer = folder / "2026-11-22_A001_KILLME.wav"
    _calls(tmp_path, 1, first=10)[0].rename(killer)  # content distinct from the others
    db = tmp_path / "results.sqlite"
    # _batch's timeout (900 s) makes a hang a failure instead of a blocked test run
    p = _batch(folder, db, "--workers", "2", env={**os.environ, "CALLAUDIT_TEST_KILL": "KILLME"})
    assert p.returncode == 1, p.stderr  # one call could not be audited
    rows = _rows(db)
    assert sorted(r["file"] for r in rows if r["status"] == "ok") == sorted(str(g) for g in good)
    assert len(rows) == len(good) + 1
    failed = [r for r in rows if r["status"] == "failed"]
    assert [r["file"] for r in failed] == [str(killer)]
    assert failed[0]["error"].startswith(f"{killer}: worker died while auditing it")
