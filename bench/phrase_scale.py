"""A center's whole forbidden-word list as one forbid category: 10,000 phrases.

    .venv/bin/python bench/phrase_scale.py [--phrases 10000] [--repeat 5]

Writes bench/phrase_scale.md (and prints its JSON); bench/run.py includes it. No model:
the calls are the stored audits of tests/data/results (what Whisper heard, homophones
included), judged again as `audit rescore` and `audit rules try` judge them
(results/rescore.rejudge, the pack's norms worked out once). The list is made from jieba's
dictionary (common words and idioms, in the shapes forbidden phrases take: 你别管, verb and
object, adverb and verb, a few with a key syllable or a number), seed 35, with none of the
default pack's phrases; it goes in as a center's rule (`check: forbid`, one category).

Matching is timed three ways, per call: the default pack; the default pack and the list,
"before" (speech/phrase_index switched off: `find` on every phrase of the list, every
utterance pair) and "after" (the list's index names the phrases that may be found; `find`
runs on those). The category's own cost is a pack with that rule alone minus a pack with no
rule (metrics only); the default pack's rules likewise. Before and after must give the same
findings, or the script stops.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from callaudit.records import CallResult, Region  # noqa: E402
from callaudit.results.rescore import rejudge  # noqa: E402
from callaudit.rules.judge import judged_with  # noqa: E402
from callaudit.rules.pack import RulePack, load  # noqa: E402
from callaudit.speech import phrase_index  # noqa: E402
from callaudit.speech.match import Stream  # noqa: E402

RULE_ID = "center_forbidden"
CALLS = ("demo_call", "bad_call", "mono_call", "ringback_call")  # tests/data/results
SEED = 35
PRONOUNS = ("你", "您", "我", "我们", "你们", "这个", "那个", "这", "那")


def _dictionary(min_freq: int = 100) -> dict[str, list[str]]:
    """jieba's dictionary words of 2-4 Han characters, by the first letter of their part of
    speech (i idiom, l set phrase, v verb, n noun, a adjective, d adverb ...)."""
    import jieba

    out: dict[str, list[str]] = {}
    text = (Path(jieba.__file__).parent / "dict.txt").read_text(encoding="utf-8")
    for line in text.splitlines():
        word, freq, pos = line.split(" ")
        if 2 <= len(word) <= 4 and int(freq) >= min_freq and \
                all("\u4e00" <= ch <= "\u9fff" for ch in word):
            out.setdefault(pos[:1], []).append(word)
    return {k: sorted(v) for k, v in out.items()}


def phrases(n: int = 10_000, seed: int = SEED, avoid: set[str] | frozenset[str] = frozenset()) -> list[str]:
    """`n` distinct phrases of 2-8 characters (a few more with a number), the same for a
    seed: idioms and set phrases, a pronoun with an adverb and a verb (你别管), an adverb and
    a verb, a verb and a noun, an adjective and a noun, single words; about one in 30 with a
    key syllable in brackets, one in 100 with a number. None of `avoid`."""
    d = _dictionary()
    rng = random.Random(seed)
    out: list[str] = []
    seen = set(avoid)
    while len(out) < n:
        r = rng.random()
        if r < 0.2:
            p = rng.choice(d["i"] + d["l"])
        elif r < 0.4:
            p = rng.choice(PRONOUNS) + rng.choice(d["d"]) + rng.choice(d["v"])
        elif r < 0.6:
            p = rng.choice(d["d"]) + rng.choice(d["v"])
        elif r < 0.8:
            p = rng.choice(d["v"]) + rng.choice(d["n"])
        elif r < 0.9:
            p = rng.choice(d["a"]) + rng.choice(d["n"])
        elif r < 0.99:
            p = rng.choice(d["v"] + d["n"] + d["a"])
        else:
            p = rng.choice(d["v"])[:2] + str(rng.randrange(100, 100_000))
        if len(p) > 8 or p in seen:
            continue
        seen.add(p)
        if rng.random() < 1 / 30:  # a key syllable, as a center marks one: 请问[还]有
            k = rng.randrange(len(p))
            if "\u4e00" <= p[k] <= "\u9fff":
                p = f"{p[:k]}[{p[k]}]{p[k + 1:]}"
        out.append(p)
    return out


def default_phrases(pack: RulePack) -> list[str]:
    """Every phrase of the default pack matched by sound: phrases, categories, allow, triggers."""
    out: list[str] = []
    for r in pack.rules:
        out += r.phrases + r.allow + [p for v in r.categories.values() for p in v]
        out += list(r.trigger.get("phrases") or [])
    return list(dict.fromkeys(out))


def pack_file(path: Path, words: list[str]) -> Path:
    """A center's pack adding `words` as one forbid category (rule RULE_ID)."""
    doc = {"rules": [{"id": RULE_ID, "section": "communication", "severity": "major",
                      "deduction": 5, "check": "forbid", "who": "agent",
                      "categories": {"center": words},
                      "message": {"zh": "使用了中心禁语", "en": "Said a phrase of the center's list"}}]}
    path.write_text(yaml.safe_dump(doc, allow_unicode=True, width=1000), encoding="utf-8")
    return path


def stored_calls() -> list[CallResult]:
    out = []
    for name in CALLS:
        doc = json.loads((ROOT / "tests" / "data" / "results" / f"{name}.json").read_text("utf-8"))
        out.append(CallResult.from_json(doc["result"], [Region.from_json(r) for r in doc["regions"]],
                                        doc["acoustics"], check=False))
    return out


def _judge_ms(packs: dict[str, RulePack], calls: list[CallResult], repeat: int,
              ) -> tuple[dict[str, float], dict[str, list[Any]]]:
    """Per pack, milliseconds to judge a call (the median of `repeat` runs per call, averaged
    over the calls; the packs take turns, so a busy machine slows them alike), and the
    findings."""
    norms = {k: judged_with(p) for k, p in packs.items()}
    times: dict[str, list[list[float]]] = {k: [[] for _ in calls] for k in packs}
    findings: dict[str, list[Any]] = {k: [] for k in packs}
    for r in range(repeat):
        for k, pack in packs.items():
            for i, c in enumerate(calls):
                t0 = time.perf_counter()
                out = rejudge(pack, c, norms=norms[k])
                times[k][i].append(time.perf_counter() - t0)
                if r == 0:
                    findings[k].append(out.findings)
    ms = {k: 1000 * statistics.mean(statistics.median(t) for t in v) for k, v in times.items()}
    return ms, findings


def _candidates_per_pair(words: list[str], calls: list[CallResult], threshold: float) -> float:
    """How many of the list's phrases `find` runs on per utterance pair, with the index."""
    idx = phrase_index.index_of(words)
    n = []
    for c in calls:
        agent = [u for u in c.utterances if u.role == "agent"]
        n += [len(idx.candidates(Stream.of(agent[i:i + 2]), threshold)) for i in range(len(agent))]
    return statistics.mean(n) if n else 0.0


def run(n: int = 10_000, repeat: int = 5) -> dict[str, Any]:
    calls = stored_calls()
    audio_min = sum(c.duration_s for c in calls) / len(calls) / 60
    t0 = time.perf_counter()
    default = load()
    load_default = time.perf_counter() - t0
    words = phrases(n, avoid=set(default_phrases(default)))
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        big = load(str(pack_file(Path(tmp) / "center.yaml", words)))
        load_big = time.perf_counter() - t0
    rule = big.rule(RULE_ID)
    alone = replace(big, rules=[rule])  # the category's rule, and nothing else
    bare = replace(default, rules=[])  # metrics only
    t0 = time.perf_counter()
    phrase_index.index_of(rule.categories["center"])  # built once per list and process
    build = time.perf_counter() - t0
    _judge_ms({"default": default, "big": big, "alone": alone, "bare": bare}, calls, 1)  # warm
    out: dict[str, Any] = {
        "machine": f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}",
        "phrases": len(words), "calls": len(calls), "audio_min_per_call": round(audio_min, 2),
        "load_s": {"default": round(load_default, 3), "with_list": round(load_big, 3)},
        "index_build_s": round(build, 3),
        "candidates_per_pair": round(_candidates_per_pair(
            rule.categories["center"], calls, big.settings.forbid_threshold), 1),
    }
    ms, found = _judge_ms({"bare": bare, "default": default, "after": big, "alone_after": alone},
                          calls, repeat)
    with phrase_index.disabled():  # slow: once per call
        slow, found_before = _judge_ms({"before": big, "alone_before": alone}, calls, 1)
    ms.update(slow)
    after, before = found["after"], found_before["before"]
    if before != after:
        raise SystemExit("the indexed list gives other findings than the whole list")
    out["ms_per_call"] = {k: round(v, 1) for k, v in ms.items()}
    rules_default = ms["default"] - ms["bare"]
    out["matching_ms_per_call"] = {
        "default_rules": round(rules_default, 1),
        "category_before": round(ms["alone_before"] - ms["bare"], 1),
        "category_after": round(ms["alone_after"] - ms["bare"], 1),
    }
    out["judging_vs_default"] = {"before": round(ms["before"] / ms["default"], 2),
                                 "after": round(ms["after"] / ms["default"], 2)}
    out["category_vs_default_rules"] = {
        k: round((ms[f"alone_{k}"] - ms["bare"]) / rules_default, 2) for k in ("before", "after")}
    out["findings_identical"] = True
    return out


def render(r: dict[str, Any]) -> list[str]:
    ms, m = r["ms_per_call"], r["matching_ms_per_call"]
    per_min = r["audio_min_per_call"]
    vs, cat = r["judging_vs_default"], r["category_vs_default_rules"]
    return [
        f"A center's forbidden-word list of {r['phrases']:,} phrases as one forbid category "
        f"(bench/phrase_scale.py; {r['calls']} stored calls of {per_min:.2f} min on average, "
        f"judged again; {r['machine']}), milliseconds per call:", "",
        "| | default pack | + the list, before (every phrase) | + the list, after (indexed) |",
        "|---|---|---|---|",
        f"| judging a call (metrics and rules) | {ms['default']:.0f} | {ms['before']:.0f} "
        f"({vs['before']:.1f}x) | {ms['after']:.0f} ({vs['after']:.1f}x) |",
        f"| matching: all the default pack's rules, then the list's rule alone | "
        f"{m['default_rules']:.1f} | {m['category_before']:.0f} ({cat['before']:.1f}x) | "
        f"{m['category_after']:.1f} ({cat['after']:.2f}x) |",
        f"| ... per minute of audio | {m['default_rules'] / per_min:.1f} | "
        f"{m['category_before'] / per_min:.0f} | {m['category_after'] / per_min:.1f} |", "",
        f"Findings identical before and after. The list's index is built once per process, on "
        f"first use ({r['index_build_s']:.2f} s, most of it the phrases' pinyin, which the "
        f"first call paid before too); `find` then runs on {r['candidates_per_pair']:.1f} of "
        f"its phrases per utterance pair. Loading the pack: {r['load_s']['default']:.2f} s "
        f"(default), {r['load_s']['with_list']:.2f} s with the list (YAML parsing); metrics "
        f"alone {ms['bare']:.1f} ms per call.", ""]


def main(out: str | None = None, repeat: int = 5, n: int = 10_000) -> dict[str, Any]:
    r = run(n, repeat)
    text = f"# Matching a {r['phrases']:,}-phrase list\n\n" + "\n".join(render(r))
    Path(out or ROOT / "bench" / "phrase_scale.md").write_text(text, encoding="utf-8")
    return r


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--phrases", type=int, default=10_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--out", default=None)
    a = ap.parse_args()
    print(json.dumps(main(a.out, a.repeat, a.phrases), indent=1, ensure_ascii=False))
