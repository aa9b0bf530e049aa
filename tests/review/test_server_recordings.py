"""The workbench and the recordings of the night (issue 34): audio found whatever folder
`audit serve` runs from, and the files that could not be audited shown to reviewers."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from callaudit.results import store
from callaudit.results.store import CallMeta, connect
from tests.helpers import SAMPLES, record_of, stored_result
from tests.helpers.review import DAY, W, app_of, client, sha, sql, with_db


def _store_relative(db: str, file: str, key: str) -> str:
    d = stored_result("mono_call")
    h = sha(key)
    meta = CallMeta(file=file, sha256=h, call_id=key, agent_id="A2", day=DAY)
    with_db(db, lambda c: store.write_result(c, meta, record_of(d)))
    return h


def _audio_served(db: str, h: str) -> None:
    rev = client(app_of(db), "rev1")
    page = rev.get(f"/calls/{h}").text
    assert f'src="/calls/{h}/audio"' in page
    r = rev.get(f"/calls/{h}/audio")
    assert r.status_code == 200 and r.mimetype == "audio/ogg" and r.data[:4] == b"OggS"


def test_a_relative_recording_path_is_stored_absolute(db: str, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    batch_dir, elsewhere = tmp_path / "night", tmp_path / "elsewhere"
    (batch_dir / "rec").mkdir(parents=True)
    elsewhere.mkdir()
    shutil.copy(SAMPLES / "mono_call.wav", batch_dir / "rec" / "r1.wav")
    monkeypatch.chdir(batch_dir)  # the batch ran here, given a relative path
    h = _store_relative(db, "rec/r1.wav", "r1")
    assert sql(db, "SELECT file FROM calls WHERE sha256 = ?", h) == [(str(batch_dir / "rec" / "r1.wav"),)]
    monkeypatch.chdir(elsewhere)  # serve runs from another folder
    _audio_served(db, h)


@pytest.mark.slow
def test_an_older_relative_path_resolves_beside_the_database(db: str, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "rec").mkdir()
    (tmp_path / "elsewhere").mkdir()
    shutil.copy(SAMPLES / "mono_call.wav", tmp_path / "rec" / "r2.wav")
    h = _store_relative(db, str(tmp_path / "rec" / "r2.wav"), "r2")
    # as a release before absolute paths stored it: relative to the database's folder
    conn = connect(db)
    with conn:
        conn.execute("UPDATE calls SET file = 'rec/r2.wav' WHERE sha256 = ?", (h,))
    conn.close()
    monkeypatch.chdir(tmp_path / "elsewhere")
    _audio_served(db, h)
    # and one relative to the folder serve runs in, when not beside the database
    (tmp_path / "elsewhere" / "cwd").mkdir()
    shutil.copy(SAMPLES / "mono_call.wav", tmp_path / "elsewhere" / "cwd" / "r2.wav")
    conn = connect(db)
    with conn:
        conn.execute("UPDATE calls SET file = 'cwd/r2.wav' WHERE sha256 = ?", (h,))
    conn.close()
    _audio_served(db, h)


# === failed recordings of the night ==============================================================
ERROR = "/rec/broken.wav: cannot decode (not an audio file)"


def _failed_section(html: str) -> str | None:
    m = re.search(r'<section id="failed".*?</section>', html, re.S)
    return m.group(0) if m else None


def test_failed_recordings_are_shown_to_reviewers_not_agents(db: str) -> None:
    with_db(db, lambda c: store.write_failure(
        c, CallMeta(file="/rec/broken.wav", sha256=sha("broken"), call_id="broken", agent_id="A2",
                    day=DAY), ERROR))
    app = app_of(db)
    for name in ("rev1", "super", "admin"):
        who = client(app, name)
        for url in ("/calls", f"/calls?day={DAY}"):
            section = _failed_section(who.get(url).text)
            assert section is not None, (name, url)
            assert W["failed_recordings"] in section
            assert "/rec/broken.wav" in section and "cannot decode (not an audio file)" in section
        # another day's list: not there
        assert _failed_section(who.get("/calls?day=2020-01-01").text) is None
    for name in ("agent2", "agent1"):
        page = client(app, name).get("/calls").text
        assert _failed_section(page) is None and "broken.wav" not in page, name
