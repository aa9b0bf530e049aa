"""What a night's folder or manifest may hold besides recordings (issue 35): a FIFO or a
device never blocks the batch, a manifest in GBK or with a short row is read with its
problems named, line by line."""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path

import pytest

from callaudit.batch.jobs import BatchOptions, discover, not_regular, pending
from callaudit.errors import AuditError
from callaudit.results.store import connect
from tests.helpers import SAMPLES


def _pending(jobs: list[dict], db: Path) -> list[dict]:  # type: ignore[type-arg]
    """pending() run in a thread with a deadline: a FIFO that blocks fails the test instead
    of hanging it."""
    out: list[dict] = []  # type: ignore[type-arg]

    def run() -> None:
        conn = connect(db)
        out.extend(pending(jobs, conn, BatchOptions(db=str(db))))
        conn.close()

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(20)
    assert not t.is_alive(), "pending() blocked on a file that is not a recording"
    return out


def test_a_fifo_among_the_calls_is_skipped_with_its_reason(tmp_path: Path) -> None:
    night = tmp_path / "night"
    night.mkdir()
    shutil.copy(SAMPLES / "demo_call.wav", night / "good.wav")
    os.mkfifo(night / "x.wav")  # nobody ever writes to it: opening it to read would block
    jobs = discover(str(night)).jobs
    assert sorted(Path(j["file"]).name for j in jobs) == ["good.wav", "x.wav"]
    out = {Path(j["file"]).name: j for j in _pending(jobs, tmp_path / "db.sqlite")}
    assert "error" not in out["good.wav"] and len(out["good.wav"]["sha256"]) == 64
    assert "FIFO" in out["x.wav"]["error"] and "skipped" in out["x.wav"]["error"]
    assert str(night / "x.wav") in out["x.wav"]["error"]


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="no /dev/zero here")
def test_a_manifest_naming_a_device_does_not_run_forever(tmp_path: Path) -> None:
    m = tmp_path / "m.csv"
    m.write_text(f"path,call_id\n/dev/zero,z\n{SAMPLES / 'demo_call.wav'},d\n", "utf-8")
    out = {j["call_id"]: j for j in _pending(discover(str(m)).jobs, tmp_path / "db.sqlite")}
    assert "character device" in out["z"]["error"] and "error" not in out["d"]
    assert not_regular(str(SAMPLES / "demo_call.wav")) == ""
    assert "folder" in not_regular(str(tmp_path))


def test_a_gbk_manifest_is_read(tmp_path: Path) -> None:
    """A Windows PBX's export: GBK text with Chinese agent names and a queue column."""
    m = tmp_path / "m.csv"
    m.write_bytes(f"path,agent_id,call_id\n{SAMPLES / 'demo_call.wav'},张三,投诉001\n"
                  .encode("gbk"))
    (job,) = discover(str(m)).jobs
    assert (job["agent_id"], job["call_id"]) == ("张三", "投诉001")


def test_a_manifest_that_is_no_text_is_one_line(tmp_path: Path) -> None:
    m = tmp_path / "m.csv"
    m.write_bytes(b"path\n" + bytes(range(128, 256)) * 4)
    with pytest.raises(AuditError, match=r"m\.csv: the manifest is neither UTF-8 nor GBK"):
        discover(str(m))


def test_short_rows_and_empty_paths_are_named_not_audited(tmp_path: Path) -> None:
    m = tmp_path / "m.csv"
    good = SAMPLES / "demo_call.wav"
    m.write_text(f"agent_id,path,call_id\nA1,{good},c1\nA2\nA3,,c3\nA4,{good},c4\n", "utf-8")
    found = discover(str(m))
    assert [j["call_id"] for j in found.jobs] == ["c1", "c4"]
    assert [u.split(": ")[1] for u in found.unreadable] == ["line 3", "line 4"]
    assert all("no recording named" in u for u in found.unreadable)
    assert not any(Path(j["file"]).name == "." or j["file"] == "." for j in found.jobs)


def _children(pid: int) -> list[int]:
    """The processes whose parent is `pid` (from /proc)."""
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                fields = (d / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                out.append(int(d.name))
    return out


def _alive(pid: int) -> bool:
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.model
def test_sigterm_stops_the_workers_says_so_and_resumes(tmp_path: Path) -> None:
    """What systemd, Kubernetes and `timeout` send: the batch stops like Ctrl-C (no orphan
    worker left), says it in one line, and the same command goes on."""
    import signal
    import sqlite3
    import subprocess
    import sys
    import time

    from tests.helpers import ROOT
    from tests.helpers.audio_util import distinct_calls

    night = tmp_path / "night"
    night.mkdir()
    calls = distinct_calls(night, 8, 0)
    db = tmp_path / "r.sqlite"
    cmd = [sys.executable, "-m", "callaudit.cli", "batch", str(night), "--db", str(db),
           "--workers", "2"]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    workers: list[int] = []
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        workers = _children(proc.pid) or workers
        try:
            with sqlite3.connect(db) as c:
                if c.execute("SELECT COUNT(*) FROM calls").fetchone()[0] >= 1:
                    break
        except sqlite3.OperationalError:
            pass
        time.sleep(0.2)
    workers = _children(proc.pid) or workers
    assert proc.poll() is None and workers, "the batch ended before it could be stopped"
    proc.send_signal(signal.SIGTERM)  # the parent only, as `timeout` does
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert "stopped by SIGTERM" in err and "the same command again" in err
    time.sleep(1)
    assert not [w for w in workers if _alive(w)], "workers left running as orphans"
    again = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr
    with sqlite3.connect(db) as c:
        stored = [r[0] for r in c.execute("SELECT file FROM calls WHERE status = 'ok'")]
    assert sorted(stored) == sorted(str(p) for p in calls)  # each once


@pytest.mark.model
def test_a_call_that_never_finishes_is_stopped_at_its_time_limit(tmp_path: Path) -> None:
    """A recording on which a decoder or the model stalls: stopped at its wall-clock limit,
    stored as failed ("timed out"), its worker replaced, and the other calls audited."""
    import sqlite3
    import subprocess
    import sys

    from tests.helpers import ROOT
    from tests.helpers.audio_util import distinct_calls

    night = tmp_path / "night"
    night.mkdir()
    good = distinct_calls(night, 3, 0)
    stuck = night / "stuck_forever.wav"
    shutil.copy(SAMPLES / "ringback_call.wav", stuck)
    env = {**os.environ, "CALLAUDIT_TEST_STALL": "stuck_forever"}
    p = subprocess.run([sys.executable, "-m", "callaudit.cli", "batch", str(night), "--db",
                        str(tmp_path / "r.sqlite"), "--workers", "2", "--time-limit", "45"],
                       cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert p.returncode == 1, p.stderr  # some call could not be audited
    assert "took longer than their time limit" in p.stdout
    with sqlite3.connect(tmp_path / "r.sqlite") as c:
        rows = {Path(f).name: (s, e) for f, s, e in c.execute("SELECT file, status, error FROM calls")}
    assert rows["stuck_forever.wav"][0] == "failed"
    assert "timed out after" in rows["stuck_forever.wav"][1]
    assert all(rows[g.name][0] == "ok" for g in good)


def test_the_time_limit_follows_the_length_once_known() -> None:
    opts = BatchOptions(db="x", time_limit_s=300, time_limit_per_audio=0.5)
    assert opts.time_limit(None) == 300 and opts.time_limit(60) == 300
    assert opts.time_limit(3 * 3600) == 5400  # a three-hour recording: 1.5 h


def test_a_claim_of_a_live_run_is_left_and_a_dead_ones_taken(tmp_path: Path) -> None:
    from callaudit.results import claims

    conn = connect(tmp_path / "db.sqlite")
    mine, other = claims.owner(), claims.owner()
    assert claims.claim(conn, "h1", mine) is None
    assert claims.claim(conn, "h1", other) == mine  # this process is alive: left to it
    dead = f"{mine.split(':')[0]}:999999999:x"  # no such process on this machine
    conn.execute("UPDATE claims SET owner = ? WHERE sha256 = 'h1'", (dead,))
    assert claims.claim(conn, "h1", other) is None  # its owner is gone: taken over
    claims.release(conn, "h1", other)
    assert conn.execute("SELECT COUNT(*) FROM claims").fetchone()[0] == 0
    conn.close()


@pytest.mark.model
def test_two_runs_on_one_database_split_the_calls(tmp_path: Path) -> None:
    """A cron job overlapping a manual re-run: each call is audited once, and a run that
    left calls to the other says so."""
    import re
    import sqlite3
    import subprocess
    import sys

    from tests.helpers import ROOT
    from tests.helpers.audio_util import distinct_calls

    night = tmp_path / "night"
    night.mkdir()
    calls = distinct_calls(night, 8, 0)
    db = tmp_path / "r.sqlite"
    cmd = [sys.executable, "-m", "callaudit.cli", "batch", str(night), "--db", str(db),
           "--workers", "1"]
    runs = [subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True) for _ in range(2)]
    outs = [r.communicate(timeout=900) for r in runs]
    assert all(r.returncode == 0 for r in runs), [o[1][-500:] for o in outs]
    audited = [int(re.search(r"^(\d+) audited", o[0], re.M).group(1)) for o in outs]  # type: ignore[union-attr]
    assert sum(audited) == len(calls), outs  # not 16: no call twice
    assert any("left to it" in o[0] for o in outs) or 0 in audited
    with sqlite3.connect(db) as c:
        assert c.execute("SELECT COUNT(*) FROM calls WHERE status = 'ok'").fetchone()[0] == len(calls)
        assert c.execute("SELECT COUNT(*) FROM claims").fetchone()[0] == 0  # all given up
