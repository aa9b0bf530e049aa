"""The review workbench on 20,000 calls: how fast "Find calls" (the list, its filters, a
search, a sort) and the day's queue answer, over real HTTP requests through Flask's test
client (the whole request: login session, the query, the template).

    .venv/bin/python bench/workbench_scale.py [--calls 20000] [--db PATH] [--repeat 5]

Builds a database of synthetic results (bench/report_scale.py's fake_result; 200 distinct
results stored under 20,000 call ids, over 30 days, 300 agents on 6 business lines, about
5% of the calls reviewed, some appealed), or reuses --db when it exists; prints JSON: per
page the median and slowest of --repeat requests, in milliseconds.
"""

from __future__ import annotations

import argparse
import json
import random
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

from report_scale import PACK, fake_result  # noqa: E402

from callaudit.results import reviews  # noqa: E402
from callaudit.results.store import CallMeta, connect, insert_call, transaction  # noqa: E402
from callaudit.review import accounts  # noqa: E402
from callaudit.review.queue import queue_of_day  # noqa: E402
from callaudit.review.server import create_app  # noqa: E402

PASSWORD = "bench-password"
LINES = ["信用卡", "贷款", "理财", "投诉", "售后", "外呼"]
REVIEWERS = ["rev1", "rev2", "rev3", "rev4", "rev5"]
DAYS = [f"2026-11-{d:02d}" for d in range(1, 31)]


def build(db: Path, n: int, seed: int = 7) -> dict[str, Any]:
    """A results database of `n` calls (synthetic results), reviews and appeals on some."""
    rng = random.Random(seed)
    t0 = time.perf_counter()
    base = [fake_result(rng.uniform(60, 400), rng, fatal=i % 50 == 0) for i in range(200)]
    conn = connect(db)
    shas = []
    with transaction(conn):
        for i in range(n):
            r = base[i % len(base)]
            r = replace(r, score=round(max(0.0, r.score - rng.uniform(0, 30)), 1))
            agent = i % 300
            day = DAYS[i % len(DAYS)]
            sha = f"{i:064x}"
            insert_call(conn, CallMeta(file=f"/rec/{day}/line{agent % 6}/call-{i:06d}.wav", sha256=sha,
                                       call_id=f"C{i:06d}", agent_id=f"A{agent:03d}", day=day,
                                       line=LINES[agent % 6]), r)
            shas.append((sha, r))
    built = time.perf_counter() - t0
    hashed = accounts.hash_password(PASSWORD)
    reviews.add_user(conn, "lead", "supervisor", hashed, None, "bench")
    reviews.add_user(conn, "a007", "agent", hashed, "A007", "bench")
    for name in REVIEWERS:
        reviews.add_user(conn, name, "reviewer", hashed, None, "bench")
    t1 = time.perf_counter()
    reviewed = 0
    for sha, r in rng.sample(shas, n // 20):
        failed = [f.rule for f in r.findings if f.applicable and not f.passed]
        who = rng.choice(REVIEWERS)
        for rule in failed:
            state = rng.choice(["confirmed", "confirmed", "overturned"])
            reviews.add_review(conn, sha, rule, state, "bench" if state == "overturned" else "",
                               who, "default")
        if failed:
            reviews.refresh_reviewed(conn, sha, PACK)
            reviewed += 1
            if rng.random() < 0.1:
                reviews.add_appeal(conn, sha, failed[0], "bench", "bench")
    queue_of_day(conn, DAYS[-1], PACK, "lead", seed="bench")
    conn.close()
    return {"calls": n, "build_s": round(built, 1), "reviewed_calls": reviewed,
            "reviews_s": round(time.perf_counter() - t1, 1)}


PAGES = {
    "list": "/calls",
    "list_page_100": "/calls?page=100",
    "filter_day_range": "/calls?from=2026-11-10&to=2026-11-20",
    "filter_agent": "/calls?agent=A042",
    "filter_team": "/calls?line=理财",
    "filter_score": "/calls?score_min=60&score_max=80",
    "filter_fatal": "/calls?outcome=fatal",
    "filter_failed": "/calls?outcome=failed",
    "filter_unreviewed": "/calls?state=unreviewed",
    "filter_reviewed": "/calls?state=reviewed",
    "filter_appealed": "/calls?state=appealed",
    "filter_reviewer": "/calls?reviewer=rev3",
    "filter_rule": "/calls?rule=name_use",
    "filter_combined": "/calls?from=2026-11-01&to=2026-11-15&line=贷款&score_max=90&state=unreviewed"
                       "&rule=name_use",
    "search_call_id": "/calls?q=C012345",
    "search_file": "/calls?q=call-0099",
    "search_nothing": "/calls?q=zzz-none",
    "sort_agent": "/calls?sort=agent&dir=asc",
    "sort_reviewed_desc": "/calls?sort=reviewed&dir=desc",
    "sort_reviews": "/calls?sort=reviews&dir=desc",
    "sort_file": "/calls?sort=file",
    "agent_own_calls": "/calls",  # as agent A007
    "queue_day": f"/queue?day={DAYS[-1]}",
}


def measure(db: Path, repeat: int) -> dict[str, Any]:
    app = create_app(str(db), None)
    app.config["WTF_CSRF_ENABLED"] = False
    out: dict[str, Any] = {}
    clients = {}
    for name in ("lead", "a007"):
        c = app.test_client()
        c.environ_base["REMOTE_ADDR"] = f"10.0.0.{len(clients) + 1}"
        r = c.post("/login", data={"name": name, "password": PASSWORD})
        assert r.status_code == 302, (name, r.status_code)
        clients[name] = c
    for key, url in PAGES.items():
        c = clients["a007" if key.startswith("agent") else "lead"]
        c.get(url)  # warm: templates compiled, pages cached by SQLite
        times, status, rows = [], 0, 0
        for _ in range(repeat):
            t0 = time.perf_counter()
            r = c.get(url)
            times.append(1000 * (time.perf_counter() - t0))
            status, rows = r.status_code, r.text.count("data-sha=")
        out[key] = {"url": url, "status": status, "rows": rows,
                    "median_ms": round(statistics.median(times), 1), "max_ms": round(max(times), 1)}
    return out


def main(n: int = 20000, db: str | None = None, repeat: int = 5) -> dict[str, Any]:
    res: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(db) if db else Path(tmp) / "workbench.sqlite"
        if not path.exists():
            res["database"] = build(path, n)
        res["pages"] = measure(path, repeat)
    slowest = max(res["pages"].values(), key=lambda p: p["median_ms"])
    res["slowest"] = {"url": slowest["url"], "median_ms": slowest["median_ms"]}
    res["under_300_ms"] = all(p["max_ms"] < 300 for p in res["pages"].values())
    return res


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=20000)
    ap.add_argument("--db", help="build here once (kept), or reuse")
    ap.add_argument("--repeat", type=int, default=5)
    a = ap.parse_args()
    print(json.dumps(main(a.calls, a.db, a.repeat), indent=1, ensure_ascii=False))
