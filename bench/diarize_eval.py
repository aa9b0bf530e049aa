"""Mono speaker separation against known speakers: DER, speed, roles, metric drift.

On the mixes of tools/mix_mono.py (bench/mono/, made on first use): for each call and each
mono version (16 kHz, telephone 8 kHz u-law, TTS downmix)
  - diarization alone: VAD regions (ringback bursts dropped, as the pipeline does), then
    callaudit.diarize.diarize() with the default embedder and, if available, CAM++; DER with a
    0.25 s collar and with none (overlap scored), x real time of diarize() alone. "vad only"
    (every region one speaker) is the floor: what VAD misses and adds, with no separation.
  - the full Auditor on the mono file and on its stereo twin: role accuracy (share of each
    party's true speech time labelled with its role) and the mono - stereo difference of
    the call metrics (agent speech rate, answer delay, interruptions, speaking times).

    .venv/bin/python bench/diarize_eval.py [--out bench] [--no-auditor] [--only real_00]

Writes OUT/diarize_eval.md and OUT/diarize_eval.json; `run(out_dir)` returns the same dict.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(ROOT / "tools"))

from der import der, role_accuracy  # noqa: E402

from callaudit.audio.decode import decode  # noqa: E402
from callaudit.audio.tones import detect_ringback  # noqa: E402
from callaudit.audio.vad import speech_regions  # noqa: E402

MIX_DIR = ROOT / "bench" / "mono"
METRIC_KEYS = ("agent_speech_rate_cpm", "answer_delay_s", "agent_interruptions",
               "agent_speaking_s", "customer_speaking_s")
# (version label, truth "files" key of the mono file, key of its stereo twin)
VERSIONS = (("16k", "mono", "stereo"), ("tel", "tel", "tel_stereo"))
Diarizer = Callable[..., Any]  # (samples, regions, embedder) -> Diarization


def load_calls(mix_dir: Path, only: list[str] | None = None) -> list[dict[str, Any]]:
    if not any(mix_dir.glob("*.truth.json")):
        import mix_mono

        mix_mono.build_all(mix_dir)
    calls = [json.loads(p.read_text(encoding="utf-8")) for p in sorted(mix_dir.glob("*.truth.json"))]
    return [c for c in calls if not only or any(o in c["name"] for o in only)]


def versions(truth: dict[str, Any]) -> list[tuple[str, str, str | None]]:
    """(label, mono file, stereo file or None) for each mono version of a call."""
    files = truth["files"]
    if str(truth.get("source", "")).startswith("tts"):  # already 8 kHz telephone audio
        return [(truth["source"], files["mono"], files.get("stereo"))]
    return [(label, files[m], files.get(s)) for label, m, s in VERSIONS if m in files]


def reference(truth: dict[str, Any], key: str = "speaker") -> list[tuple[float, float, str]]:
    return [(s["start"], s["end"], s[key]) for s in truth["segments"]]


def default_diarizer() -> Diarizer | None:
    try:
        from callaudit.speech.diarize import diarize
    except ImportError:
        return None
    return diarize


def embedders() -> tuple[list[tuple[str, object | None]], str]:
    """[(name, embedder)]: the default (None) and CAM++ when its module and model are there."""
    out: list[tuple[str, object | None]] = [("default", None)]
    try:
        from callaudit.speech import embed_campp

        if not embed_campp.available():
            return out, "CAM++ not available (model missing)"
        out.append(("campp", embed_campp.CamppEmbedder()))
    except ImportError:
        return out, "CAM++ not available (no callaudit.embed_campp)"
    except Exception as e:  # a broken model file must not stop the benchmark
        return out, f"CAM++ failed to load: {type(e).__name__}: {e}"
    return out, ""


def eval_diarization(path: Path, truth: dict[str, Any], label: str, diarizer: Diarizer | None,
                     embs: list[tuple[str, object | None]]) -> list[dict[str, Any]]:
    audio = decode(str(path))
    x = audio.channels[0]
    ringback = detect_ringback(audio)
    regions = [r for r in speech_regions(x, 0) if not ringback.overlaps(r.start, r.end)]
    ref = reference(truth)
    row0 = {"call": truth["name"], "version": label, "duration_s": round(audio.duration, 2)}
    one = [(r.start, r.end, 0) for r in regions]
    rows = [{**row0, "embedder": "vad only", "der": der(ref, one), "der_c0": der(ref, one, collar=0)}]
    for name, emb in embs if diarizer else []:
        t0 = time.perf_counter()
        d = diarizer(x, regions, emb)
        dt = time.perf_counter() - t0
        hyp = [(t.start, t.end, t.speaker) for t in d.turns]
        rows.append({**row0, "embedder": name, "method": d.method, "confidence": round(d.confidence, 3),
                     "speakers_found": len({t.speaker for t in d.turns}), "overlaps_found": len(d.overlaps),
                     "xrt": round(dt / audio.duration, 4),
                     "der": der(ref, hyp), "der_c0": der(ref, hyp, collar=0)})
    return rows


def truth_metrics(truth: dict[str, Any]) -> dict[str, float | None]:
    agent = [s for s in truth["segments"] if s["role"] == "agent"]
    connect = (truth.get("ringback") or {}).get("connect_s", 0.0)
    speak = {r: sum(s["end"] - s["start"] for s in truth["segments"] if s["role"] == r)
             for r in ("agent", "customer")}
    return {"answer_delay_s": round(agent[0]["start"] - connect, 2) if agent else None,
            "agent_speaking_s": round(speak["agent"], 2), "customer_speaking_s": round(speak["customer"], 2)}


def eval_auditor(auditor: Any, mix_dir: Path, truth: dict[str, Any], label: str, mono: str,
                 stereo: str | None) -> dict[str, Any]:
    roles = reference(truth, "role")
    row: dict[str, Any] = {"call": truth["name"], "version": label, "truth": truth_metrics(truth)}
    for kind, name in (("mono", mono), ("stereo", stereo)):
        if name is None:
            continue
        t0 = time.perf_counter()
        res = auditor.audit(str(mix_dir / name))
        hyp = [(u.start, u.end, u.role) for u in res.utterances]
        row[kind] = {"agent_channel": res.agent_channel, "roles_reason": res.roles_reason,
                     "role_accuracy": role_accuracy(roles, hyp),
                     "metrics": {k: res.metrics.get(k) for k in METRIC_KEYS},
                     "seconds": round(time.perf_counter() - t0, 1)}
    if "stereo" in row:
        m, s = row["mono"]["metrics"], row["stereo"]["metrics"]
        row["diff"] = {k: None if m[k] is None or s[k] is None else round(m[k] - s[k], 2)
                       for k in METRIC_KEYS}
    return row


def _mean(xs: list[float | None]) -> float | None:
    xs2 = [x for x in xs if x is not None]
    return round(statistics.fmean(xs2), 4) if xs2 else None


def summarize(diar: list[dict[str, Any]], aud: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {"diarization": {}, "auditor": {}}
    for key in sorted({(r["version"], r["embedder"]) for r in diar}):
        rows = [r for r in diar if (r["version"], r["embedder"]) == key]
        # pooled DER: errors over all reference time, so long calls weigh more, as md-eval does
        tot = sum(r["der"]["total"] for r in rows)
        err = sum(r["der"][k] for r in rows for k in ("missed", "false_alarm", "confusion"))
        tot0 = sum(r["der_c0"]["total"] for r in rows)
        err0 = sum(r["der_c0"][k] for r in rows for k in ("missed", "false_alarm", "confusion"))
        out["diarization"][f"{key[0]}/{key[1]}"] = {
            "calls": len(rows), "der": round(err / tot, 4) if tot else None,
            "der_c0": round(err0 / tot0, 4) if tot0 else None,
            "confusion_s": round(sum(r["der"]["confusion"] for r in rows), 2),
            "xrt": _mean([r.get("xrt") for r in rows])}
    for label in sorted({r["version"] for r in aud}):
        rows = [r for r in aud if r["version"] == label]
        s: dict[str, Any] = {"calls": len(rows)}
        for kind in ("mono", "stereo"):
            for key in ("agent", "customer", "agent_coverage", "customer_coverage"):
                accs = [r[kind]["role_accuracy"][key] for r in rows if kind in r]
                s[f"{kind}_{key}" if "coverage" in key else f"{kind}_{key}_role_acc"] = _mean(accs)
        for k in METRIC_KEYS:
            s[f"mean_abs_diff_{k}"] = _mean([abs(r["diff"][k]) if r.get("diff", {}).get(k) is not None
                                             else None for r in rows])
        out["auditor"][label] = s
    return out


def _f(x: Any, pct: bool = False) -> str:
    if x is None:
        return "–"
    return f"{100 * x:.1f} %" if pct else f"{x:g}"


def markdown(result: dict[str, Any]) -> str:
    lines = ["# Mono diarization benchmark", "", f"Calls: {len(result['calls'])} ({result['mix_dir']}). "
             f"diarize(): {result['diarize']}. {result['campp_note']}".rstrip(), "",
             "## Summary (pooled DER over all calls of a version)", "",
             "| version / embedder | calls | DER (collar 0.25) | DER (no collar) | confusion s | x RT |",
             "|---|---|---|---|---|---|"]
    for k, v in result["summary"]["diarization"].items():
        lines.append(f"| {k} | {v['calls']} | {_f(v['der'], True)} | {_f(v['der_c0'], True)} | "
                     f"{_f(v['confusion_s'])} | {_f(v['xrt'])} |")
    lines += ["", "## Per call", "",
              "| call | version | embedder | DER 0.25 | miss | FA | conf | DER 0 | speakers | x RT |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    for r in result["diarization"]:
        d = r["der"]
        lines.append(f"| {r['call']} | {r['version']} | {r['embedder']} | {_f(d['der'], True)} | "
                     f"{d['missed']:g} | {d['false_alarm']:g} | {d['confusion']:g} | "
                     f"{_f(r['der_c0']['der'], True)} | {_f(r.get('speakers_found'))} | {_f(r.get('xrt'))} |")
    if result["auditor"]:
        lines += ["", "## Full audit: mono vs its stereo twin", "",
                  "Role acc = of a party's true speech time that got an utterance, the share labelled "
                  "with its role (A/C: agent/customer; coverage, the share that got one, is in the JSON).",
                  "",
                  "| call | version | agent ch (mono) | role acc mono A/C | role acc stereo A/C | "
                  + " | ".join(f"{k} mono/stereo/truth" for k in METRIC_KEYS) + " |",
                  "|---|---|---|---|---|" + "---|" * len(METRIC_KEYS)]
        for r in result["auditor"]:
            acc = {k: r[k]["role_accuracy"] if k in r else {} for k in ("mono", "stereo")}
            pair = {k: f"{_f(a.get('agent'), True)} / {_f(a.get('customer'), True)}" for k, a in acc.items()}
            cells = [f"{_f(r['mono']['metrics'][k])} / {_f(r.get('stereo', {}).get('metrics', {}).get(k))}"
                     f" / {_f(r['truth'].get(k))}" for k in METRIC_KEYS]
            lines.append(f"| {r['call']} | {r['version']} | {r['mono']['agent_channel']} | "
                         f"{pair['mono']} | {pair['stereo']} | " + " | ".join(cells) + " |")
    summ = result["summary"]["auditor"]
    if summ:
        keys = list(next(iter(summ.values())))
        lines += ["", "| version | " + " | ".join(keys) + " |", "|---|" + "---|" * len(keys)]
        lines += [f"| {label} | " + " | ".join(_f(v) for v in s.values()) + " |" for label, s in summ.items()]
    return "\n".join(lines) + "\n"


def run(out_dir: str | Path, mix_dir: str | Path = MIX_DIR, auditor: bool = True,
        only: list[str] | None = None, diarizer: Diarizer | None = None, campp: bool = True,
        ) -> dict[str, Any]:
    """The whole benchmark; `diarizer` replaces callaudit.diarize.diarize (tests pass a stub)."""
    mix_dir, out = Path(mix_dir), Path(out_dir)
    calls = load_calls(mix_dir, only)
    diarizer = diarizer or default_diarizer()
    embs, note = embedders() if diarizer and campp else ([("default", None)], "")
    diar: list[dict[str, Any]] = []
    for truth in calls:
        for label, mono, _ in versions(truth):
            diar += eval_diarization(mix_dir / mono, truth, label, diarizer, embs)
    aud: list[dict[str, Any]] = []
    if auditor:
        from callaudit.pipeline import AuditOptions, Auditor

        a = Auditor(AuditOptions())
        for truth in calls:
            for label, mono, stereo in versions(truth):
                aud.append(eval_auditor(a, mix_dir, truth, label, mono, stereo))
    result = {"mix_dir": str(mix_dir), "calls": [c["name"] for c in calls],
              "diarize": "available" if diarizer else "not available (no callaudit.diarize.diarize)",
              "campp_note": note, "diarization": diar, "auditor": aud, "summary": summarize(diar, aud)}
    out.mkdir(parents=True, exist_ok=True)
    (out / "diarize_eval.json").write_text(json.dumps(result, ensure_ascii=False, indent=1) + "\n",
                                           encoding="utf-8")
    (out / "diarize_eval.md").write_text(markdown(result), encoding="utf-8")
    return result


def main(argv: list[str]) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(ROOT / "bench"))
    ap.add_argument("--mix-dir", default=str(MIX_DIR))
    ap.add_argument("--no-auditor", action="store_true", help="diarization only (no Whisper)")
    ap.add_argument("--only", nargs="*", help="calls whose name contains one of these")
    args = ap.parse_args(argv)
    result = run(args.out, args.mix_dir, not args.no_auditor, args.only)
    print(markdown(result))


if __name__ == "__main__":
    main(sys.argv[1:])
