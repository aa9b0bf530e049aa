"""Reviewer pages: one self-contained HTML page per call, and a nightly dashboard.

Rendered from stored results (the audit.call/1 JSON or the database), never by re-running
the model. Jinja2 with autoescape everywhere: transcripts, file names and agent ids are
untrusted text. Charts are server-side SVG; the little JavaScript (seek on click, playhead,
current line, table sort and filters) is inline. No request leaves the page.
"""

from __future__ import annotations

import base64
import io
import json
import sqlite3
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

from audit.errors import AuditError
from audit.rules.pack import RulePack, load

AUDIO_BITRATE = 12000  # Opus: telephone speech stays clear; 5 min of stereo is ~450 KB

LABELS: dict[str, dict[str, str]] = {
    "zh": {"score": "得分", "passed": "通过", "failed": "不通过", "fatal": "致命违规",
           "scorecard": "评分表", "timeline": "时间轴", "transcript": "通话文本",
           "metrics": "指标与规范", "rule": "规则", "result": "结果", "deduction": "扣分",
           "evidence": "证据", "na": "不适用", "pass": "通过", "fail": "未通过",
           "agent": "坐席", "customer": "客户", "unknown": "未知", "silence": "静音",
           "hold": "保持", "dead_air": "死寂", "overlap": "抢话", "ring": "回铃",
           "answer": "应答", "file": "文件", "duration": "时长", "call": "通话",
           "day": "日期", "norm": "规范", "value": "实测", "audio_missing": "未附录音",
           "dashboard": "质检日报", "calls": "通话数", "hours": "音频小时", "pass_rate": "通过率",
           "fatal_calls": "致命违规通话", "avg_score": "平均分", "agents": "坐席统计",
           "rules": "规则失败率", "worst": "最低分通话", "unreadable": "无法质检的文件",
           "all": "全部", "distribution": "得分分布", "speech_rate": "语速(字/分钟)",
           "top_failures": "常见扣分项", "error": "错误", "per_minute": "每分钟语速",
           "level_per_minute": "每分钟音量 (dBFS)"},
    "en": {"score": "Score", "passed": "PASS", "failed": "FAIL", "fatal": "FATAL",
           "scorecard": "Scorecard", "timeline": "Timeline", "transcript": "Transcript",
           "metrics": "Metrics against norms", "rule": "Rule", "result": "Result",
           "deduction": "Points", "evidence": "Evidence", "na": "n/a", "pass": "pass",
           "fail": "fail", "agent": "Agent", "customer": "Caller", "unknown": "Unknown",
           "silence": "silence", "hold": "hold", "dead_air": "dead air", "overlap": "overlap",
           "ring": "ringback", "answer": "answer", "file": "File", "duration": "Duration",
           "call": "Call", "day": "Day", "norm": "Norm", "value": "Measured",
           "audio_missing": "audio not attached", "dashboard": "Nightly QA dashboard",
           "calls": "Calls", "hours": "Audio hours", "pass_rate": "Pass rate",
           "fatal_calls": "Fatal calls", "avg_score": "Average score", "agents": "Agents",
           "rules": "Rule failure rates", "worst": "Lowest-scoring calls",
           "unreadable": "Files that could not be audited", "all": "all",
           "distribution": "Score distribution", "speech_rate": "Speech rate (chars/min)",
           "top_failures": "Most frequent failures", "error": "Error",
           "per_minute": "Speech rate per minute",
           "level_per_minute": "Agent level per minute (dBFS)"},
}


def _env() -> Environment:
    env = Environment(loader=PackageLoader("audit.render", "templates"),
                      autoescape=select_autoescape(["html", "j2"]), trim_blocks=True,
                      lstrip_blocks=True)
    env.filters["mmss"] = mmss
    env.filters["dash"] = lambda v: "–" if v is None else v
    env.filters["tojson_safe"] = lambda v: json.dumps(v, ensure_ascii=True).replace("<", "\\u003c")
    return env


def mmss(t: float | None) -> str:
    if t is None:
        return "-"
    t = max(0.0, float(t))
    return f"{int(t // 60):02d}:{int(t % 60):02d}"


# --- the call page -----------------------------------------------------------------------------
def call_view(result: dict[str, Any], pack: RulePack | None = None, lang: str = "zh",
              meta: dict[str, Any] | None = None) -> dict[str, Any]:
    """Everything the call template shows, computed here so it can be tested without HTML."""
    pack = pack or load()
    st = pack.settings
    dur = max(float(result.get("duration_s") or 0.0), 0.001)
    m = result["metrics"]
    findings = result["findings"]
    failed = [f for f in findings if f["applicable"] and not f["passed"]]

    def x(t: float) -> float:  # seconds -> percent of the timeline width
        return round(100.0 * min(max(t, 0.0), dur) / dur, 3)

    def span(s: float, e: float, kind: str, label: str, t: float | None = None) -> dict[str, Any]:
        return {"x": x(s), "w": max(0.15, x(e) - x(s)), "kind": kind, "t": s if t is None else t,
                "label": f"{label} {mmss(s)}–{mmss(e)}"}

    L = LABELS[lang]
    lanes: dict[str, list[dict[str, Any]]] = {"agent": [], "customer": [], "events": []}
    for u in result["utterances"]:
        lane = "agent" if u["role"] == "agent" else "customer"
        lanes[lane].append(span(u["start"], u["end"], u["role"], f"{L[u['role']]}: {u['text']}"))
    holds = m.get("holds") or []
    dead = m.get("dead_air") or []
    for s in m.get("silences") or []:
        kind = "dead_air" if any(d["start"] <= s["start"] < d["end"] for d in dead) else \
            "hold" if any(h["start"] <= s["start"] < h["end"] for h in holds) else "silence"
        lanes["events"].append(span(s["start"], s["end"], kind,
                                    f"{L[kind]} {s['duration_s']:.0f}s"))
    for s in m.get("interruptions") or []:
        lanes["events"].append(span(s["start"], s["end"], "overlap", L["overlap"]))
    if m.get("connect_s"):
        lanes["events"].append(span(0.0, m["connect_s"], "ring", f"{L['ring']} x{m.get('rings')}"))
    if m.get("answer_delay_s") is not None:
        c = m.get("connect_s") or 0.0
        lanes["events"].append(span(c, c + m["answer_delay_s"], "answer",
                                    f"{L['answer']} {m['answer_delay_s']:.1f}s"))
    markers = []
    for f in failed:
        for i, e in enumerate(f["evidence"][:5]):
            markers.append({"x": x(e["start"]), "t": e["start"], "rule": f["rule"],
                            "severity": f["severity"], "id": f"f-{f['rule']}-{i}",
                            "label": f"{f['rule']} {mmss(e['start'])}: {f['message']}"})
    sections = []
    for key, names in pack.sections.items():
        order = {"fail": 0, "pass": 1, "na": 2}  # what went wrong first
        rows = sorted((f for f in findings if f["section"] == key),
                      key=lambda f: order["na" if not f["applicable"] else
                                          "pass" if f["passed"] else "fail"])
        sections.append({"key": key, "name": names.get(lang, key),
                         "lost": result["sections"].get(key, 0.0),
                         "rules": [{**f, "verdict": "na" if not f["applicable"] else
                                    "pass" if f["passed"] else "fail"} for f in rows]})
    # transcript lines with the words that matched a rule highlighted
    marks: dict[tuple[float, float], list[dict[str, Any]]] = {}
    for f in findings:
        if not f["applicable"]:
            continue
        for i, e in enumerate(f["evidence"]):
            if e.get("match"):
                marks.setdefault((round(e["start"], 2), round(e["end"], 2)), []).append(
                    {"match": e["match"], "rule": f["rule"], "bad": not f["passed"],
                     "category": e.get("category", ""), "id": f"f-{f['rule']}-{i}"})
    lines = []
    for u in result["utterances"]:
        hits = marks.get((round(u["start"], 2), round(u["end"], 2)), [])
        lines.append({**u, "parts": _split(u["text"], hits)})
    rate_series = _rate_per_minute(result, dur)
    level_series = _level_per_minute(result, dur)
    metrics = [
        (L["answer"], _fmt(m.get("answer_delay_s"), "s"),
         f"≤ {st['answer_delay_max_s']:g} s" + (f", ≤ {st['answer_rings_max']} rings"
                                                if m.get("rings") else ""), "answer_delay"),
        (L["speech_rate"], _fmt(m.get("agent_speech_rate_cpm"), "", 0),
         f"{st['speech_rate_min_cpm']}–{st['speech_rate_max_cpm']}", "speech_rate"),
        ("max silence", _fmt(m.get("max_silence_s"), "s"), f"≤ {st['dead_air_s']:g} s", "dead_air"),
        ("interruptions", "-" if m.get("agent_interruptions") is None
         else str(m["agent_interruptions"]), "0", "interruption"),
        ("agent level", _fmt(m.get("agent_level_dbfs"), "dBFS"),
         f"{st['volume_min_dbfs']:g} – {st['volume_max_dbfs']:g} dBFS", "volume"),
        ("talk ratio", " / ".join(f"{k} {v:.0%}" for k, v in (m.get("talk_ratio") or {}).items()),
         "", ""),
    ]
    by_rule = {f["rule"]: f for f in findings}
    metric_rows = [{"name": n, "value": v, "norm": norm,
                    "verdict": "" if not r or r not in by_rule or not by_rule[r]["applicable"]
                    else "pass" if by_rule[r]["passed"] else "fail"}
                   for n, v, norm, r in metrics]
    fatal_reasons = [f["message"] for f in failed if f["severity"] == "fatal"]
    return {
        "lang": lang, "L": L, "result": result, "meta": meta or {}, "duration": dur,
        "lanes": lanes, "markers": markers, "sections": sections, "lines": lines,
        "section_names": {k: v.get(lang, k) for k, v in pack.sections.items()},
        "failed": failed, "metrics": metric_rows, "fatal_reasons": fatal_reasons,
        "level_series": level_series, "level_band": (st["volume_min_dbfs"],
                                                      st["volume_max_dbfs"]),
        "rate_series": rate_series, "rate_band": (st["speech_rate_min_cpm"],
                                                  st["speech_rate_max_cpm"]),
        "ticks": [{"x": x(t), "label": mmss(t)} for t in _ticks(dur)],
    }


def _split(text: str, hits: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The text cut into plain and highlighted parts (first occurrence of each match)."""
    spans = []
    for h in hits:
        i = text.find(h["match"])
        if i >= 0 and not any(s < i + len(h["match"]) and i < e for s, e, _ in spans):
            spans.append((i, i + len(h["match"]), h))
    spans.sort(key=lambda s: s[0])
    parts, pos = [], 0
    for s, e, h in spans:
        if s > pos:
            parts.append({"text": text[pos:s]})
        parts.append({"text": text[s:e], **h})
        pos = e
    if pos < len(text):
        parts.append({"text": text[pos:]})
    return parts


def _ticks(dur: float) -> list[float]:
    step = next(s for s in (10, 30, 60, 120, 300, 600, 1800, 3600, 1e9) if dur / s <= 12)
    return [i * step for i in range(int(dur // step) + 1)]


def _rate_per_minute(result: dict[str, Any], dur: float) -> list[dict[str, Any]]:
    """Agent syllables per minute of speaking time, per minute of the call."""
    from audit.speech.text import spoken_units

    out = []
    for k in range(int(dur // 60) + 1):
        a, b = k * 60.0, (k + 1) * 60.0
        utts = [u for u in result["utterances"] if u["role"] == "agent" and a <= u["start"] < b]
        secs = sum(u["end"] - u["start"] for u in utts)
        rate = spoken_units("".join(u["text"] for u in utts)) * 60 / secs if secs >= 3 else None
        out.append({"minute": k, "rate": None if rate is None else round(rate)})
    return out


def _level_per_minute(result: dict[str, Any], dur: float) -> list[dict[str, Any]]:
    """The agent's speech level (dBFS, energy mean of its utterances) per minute of the call."""
    import math

    out = []
    for k in range(int(dur // 60) + 1):
        utts = [u for u in result["utterances"] if u["role"] == "agent"
                and k * 60 <= u["start"] < (k + 1) * 60 and u.get("level_dbfs", -99) > -99]
        secs = sum(u["end"] - u["start"] for u in utts)
        level = None
        if secs > 0:
            power = sum((u["end"] - u["start"]) * 10 ** (u["level_dbfs"] / 10) for u in utts) / secs
            level = round(10 * math.log10(power), 1)
        out.append({"minute": k, "level": level})
    return out


def _fmt(v: float | None, unit: str, nd: int = 1) -> str:
    return "-" if v is None else f"{v:.{nd}f} {unit}".strip()


def encode_audio(path: str) -> str:
    """The recording as Opus in Ogg, base64, for a data: URI (the page stays one file)."""
    import av
    import numpy as np

    from audit.audio.decode import decode

    a = decode(path)
    buf = io.BytesIO()
    layout = "stereo" if len(a.channels) == 2 else "mono"
    x = np.stack(a.channels).astype(np.float32)
    with av.open(buf, "w", format="ogg") as out:
        stream = out.add_stream("libopus", rate=48000, layout=layout)
        stream.bit_rate = AUDIO_BITRATE
        resampler = av.AudioResampler(format="s16", layout=layout, rate=48000)
        for i in range(0, x.shape[1], 16000):
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(x[:, i:i + 16000]),
                                               format="fltp", layout=layout)
            frame.sample_rate = 16000
            for f in resampler.resample(frame):
                for p in stream.encode(f):
                    out.mux(p)
        for f in resampler.resample(None):
            for p in stream.encode(f):
                out.mux(p)
        for p in stream.encode(None):
            out.mux(p)
    return "data:audio/ogg;base64," + base64.b64encode(buf.getvalue()).decode()


def render_call(result: dict[str, Any], out: str, audio: str | None = None,
                link_audio: bool = False, lang: str = "zh", pack: RulePack | None = None,
                meta: dict[str, Any] | None = None) -> str:
    view = call_view(result, pack, lang, meta)
    src = None
    if audio:
        src = _relpath(audio, out) if link_audio else encode_audio(audio)
    page = _env().get_template("call.html.j2").render(**view, audio_src=src)
    _write(out, page)
    return out


def _relpath(target: str, out: str) -> str:
    import os

    return os.path.relpath(Path(target).resolve(), Path(out).resolve().parent).replace(os.sep, "/")


def _write(out: str, text: str) -> None:
    p = Path(out)
    if not p.resolve().parent.is_dir():
        raise AuditError(f"{out}: directory {p.resolve().parent} does not exist")
    tmp = p.with_name(p.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(p)


# --- from the database -------------------------------------------------------------------------
def stored_call(conn: sqlite3.Connection, call_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
    row = conn.execute("SELECT * FROM calls WHERE status = 'ok' AND (call_id = ? OR sha256 = ? "
                       "OR file = ?) ORDER BY id DESC", (call_id, call_id, call_id)).fetchone()
    if row is None:
        raise AuditError(f"no audited call {call_id!r} in the database")
    meta = {k: row[k] for k in ("call_id", "agent_id", "day", "file")}
    return json.loads(row["result_json"]), meta


def dashboard_view(conn: sqlite3.Connection, lang: str = "zh", pages: str | None = None,
                   ) -> dict[str, Any]:
    from audit.results.summary import summary

    L = LABELS[lang]
    ok = [dict(r) for r in conn.execute(
        "SELECT id, call_id, agent_id, day, file, duration_s, score, passed, fatal "
        "FROM calls WHERE status = 'ok' ORDER BY score, id")]
    failures = [dict(r) for r in conn.execute(
        "SELECT file, error, day, agent_id FROM calls WHERE status = 'failed' ORDER BY id")]
    fatal_rules: dict[int, list[str]] = {}
    for r in conn.execute("SELECT call, rule FROM findings WHERE applicable AND NOT passed "
                          "AND severity = 'fatal'"):
        fatal_rules.setdefault(r["call"], []).append(r["rule"])
    hist = [0] * 10
    for c in ok:
        hist[min(9, int((c["score"] or 0) // 10))] += 1
    peak = max(hist) or 1
    for c in ok:
        c["fatal_rules"] = ", ".join(fatal_rules.get(c["id"], []))
        c["href"] = f"{pages}/{_safe(c['call_id'] or str(c['id']))}.html" if pages else None
    worst = [c for c in ok if c["fatal"]] + [c for c in ok if not c["fatal"]][:20]
    return {
        "lang": lang, "L": L,
        "totals": {"calls": len(ok), "hours": sum(c["duration_s"] or 0 for c in ok) / 3600,
                   "pass_rate": (sum(c["passed"] for c in ok) / len(ok)) if ok else 0.0,
                   "fatal": sum(c["fatal"] for c in ok), "failed_files": len(failures)},
        "hist": [{"label": f"{10 * i}–{10 * i + 9 if i < 9 else 100}", "n": n,
                  "h": round(100 * n / peak, 1)} for i, n in enumerate(hist)],
        "agents": summary(conn, "agent"), "rules": summary(conn, "rule"), "worst": worst,
        "failures": failures,
        "days": sorted({c["day"] for c in ok if c["day"]}),
        "agent_ids": sorted({c["agent_id"] for c in ok if c["agent_id"]}),
    }


def _safe(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name)[:120]


def render_dashboard(db: str, out: str, lang: str = "zh", link_audio: bool = True) -> str:
    from audit.results.store import connect

    conn = connect(db)
    pages_dir = Path(out).with_suffix("")
    pages_name = pages_dir.name + "_calls"
    view = dashboard_view(conn, lang, pages_name)
    # call pages for the calls the dashboard links to (the worst and every fatal one)
    target = Path(out).resolve().parent / pages_name
    target.mkdir(exist_ok=True)
    pack = load()
    for c in view["worst"]:
        result, meta = stored_call(conn, c["call_id"] or str(c["id"]))
        audio = c["file"] if link_audio and Path(c["file"]).exists() else None
        render_call(result, str(target / f"{_safe(c['call_id'] or str(c['id']))}.html"),
                    audio=audio, link_audio=True, lang=lang, pack=pack, meta=meta)
    _write(out, _env().get_template("dashboard.html.j2").render(**view))
    return out


