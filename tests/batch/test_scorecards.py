"""Scorecards (batch/scorecards.py): a rule pack per business line. The file's validation and
the discovery of each call's line are fast; one batch per path (local pool, Dask) audits two
calls of two lines with the real model and checks each was judged with its own pack."""

from __future__ import annotations

import csv
import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from callaudit.batch.jobs import BatchOptions, discover
from callaudit.batch.scorecards import ScorecardError, load
from callaudit.errors import AuditError
from callaudit.rules.pack import load as load_pack
from tests.helpers import ROOT
from tests.helpers.audio_util import distinct_calls

AUDIT = [sys.executable, "-m", "callaudit.cli"]
# The sales line's pack: the agents of the sample call speak at about 197 characters a
# minute, inside the default norm (180-220) and over this one.
SALES = "version: sales\nsettings:\n  speech_rate_min_cpm: 100\n  speech_rate_max_cpm: 150\n"
COMPLAINTS = "version: complaints\n"


def _files(folder: Path, text: str, **packs: str) -> Path:
    for name, body in packs.items():
        (folder / name).write_text(body, encoding="utf-8")
    (folder / "scorecards.yaml").write_text(text, encoding="utf-8")
    return folder / "scorecards.yaml"


CARDS = ("by: queue\nlines:\n  sales_out: sales.yaml\n  complaints_in: packs/complaints.yaml\n"
         "  retention: sales.yaml\ndefault: {default}\n")


def test_scorecards_name_a_pack_per_line_loaded_once(tmp_path: Path) -> None:
    (tmp_path / "packs").mkdir()
    path = _files(tmp_path, CARDS.format(default="fail"), **{"sales.yaml": SALES,
                                                             "packs/complaints.yaml": COMPLAINTS})
    cards = load(str(path))
    sales = load_pack(str(tmp_path / "sales.yaml")).fingerprint()
    complaints = load_pack(str(tmp_path / "packs" / "complaints.yaml")).fingerprint()
    assert cards.by == "queue"
    assert cards.lines == {"sales_out": sales, "complaints_in": complaints, "retention": sales}
    assert set(cards.packs) == {sales, complaints}  # sales.yaml named twice, loaded once
    jobs = [{"file": "a.wav", "line": "sales_out"}, {"file": "b.wav", "line": "walk_in"},
            {"file": "c.wav", "line": None}]
    cards.assign(jobs)
    assert jobs[0]["pack"] == sales and "error" not in jobs[0]
    assert jobs[1]["error"] == (f"b.wav: business line 'walk_in' is not one of {path}'s lines "
                                "and its default is `fail`; not audited")
    assert jobs[2]["error"].startswith("c.wav: no business line (`queue` is empty or missing)")
    # the default: the built-in pack unless told (`default`), or a pack file
    built_in = load_pack(None).fingerprint()
    for default, want in (("default", built_in), ("packs/complaints.yaml", complaints)):
        cards = load(str(_files(tmp_path, CARDS.format(default=default))))
        assert cards.pack_of("walk_in") == cards.pack_of(None) == want
        assert cards.packs[want].fingerprint() == want
    assert load(str(_files(tmp_path, "by: queue\nlines: {a: sales.yaml}\n"))).pack_of(None) == built_in


@pytest.mark.parametrize(("text", "errors"), [
    ("by: queue\nline:\n  sales_out: sales.yaml\n",
     ["line 1: lines: missing (business line: rule pack file, one a line)",
      "line 2: unknown key 'line' (did you mean 'lines'?)"]),
    ("by: queue\nlines:\n  sales_out: sales.yaml\n  complaints_in: nosuch.yaml\n",
     ["line 4: lines: complaints_in: rule pack nosuch.yaml not found (looked for {dir}/nosuch.yaml)"]),
    ("by: queue\nlines:\n  sales_out: sales.yaml\ndefault: defualt\n",
     ["line 4: default: 'defualt' is not `default`, `fail` or a rule pack file "
      "(did you mean 'default'?)"]),
    ("by: queue\nlines:\n  sales_out: sales.yaml\ndefault: nobody\n",
     ["line 4: default: 'nobody' is not `default`, `fail` or a rule pack file "
      "(values: default, fail)"]),
    ("by: [queue]\nlines:\n  a: sales.yaml\n  a: sales.yaml\nscore: 1\n",
     ["line 1: by: expected a name or a file, not a list or mapping",
      "line 4: lines: a: given twice (first on line 3)",
      "line 5: unknown key 'score' (keys: by, lines, default)"]),
    ("- by\n", ["line 1: a scorecards file is a mapping (by:, lines:, default:)"]),
    ("by: queue\nlines: [\n", None),  # not YAML: said with its line
])
def test_scorecard_errors_name_the_file_the_line_and_the_field(
        tmp_path: Path, text: str, errors: list[str] | None) -> None:
    path = _files(tmp_path, text, **{"sales.yaml": SALES})
    with pytest.raises(ScorecardError) as e:
        load(str(path))
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith(f"{path}: line ")
    if errors is None:
        assert "not valid YAML" in msg
        return
    assert e.value.errors == [x.format(dir=tmp_path) for x in errors]
    assert msg == f"{path}: " + "; ".join(x.format(dir=tmp_path) for x in errors)


def test_a_bad_pack_is_said_with_the_line_that_names_it(tmp_path: Path) -> None:
    path = _files(tmp_path, "by: queue\nlines:\n  sales_out: bad.yaml\n",
                  **{"bad.yaml": "version: x\nsettings:\n  speech_rate_maxx: 3\n"})
    with pytest.raises(ScorecardError) as e:
        load(str(path))
    assert str(e.value).startswith(f"{path}: line 3: lines: sales_out: {tmp_path / 'bad.yaml'}: ")
    assert "speech_rate_maxx" in str(e.value) and "\n" not in str(e.value)


def test_scorecards_file_missing_and_rules_with_scorecards(tmp_path: Path) -> None:
    with pytest.raises(ScorecardError, match="nosuch.yaml: file not found"):
        load(str(tmp_path / "nosuch.yaml"))
    with pytest.raises(AuditError, match="--rules and --scorecards"):
        BatchOptions(db="x", rules="a.yaml", scorecards="b.yaml")
    r = subprocess.run([*AUDIT, "batch", str(tmp_path), "--db", str(tmp_path / "x.sqlite"),
                        "--rules", "a.yaml", "--scorecards", "b.yaml"],
                       capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 2 and "not allowed with argument" in r.stderr


def test_the_line_of_a_call_is_a_manifest_column_or_a_pattern_field(tmp_path: Path) -> None:
    for name in ("in-A7-c1.wav", "out-A8-c2.wav", "odd.wav"):
        (tmp_path / name).write_bytes(b"x")
    found = discover(str(tmp_path), "{queue}-{agent_id}-{call_id}", "queue")
    assert {Path(j["file"]).name: (j["line"], j["agent_id"]) for j in found.jobs} == {
        "in-A7-c1.wav": ("in", "A7"), "out-A8-c2.wav": ("out", "A8"), "odd.wav": (None, None)}
    assert "queue" not in discover(str(tmp_path), "{_q}-{agent_id}-{call_id}").jobs[0]
    with pytest.raises(AuditError, match=r"--pattern '\{agent_id\}-\{call_id\}' has none"):
        discover(str(tmp_path), "{agent_id}-{call_id}", "queue")
    with pytest.raises(AuditError, match="no --pattern gives it"):
        discover(str(tmp_path), None, "queue")
    with pytest.raises(AuditError, match=r"unknown field \{queue\}"):  # only the scorecards' field
        discover(str(tmp_path), "{queue}-{agent_id}-{call_id}")
    man = tmp_path / "calls.csv"
    man.write_text("path,call_id,队列\nin-A7-c1.wav,c1, 投诉 \nout-A8-c2.wav,c2,\n", encoding="utf-8")
    assert [j["line"] for j in discover(str(man), None, "队列").jobs] == ["投诉", None]
    with pytest.raises(AuditError, match=r"calls.csv: no `queue` column.*\(columns: path, call_id, 队列\)"):
        discover(str(man), None, "queue")


def _rows(db: Path) -> dict[str, sqlite3.Row]:
    conn = sqlite3.connect(db)
    conn.row_factory = sqlite3.Row
    rows = {r["call_id"]: r for r in conn.execute("SELECT * FROM calls")}
    conn.close()
    return rows


@pytest.mark.model
@pytest.mark.parametrize("how", [["--workers", "1"], ["--cluster", "local:1"]])
def test_each_business_line_is_judged_with_its_own_pack(tmp_path: Path, how: list[str]) -> None:
    if "--cluster" in how:
        pytest.importorskip("distributed")
    calls = distinct_calls(tmp_path, 3)  # the silent-call sample at three gains: three calls
    path = _files(tmp_path, "by: queue\nlines:\n  sales_out: sales.yaml\n"
                  "  complaints_in: complaints.yaml\ndefault: fail\n",
                  **{"sales.yaml": SALES, "complaints.yaml": COMPLAINTS})
    man = tmp_path / "night.csv"
    with man.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["path", "call_id", "agent_id", "queue"])
        for c, (call, line) in zip(calls, [("s1", "sales_out"), ("c1", "complaints_in"),
                                           ("w1", "walk_in")], strict=True):
            w.writerow([c.name, call, "A001", line])
    db = tmp_path / "night.sqlite"
    r = subprocess.run([*AUDIT, "batch", str(man), "--db", str(db), "--scorecards", str(path),
                        *how], capture_output=True, text=True, cwd=ROOT, timeout=900)
    assert r.returncode == 1, r.stderr  # the call of no listed line could not be audited
    rows = _rows(db)
    sales = load_pack(str(tmp_path / "sales.yaml")).fingerprint()
    complaints = load_pack(str(tmp_path / "complaints.yaml")).fingerprint()
    verdict = {}
    for call, line, pack in (("s1", "sales_out", sales), ("c1", "complaints_in", complaints)):
        row = rows[call]
        result = json.loads(row["result_json"])
        assert (row["status"], row["line"]) == ("ok", line)
        assert row["rules_version"] == result["versions"]["rules"] == pack
        assert result["judged_with"]["rules"] == pack
        assert result["judged_with"]["settings"]["speech_rate_max_cpm"] == (
            150 if line == "sales_out" else 220)
        verdict[line] = next(f for f in result["findings"] if f["rule"] == "speech_rate")
    assert not verdict["sales_out"]["passed"] and verdict["sales_out"]["deduction"] > 0
    assert verdict["complaints_in"]["passed"]  # the same speech, another line's norm
    assert rows["s1"]["score"] < rows["c1"]["score"]
    assert (rows["w1"]["status"], rows["w1"]["line"]) == ("failed", "walk_in")
    assert "business line 'walk_in' is not one of" in rows["w1"]["error"]
    # summaries, exports and the nightly dashboard show each line
    out = subprocess.run([*AUDIT, "summary", "--db", str(db), "--by", "line", "--format", "json"],
                         capture_output=True, text=True, cwd=ROOT, check=True).stdout
    lines = {x["line"]: x for x in json.loads(out)}
    assert set(lines) == {"sales_out", "complaints_in", "walk_in"}
    assert lines["sales_out"]["calls"] == lines["complaints_in"]["calls"] == 1
    assert lines["sales_out"]["avg_score"] == rows["s1"]["score"]
    assert (lines["walk_in"]["calls"], lines["walk_in"]["unreadable_files"]) == (0, 1)
    subprocess.run([*AUDIT, "export", "--db", str(db), "--format", "csv", "--out",
                    str(tmp_path / "night.csv.out")], check=True, cwd=ROOT, capture_output=True)
    exported = list(csv.DictReader((tmp_path / "night.csv.out").open(encoding="utf-8-sig")))
    assert {x["call_id"]: x["line"] for x in exported} == {
        "s1": "sales_out", "c1": "complaints_in", "w1": "walk_in"}
    page = tmp_path / "nightly.html"
    subprocess.run([*AUDIT, "report", "--db", str(db), "-o", str(page)], check=True, cwd=ROOT,
                   capture_output=True)
    html = page.read_text(encoding="utf-8")
    assert 'id="lines"' in html
    assert all(f'data-line="{x}"' in html for x in ("sales_out", "complaints_in", "walk_in"))
