"""Reviewer pages at scale: a 2-hour call page and a 20,000-call dashboard, rendered and
opened in headless Chromium; page size, render time and browser load time.

    .venv/bin/python bench/report_scale.py        # prints JSON; bench/run.py includes it
"""

from __future__ import annotations

import json
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from callaudit.records import CallResult  # noqa: E402
from callaudit.render.html import render_call, render_dashboard  # noqa: E402
from callaudit.results.store import CallMeta, connect, insert_call, transaction  # noqa: E402
from callaudit.rules.judge import judged_with  # noqa: E402
from callaudit.rules.pack import load  # noqa: E402

AGENT_LINES = ["您好，这里是客户服务中心，工号001，很高兴为您服务。", "请您稍等，我为您查询一下。",
               "感谢您的耐心等待，您的订单已经发货。", "请问还有什么可以帮您？"]
CUSTOMER_LINES = ["我想查一下我的订单。", "好的，谢谢。", "那大概什么时候能到？"]


PACK = load()


def fake_result(duration: float, rng: random.Random, fatal: bool = False) -> CallResult:
    """A result of the real schema with turns every few seconds (no model needed)."""
    pack = PACK
    utts, t, i = [], 1.0, 0
    while t < duration - 5:
        role = "agent" if i % 2 == 0 else "customer"
        text = rng.choice(AGENT_LINES if role == "agent" else CUSTOMER_LINES)
        d = rng.uniform(2.0, 6.0)
        utts.append({"role": role, "start": round(t, 2), "end": round(t + d, 2), "text": text,
                     "channel": 0 if role == "agent" else 1, "level_dbfs": -22.0})
        t += d + rng.uniform(0.4, 3.0)
        i += 1
    findings = []
    for r in pack.enabled_rules:
        failed = (r.id == "ask_secret" and fatal) or (r.id == "name_use" and rng.random() < 0.5)
        ev = [{"start": utts[2]["start"], "end": utts[2]["end"], "role": "agent",
               "text": utts[2]["text"]}] if failed else []
        findings.append({"rule": r.id, "section": r.section, "severity": r.severity,
                         "applicable": True, "passed": not failed,
                         "deduction": r.deduction if failed else 0.0, "message": r.text("zh", pack.settings),
                         "evidence": ev, "detail": ""})
    lost = sum(f["deduction"] for f in findings)
    sections = {k: sum(f["deduction"] for f in findings if f["section"] == k) for k in pack.sections}
    silences = [{"start": a["end"], "end": b["start"], "duration_s": b["start"] - a["end"]}
                for a, b in zip(utts, utts[1:], strict=False) if b["start"] - a["end"] >= 1]
    return CallResult.from_json({
        "schema": "audit.call/1", "file": "synthetic.wav", "duration_s": duration,
        "sample_rate": 8000, "channels": 2, "agent_channel": "left", "roles_reason": "",
        "score": max(0.0, 100 - lost), "passed": lost < 20, "fatal": fatal, "sections": sections,
        "metrics": {"answer_delay_s": 1.0, "connect_s": 0.0, "rings": None,
                    "agent_speech_rate_cpm": rng.uniform(170, 240), "max_silence_s": 3.0,
                    "silences": silences, "holds": [], "dead_air": [], "interruptions": [],
                    "agent_interruptions": 0, "agent_level_dbfs": -22.0,
                    "talk_ratio": {"agent": 0.4, "customer": 0.3, "silence": 0.3},
                    "customer_spoke": True},
        "findings": findings, "utterances": utts,
        "timing_s": {"decode": 0.1, "vad": 0.1, "asr": 1.0, "rules": 0.1, "total": 1.3},
        "versions": {"audit": "bench", "model": "none", "rules": "default"},
        "judged_with": judged_with(pack).to_json(),
    }, check=False)


def _load_time(browser: Any, path: Path) -> float:
    page = browser.new_page(viewport={"width": 1366, "height": 900})
    t0 = time.perf_counter()
    page.goto(path.as_uri(), wait_until="load", timeout=120_000)
    page.evaluate("document.body.getBoundingClientRect().height")  # layout done
    seconds = time.perf_counter() - t0
    page.close()
    return seconds


def main() -> dict[str, Any]:
    rng = random.Random(7)
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        call = Path(tmp) / "two_hours.html"
        t0 = time.perf_counter()
        render_call(fake_result(7200.0, rng), str(call))
        out["call_2h"] = {"render_s": time.perf_counter() - t0,
                          "bytes": call.stat().st_size}
        db = Path(tmp) / "night.sqlite"
        conn = connect(db)
        t0 = time.perf_counter()
        with transaction(conn):
            for i in range(20000):
                r = fake_result(rng.uniform(60, 400), rng, fatal=rng.random() < 0.002)
                insert_call(conn, CallMeta(file=f"/rec/{i}.wav", sha256=f"s{i}", call_id=f"c{i}",
                                           agent_id=f"A{i % 300:03d}", day="2026-11-22"), r)
        out["db_20k_build_s"] = time.perf_counter() - t0  # synthetic results + one transaction
        conn.close()
        dash = Path(tmp) / "nightly.html"
        t0 = time.perf_counter()
        render_dashboard(str(db), str(dash))
        out["dashboard_20k"] = {"render_s": time.perf_counter() - t0, "bytes": dash.stat().st_size}
        chromium = shutil.which("chromium") or shutil.which("chromium-browser")
        try:
            from playwright.sync_api import sync_playwright
        except ImportError:
            chromium = None
        if chromium:
            with sync_playwright() as p:
                b = p.chromium.launch(executable_path=chromium, args=[
                    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--no-first-run"])
                out["call_2h"]["browser_load_s"] = _load_time(b, call)
                out["dashboard_20k"]["browser_load_s"] = _load_time(b, dash)
                b.close()
        else:
            out["browser"] = "skipped: no Chromium/Playwright"
    return out


if __name__ == "__main__":
    print(json.dumps(main(), indent=1))
