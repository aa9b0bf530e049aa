"""The spot-check verdict in the terminal: what a supervisor reads in ten seconds.

Order: score and pass/fail, failed rules with time and words, key metrics against their
norms, then the transcript with roles and times.
"""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from callaudit.records import CallResult
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
)
from callaudit.rules.pack import RulePack
from callaudit.strings import label, listed, mmss, role


def render(result: CallResult, console: Console, lang: str = "zh",
           transcript: bool = True) -> None:
    """The verdict of one result, against the norms it was judged with."""
    norms = norms_of(result)
    head = Text()
    head.append(f"{result.file}", style="bold")
    head.append(f"  {mmss(result.duration_s, tenths=True)}  {result.channels} "
                f"{label('channels', lang)} {result.sample_rate / 1000:g} kHz  "
                f"{label('agent_channel', lang)}: {result.agent_channel}")
    console.print(head)
    layout = result.layout
    if layout is not None and layout.why.key not in ("", "layout_mono", "layout_stereo"):
        console.print(Text(f"  ({layout_reason(result, lang)})", style="dim"))  # a decision worth a line
    if result.roles_reason:
        console.print(Text(f"  ({roles_reason(result, lang)})", style="dim"))
    if not norms.recorded:
        console.print(Text(f"  ({label('default_norms', lang)})", style="dim"))
    spans = result.acoustics.get("not_speech") or []
    if spans:  # what was heard and not taken for speech: ringback, music on hold, DTMF ...
        kinds: dict[str, list[str]] = {}
        for a, b, lab, _ in spans:
            kind, _, plan = lab.partition(":")
            name = label(f"tone_{kind}", lang) + (f"({plan})" if plan else "")
            kinds.setdefault(name, []).append(f"{mmss(a)}–{mmss(b)}")
        console.print(Text(f"  ({label('not_speech', lang)}: {listed(kinds)})", style="dim"))
    others = not_party_line(result, lang)
    if others:  # sound on a party's channel that was not that party: machine, echo, background
        console.print(Text(f"  ({others})", style="dim"))
    held = privacy_line(result, lang)
    if held:
        console.print(Text(f"  ({held})", style="dim"))
    for w in result.warnings:  # before the verdict: it is a verdict on less
        console.print(Text(f"  ! {w.in_lang(lang)}", style="bold yellow"))
    if result.outcome in ("no_speech", "not_connected"):  # no call: no score, no pass
        verdict = Text()
        verdict.append(f" {label(result.outcome, lang)} ", style="bold white on yellow")
        why = outcome_reason(result, lang)
        verdict.append(f"  {label('not_audited', lang)}: {why}", style="bold yellow")
        console.print(verdict)
        if transcript and result.not_party:
            _transcript(result, console, lang)
        return
    verdict = Text()
    colour = "green" if result.passed else "red"
    verdict.append(f" {result.score:g} ", style=f"bold white on {colour}")
    verdict.append(f" {label('passed' if result.passed else 'failed', lang)}",
                   style=f"bold {colour}")
    if result.fatal:
        verdict.append(f"  {label('fatal', lang)}", style="bold white on red")
    lost = [f"{section_name(k, norms, lang)} -{v:g}" for k, v in result.sections.items() if v]
    if lost:
        verdict.append("   " + "  ".join(lost), style="dim")
    console.print(verdict)

    failed = [f for f in result.findings if f.applicable and not f.passed]
    console.print(Text(f"\n{label('failed_rules', lang)}", style="bold"))
    if not failed:
        console.print(f"  {label('none', lang)}")
    for f in sorted(failed, key=lambda f: -f.deduction):
        sev = {"fatal": "bold red", "major": "red", "minor": "yellow", "info": "cyan"}[f.severity]
        line = Text("  ? " if f.review else "  ✗ ", style=sev)
        line.append(f"{f.rule}", style=f"bold {sev}")
        line.append(f"  -{f.deduction:g}  {result.message_of(f, lang)}")
        why = f.detail_in(lang)
        if why:
            line.append(f"  [{why}]", style="dim")
        console.print(line)
        for e in f.evidence[:3]:
            ev = Text(f"      {mmss(e.start, tenths=True)} {role(e.role, lang)} ", style="dim")
            ev.append_text(_highlight(e.text, e.match))
            if e.category:
                ev.append(f"  ({e.category})", style="dim")
            console.print(ev)

    console.print(Text(f"\n{label('metrics', lang)}", style="bold"))
    table = Table(show_header=False, box=None, padding=(0, 2))
    for _ in range(4):
        table.add_column(no_wrap=True)
    for row in metric_rows(result, norms, lang):
        table.add_row(row.label, row.value, Text(row.norm, style="dim"), _mark(row.verdict))
    console.print(table)
    # on its own line: in the table it would squeeze the verdict column off an 80-column screen
    console.print(f"  {label('talk_ratio', lang)}  {talk_ratio(result, lang)}")

    if transcript:
        _transcript(result, console, lang)


def _transcript(result: CallResult, console: Console, lang: str) -> None:
    """Every utterance, and the machine's words beside them where they were said."""
    console.print(Text(f"\n{label('transcript', lang)}", style="bold"))
    said = [(u.start, u.role, u.text) for u in result.utterances] + \
        [(n.start, "system", n.text) for n in result.not_party if n.kind == "system"]
    for start, who, text in sorted(said, key=lambda p: p[0]):
        style = {"agent": "cyan", "customer": "magenta", "system": "dim italic"}.get(who, "white")
        line = Text(f"  {mmss(start, tenths=True)} ", style="dim")
        line.append(f"{label('system', lang) if who == 'system' else role(who, lang)} ",
                    style=style)
        line.append(text, style="dim" if who == "system" else "")
        console.print(line)


def _highlight(text: str, match: str) -> Text:
    t = Text(text)
    if match and match in text:
        i = text.index(match)
        t.stylize("bold underline", i, i + len(match))
    return t


def _mark(verdict: str) -> Text:
    if verdict == "pass":
        return Text("✓", style="green")
    if verdict == "fail":
        return Text("✗", style="red")
    return Text("·", style="dim")


def rules_table(pack: RulePack, console: Console, lang: str = "zh") -> None:
    t = Table(title=f"{pack.name} {pack.version} ({', '.join(pack.sources)})")
    for col in ("id", "section", "severity", "-", "check"):
        t.add_column(col, no_wrap=True)  # ids stay whole, so the list can be grepped
    for col in ("message", "source"):
        t.add_column(col, overflow="fold")
    for r in pack.rules:
        t.add_row(r.id + ("" if r.enabled else " (off)"), r.section, r.severity,
                  f"{r.deduction:g}", r.check + (f":{r.metric}" if r.metric else ""),
                  escape(r.text(lang, pack.settings)), escape(r.source))
    console.print(t)
