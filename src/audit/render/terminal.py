"""The spot-check verdict in the terminal: what a supervisor reads in ten seconds.

Order: score and pass/fail, failed rules with time and words, key metrics against their
norms, then the transcript with roles and times.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from audit.rules.pack import RulePack

ROLE = {"zh": {"agent": "坐席", "customer": "客户", "unknown": "未知"},
        "en": {"agent": "agent", "customer": "caller", "unknown": "unknown"}}
LABELS = {
    "zh": {"pass": "通过", "fail": "不通过", "fatal": "致命违规", "failed": "扣分项",
           "metrics": "指标", "transcript": "通话文本", "none": "无", "na": "不适用"},
    "en": {"pass": "PASS", "fail": "FAIL", "fatal": "FATAL", "failed": "Failed rules",
           "metrics": "Metrics", "transcript": "Transcript", "none": "none", "na": "n/a"},
}


def mmss(t: float) -> str:
    t = max(0.0, t)
    return f"{int(t // 60):02d}:{t % 60:04.1f}"


def render(result: dict[str, Any], pack: RulePack, console: Console, lang: str = "zh",
           transcript: bool = True) -> None:
    L, roles = LABELS[lang], ROLE[lang]
    st = pack.settings
    m = result["metrics"]
    head = Text()
    head.append(f"{result['file']}", style="bold")
    head.append(f"  {mmss(result['duration_s'])}  {result['channels']} ch "
                f"{result['sample_rate'] / 1000:g} kHz  agent: {result['agent_channel']}")
    console.print(head)
    if result.get("roles_reason"):
        console.print(Text(f"  ({result['roles_reason']})", style="dim"))
    verdict = Text()
    colour = "green" if result["passed"] else "red"
    verdict.append(f" {result['score']:g} ", style=f"bold white on {colour}")
    verdict.append(f" {L['pass'] if result['passed'] else L['fail']}", style=f"bold {colour}")
    if result["fatal"]:
        verdict.append(f"  {L['fatal']}", style="bold white on red")
    lost = [f"{pack.sections[k][lang]} -{v:g}" for k, v in result["sections"].items() if v]
    if lost:
        verdict.append("   " + "  ".join(lost), style="dim")
    console.print(verdict)

    failed = [f for f in result["findings"] if f["applicable"] and not f["passed"]]
    console.print(Text(f"\n{L['failed']}", style="bold"))
    if not failed:
        console.print(f"  {L['none']}")
    for f in sorted(failed, key=lambda f: -f["deduction"]):
        sev = {"fatal": "bold red", "major": "red", "minor": "yellow", "info": "cyan"}[f["severity"]]
        line = Text("  ? " if f.get("review") else "  ✗ ", style=sev)
        line.append(f"{f['rule']}", style=f"bold {sev}")
        line.append(f"  -{f['deduction']:g}  {f['message']}")
        if f.get("detail"):
            line.append(f"  [{f['detail']}]", style="dim")
        console.print(line)
        for e in f["evidence"][:3]:
            ev = Text(f"      {mmss(e['start'])} {roles.get(e['role'], e['role'] or '-')} ",
                      style="dim")
            ev.append_text(_highlight(e["text"], e.get("match", "")))
            if e.get("category"):
                ev.append(f"  ({e['category']})", style="dim")
            console.print(ev)

    console.print(Text(f"\n{L['metrics']}", style="bold"))
    table = Table(show_header=False, box=None, padding=(0, 2))
    for _ in range(4):
        table.add_column(no_wrap=True)
    rows = [
        ("answer delay", _fmt(m["answer_delay_s"], "s"), f"<= {st['answer_delay_max_s']:g} s"
         + (f", rings {m['rings']} <= {st['answer_rings_max']}" if m.get("rings") else ""),
         _ok(result, "answer_delay")),
        ("agent speech rate", _fmt(m["agent_speech_rate_cpm"], "/min", 0),
         f"{st['speech_rate_min_cpm']}-{st['speech_rate_max_cpm']} /min", _ok(result, "speech_rate")),
        ("longest silence", _fmt(m["max_silence_s"], "s"), f"dead air > {st['dead_air_s']:g} s",
         _ok(result, "dead_air")),
        ("holds", str(len(m["holds"])), "", _ok(result, "hold_before")),
        ("interruptions", "-" if m["agent_interruptions"] is None else str(m["agent_interruptions"]),
         "0", _ok(result, "interruption")),
        ("agent level", _fmt(m["agent_level_dbfs"], "dBFS"),
         f"{st['volume_min_dbfs']:g} to {st['volume_max_dbfs']:g}", _ok(result, "volume")),
    ]
    for name, val, norm, ok in rows:
        table.add_row(name, val, Text(norm, style="dim"), ok)
    console.print(table)
    # on its own line: in the table it would squeeze the verdict column off an 80-column screen
    console.print("  talk ratio  " + " / ".join(f"{k} {v:.0%}" for k, v in m["talk_ratio"].items()))

    if transcript:
        console.print(Text(f"\n{L['transcript']}", style="bold"))
        for u in result["utterances"]:
            style = "cyan" if u["role"] == "agent" else ("magenta" if u["role"] == "customer"
                                                          else "white")
            line = Text(f"  {mmss(u['start'])} ", style="dim")
            line.append(f"{roles.get(u['role'], u['role'])} ", style=style)
            line.append(u["text"])
            console.print(line)


def _highlight(text: str, match: str) -> Text:
    t = Text(text)
    if match and match in text:
        i = text.index(match)
        t.stylize("bold underline", i, i + len(match))
    return t


def _fmt(v: float | None, unit: str, nd: int = 1) -> str:
    return "-" if v is None else f"{v:.{nd}f} {unit}"


def _ok(result: dict[str, Any], rule: str) -> Text:
    f = next((f for f in result["findings"] if f["rule"] == rule), None)
    if f is None or not f["applicable"]:
        return Text("·", style="dim")
    return Text("✓", style="green") if f["passed"] else Text("✗", style="red")


def rules_table(pack: RulePack, console: Console, lang: str = "zh") -> None:
    t = Table(title=f"{pack.name} {pack.version} ({', '.join(pack.sources)})")
    for col in ("id", "section", "severity", "-", "check"):
        t.add_column(col, no_wrap=True)  # ids stay whole, so the list can be grepped
    for col in ("message", "source"):
        t.add_column(col, overflow="fold")
    for r in pack.rules:
        t.add_row(r.id + ("" if r.enabled else " (off)"), r.section, r.severity,
                  f"{r.deduction:g}", r.check + (f":{r.metric}" if r.metric else ""),
                  escape(r.text(lang)), escape(r.source))
    console.print(t)
