"""Mono calls at stereo speed (issue 37): (b) and (c) on the bench corpus by layout, where a
mono call's time goes, and whether its words land on the right speaker.

In one run, on the corpus's calls of the layouts asked for:
  (b) faster-whisper's BatchedInferencePipeline (vad_filter=True, batch 8), each channel, as
      bench/run.py runs it;
  (c) `audit batch` once per variant (VARIANT=JSON: BatchOptions fields over the defaults);
and per layout: x real time, (c)/(b), pooled CER; per variant the seconds summed over the
mono calls by stage (separation: embed + cluster; ASR: encode, decode, align, alone = the
regions decoded again by themselves, part of the three before); on the mono calls the
attribution: per role, the share of its true speech time labelled with its role
(der.role_accuracy), pooled CER of each role's true text against the text of the
utterances given that role, and the DER of the utterances' spans labelled by role.

    .venv/bin/python bench/mono_speed.py --mixes --layouts mono stereo [--cpu] \
        --variant turns='{"mono_words": "turns"}' --variant regions='{"mono_words": "regions"}'

`--mixes`: the two-voice mixes of bench/mono (make bench-mono) in place of the corpus's mono
calls, which are one voice. `--cpu`: in this process, call by call, CPU seconds. Figures and
what they mean: bench/mono_speed.md.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from run import (  # noqa: E402
    ROOT,
    attribution,
    audit_pairs,
    audit_run,
    batched_pairs,
    corpus,
    pooled_cer,
    split,
)

from callaudit.speech.model import resolve  # noqa: E402


def batched_runs(items: list[dict[str, Any]], model_dir: Path) -> dict[str, Any]:
    """(b) as bench/run.py runs it: seconds and (truth, text) pairs per call."""
    from faster_whisper import BatchedInferencePipeline, WhisperModel

    model = WhisperModel(str(model_dir), device="cpu", compute_type="int8",
                         cpu_threads=os.cpu_count() or 1)
    batched = BatchedInferencePipeline(model)
    per_file = {}
    for it in items:
        t1 = time.perf_counter()
        pairs = batched_pairs(batched, it)
        per_file[it["file"].stem] = {"seconds": time.perf_counter() - t1, "pairs": pairs}
    return per_file


MIX_DIR = ROOT / "bench" / "mono"


def mixes(model_dir: Path, cache: Path) -> list[dict[str, Any]]:
    """The two-voice mono mixes of tools/mix_mono.py (bench/mono: real speakers at 16 kHz and
    through the telephone, and the TTS mono_call), as corpus items: layout mono, `segments`
    the true speech of each role, `turns` the text said. The real mixes have no text of
    their own (each speaker's clip repeats: faster-whisper writes a repeat once), so their
    turns are (c)'s utterances on the stereo twin, agent left: what mono loses against
    stereo (a reference that favours (c) over (b)); mono_call's are its script's. (c) on
    the twins is cached in `cache`."""
    refs = json.loads(cache.read_text()) if cache.exists() else {}
    todo = []
    for tp in sorted(MIX_DIR.glob("*.truth.json")):
        t = json.loads(tp.read_text(encoding="utf-8"))
        if t["source"] == "realzh":
            todo += [(t, t["files"][m], t["files"][s]) for m, s in (("mono", "stereo"),
                                                                      ("tel", "tel_stereo"))]
        elif t["source"] == "tts" and t["name"] == "tts_mono_call":
            todo.append((t, t["files"]["mono"], None))
    missing = [s for _, _, s in todo if s and s not in refs]
    if missing:
        with tempfile.TemporaryDirectory() as tmp:
            for s in missing:
                (Path(tmp) / s).symlink_to(MIX_DIR / s)
            twins = [{"file": Path(tmp) / s, "truth": {"layout": "stereo", "turns": []}}
                     for s in missing]
            heard = audit_run(Path(tmp), twins, model_dir)["results"]
        for s in missing:
            refs[s] = [{"role": ("agent", "customer")[u["channel"]], "channel": 0,
                        "start": u["start"], "end": u["end"], "text": u["text"]}
                       for u in heard[Path(s).stem]["utterances"]]
        cache.write_text(json.dumps(refs, ensure_ascii=False))
    script = json.loads((ROOT / "samples" / "mono_call.truth.json").read_text(encoding="utf-8"))
    items = []
    for t, mono, stereo in todo:
        turns = sorted(refs[stereo], key=lambda x: x["start"]) if stereo else \
            [{**x, "channel": 0} for x in script["turns"]]
        items.append({"file": MIX_DIR / mono, "truth": {"layout": "mono", "turns": turns,
                                                        "segments": t["segments"]}})
    return items


def cpu_runs(items: list[dict[str, Any]], model_dir: Path, variants: dict[str, dict[str, Any]],
             ) -> dict[str, Any]:
    """In this process, one thread each, call by call and back to back: (b) and each variant
    of the audit (AuditOptions fields), timed by the process's CPU seconds, which another
    program on the machine does not inflate as it does wall time."""
    from dataclasses import replace

    from faster_whisper import BatchedInferencePipeline, WhisperModel

    from callaudit.pipeline import AuditOptions, Auditor
    from callaudit.speech.asr import AsrOptions

    batched = BatchedInferencePipeline(WhisperModel(str(model_dir), device="cpu",
                                                    compute_type="int8", cpu_threads=1))
    auditor = Auditor(AuditOptions(asr=AsrOptions(cpu_threads=1)))
    base = auditor.opts
    b: dict[str, Any] = {}
    c: dict[str, dict[str, Any]] = {name: {"results": {}, "cpu": {}} for name in variants}
    for it in items:
        stem = it["file"].stem
        t0 = time.process_time()
        pairs = batched_pairs(batched, it)
        b[stem] = {"seconds": time.process_time() - t0, "pairs": pairs}
        for name, opts in variants.items():
            auditor.opts = replace(base, **opts)
            t0 = time.process_time()
            r = auditor.audit(str(it["file"])).to_json()
            c[name]["cpu"][stem] = time.process_time() - t0
            c[name]["results"][stem] = r
        print(stem, round(b[stem]["seconds"], 1),
              {n: round(v["cpu"][stem], 1) for n, v in c.items()}, flush=True)
    return {"b": b, "c": c}


def cpu_main(args: argparse.Namespace, items: list[dict[str, Any]], model_dir: Path,
             variants: dict[str, dict[str, Any]]) -> dict[str, Any]:
    runs = cpu_runs(items, model_dir, variants)
    out: dict[str, Any] = {"calls": [it["file"].stem for it in items], "cpu": True,
                           "variants": {}}
    b = runs["b"]
    for name, c in runs["c"].items():
        row: dict[str, Any] = {"options": variants[name]}
        for layout in args.layouts:
            names = [it["file"].stem for it in items if it["truth"]["layout"] == layout]
            audio_s = sum(c["results"][n]["duration_s"] for n in names)
            b_s = sum(b[n]["seconds"] for n in names)
            c_s = sum(c["cpu"][n] for n in names)
            pairs = {n: audit_pairs(it["truth"], c["results"][n]) for it in items
                     if (n := it["file"].stem) in names}
            row[layout] = {
                "calls": len(names), "audio_s": audio_s, "b_cpu_x": audio_s / b_s,
                "c_cpu_x": audio_s / c_s, "c_over_b": b_s / c_s,
                "b_cer": pooled_cer([p for n in names for p in b[n]["pairs"]]),
                "c_cer": pooled_cer([p for ps in pairs.values() for p in ps]),
                "stages_s": split(c["results"], names)}
        if "mono" in args.layouts:
            row["attribution"] = attribution(items, c["results"])
        out["variants"][name] = row
        print(name, json.dumps(row, ensure_ascii=False, indent=1), flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--layouts", nargs="+", default=["mono", "stereo"])
    ap.add_argument("--variant", action="append", default=[],
                    help="NAME=JSON of BatchOptions fields (repeatable; none: the defaults)")
    ap.add_argument("--out", default=None, help="write the figures as JSON here")
    ap.add_argument("--mixes", action="store_true",
                    help="the two-voice mono mixes of bench/mono (make bench-mono) in place "
                         "of the corpus's mono calls")
    ap.add_argument("--cpu", action="store_true",
                    help="in this process, one thread, call by call: CPU seconds, not wall "
                         "time through `audit batch` (variants are AuditOptions fields)")
    args = ap.parse_args()
    model_dir = resolve(None)
    folder, items = corpus()
    items = [it for it in items if it["truth"]["layout"] in args.layouts and
             not (args.mixes and it["truth"]["layout"] == "mono")]
    if args.mixes and "mono" in args.layouts:
        items += mixes(model_dir, Path(tempfile.gettempdir()) / "callaudit_mono_refs_c.json")
    variants = dict((v.split("=", 1)[0], json.loads(v.split("=", 1)[1])) for v in args.variant) \
        or {"default": {}}
    if args.cpu:
        out = cpu_main(args, items, model_dir, variants)
        if args.out:
            Path(args.out).write_text(json.dumps(out, ensure_ascii=False, indent=1) + "\n")
        return
    out: dict[str, Any] = {"calls": [it["file"].stem for it in items], "variants": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for it in items:  # only the chosen calls in the folder `audit batch` reads
            (Path(tmp) / it["file"].name).symlink_to(it["file"])
        b = batched_runs(items, model_dir)
        print("(b) done", flush=True)
        for name, opts in variants.items():
            c = audit_run(Path(tmp), items, model_dir, **opts)
            c_total = sum(c["per_file_s"].values()) or 1.0
            row: dict[str, Any] = {"options": opts}
            for layout in args.layouts:
                names = [it["file"].stem for it in items if it["truth"]["layout"] == layout]
                audio_s = sum(c["results"][n]["duration_s"] for n in names)
                b_s = sum(b[n]["seconds"] for n in names)
                c_s = c["seconds"] * sum(c["per_file_s"][n] for n in names) / c_total
                row[layout] = {
                    "calls": len(names), "audio_s": audio_s, "b_x": audio_s / b_s,
                    "c_x": audio_s / c_s, "c_over_b": b_s / c_s,
                    "b_cer": pooled_cer([p for n in names for p in b[n]["pairs"]]),
                    "c_cer": pooled_cer([p for n in names for p in c["pairs"][n]]),
                    "stages_s": split(c["results"], names)}
            if "mono" in args.layouts:
                row["attribution"] = attribution(items, c["results"])
                row["mono_texts"] = {n: [u["role"][0] + ":" + u["text"]
                                         for u in c["results"][n]["utterances"]]
                                     for n in out["calls"] if n in c["results"] and
                                     c["results"][n]["separation"]}
            out["variants"][name] = row
            print(name, json.dumps({k: v for k, v in row.items() if k != "mono_texts"},
                                   ensure_ascii=False, indent=1), flush=True)
    if args.out:
        Path(args.out).write_text(json.dumps(out, ensure_ascii=False, indent=1) + "\n")


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT / "src"))
    main()
