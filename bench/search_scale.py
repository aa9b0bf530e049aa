"""Transcript search on 20,000 calls: how fast a word, a phrase and a pinyin query answer,
how much the index adds to the database, and which segmentation finds the rule pack's
phrases best (jieba words vs FTS5's trigram tokenizer).

    .venv/bin/python bench/search_scale.py [--calls 20000] [--db PATH] [--repeat 7]

Builds a database like bench/workbench_scale.py's (its days, agents, lines and accounts)
from real transcripts: the stored results of the samples (tests/data/results) and every
truth transcript of the benchmark corpus and the test recordings (bench/truth, samples,
tests/data), each made a result of the real schema; or reuses --db when it exists. Prints
JSON: per query the median and slowest of --repeat runs (results/search.search, and the
workbench's /search page over Flask's test client), the file's size with and without the
index (both VACUUMed), and the recall of each segmentation.
"""

from __future__ import annotations

import argparse
import glob
import json
import random
import re
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from report_scale import fake_result  # noqa: E402
from workbench_scale import DAYS, LINES, PASSWORD  # noqa: E402

from callaudit.records import Utterance  # noqa: E402
from callaudit.results import reviews, search  # noqa: E402
from callaudit.results.store import CallMeta, connect, insert_call, transaction  # noqa: E402
from callaudit.review import accounts  # noqa: E402
from callaudit.review.server import create_app  # noqa: E402
from callaudit.rules.pack import load  # noqa: E402
from callaudit.speech import segment  # noqa: E402
from callaudit.speech.match import parse_phrase  # noqa: E402
from callaudit.speech.text import to_simplified  # noqa: E402
from tests.helpers import stored  # noqa: E402

TRUTHS = ["bench/truth/*.truth.json", "bench/pace/truth/*.truth.json", "samples/*.truth.json",
          "tests/data/*/*.truth.json"]
# name: (query, filters); the page of an agent's (a007) search is timed as that agent
QUERIES: dict[str, tuple[str, dict[str, str]]] = {
    "word": ("密码", {}), "common_word": ("您好", {}), "phrase": ('"请不要把密码和验证码告诉任何人"', {}),
    "pinyin": ("~工号", {}), "boolean": ("(退款 OR 投诉) NOT 谢谢", {}), "nothing": ("量子纠缠", {}),
    "agent_word": ("您好", {"agent_id": "A007"}), "agent_pinyin": ("~工号", {"agent_id": "A007"}),
    "week_customer_phrase": ('"我想查一下"', {"day_from": "2026-11-01", "day_to": "2026-11-07",
                                            "who": "customer"})}
PARAMS = {"agent_id": "agent", "day_from": "from", "day_to": "to", "who": "who"}
CALL_TURNS = 40  # utterances of a call at least: truth transcripts joined end to end


def transcripts() -> list[list[dict[str, Any]]]:
    """Every truth transcript's turns: [{role, start, end, text, channel}]."""
    out = []
    for pattern in TRUTHS:
        for f in sorted(glob.glob(str(ROOT / pattern))):
            turns = [t for t in json.loads(Path(f).read_text("utf-8")).get("turns", []) if t.get("text")]
            if turns:
                out.append(turns)
    return out


def pool(rng: random.Random) -> list[Any]:
    """Results of the real schema: the stored results, and each truth transcript as one."""
    base = [stored(n) for n in ("demo_call", "bad_call", "mono_call", "ringback_call")]
    every = transcripts()
    for first in range(len(every)):  # a call as long as most: transcripts one after another
        utts: list[Utterance] = []
        at, k = 0.0, first
        while len(utts) < CALL_TURNS:
            turns = every[k % len(every)]
            utts += [Utterance(int(t.get("channel", 0)), at + float(t["start"]), at + float(t["end"]),
                               to_simplified(t["text"]), t["role"] if t["role"] == "customer" else "agent")
                     for t in turns]
            at = utts[-1].end + 2
            k += 1
        base.append(replace(fake_result(at + 6, rng), utterances=utts))
    return base


def build(db: Path, n: int, seed: int = 7) -> dict[str, Any]:
    rng = random.Random(seed)
    base = pool(rng)
    t0 = time.perf_counter()
    conn = connect(db)
    with transaction(conn):
        for i in range(n):
            agent, day = i % 300, DAYS[i % len(DAYS)]
            insert_call(conn, CallMeta(file=f"/rec/{day}/call-{i:06d}.wav", sha256=f"{i:064x}",
                                       call_id=f"C{i:06d}", agent_id=f"A{agent:03d}", day=day,
                                       line=LINES[agent % 6]), base[i % len(base)])
    hashed = accounts.hash_password(PASSWORD)
    reviews.add_user(conn, "lead", "supervisor", hashed, None, "bench")
    reviews.add_user(conn, "a007", "agent", hashed, "A007", "bench")
    utts = conn.execute("SELECT COUNT(*) FROM utterances").fetchone()[0]
    conn.close()
    return {"calls": n, "distinct_transcripts": len(base), "utterances": utts,
            "build_s": round(time.perf_counter() - t0, 1)}


def sizes(db: Path, tmp: Path) -> dict[str, Any]:
    """The file's size (VACUUMed) with the index and without it (dropped, VACUUMed)."""
    out = {}
    for name, drop in (("with_index", False), ("without_index", True)):
        copy = tmp / f"{name}.sqlite"
        shutil.copy(db, copy)
        conn = sqlite3.connect(copy)
        if drop:
            for t in ("utterances_index_add", "utterances_index_drop", "utterances_index_change"):
                conn.execute(f"DROP TRIGGER IF EXISTS {t}")
            conn.execute(f"DROP TABLE {search.TABLE}")
        conn.execute("VACUUM")
        conn.close()
        out[name + "_mb"] = round(copy.stat().st_size / 1e6, 1)
        copy.unlink()
    out["index_adds"] = f"{100 * (out['with_index_mb'] / out['without_index_mb'] - 1):.1f} %"
    return out


def timings(db: Path, repeat: int) -> dict[str, Any]:
    conn = connect(db, readonly=True)
    app = create_app(str(db), None)
    app.config["WTF_CSRF_ENABLED"] = False
    clients = {}
    for name in ("lead", "a007"):
        c = app.test_client()
        c.environ_base["REMOTE_ADDR"] = f"10.0.0.{len(clients) + 1}"
        assert c.post("/login", data={"name": name, "password": PASSWORD}).status_code == 302
        clients[name] = c
    out: dict[str, Any] = {}
    for key, (q, kw) in QUERIES.items():
        f = search.Filters(**kw)
        c = clients["a007" if kw.get("agent_id") == "A007" else "lead"]
        args = {"q": q, **{PARAMS[k]: v for k, v in kw.items() if k != "agent_id"}}
        found = search.search(conn, q, f)  # warm
        ts, ws = [], []
        for _ in range(repeat):
            t0 = time.perf_counter()
            search.search(conn, q, f)
            ts.append(1000 * (time.perf_counter() - t0))
            t0 = time.perf_counter()
            r = c.get("/search", query_string=args)
            ws.append(1000 * (time.perf_counter() - t0))
            assert r.status_code == 200
        out[key] = {"query": q, **kw, "moments": f"{found.total}{'+' if found.more else ''}",
                    "median_ms": round(statistics.median(ts), 1),
                    "max_ms": round(max(ts), 1), "page_median_ms": round(statistics.median(ws), 1),
                    "page_max_ms": round(max(ws), 1)}
    conn.close()
    return out


def phrases() -> set[str]:
    """The default pack's phrases (rules, triggers, allowed, hold and caller-wait phrases)
    in Chinese characters, key-syllable brackets off."""
    pack = load(None)
    out = set(pack.settings.hold_phrases) | set(pack.settings.caller_wait_phrases)
    for r in pack.rules:
        out |= {parse_phrase(p)[0] for p in [*r.phrases, *r.allow, *((r.trigger or {}).get("phrases") or [])]}
    return {p for p in out if re.fullmatch(r"[\u4e00-\u9fff]+", p)}


def recall() -> dict[str, Any]:
    """Of every (phrase, utterance that says it) in the corpus's truth transcripts, the share
    an exact-phrase query finds, per segmentation."""
    texts = [to_simplified(t["text"]) for turns in transcripts() for t in turns]
    ph = phrases()
    truth = [(p, i) for p in sorted(ph) for i, t in enumerate(texts) if p in t]

    def quoted(tokens: list[str]) -> str:
        return '"' + " ".join(t.replace('"', '""') for t in tokens) + '"'

    def run(kind: str) -> dict[str, Any]:
        conn = sqlite3.connect(":memory:")
        added: set[str] = set()
        if kind == "trigram":
            conn.execute("CREATE VIRTUAL TABLE t USING fts5(w, tokenize='trigram')")
            rows = list(enumerate(texts))
        else:
            conn.execute("CREATE VIRTUAL TABLE t USING fts5(w)")
            added = ph | set(load(None).settings.vocabulary) if kind.endswith("+pack") else set()
            rows = [(i, " ".join(segment.cut(t, added, search="search" in kind)))
                    for i, t in enumerate(texts)]
        conn.executemany("INSERT INTO t(rowid, w) VALUES (?, ?)", rows)
        hits: dict[str, list[bool]] = {}
        for p, i in truth:
            q = quoted([p]) if kind == "trigram" else quoted(  # the query cut as the text was
                segment.cut(p, added, search="search" in kind))
            got = {r[0] for r in conn.execute("SELECT rowid FROM t WHERE t MATCH ?", (q,))}
            hits.setdefault(p, []).append(i in got)
        n = sum(sum(v) for v in hits.values())
        return {"recall": round(n / len(truth), 3), "found": n,
                "phrases_missed": sorted(p for p, v in hits.items() if not all(v))}

    out: dict[str, Any] = {"utterances": len(texts), "phrases": len(ph), "said": len(truth),
                           "phrases_said": len({p for p, _ in truth})}
    # the pack's words are added last: jieba's dictionary only grows
    for kind in ("trigram", "jieba", "jieba_search", "jieba+pack", "jieba_search+pack"):
        out[kind] = run(kind)
    return out


def main(n: int = 20000, db: str | None = None, repeat: int = 7) -> dict[str, Any]:
    res: dict[str, Any] = {"recall": recall()}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(db) if db else Path(tmp) / "search.sqlite"
        if not path.exists():
            res["database"] = build(path, n)
        res["size"] = sizes(path, Path(tmp))
        res["queries"] = timings(path, repeat)
    res["under_200_ms"] = all(q["max_ms"] < 200 for q in res["queries"].values())
    res["pages_under_200_ms"] = all(q["page_max_ms"] < 200 for q in res["queries"].values())
    return res


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=20000)
    ap.add_argument("--db", help="build here once (kept), or reuse")
    ap.add_argument("--repeat", type=int, default=7)
    a = ap.parse_args()
    print(json.dumps(main(a.calls, a.db, a.repeat), indent=1, ensure_ascii=False))
