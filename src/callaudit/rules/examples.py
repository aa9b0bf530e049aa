"""A rule's own examples: short scripted calls that must pass, fail or not apply.

Like semgrep's annotated targets, each rule may carry `examples:` in YAML, by expected verdict:

    examples:
      fail: [["A: 喂，你好，有什么事？", "C: 我想查一下订单。"]]
      pass: [["A: 您好，这里是客户服务中心，工号001。", "C: 你好。"]]
      na:   [["C: 喂？有人吗？"]]          # the rule does not apply

An example is a list of lines, one line as a plain string, or a mapping
`{lines: [...], stereo: false, rings: 5, connect_s: 20.0, duration_s: 700, clipping: 0.0}`
for the rules that need the recording's facts. A line is

    <who>[ <time>][ (<options>)]: <text>

- who: `A` agent, `C` customer, `?` unknown speaker (mono only);
- time: `12.5` starts at 12.5 s, `12.5-15` starts and ends there, `+8` starts 8 s after the
  previous line ends; default `+0.6`;
- options: `cpm=300` speaking rate in syllables per minute (default 200; sets the duration
  unless the time gives the end), `level=-50` the utterance's dBFS (default -20).

Stereo by default (agent on channel 0, customer on 1); `stereo: false` puts every line on
channel 0 with its role as written (A / C as roles.apply_mono labels from words, ? unknown).
rules/selftest.py judges them as the pipeline would, minus ASR.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from callaudit.records import Utterance
from callaudit.speech.text import spoken_units

BUCKETS = {"fail": "fail", "pass": "pass", "na": "n/a"}  # bucket -> the verdict it expects
CALL_KEYS = ("lines", "stereo", "rings", "connect_s", "duration_s", "clipping")
ROLES = {"A": "agent", "C": "customer", "?": "unknown"}
DEFAULT_GAP_S, DEFAULT_CPM, DEFAULT_LEVEL = 0.6, 200.0, -20.0

_NUM = r"\d+(?:\.\d+)?"
_LINE = re.compile(rf"^\s*(?P<who>\S+?)(?:\s+(?P<time>\+{_NUM}|{_NUM}(?:-{_NUM})?))?"
                   rf"\s*(?:\((?P<opts>[^)]*)\))?\s*[:：](?P<text>.*)$")
_OPTS = {"cpm": (1.0, 2000.0), "level": (-100.0, 0.0)}  # option -> allowed range


@dataclass
class Example:
    utterances: list[Utterance]  # sorted by start
    stereo: bool = True
    rings: int | None = None
    connect_s: float = 0.0
    duration_s: float | None = None  # default: 2 s after the last line ends
    clipping: float = 0.0


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _options(text: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, eq, value = (s.strip() for s in part.partition("="))
        if key not in _OPTS:
            raise ValueError(f"unknown option {key!r} (one of {', '.join(_OPTS)})")
        try:
            v = float(value) if eq else float("nan")
        except ValueError:
            v = float("nan")
        lo, hi = _OPTS[key]
        if not lo <= v <= hi:  # also refuses nan: a missing or non-numeric value
            raise ValueError(f"option {key} needs a number in [{lo:g}, {hi:g}], not {value!r}")
        out[key] = v
    return out


def parse_line(line: str, prev_end: float, stereo: bool) -> Utterance:
    """One line of an example; `prev_end`: where the previous line ended (0 for the first)."""
    m = _LINE.match(line)
    if not m:
        raise ValueError(f"{line!r}: not `<who>[ <time>][ (<options>)]: <text>` (A: 您好。)")
    who, time, text = m["who"], m["time"], m["text"].strip()
    if who not in ROLES:
        raise ValueError(f"{line!r}: speaker {who!r} is not A (agent), C (customer) or ? (unknown)")
    if who == "?" and stereo:
        raise ValueError(f"{line!r}: an unknown speaker (?) needs `stereo: false`")
    if not text:
        raise ValueError(f"{line!r}: no text after the colon")
    opts = _options(m["opts"] or "")
    start, end = prev_end + DEFAULT_GAP_S, None
    if time and time.startswith("+"):
        start = prev_end + float(time[1:])
    elif time:
        first, _, last = time.partition("-")
        start = float(first)
        end = float(last) if last else None
        if end is not None and end <= start:
            raise ValueError(f"{line!r}: ends at {end:g} s, not after it starts ({start:g} s)")
    if end is None:  # as tests/helpers/transcripts.py: the text at its speaking rate, at least 0.4 s
        end = start + max(0.4, spoken_units(text) * 60 / opts.get("cpm", DEFAULT_CPM))
    role = ROLES[who]
    channel = 1 if stereo and role == "customer" else 0
    return Utterance(channel, round(start, 3), round(end, 3), text, role,  # type: ignore[arg-type]
                     level_dbfs=opts.get("level", DEFAULT_LEVEL))


def parse(example: Any) -> Example:
    """An example as written in YAML (a line, a list of lines, or a mapping); ValueError with
    a one-line reason when it is not one."""
    if isinstance(example, Example):
        return example
    call: dict[str, Any] = {"lines": example}
    if isinstance(example, dict):
        call = {k: v for k, v in example.items() if k != "__line__"}
        unknown = [k for k in call if k not in CALL_KEYS]
        if unknown:  # `- A: 您好` unquoted is a mapping {A: 您好}: say how to write it
            raise ValueError(f"unknown key {unknown[0]!r} (one of {', '.join(CALL_KEYS)}; "
                             "quote a line: \"A: 您好\")")
        if "lines" not in call:
            raise ValueError("a mapping example needs `lines:`")
    lines = call["lines"]
    if isinstance(lines, str):
        lines = [lines]
    if not isinstance(lines, list) or not all(isinstance(x, str) for x in lines):
        raise ValueError("an example is a line of text, a list of lines, or a mapping with "
                         "`lines:` (quote each line: \"A: 您好\")")
    stereo = call.get("stereo", True)
    if not isinstance(stereo, bool):
        raise ValueError("`stereo` must be true or false")
    for key in ("connect_s", "duration_s", "clipping"):
        if key in call and not (_number(call[key]) and call[key] >= 0):
            raise ValueError(f"`{key}` must be a number >= 0")
    rings = call.get("rings")
    if rings is not None and not (isinstance(rings, int) and not isinstance(rings, bool)
                                  and rings >= 0):
        raise ValueError("`rings` must be a whole number >= 0")
    if call.get("clipping", 0.0) > 1:
        raise ValueError("`clipping` is a share of samples, in [0, 1]")
    utts: list[Utterance] = []
    for line in lines:
        utts.append(parse_line(line, utts[-1].end if utts else 0.0, stereo))
    duration = call.get("duration_s")
    return Example(sorted(utts, key=lambda u: u.start), stereo, rings,
                   float(call.get("connect_s", 0.0)),
                   None if duration is None else float(duration),
                   float(call.get("clipping", 0.0)))


def examples_of(rule_examples: dict[str, list[Any]]) -> list[tuple[str, int, Any]]:
    """(bucket, index, example) of every example, in bucket order fail, pass, na."""
    return [(b, i, ex) for b in BUCKETS for i, ex in enumerate(rule_examples.get(b) or [])]


def example_problems(rule: dict[str, Any]) -> list[str]:
    """What is wrong with a YAML rule's `examples` (shape, bucket, lines), one line each."""
    if "examples" not in rule:
        return []
    examples = rule["examples"]
    if not isinstance(examples, dict):
        return ["`examples` must map fail / pass / na to a list of examples"]
    out: list[str] = []
    for bucket, items in examples.items():
        if bucket == "__line__":
            continue
        if bucket not in BUCKETS:
            out.append(f"examples: unknown bucket `{bucket}` (one of {', '.join(BUCKETS)})")
            continue
        if not isinstance(items, list):
            out.append(f"examples.{bucket} must be a list of examples")
            continue
        for i, ex in enumerate(items):
            try:
                parse(ex)
            except ValueError as e:
                out.append(f"examples.{bucket}[{i}]: {e}")
    return out
