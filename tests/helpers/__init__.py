"""What tests share besides fixtures (those are in tests/conftest.py): the repository's paths,
stored audits and truths, the schema check, and loaders for what is not a package (bench/).

Import them as `from tests.helpers import ROOT, ...`; audio_util, signals, transcripts,
results and review are modules of their own here."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "samples"
DATA = ROOT / "tests" / "data"
BENCH = ROOT / "bench"


def copy_database(src: Path, out: Path) -> str:
    """A copy of SQLite database `src` at `out`, with its -wal and -shm files when there."""
    import shutil

    for suffix in ("", "-wal", "-shm"):
        if Path(f"{src}{suffix}").exists():
            shutil.copy(f"{src}{suffix}", f"{out}{suffix}")
    return str(out)


def dump_database(db: str | Path) -> str:
    """Every row of every stored table of SQLite database `db`, a line a row: what a reader
    of the file could find. A blob is shown as the text its bytes hold (UTF-8, the rest
    replaced: an index's tokens read as words, not as hex digits that would look like
    numbers). Virtual tables are left out (a contentless FTS5 table cannot be read back,
    and sqlite3's iterdump dies on it); their shadow tables, which hold what the index
    keeps, are in."""
    import sqlite3

    def shown(v: Any) -> str:
        return v.decode("utf-8", "replace") if isinstance(v, bytes) else repr(v)

    conn = sqlite3.connect(db)
    try:
        tables = [n for n, sql in conn.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
            if not (sql or "").upper().startswith("CREATE VIRTUAL TABLE")]
        return "\n".join(f"{t}: " + ",".join(shown(v) for v in row)
                         for t in tables for row in conn.execute(f'SELECT * FROM "{t}"'))
    finally:
        conn.close()


def stored_result(name: str) -> dict[str, Any]:
    """A stored audit of a sample call: {result, regions, acoustics} (tests/data/results)."""
    return json.loads((DATA / "results" / f"{name}.json").read_text("utf-8"))


def record(d: dict[str, Any], regions: list[dict[str, Any]] | None = None,
           acoustics: dict[str, Any] | None = None) -> Any:
    """A result dict (stored, or made by hand: no schema check) as the CallResult the store
    writes, with the VAD `regions` and measured `acoustics` kept beside it."""
    from callaudit.records import CallResult, Region

    return CallResult.from_json(d, [Region.from_json(r) for r in regions or []],
                                acoustics, check=False)


def record_of(doc: dict[str, Any]) -> Any:
    """A stored audit ({result, regions, acoustics}, tests/data/results) as its CallResult."""
    return record(doc["result"], doc["regions"], doc["acoustics"])


def stored(name: str) -> Any:
    """The stored audit of a sample call `name` (tests/data/results) as its CallResult."""
    return record_of(stored_result(name))


def truth(name: str) -> dict[str, Any]:
    return json.loads((SAMPLES / f"{name}.truth.json").read_text(encoding="utf-8"))


def checked(result: Any) -> Any:
    """`result` (a CallResult), after checking that its JSON is a valid audit.call/1 result
    (the shipped schema) and reads back as the same record."""
    from callaudit.records import CallResult, result_problem

    d = result.to_json()
    assert result_problem(d) == "", result_problem(d)
    assert CallResult.from_json(d).to_json() == d
    return result


def cer(ref: str, hyp: str) -> float:
    """Character error rate of `hyp` against `ref`, on their Chinese characters (digits spelled
    out as spoken)."""
    from rapidfuzz.distance import Levenshtein

    from callaudit.speech.text import spell_digits

    def plain(text: str) -> str:
        return "".join(ch for ch in spell_digits(text) if "\u4e00" <= ch <= "\u9fff")

    ref, hyp = plain(ref), plain(hyp)
    return Levenshtein.distance(ref, hyp) / max(1, len(ref))


def remount_ro(mnt: Path) -> None:
    subprocess.run(["mount", "-o", "remount,ro", str(mnt)], check=True)


def chromium() -> str:
    """Debian's Chromium, driven by Playwright's Python package (its own browser download
    fails here): skipped when either is missing, a failure under CI (`make browser`)."""
    import shutil

    path = shutil.which("chromium") or shutil.which("chromium-browser")
    try:
        import playwright  # noqa: F401
    except ImportError:
        path = None
    if not path:
        reason = "no Chromium/Playwright here (`make browser` installs chromium and fonts-noto-cjk, as root)"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return path


def bench(name: str) -> ModuleType:
    """bench/<name>.py, loaded from its path (bench/ holds scripts, not a package), once."""
    key = f"bench_{name}"
    if key not in sys.modules:
        spec = importlib.util.spec_from_file_location(key, BENCH / f"{name}.py")
        assert spec is not None and spec.loader is not None, name
        module = importlib.util.module_from_spec(spec)
        sys.modules[key] = module
        try:
            spec.loader.exec_module(module)
        except BaseException:
            del sys.modules[key]
            raise
    return sys.modules[key]
