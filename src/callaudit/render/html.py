"""Reviewer pages: one self-contained HTML page per call, and a nightly dashboard.

Rendered from stored results (CallResult records, and the dashboard's rows of the database,
results/dashboard.py), never by re-running the model; this module neither reads the database
nor decodes audio: a page's audio comes as the player's `src` (audio/opus.py page_audio).
Jinja2 with autoescape everywhere: transcripts, file names and agent ids are untrusted text.
Charts are server-side SVG; the little JavaScript (seek on click, playhead, current line,
table sort and filters) is inline. No request leaves the page.
"""

from __future__ import annotations

import json
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

from callaudit.metrics.timing import per_minute_level, per_minute_rate, silence_kind
from callaudit.outputs import atomic_write
from callaudit.parts import Reason
from callaudit.records import CallResult, Finding
from callaudit.render.rows import (
    layout_reason,
    metric_rows,
    norms_of,
    not_party_line,
    outcome_reason,
    privacy_line,
    roles_reason,
    section_name,
    talk_ratio,
    verdict,
)
from callaudit.results.dashboard import Dashboard, worst
from callaudit.results.hotwords import MIN_CALLS, OPENING_S, sparkline
from callaudit.strings import HOT, LABELS, label, mmss, side


def template_filters() -> dict[str, Any]:
    """The filters the page templates use (the review workbench registers them too)."""
    return {"mmss": mmss, "dash": lambda v: "–" if v is None else v, "spark": sparkline,
            "tojson_safe": lambda v: json.dumps(v, ensure_ascii=True).replace("<", "\\u003c")}


def _env() -> Environment:
    env = Environment(loader=PackageLoader("callaudit.render", "templates"),
                      autoescape=select_autoescape(["html", "j2"]), trim_blocks=True,
                      lstrip_blocks=True)
    env.filters.update(template_filters())
    return env


# --- the call page -----------------------------------------------------------------------------
def call_view(result: CallResult, lang: str = "zh",
              meta: dict[str, Any] | None = None) -> dict[str, Any]:
    """Everything the call template shows, computed here so it can be tested without HTML.
    Norms are the ones the result was judged with (render/rows.py). The findings, lines and
    spans are dicts for the templates: a finding's audit.call/1 fields with its message and
    detail in `lang` (and its `verdict` in `sections`)."""
    norms = norms_of(result)
    st = norms.settings
    dur = max(float(result.duration_s or 0.0), 0.001)
    m = result.metrics
    findings = [_finding(f, result, lang) for f in result.findings]
    failed = [f for f in findings if f["applicable"] and not f["passed"]]

    def x(t: float) -> float:  # seconds -> percent of the timeline width
        return round(100.0 * min(max(t, 0.0), dur) / dur, 3)

    def span(s: float, e: float, kind: str, text: str, t: float | None = None) -> dict[str, Any]:
        return {"x": x(s), "w": max(0.15, x(e) - x(s)), "kind": kind, "t": s if t is None else t,
                "label": f"{text} {mmss(s)}–{mmss(e)}"}

    L = LABELS[lang]
    lanes: dict[str, list[dict[str, Any]]] = {"agent": [], "customer": [], "events": []}
    for u in result.utterances:
        lane = "agent" if u.role == "agent" else "customer"
        lanes[lane].append(span(u.start, u.end, u.role, f"{L[u.role]}: {u.text}"))
    agent_ch = {"left": 0, "right": 1}.get(result.agent_channel)
    for n in result.not_party:  # on the lane of the party whose channel holds it
        lane = "agent" if n.channel == agent_ch else "customer"
        lanes[lane].append(span(n.start, n.end, n.kind, f"{L[n.kind]} ({n.label}): {n.text}"))
    holds = [(h.start, h.end) for h in m.holds]
    dead = [(d.start, d.end) for d in m.dead_air]
    for s in m.silences:
        # from the spans, as the metrics classify it: older results stored every silence as
        # "silence", and the holds and dead air are in every result
        kind = silence_kind(s.start, holds, dead)
        lanes["events"].append(span(s.start, s.end, kind, f"{L[kind]} {s.duration_s:.0f}s"))
    for s in m.interruptions or []:
        lanes["events"].append(span(s.start, s.end, "overlap", L["overlap"]))
    if m.connect_s:
        lanes["events"].append(span(0.0, m.connect_s, "ring", f"{L['ring']} x{m.rings}"
                                    if m.rings else L["pre_answer"]))
    if m.answer_delay_s is not None:
        c = m.connect_s or 0.0
        lanes["events"].append(span(c, c + m.answer_delay_s, "answer",
                                    f"{L['answer']} {m.answer_delay_s:.1f}s"))
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
                      key=lambda f: order[f["verdict"]])
        sections.append({"key": key, "name": section_name(key, norms, lang),
                         "lost": result.sections.get(key, 0.0), "rules": rows})
    # transcript lines with the words that matched a rule highlighted
    marks: dict[tuple[float, float], list[dict[str, Any]]] = {}
    for rec in result.findings:
        if not rec.applicable:
            continue
        for i, e in enumerate(rec.evidence):
            if e.match:
                marks.setdefault((round(e.start, 2), round(e.end, 2)), []).append(
                    {"match": e.match, "rule": rec.rule, "bad": not rec.passed,
                     "category": e.category, "id": f"f-{rec.rule}-{i}"})
    lines = []
    for u in result.utterances:
        hits = marks.get((round(u.start, 2), round(u.end, 2)), [])
        lines.append({**u.to_json(), "parts": _split(u.text, hits)})
    lines += [{**n.to_json(), "role": "system", "parts": [{"text": n.text}]}  # the machine's words
              for n in result.not_party if n.kind == "system"]
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
        "agent_side": side(result.agent_channel, lang),
        "roles_reason": roles_reason(result, lang),
        "layout": layout_reason(result, lang),
        "warnings": [w.in_lang(lang) for w in result.warnings],
        "privacy": privacy_line(result, lang),
        "not_party": not_party_line(result, lang),
        "outcome_why": outcome_reason(result, lang),
        "level_series": [{"minute": k, "level": v} for k, v in enumerate(levels)],
        "level_band": (st.volume_min_dbfs, st.volume_max_dbfs),
        "rate_series": [{"minute": k, "rate": v} for k, v in enumerate(rates)],
        "rate_band": (st.speech_rate_min_cpm, st.speech_rate_max_cpm),
        "ticks": [{"x": x(t), "label": mmss(t)} for t in _ticks(dur)],
    }


def _finding(f: Finding, result: CallResult, lang: str) -> dict[str, Any]:
    """A finding as the templates read it: its audit.call/1 fields, its message and detail
    in `lang`, and its verdict (pass, fail, na)."""
    return {**f.to_json(), "message": result.message_of(f, lang), "detail": f.detail_in(lang),
            "verdict": verdict(f)}


def _per_minute(result: CallResult, dur: float) -> tuple[list[Any], list[Any]]:
    """The agent's rate and level per minute, as the metrics measured them; results stored
    before the metrics had them get them from the same functions, over the utterances."""
    m = result.metrics
    if m.agent_rate_per_minute or m.agent_level_per_minute:
        return m.agent_rate_per_minute, m.agent_level_per_minute
    agent = [u for u in result.utterances if u.role == "agent"]
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


def render_call(result: CallResult, out: str, audio_src: str | None = None, lang: str = "zh",
                meta: dict[str, Any] | None = None) -> str:
    """Write the call page of `result` at `out`. `audio_src`: its player's source (the
    recording embedded or linked, masked for a masked result: audio/opus.py page_audio,
    privacy/audio.py call_page_audio), None: no recording."""
    view = call_view(result, lang, meta)
    atomic_write(out, _env().get_template("call.html.j2").render(**view, audio_src=audio_src))
    return out


# --- the dashboard -----------------------------------------------------------------------------
def dashboard_view(data: Dashboard, lang: str = "zh", pages: str | None = None) -> dict[str, Any]:
    """Everything the dashboard template shows of a database's rows (results/dashboard.py);
    `pages`: the folder (relative to the dashboard) the worst calls' pages are written to,
    None: not linked."""
    L = LABELS[lang]
    ok = [{**c, "fatal_rules": ", ".join(c["fatal_rules"]),
           "href": f"{pages}/{page_name(c)}" if pages else None} for c in data.calls]
    peak = max(data.hist) or 1
    return {
        "lang": lang, "L": L,
        "totals": data.totals,
        "hist": [{"label": f"{10 * i}–{10 * i + 9 if i < 9 else 100}", "n": n,
                  "h": round(100 * n / peak, 1)} for i, n in enumerate(data.hist)],
        "agents": data.agents, "rules": data.rules,
        "lines": data.lines,
        "worst": worst(ok),
        "failures": data.failures,
        "no_speech": [{**c, "why": _why(c["why"], lang)} for c in data.no_speech],
        "not_connected": [{**c, "why": _why(c["why"], lang)} for c in data.not_connected],
        "days": sorted({c["day"] for c in ok if c["day"]}),
        "agent_ids": sorted({c["agent_id"] for c in ok if c["agent_id"]}),
        # the night's hot words (results/hotwords.py); a call behind a term links to its page
        # when it has one (the worst calls)
        "H": HOT[lang], "hot": data.hot, "min_calls": MIN_CALLS, "opening_s": int(OPENING_S),
        "page_of": {c["sha256"]: c["href"] for c in worst(ok) if c["href"]},
    }


def _why(why: Reason | None, lang: str) -> str:
    return why.in_lang(lang) if why is not None else ""


NAME_BYTES = 120  # of a page name's call id part: file systems allow 255 bytes, not characters


def _safe(name: str) -> str:
    """`name` as a file name part: letters and digits kept (Chinese too), anything else
    `_`, cut to NAME_BYTES of UTF-8 at a character's end (80 Chinese characters are 240
    bytes; recorders put the customer's name and queue in the file name)."""
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name)
    return safe.encode("utf-8")[:NAME_BYTES].decode("utf-8", "ignore")


def page_name(call: dict[str, Any]) -> str:
    """The file name of a stored call's page: its call id for the reader, and its content
    hash so that two calls with one call id (another day, another center) never share a page."""
    return f"{_safe(call['call_id'] or 'call')}-{call['sha256'][:12]}.html"


def render_dashboard(data: Dashboard, out: str, lang: str = "zh", pages: str | None = None) -> str:
    """Write the dashboard of a database's rows (results/dashboard.py) at `out`, its worst
    calls linked to their pages in the folder `pages` (relative to `out`; None: not linked)."""
    view = dashboard_view(data, lang, pages)
    atomic_write(out, _env().get_template("dashboard.html.j2").render(**view))
    return out
