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
from typing import TYPE_CHECKING, Any

from jinja2 import Environment, PackageLoader, select_autoescape

from callaudit.audio.decode import Audio, decode
from callaudit.metrics.timing import per_minute_level, per_minute_rate, silence_kind
from callaudit.outputs import atomic_write
from callaudit.records import Utterance
from callaudit.render.rows import (
    detail,
    metric_rows,
    norms_of,
    section_name,
    talk_ratio,
)
from callaudit.results import store
from callaudit.results.summary import business_lines, summary
from callaudit.settings import Settings
from callaudit.strings import (
    LABELS,
    finding_message,
    label,
    mmss,
    not_party_line,
    privacy_line,
    stored_detail,
    stored_text,
)

if TYPE_CHECKING:
    from callaudit.rules.pack import RulePack

AUDIO_BITRATE = 12000  # Opus: telephone speech stays clear; 5 min of stereo is ~450 KB

def template_filters() -> dict[str, Any]:
    """The filters the page templates use (the review workbench registers them too)."""
    return {"mmss": mmss, "dash": lambda v: "–" if v is None else v,
            "tojson_safe": lambda v: json.dumps(v, ensure_ascii=True).replace("<", "\\u003c")}


def _env() -> Environment:
    env = Environment(loader=PackageLoader("callaudit.render", "templates"),
                      autoescape=select_autoescape(["html", "j2"]), trim_blocks=True,
                      lstrip_blocks=True)
    env.filters.update(template_filters())
    return env


# --- the call page -----------------------------------------------------------------------------
def call_view(result: dict[str, Any], lang: str = "zh",
              meta: dict[str, Any] | None = None) -> dict[str, Any]:
    """Everything the call template shows, computed here so it can be tested without HTML.
    Norms are the ones the result was judged with (render/rows.py)."""
    norms = norms_of(result)
    st = norms.settings
    dur = max(float(result.get("duration_s") or 0.0), 0.001)
    m = result["metrics"]
    findings = [{**f, "message": finding_message(f, result, lang), "detail": detail(f, lang)}
                for f in result["findings"]]
    failed = [f for f in findings if f["applicable"] and not f["passed"]]

    def x(t: float) -> float:  # seconds -> percent of the timeline width
        return round(100.0 * min(max(t, 0.0), dur) / dur, 3)

    def span(s: float, e: float, kind: str, text: str, t: float | None = None) -> dict[str, Any]:
        return {"x": x(s), "w": max(0.15, x(e) - x(s)), "kind": kind, "t": s if t is None else t,
                "label": f"{text} {mmss(s)}–{mmss(e)}"}

    L = LABELS[lang]
    lanes: dict[str, list[dict[str, Any]]] = {"agent": [], "customer": [], "events": []}
    for u in result["utterances"]:
        lane = "agent" if u["role"] == "agent" else "customer"
        lanes[lane].append(span(u["start"], u["end"], u["role"], f"{L[u['role']]}: {u['text']}"))
    agent_ch = {"left": 0, "right": 1}.get(result.get("agent_channel", ""))
    for n in result.get("not_party") or []:  # on the lane of the party whose channel holds it
        lane = "agent" if n["channel"] == agent_ch else "customer"
        lanes[lane].append(span(n["start"], n["end"], n["kind"],
                                f"{L[n['kind']]} ({n['label']}): {n.get('text', '')}"))
    holds = [(h["start"], h["end"]) for h in m.get("holds") or []]
    dead = [(d["start"], d["end"]) for d in m.get("dead_air") or []]
    for s in m.get("silences") or []:
        # from the spans, as the metrics classify it: older results stored every silence as
        # "silence", and the holds and dead air are in every result
        kind = silence_kind(s["start"], holds, dead)
        lanes["events"].append(span(s["start"], s["end"], kind,
                                    f"{L[kind]} {s['duration_s']:.0f}s"))
    for s in m.get("interruptions") or []:
        lanes["events"].append(span(s["start"], s["end"], "overlap", L["overlap"]))
    if m.get("connect_s"):
        lanes["events"].append(span(0.0, m["connect_s"], "ring", f"{L['ring']} x{m['rings']}"
                                    if m.get("rings") else L["pre_answer"]))
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
    order = {"fail": 0, "pass": 1, "na": 2}  # what went wrong first
    for key in norms.sections:
        rows = sorted((f for f in findings if f["section"] == key),
                      key=lambda f: order[_verdict(f)])
        sections.append({"key": key, "name": section_name(key, norms, lang),
                         "lost": result["sections"].get(key, 0.0),
                         "rules": [{**f, "verdict": _verdict(f)} for f in rows]})
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
    lines += [{**n, "role": "system", "parts": [{"text": n["text"]}]}  # the machine's words
              for n in result.get("not_party") or [] if n["kind"] == "system"]
    lines.sort(key=lambda u: u["start"])
    rates, levels = _per_minute(result, dur)
    metric_table = [{"name": r.label, "value": r.value, "norm": r.norm,
                     "verdict": "" if r.verdict == "na" else r.verdict}
                    for r in metric_rows(result, norms, lang)]
    metric_table.append({"name": label("talk_ratio", lang), "value": talk_ratio(result, lang),
                         "norm": "", "verdict": ""})
    fatal_reasons = [f["message"] for f in failed if f["severity"] == "fatal"]
    return {
        "lang": lang, "L": L, "result": result, "meta": meta or {}, "duration": dur,
        "lanes": lanes, "markers": markers, "sections": sections, "lines": lines,
        "section_names": {k: section_name(k, norms, lang) for k in norms.sections},
        "failed": failed, "metrics": metric_table, "fatal_reasons": fatal_reasons,
        "norms": norms,
        "roles_reason": stored_text(result.get("roles_reason", ""), result.get("roles_why"), lang),
        "layout": stored_detail(result.get("layout"), lang),
        "warnings": [stored_detail(w, lang) for w in result.get("warnings") or []],
        "privacy": privacy_line(result, lang),
        "not_party": not_party_line(result, lang),
        "outcome_why": stored_detail(result.get("outcome_why"), lang),
        "level_series": [{"minute": k, "level": v} for k, v in enumerate(levels)],
        "level_band": (st.volume_min_dbfs, st.volume_max_dbfs),
        "rate_series": [{"minute": k, "rate": v} for k, v in enumerate(rates)],
        "rate_band": (st.speech_rate_min_cpm, st.speech_rate_max_cpm),
        "ticks": [{"x": x(t), "label": mmss(t)} for t in _ticks(dur)],
    }


def _verdict(f: dict[str, Any]) -> str:
    return "na" if not f["applicable"] else "pass" if f["passed"] else "fail"


def _per_minute(result: dict[str, Any], dur: float) -> tuple[list[Any], list[Any]]:
    """The agent's rate and level per minute, as the metrics measured them; results stored
    before the metrics had them get them from the same functions, over the utterances."""
    m = result["metrics"]
    if "agent_rate_per_minute" in m:
        return m["agent_rate_per_minute"], m["agent_level_per_minute"]
    agent = [Utterance.from_json(u) for u in result["utterances"] if u["role"] == "agent"]
    return ([None if v is None else round(v) for v in per_minute_rate(agent, dur)],
            [None if v is None else round(v, 1) for v in per_minute_level(agent, dur)])


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


def encode_audio(audio: Audio | str) -> str:
    """The recording (decoded, or a path) as Opus in Ogg, base64, for a data: URI (the page
    stays one file)."""
    return "data:audio/ogg;base64," + base64.b64encode(opus_bytes(audio)).decode()


def opus_bytes(audio: Audio | str) -> bytes:
    """The recording (decoded, or a path) as Opus in Ogg (AUDIO_BITRATE), for a page to play."""
    import av
    import numpy as np

    a = decode(audio) if isinstance(audio, str) else audio
    buf = io.BytesIO()
    layout = "stereo" if len(a.channels) == 2 else "mono"
    n = len(a.channels[0])
    with av.open(buf, "w", format="ogg") as out:
        stream = out.add_stream("libopus", rate=48000, layout=layout)
        stream.bit_rate = AUDIO_BITRATE
        resampler = av.AudioResampler(format="s16", layout=layout, rate=48000)
        for i in range(0, n, 16000):  # a second at a time: never a copy of the whole call
            x = np.stack([c[i:i + 16000] for c in a.channels]).astype(np.float32)
            frame = av.AudioFrame.from_ndarray(x, format="fltp", layout=layout)
            frame.sample_rate = 16000
            for f in resampler.resample(frame):
                for p in stream.encode(f):
                    out.mux(p)
        for f in resampler.resample(None):
            for p in stream.encode(f):
                out.mux(p)
        for p in stream.encode(None):
            out.mux(p)
    return buf.getvalue()


def render_call(result: dict[str, Any], out: str, audio: Audio | str | None = None,
                link_audio: bool = False, lang: str = "zh",
                meta: dict[str, Any] | None = None, masked: Settings | None = None) -> str:
    """Write the call page. `audio`: the recording (decoded, or its path) to embed, or with
    `link_audio` the path to link to. `masked`: the result is masked (privacy/mask.py), and
    so is the audio, embedded with the spans of personal data replaced (settings
    redact_audio_pad_s, redact_tone_hz), never linked."""
    view = call_view(result, lang, meta)
    src = None
    if audio is not None and masked is not None:
        src = encode_audio(masked_audio(audio, result, masked))
    elif audio is not None:
        path = audio if isinstance(audio, str) else audio.path
        src = _relpath(path, out) if link_audio else encode_audio(audio)
    atomic_write(out, _env().get_template("call.html.j2").render(**view, audio_src=src))
    return out


def masked_audio(audio: Audio | str, result: dict[str, Any], settings: Settings) -> Audio:
    """The recording (decoded, or a path) with the spans of the personal data of `result`
    (its `privacy` report) replaced (privacy/audio.py)."""
    from callaudit.privacy.audio import mask_audio, spans_of

    a = decode(audio) if isinstance(audio, str) else audio
    return mask_audio(a, spans_of(result, settings.redact_audio_pad_s), settings.redact_tone_hz)


def _relpath(target: str, out: str) -> str:
    import os

    return os.path.relpath(Path(target).resolve(), Path(out).resolve().parent).replace(os.sep, "/")


# --- from the database -------------------------------------------------------------------------
def dashboard_view(conn: sqlite3.Connection, lang: str = "zh", pages: str | None = None,
                   settings: Settings | None = None) -> dict[str, Any]:

    L = LABELS[lang]
    ok = store.ok_calls(conn)
    failures = store.failed_files(conn)
    silent = store.no_speech_calls(conn)
    unconnected = store.no_speech_calls(conn, "not_connected")
    fatal_rules = store.fatal_rules_by_call(conn)
    hist = [0] * 10
    for c in ok:
        hist[min(9, int((c["score"] or 0) // 10))] += 1
    peak = max(hist) or 1
    for c in ok:
        c["fatal_rules"] = ", ".join(fatal_rules.get(c["id"], []))
        c["href"] = f"{pages}/{page_name(c)}" if pages else None
    worst = [c for c in ok if c["fatal"]] + [c for c in ok if not c["fatal"]][:20]
    return {
        "lang": lang, "L": L,
        "totals": {"calls": len(ok), "hours": sum(c["duration_s"] or 0 for c in ok) / 3600,
                   "pass_rate": (sum(c["passed"] for c in ok) / len(ok)) if ok else 0.0,
                   "fatal": sum(c["fatal"] for c in ok), "failed_files": len(failures),
                   "no_speech": len(silent), "not_connected": len(unconnected)},
        "hist": [{"label": f"{10 * i}–{10 * i + 9 if i < 9 else 100}", "n": n,
                  "h": round(100 * n / peak, 1)} for i, n in enumerate(hist)],
        "agents": summary(conn, "agent"), "rules": summary(conn, "rule", settings=settings),
        "lines": business_lines(conn),
        "worst": worst,
        "failures": failures,
        "no_speech": [{**c, "why": stored_detail(c["why"], lang)}
                      for c in silent],
        "not_connected": [{**c, "why": stored_detail(c["why"], lang)} for c in unconnected],
        "days": sorted({c["day"] for c in ok if c["day"]}),
        "agent_ids": sorted({c["agent_id"] for c in ok if c["agent_id"]}),
    }


def _safe(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name)[:120]


def page_name(call: dict[str, Any]) -> str:
    """The file name of a stored call's page: its call id for the reader, and its content
    hash so that two calls with one call id (another day, another center) never share a page."""
    return f"{_safe(call['call_id'] or 'call')}-{call['sha256'][:12]}.html"


def render_dashboard(db: str, out: str, lang: str = "zh", link_audio: bool = True,
                     settings: Settings | None = None, redact: RulePack | None = None) -> str:
    """Write the dashboard of database `db` and the pages of its worst calls; `settings`:
    the review thresholds that flag rules (the default pack's when None). `redact`: mask
    personal data with this pack's `entities:` in the pages, their audio embedded masked."""
    conn = store.connect(db, readonly=True)
    pages_dir = Path(out).with_suffix("")
    pages_name = pages_dir.name + "_calls"
    view = dashboard_view(conn, lang, pages_name, settings)
    # call pages for the calls the dashboard links to (the worst and every fatal one)
    target = Path(out).resolve().parent / pages_name
    target.mkdir(exist_ok=True)
    for c in view["worst"]:
        result, meta = store.stored_call(conn, c["sha256"])  # this call, not another with its id
        file = store.recording_file(c["file"], db)  # as stored, from whatever folder
        audio = str(file) if link_audio and file.exists() else None
        if redact is not None:
            from callaudit.privacy.mask import redact as mask

            render_call(mask(result, redact), str(target / page_name(c)), audio=audio, lang=lang,
                        meta=meta, masked=redact.settings)
            continue
        render_call(result, str(target / page_name(c)),
                    audio=audio, link_audio=True, lang=lang, meta=meta)
    atomic_write(out, _env().get_template("dashboard.html.j2").render(**view))
    return out


