"""`make bench`: speed against faster-whisper, accuracy against ground truth.

On the same files, in one run:
  (a) plain faster-whisper: WhisperModel.transcribe(vad_filter=True), each channel
  (b) faster-whisper's BatchedInferencePipeline (vad_filter=True, batch 8), each channel
  (b2) (b) with the machine split as the audit splits it: one single-threaded process per
      worker, files shared out (what a batch of plain faster-whisper can do at best)
  (c) `audit batch`: the whole audit (decode, VAD, ASR, roles, metrics, rules, database)
and reports x real time for each, the ratio (c)/(b), character error rates, metric errors
against the truth files, rule verdict agreement, peak memory, and where the time goes.
Figures are rates and ratios from one run, so they hold on a busy machine.

    .venv/bin/python bench/run.py [--quick]     # writes bench/results.md and results.json
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from rapidfuzz.distance import Levenshtein

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from der import der, role_accuracy  # noqa: E402

from callaudit.audio.decode import decode  # noqa: E402
from callaudit.batch.jobs import BatchOptions  # noqa: E402
from callaudit.batch.pool import run  # noqa: E402
from callaudit.records import result_problem  # noqa: E402
from callaudit.rules.pack import load  # noqa: E402
from callaudit.speech.model import resolve  # noqa: E402
from callaudit.speech.text import spell_digits, to_simplified  # noqa: E402

REALZH = ROOT.parent / "shared" / "data" / "realzh"


def plain(text: str) -> str:
    return "".join(ch for ch in spell_digits(to_simplified(text)) if "\u4e00" <= ch <= "\u9fff")


def pooled_cer(pairs: list[tuple[str, str]]) -> float | None:
    ref = sum(len(plain(r)) for r, _ in pairs)
    if not ref:
        return None
    return sum(Levenshtein.distance(plain(r), plain(h)) for r, h in pairs) / ref


def corpus() -> tuple[Path, list[dict[str, Any]]]:
    """The bench corpus when rendered (make bench renders it), else the shipped samples."""
    folder = ROOT / "bench" / "corpus"
    truths = ROOT / "bench" / "truth"
    if not any(folder.glob("*.wav")):
        folder, truths = ROOT / "samples", ROOT / "samples"
    items = []
    for wav in sorted(folder.glob("*.wav")):
        t = json.loads((truths / f"{wav.stem}.truth.json").read_text(encoding="utf-8"))
        items.append({"file": wav, "truth": t})
    return folder, items


def truth_text(t: dict[str, Any], channel: int | None) -> str:
    return "".join(x["text"] for x in t["turns"] if channel is None or x["channel"] == channel)


def channel_pairs(transcribe: Callable[[np.ndarray], Any], item: dict[str, Any],
                  ) -> list[tuple[str, str]]:
    """One call through faster-whisper's `transcribe(samples) -> (segments, info)`, channel
    by channel: (reference, hypothesis) per channel."""
    a = decode(str(item["file"]))
    return [(truth_text(item["truth"], ch if len(a.channels) > 1 else None),
             "".join(s.text for s in transcribe(sig)[0])) for ch, sig in enumerate(a.channels)]


def batched_pairs(batched: Any, item: dict[str, Any]) -> list[tuple[str, str]]:
    """(b) on one call: a BatchedInferencePipeline per channel (vad_filter, batch 8, beam 5)."""
    return channel_pairs(lambda x: batched.transcribe(x, language="zh", beam_size=5,
                                                      vad_filter=True, batch_size=8), item)


def faster_whisper_runs(items: list[dict[str, Any]], model_dir: Path) -> dict[str, Any]:
    from faster_whisper import BatchedInferencePipeline, WhisperModel

    model = WhisperModel(str(model_dir), device="cpu", compute_type="int8",
                         cpu_threads=os.cpu_count() or 1)
    batched = BatchedInferencePipeline(model)
    out: dict[str, Any] = {}
    for name, pairs_of in (
        ("a_plain", lambda it: channel_pairs(
            lambda x: model.transcribe(x, language="zh", beam_size=5, vad_filter=True), it)),
        ("b_batched", lambda it: batched_pairs(batched, it)),
    ):
        pairs, t0, per_file = [], time.perf_counter(), {}
        for it in items:
            t1 = time.perf_counter()
            mine = pairs_of(it)
            pairs += mine
            per_file[it["file"].stem] = {"seconds": time.perf_counter() - t1, "pairs": mine}
        out[name] = {"seconds": time.perf_counter() - t0, "cer": pooled_cer(pairs),
                     "per_file": per_file}
    return out


_B2: dict[str, Any] = {}  # each (b2) process's pipeline, loaded once


def _b2_load(model_dir: str, loaded: Any) -> None:
    from faster_whisper import BatchedInferencePipeline, WhisperModel

    _B2["pipe"] = BatchedInferencePipeline(
        WhisperModel(model_dir, device="cpu", compute_type="int8", cpu_threads=1))
    loaded.wait()  # every process has its model before the clock starts


def _b2_file(item: dict[str, Any]) -> tuple[str, float, list[tuple[str, str]]]:
    t0 = time.perf_counter()
    pairs = batched_pairs(_B2["pipe"], item)
    return item["file"].stem, time.perf_counter() - t0, pairs


def batched_processes(items: list[dict[str, Any]], model_dir: Path) -> dict[str, Any]:
    """(b2): (b) in as many single-threaded processes as the audit's pool has workers, the
    files shared out; per-file seconds are each file's own time in its process (as (c)'s)."""
    import multiprocessing as mp

    from callaudit.batch.pool import default_split

    workers = min(default_split()[0], len(items))
    ctx = mp.get_context("spawn")
    loaded = ctx.Barrier(workers + 1)
    pool = ctx.Pool(workers, _b2_load, (str(model_dir), loaded))
    try:
        loaded.wait()
        t0 = time.perf_counter()
        done = pool.map(_b2_file, items, chunksize=1)
        seconds = time.perf_counter() - t0
    finally:
        pool.close()  # let the processes end by themselves (terminate() leaks semaphores)
        pool.join()
    per_file = {name: {"seconds": s, "pairs": pairs} for name, s, pairs in done}
    return {"seconds": seconds, "workers": workers, "per_file": per_file,
            "cer": pooled_cer([p for _, _, ps in done for p in ps])}


def by_layout(items: list[dict[str, Any]], b: dict[str, Any], c: dict[str, Any],
              b2: dict[str, Any] | None = None) -> dict[str, Any]:
    """(b) and (c) apart on the stereo and on the mono calls: speed (x real time) and pooled
    CER. (c) runs its calls in parallel workers, so its wall time is shared out in
    proportion to each call's own audit time; (b2)'s the same way."""
    c_total = sum(c["per_file_s"].values()) or 1.0
    b2_total = (sum(v["seconds"] for v in b2["per_file"].values()) or 1.0) if b2 else 1.0
    out = {}
    for layout in ("stereo", "mono"):
        names = [it["file"].stem for it in items if it["truth"]["layout"] == layout]
        if not names:
            continue
        audio_s = sum(c["results"][n]["duration_s"] for n in names)
        b_s = sum(b["per_file"][n]["seconds"] for n in names)
        c_s = c["seconds"] * sum(c["per_file_s"][n] for n in names) / c_total
        out[layout] = {"calls": len(names), "audio_minutes": audio_s / 60,
                       "b_x_realtime": audio_s / b_s, "c_x_realtime": audio_s / c_s,
                       "ratio_c_over_b": b_s / c_s,
                       "b_cer": pooled_cer([p for n in names for p in b["per_file"][n]["pairs"]]),
                       "c_cer": pooled_cer([p for n in names for p in c["pairs"][n]])}
        out[layout]["stages_s"] = split(c["results"], names)
        if layout == "mono":
            out[layout]["attribution"] = attribution(items, c["results"])
        if b2:
            b2_s = b2["seconds"] * sum(b2["per_file"][n]["seconds"] for n in names) / b2_total
            out[layout]["b2_x_realtime"] = audio_s / b2_s
            out[layout]["ratio_c_over_b2"] = b2_s / c_s
    return out


def attribution(items: list[dict[str, Any]], results: dict[str, Any]) -> dict[str, Any]:
    """On the mono calls (exact truth: the scripts' turns or a mix's segments): per role, the
    share of its true speech time labelled with its role (der.role_accuracy, mean over calls),
    pooled CER of its true text against the text of the utterances given its role, and the
    mean DER of the utterances' spans labelled by role (0.25 s collar) and its parts: the
    speech given to the other speaker (confusion), and the speech in no utterance (missed:
    mostly the pauses inside a scripted turn, which no VAD region covers), each over the
    true speech time."""
    right: dict[str, list[float]] = {"agent": [], "customer": []}
    text: dict[str, list[tuple[str, str]]] = {"agent": [], "customer": []}
    ders = []
    for it in items:
        t, r = it["truth"], results[it["file"].stem]
        if t["layout"] != "mono":
            continue
        ref = [(x["start"], x["end"], x["role"]) for x in t.get("segments") or t["turns"]]
        hyp = [(u["start"], u["end"], u["role"]) for u in r["utterances"]]
        acc = role_accuracy(ref, hyp)
        for role in right:
            if acc[role] is not None:
                right[role].append(acc[role])
            text[role].append(("".join(x["text"] for x in t["turns"] if x["role"] == role),
                               "".join(u["text"] for u in r["utterances"] if u["role"] == role)))
        d = der(ref, hyp)
        if d["der"] is not None:
            ders.append(d)
    n = max(1, len(ders))
    return {"role_time_right": {k: sum(v) / len(v) if v else None for k, v in right.items()},
            "role_cer": {k: pooled_cer(v) for k, v in text.items()},
            "der_utterances": sum(d["der"] for d in ders) / n,
            "der_confusion": sum(d["confusion"] / d["total"] for d in ders) / n,
            "der_missed": sum(d["missed"] / d["total"] for d in ders) / n}


def split(results: dict[str, Any], names: list[str]) -> dict[str, float]:
    """Seconds summed over the calls `names` by stage (the worker's own timing): separation
    (embed + cluster), redecode (turns decoded again, part of the ASR), vad_total (VAD, tones,
    echo and the separation), asr and its parts encode, decode (beam search), align (word
    times) and alone (regions decoded again by themselves, part of the three), total."""
    out = {"separation": 0.0, "redecode": 0.0, "vad_total": 0.0}
    for k in ("encode", "decode", "align", "alone"):
        out[f"asr_{k}"] = 0.0
    out["asr"] = out["total"] = 0.0
    for n in names:
        r = results[n]
        ts = r["timing_s"]
        sep = (r.get("separation") or {}).get("timing_s", {})
        out["separation"] += sum(v for k, v in sep.items() if k != "redecode")
        out["redecode"] += sep.get("redecode", 0.0)  # turns decoded again (part of the ASR)
        out["vad_total"] += ts.get("vad", 0.0)  # VAD, tones, echo and the separation
        for k in ("asr", "total", "asr_encode", "asr_decode", "asr_align", "asr_alone"):
            out[k] += ts.get(k, 0.0)
    return out


def audit_run(folder: Path, items: list[dict[str, Any]], model_dir: Path,
              **options: Any) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.sqlite"
        t0 = time.perf_counter()
        stats = run(str(folder), BatchOptions(db=str(db), model_dir=str(model_dir), redact=False,
                                              **options))  # transcripts as heard: for the CER
        seconds = time.perf_counter() - t0
        import sqlite3

        conn = sqlite3.connect(db)
        conn.row_factory = sqlite3.Row
        rows = {Path(r["file"]).stem: r for r in conn.execute("SELECT * FROM calls")}
        stages = {k: sum((r[f"t_{k}"] or 0) for r in rows.values())
                  for k in ("decode", "vad", "asr", "rules", "total")}
        for k in ("asr_encode", "asr_decode", "asr_align"):
            stages[k] = sum(json.loads(r["result_json"])["timing_s"].get(k, 0.0)
                            for r in rows.values())
    peak_rss_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    results = {name: json.loads(r["result_json"]) for name, r in rows.items()}
    invalid = {name: p for name, r in results.items() if (p := result_problem(r))}
    if invalid:  # every result the benchmark reads is an audit.call/1 result, or it stops
        raise SystemExit(f"results that are not valid audit.call/1: {invalid}")
    pairs = {it["file"].stem: audit_pairs(it["truth"], results[it["file"].stem]) for it in items}
    return {"seconds": seconds, "cer": pooled_cer([p for ps in pairs.values() for p in ps]),
            "stages": stages, "peak_worker_rss_mb": peak_rss_mb, "workers": stats,
            "results": results, "pairs": pairs,
            "per_file_s": {name: r["t_total"] or 0.0 for name, r in rows.items()}}


def audit_pairs(t: dict[str, Any], r: dict[str, Any]) -> list[tuple[str, str]]:
    """(truth, heard) of an audited call: the whole call when mono, else per channel."""
    if t["layout"] == "mono":
        return [(truth_text(t, None), "".join(u["text"] for u in r["utterances"]))]
    return [(truth_text(t, ch), "".join(u["text"] for u in r["utterances"] if u["channel"] == ch))
            for ch in (0, 1)]


def metric_errors(items: list[dict[str, Any]], results: dict[str, Any]) -> dict[str, Any]:
    errs: dict[str, list[float]] = {"answer_delay_s": [], "agent_speech_rate_rel": [],
                                    "agent_speech_rate_acoustic_rel": [],
                                    "max_silence_s": [], "interruptions": []}
    for it in items:
        t, m = it["truth"], results[it["file"].stem]["metrics"]
        agent = [x for x in t["turns"] if x["role"] == "agent"]
        connect = (t.get("ringback") or {}).get("connect_s", 0.0)
        if m["answer_delay_s"] is not None:
            errs["answer_delay_s"].append(abs(m["answer_delay_s"] - (agent[0]["start"] - connect)))
        if m["agent_speech_rate_cpm"] and t["layout"] == "stereo":
            want = t["speech_rate_cpm"]["agent"]
            errs["agent_speech_rate_rel"].append(abs(m["agent_speech_rate_cpm"] - want) / want)
            if m.get("agent_speech_rate_acoustic_cpm"):  # syllables heard (audio/syllables.py)
                errs["agent_speech_rate_acoustic_rel"].append(
                    abs(m["agent_speech_rate_acoustic_cpm"] - want) / want)
        errs["max_silence_s"].append(abs(m["max_silence_s"] - t["max_silence_s"]))
        if m["agent_interruptions"] is not None:
            cust = [x for x in t["turns"] if x["role"] == "customer"]
            want = sum(1 for a in agent for c in cust
                       if c["start"] < a["start"] < c["end"] and min(a["end"], c["end"]) - a["start"] >= 1)
            errs["interruptions"].append(abs(m["agent_interruptions"] - want))
    return {k: {"n": len(v), "mean": float(np.mean(v)) if v else None,
                "max": float(np.max(v)) if v else None} for k, v in errs.items()}


def rule_agreement(items: list[dict[str, Any]], results: dict[str, Any],
                   mismatches: list[str] | None = None) -> dict[str, Any]:
    settings = load().settings
    table: dict[str, dict[str, int]] = {}
    for it in items:
        t = it["truth"]
        expect = dict(t["expect"])
        rate = t["speech_rate_cpm"]["agent"]
        if rate and t["layout"] == "stereo":
            ok = settings.speech_rate_min_cpm <= rate <= settings.speech_rate_max_cpm
            expect["speech_rate"] = "pass" if ok else "fail"
        got = {f["rule"]: f for f in results[it["file"].stem]["findings"]}
        for rule, want in expect.items():
            f = got.get(rule)
            verdict = "n/a" if f is None or not f["applicable"] else "pass" if f["passed"] else \
                "review" if f.get("review") else "fail"
            row = table.setdefault(rule, {"tp": 0, "fp": 0, "fn": 0, "tn": 0, "na_mismatch": 0,
                                          "review_fail": 0, "review_pass": 0})
            if mismatches is not None and verdict != want:
                mismatches.append(f"{it['file'].stem} ({t['layout']}): {rule} expected {want}, "
                                  f"got {verdict} ({f['detail'] if f else ''})")
            if (want == "n/a") != (verdict == "n/a"):
                row["na_mismatch"] += 1
            elif verdict == "review":  # no points either way: for a person, counted apart
                row["review_fail" if want == "fail" else "review_pass"] += 1
            elif want == "fail":
                row["tp" if verdict == "fail" else "fn"] += 1
            elif want == "pass":
                row["fp" if verdict == "fail" else "tn"] += 1
    return table


def pace_eval(model_dir: Path) -> dict[str, Any]:
    """Agent speech rate on a slow, a normal and a fast agent (bench/pace: the same words at
    three TTS speeds): the rate from the words and from the sound against the truth, and
    the speech_rate verdict against the script's."""
    folder, truths = ROOT / "bench" / "pace" / "corpus", ROOT / "bench" / "pace" / "truth"
    if not any(folder.glob("*.wav")):
        return {"skipped": "bench/pace/corpus not rendered (make bench-corpus)"}
    items = [{"file": w, "truth": json.loads((truths / f"{w.stem}.truth.json").read_text("utf-8"))}
             for w in sorted(folder.glob("*.wav"))]
    results = audit_run(folder, items, model_dir)["results"]
    out: dict[str, Any] = {}
    for it in items:
        t, r = it["truth"], results[it["file"].stem]
        want, m = t["speech_rate_cpm"]["agent"], r["metrics"]
        f = next((f for f in r["findings"] if f["rule"] == "speech_rate"), None)
        verdict = "n/a" if f is None or not f["applicable"] else "pass" if f["passed"] else \
            "review" if f.get("review") else "fail"
        out[it["file"].stem] = {
            "true_cpm": want, "words_cpm": m["agent_speech_rate_cpm"],
            "sound_cpm": m.get("agent_speech_rate_acoustic_cpm"),
            "words_rel": (abs(m["agent_speech_rate_cpm"] - want) / want
                          if m["agent_speech_rate_cpm"] is not None else None),
            "sound_rel": (abs(m["agent_speech_rate_acoustic_cpm"] - want) / want
                          if m.get("agent_speech_rate_acoustic_cpm") else None),
            "verdict": verdict, "expected": t["expect"]["speech_rate"]}
    return out


def confidence_calibration(items: list[dict[str, Any]], results: dict[str, Any],
                           threshold: float) -> dict[str, Any]:
    """Is `confidence_min` where recognition goes wrong? On the stereo calls, each truth turn
    against the utterances placed in it (an utterance belongs to the turn it overlaps most;
    a turn's confidence is its utterances' lowest, as rules/doubt.py takes it), pooled CER
    by confidence band, and the share of badly heard turns (CER > 30 %) each side of the
    threshold."""
    bands = [(0.0, 0.2), (0.2, 0.4), (0.4, 0.6), (0.6, 0.8), (0.8, 1.01)]
    pairs: dict[tuple[float, float], list[tuple[str, str]]] = {b: [] for b in bands}
    side: dict[str, list[float]] = {"below": [], "above": []}
    for it in items:
        t = it["truth"]
        if t["layout"] != "stereo":
            continue
        placed: dict[int, list[dict[str, Any]]] = {}
        for u in results[it["file"].stem]["utterances"]:
            overlap = [(min(x["end"], u["end"]) - max(x["start"], u["start"]), k)
                       for k, x in enumerate(t["turns"]) if x["channel"] == u["channel"]]
            best = max(overlap, default=(0.0, -1))
            if best[0] > 0:
                placed.setdefault(best[1], []).append(u)
        for k, us in placed.items():
            known = [u["confidence"] for u in us if u.get("confidence") is not None]
            if not known:
                continue
            c, ref = min(known), t["turns"][k]["text"]
            hyp = "".join(u["text"] for u in sorted(us, key=lambda u: u["start"]))
            pairs[next(b for b in bands if b[0] <= c < b[1])].append((ref, hyp))
            side["below" if c < threshold else "above"].append(pooled_cer([(ref, hyp)]) or 0.0)
    return {
        "threshold": threshold,
        "bands": {f"{a:.1f}-{min(b, 1.0):.1f}": {"turns": len(v), "cer": pooled_cer(v)}
                  for (a, b), v in pairs.items()},
        "bad_share": {k: {"turns": len(v), "cer_over_30": (sum(x > 0.3 for x in v) / len(v)
                                                           if v else None)}
                      for k, v in side.items()},
    }


def realzh_cer(model_dir: Path) -> dict[str, Any]:
    """Real recorded Mandarin (../shared/data/realzh, when present): (b) vs our ASR path,
    per clip; (c) with the default pack's vocabulary written, and with faster-whisper's
    hotwords set to the same terms; the clips where (c) loses a tail (b) hears."""
    manifest = REALZH / "manifest.tsv"
    if not manifest.exists():
        return {"skipped": f"{REALZH} not present"}

    from faster_whisper import BatchedInferencePipeline, WhisperModel

    from callaudit.audio.vad import speech_regions
    from callaudit.speech import vocabulary
    from callaudit.speech.asr import Transcriber

    terms = load().settings.vocabulary
    rows = [line.split("\t") for line in manifest.read_text(encoding="utf-8").splitlines()[1:]]
    model = WhisperModel(str(model_dir), device="cpu", compute_type="int8")
    batched = BatchedInferencePipeline(model)
    ours = Transcriber(model_dir)
    # hotwords are not an option of ours (the recognizer is never primed: test_match);
    # measured here by handing the decoder the same terms
    hot = Transcriber(model_dir)
    hot._options = lambda: hot.whisper.options(  # type: ignore[method-assign]
        hot.opts.beam_size, hotwords=" ".join(terms))
    out = {}
    for band, suffix in (("16k", ""), ("tel8k", "_tel8k")):
        pb, pc, pv, ph, clips = [], [], [], [], []
        for r in rows:
            name, ref = r[0], r[4].replace(" ", "")
            path = REALZH / ("tel8k" if suffix else "") / name.replace(".wav", f"{suffix}.wav")
            a = decode(str(path))
            segs, _ = batched.transcribe(a.channels[0], language="zh", beam_size=5, batch_size=8)
            pb.append((ref, "".join(s.text for s in segs)))
            regions = speech_regions(a.channels[0], 0)
            heard = ours.transcribe_all(a, regions)
            pc.append((ref, "".join(u.text for u in heard.utterances)))
            pv.append((ref, "".join(u.text for u in vocabulary.apply(heard.utterances, terms))))
            ph.append((ref, "".join(u.text for u in hot.transcribe(a, regions))))
            # per clip: 14 clips of 213 characters, so one clip moves the pooled figure by points
            b_text, c_text = plain(pb[-1][1]), plain(pc[-1][1])
            clips.append({"clip": name, "chars": len(plain(ref)), "b": pooled_cer([pb[-1]]),
                          "c": pooled_cer([pc[-1]]), "b_text": b_text, "c_text": c_text,
                          "c_unheard_s": round(sum(u.duration for u in heard.unheard), 2),
                          "tail_lost": len(b_text) - len(c_text) >= 3
                          and len(c_text) < 0.8 * len(b_text)})
        out[band] = {"b_batched": pooled_cer(pb), "c_audit": pooled_cer(pc),
                     "c_vocabulary": pooled_cer(pv), "c_hotwords": pooled_cer(ph), "clips": clips}
    return out


def vocabulary_effect(items: list[dict[str, Any]], results: dict[str, Any]) -> dict[str, Any]:
    """(c) on the synthesized calls with the vocabulary written (`text`) and as heard
    (`heard`): CER, and how many of the truth's vocabulary terms each writes right."""
    from callaudit.speech.vocabulary import write_terms

    terms = load().settings.vocabulary
    pairs: dict[str, list[tuple[str, str]]] = {"written": [], "heard": []}
    right = {"written": 0, "heard": 0}
    said = 0
    for it in items:
        utts = results[it["file"].stem]["utterances"]
        truth = write_terms(plain(truth_text(it["truth"], None)), terms)
        for key, text in (("written", "".join(u["text"] for u in utts)),
                          ("heard", "".join(u.get("heard") or u["text"] for u in utts))):
            pairs[key].append((truth, text))
            hyp = plain(text)
            right[key] += sum(min(truth.count(t), hyp.count(t)) for t in _outer(terms, truth))
        said += sum(truth.count(t) for t in _outer(terms, truth))
    return {"terms_said": said, **{f"{k}_cer": pooled_cer(v) for k, v in pairs.items()},
            **{f"{k}_right": v for k, v in right.items()}}


def _outer(terms: list[str], text: str) -> list[str]:
    """The terms found in `text` that no longer term found there holds (单号 in 订单号)."""
    found = [t for t in terms if t in text]
    return [t for t in found if not any(t != o and t in o for o in found)]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=str(ROOT / "bench"))
    ap.add_argument("--quick", action="store_true",
                    help="skip the (c) variants, the cluster, diarization and report scale")
    args = ap.parse_args()
    Path(args.out).mkdir(parents=True, exist_ok=True)
    model_dir = resolve(None)
    folder, items = corpus()
    audio_s = sum(decode(str(it["file"])).duration for it in items)
    print(f"corpus: {len(items)} calls, {audio_s / 60:.1f} min of audio ({folder})", flush=True)
    fw = faster_whisper_runs(items, model_dir)
    print("faster-whisper done", flush=True)
    b2 = batched_processes(items, model_dir)
    print("faster-whisper in processes done", flush=True)
    c = audit_run(folder, items, model_dir)
    print("audit batch done", flush=True)
    variants = {}
    if not args.quick:
        for name, opts in (("c_full_windows", {"full_windows": True}),
                           ("c_greedy", {"beam_size": 1})):
            v = audit_run(folder, items, model_dir, **opts)
            variants[name] = {"x_realtime": audio_s / v["seconds"], "cer": v["cer"]}
            print(f"{name} done", flush=True)
    res = {
        "corpus": {"folder": str(folder.relative_to(ROOT)), "calls": len(items),
                   "audio_minutes": round(audio_s / 60, 2)},
        "machine": {"cores": os.cpu_count()},
        "speed_x_realtime": {
            "a_plain": audio_s / fw["a_plain"]["seconds"],
            "b_batched": audio_s / fw["b_batched"]["seconds"],
            "b2_processes": audio_s / b2["seconds"],
            "c_audit": audio_s / c["seconds"],
        },
        "b2_workers": b2["workers"],
        "cer": {"a_plain": fw["a_plain"]["cer"], "b_batched": fw["b_batched"]["cer"],
                "b2_processes": b2["cer"], "c_audit": c["cer"]},
        "stages_s": c["stages"],
        "by_layout": by_layout(items, fw["b_batched"], c, b2),
        "peak_worker_rss_mb": c["peak_worker_rss_mb"],
        "metric_errors": metric_errors(items, c["results"]),
        "rule_agreement": rule_agreement(items, c["results"], mismatches := []),
        "rule_mismatches": mismatches,
        "confidence": confidence_calibration(items, c["results"], load().settings.confidence_min),
        "vocabulary": vocabulary_effect(items, c["results"]),
        "realzh_cer": realzh_cer(model_dir),  # 14 short clips: a minute, run even with --quick
        "pace": pace_eval(model_dir),
    }
    import field_eval

    res["field"] = field_eval.run()  # small: run even with --quick
    print("field recordings done", flush=True)
    import pii_eval

    res["personal_data"] = pii_eval.run()  # transcript-level: seconds
    import phrase_scale

    # a 10,000-phrase forbid category against the default pack, before and after its index
    res["phrase_scale"] = phrase_scale.main(str(Path(args.out, "phrase_scale.md")), repeat=3)
    if not args.quick:
        import report_scale

        res["report_scale"] = report_scale.main()
        print("report scale done", flush=True)
        import workbench_scale

        res["workbench_scale"] = workbench_scale.main()  # Find calls on 20,000 calls
        print("workbench scale done", flush=True)
        import cluster_overhead
        import diarize_eval

        res["cluster"] = cluster_overhead.main(folder, str(model_dir))
        print("cluster overhead done", flush=True)
        res["diarization"] = diarize_eval.run(args.out)["summary"]  # details: diarize_eval.md
        print("diarization done", flush=True)
        import memory

        # one worker on 1 h and 3 h recordings (~45 min): make bench-memory runs them alone
        res["long_recordings"] = memory.run([1.0, 3.0], ["silent", "spoken"])
    sp = res["speed_x_realtime"]
    res["ratio_c_over_b"] = sp["c_audit"] / sp["b_batched"]
    res["ratio_c_over_b2"] = sp["c_audit"] / sp["b2_processes"]
    res["variants"] = {k: {**v, "ratio_over_b": v["x_realtime"] / sp["b_batched"]}
                       for k, v in variants.items()}
    Path(args.out, "results.json").write_text(json.dumps(res, indent=1, ensure_ascii=False) + "\n")
    md = render(res)
    Path(args.out, "results.md").write_text(md, encoding="utf-8")
    print(md)


def _num(x: float | None, fmt: str, unit: str = "") -> str:
    return "-" if x is None else f"{x:{fmt}}{unit}"


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f} %"


def _cpm(rate: float | None, rel: float | None) -> str:
    return "-" if rate is None else f"{rate:.0f} ({_pct(rel)})"


def render(r: dict[str, Any]) -> str:
    sp, cer = r["speed_x_realtime"], r["cer"]
    lines = [
        "# Benchmark results", "",
        f"Corpus: {r['corpus']['calls']} calls, {r['corpus']['audio_minutes']} min of audio "
        f"(`{r['corpus']['folder']}`), {r['machine']['cores']} cores.", "",
        "| pipeline | x real time | CER (synthesized calls) |", "|---|---|---|",
        f"| (a) faster-whisper `transcribe(vad_filter=True)` per channel | {sp['a_plain']:.1f} | "
        f"{_pct(cer['a_plain'])} |",
        f"| (b) faster-whisper `BatchedInferencePipeline` per channel | {sp['b_batched']:.1f} | "
        f"{_pct(cer['b_batched'])} |",
    ]
    if "b2_processes" in sp:
        lines.append(f"| (b2) (b) in {r['b2_workers']} single-threaded processes, files shared "
                     f"out | {sp['b2_processes']:.1f} | {_pct(cer['b2_processes'])} |")
    lines.append(
        f"| (c) `audit batch`: the whole audit | {sp['c_audit']:.1f} | {_pct(cer['c_audit'])} |")
    labels = {"c_full_windows": "(c) with every window padded to 30 s, as faster-whisper does",
              "c_greedy": "(c) with greedy decoding (`--beam-size 1`)"}
    for k, v in r.get("variants", {}).items():
        lines.append(f"| {labels[k]} | {v['x_realtime']:.1f} | {_pct(v['cer'])} |")
    lines += [
        "", f"(c)/(b) throughput: **{r['ratio_c_over_b']:.2f}x**"
        + (f"; (c)/(b2): **{r['ratio_c_over_b2']:.2f}x** (the machine split the same way: "
           "what is left is the audit's own doing)" if "ratio_c_over_b2" in r else "")
        + f". Peak worker memory: {r['peak_worker_rss_mb']:.0f} MB.", "",
    ]
    if r.get("long_recordings"):
        lines += ["Long recordings, one worker (`bench/memory.py`; 8 kHz stereo; silent: line "
                  "hiss, spoken: the demo call over and over):", "",
                  "| recording | peak memory | the model alone | audit | x real time |",
                  "|---|---|---|---|---|"]
        lines += [f"| {m['kind']} {m['hours']:g} h | {m['peak_rss_mb']:.0f} MB | "
                  f"{m['model_rss_mb']:.0f} MB | {m['audit_s']:.0f} s | "
                  f"{m['duration_s'] / m['audit_s']:.1f} |" for m in r["long_recordings"]]
        lines.append("")
    lines += [
        "Where (c)'s time goes (seconds summed over calls, per worker): " +
        ", ".join(f"{k} {v:.1f}" for k, v in r["stages_s"].items()), "",
    ]
    if r.get("by_layout"):
        lines += ["By layout ((c)'s and (b2)'s wall time shared out by each call's own time):", "",
                  "| calls | audio | (b) x real time | (b2) | (c) x real time | (c)/(b) | (c)/(b2) "
                  "| CER (b) | CER (c) |",
                  "|---|---|---|---|---|---|---|---|---|"]
        lines += [f"| {k} ({v['calls']}) | {v['audio_minutes']:.1f} min | {v['b_x_realtime']:.1f} | "
                  f"{_num(v.get('b2_x_realtime'), '.1f')} | {v['c_x_realtime']:.1f} | "
                  f"**{v['ratio_c_over_b']:.2f}x** | {_num(v.get('ratio_c_over_b2'), '.2f', 'x')} | "
                  f"{_pct(v['b_cer'])} | {_pct(v['c_cer'])} |" for k, v in r["by_layout"].items()]
        lines.append("")
        lines += ["Where a call's time goes by layout (seconds summed over its calls, per worker; "
                  "the separation is part of the VAD stage, alone of the three ASR parts):", "",
                  "| calls | VAD stage | of it separation | encode | beam search | word times "
                  "| alone | total |", "|---|---|---|---|---|---|---|---|"]
        lines += [f"| {k} | {st['vad_total']:.1f} | {st['separation']:.1f} | "
                  f"{st['asr_encode']:.1f} | {st['asr_decode']:.1f} | {st['asr_align']:.1f} | "
                  f"{st['asr_alone']:.1f} | {st['total']:.1f} |"
                  for k, v in r["by_layout"].items() if (st := v.get("stages_s"))]
        lines.append("")
        at = r["by_layout"].get("mono", {}).get("attribution")
        if at:
            right, rc = at["role_time_right"], at["role_cer"]
            lines += ["Mono calls, who said what (against the scripts): the agent's / customer's "
                      f"speech time on their role {_pct(right['agent'])} / "
                      f"{_pct(right['customer'])}; CER of each role's text {_pct(rc['agent'])} / "
                      f"{_pct(rc['customer'])}; DER of the utterances by role "
                      f"{_pct(at['der_utterances'])} (of it speech given to the other "
                      f"speaker {_pct(at.get('der_confusion'))}, speech in no utterance "
                      f"{_pct(at.get('der_missed'))}).", ""]
    rz = r["realzh_cer"]
    if "skipped" in rz:
        lines += [f"Real speech: {rz['skipped']}.", ""]
    else:
        lines += ["Real recorded speech (`../shared/data/realzh`), pooled CER ((c) as the "
                  "recognizer wrote it; with the vocabulary written; with faster-whisper's "
                  "hotwords set to the vocabulary):", "",
                  "| band | (b) batched | (c) audit | (c) + vocabulary | (c) + hotwords |",
                  "|---|---|---|---|---|"]
        lines += [f"| {band} | {_pct(v['b_batched'])} | {_pct(v['c_audit'])} | "
                  f"{_pct(v.get('c_vocabulary'))} | {_pct(v.get('c_hotwords'))} |"
                  for band, v in rz.items()]
        lines += ["", "Per clip (characters of the reference; CER; (c)'s seconds marked unheard; "
                  "tail: (c) wrote much less than (b)):", "",
                  "| clip | chars | 16k (b) | 16k (c) | unheard | tel8k (b) | tel8k (c) | unheard | tail |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for k16, k8 in zip(rz["16k"]["clips"], rz["tel8k"]["clips"], strict=True):
            tail = ", ".join(b for b, k in (("16k", k16), ("tel8k", k8)) if k.get("tail_lost"))
            lines.append(f"| {k16['clip']} | {k16['chars']} | {_pct(k16['b'])} | {_pct(k16['c'])} | "
                         f"{k16.get('c_unheard_s', 0):g} s | {_pct(k8['b'])} | {_pct(k8['c'])} | "
                         f"{k8.get('c_unheard_s', 0):g} s | {tail or '-'} |")
        lines += ["", "Clips where (c) and (b) differ by 10 points or more:", "",
                  "| band | clip | chars | (b) | (c) | (b) heard | (c) heard |",
                  "|---|---|---|---|---|---|---|"]
        lines += [f"| {band} | {k['clip']} | {k['chars']} | {_pct(k['b'])} | {_pct(k['c'])} | "
                  f"{k['b_text']} | {k['c_text']} |"
                  for band, v in rz.items() for k in v.get("clips", [])
                  if abs(k["c"] - k["b"]) >= 0.10]
        lines.append("")
    vo = r.get("vocabulary")
    if vo:
        lines += [f"The vocabulary on the synthesized calls ({vo['terms_said']} terms said): CER "
                  f"{_pct(vo['heard_cer'])} as heard, {_pct(vo['written_cer'])} written; terms "
                  f"written right {vo['heard_right']} as heard, {vo['written_right']} written.", ""]
    pace = r.get("pace") or {}
    if "skipped" in pace:
        lines += [f"Agent pace: {pace['skipped']}.", ""]
    elif pace:
        lines += ["Agent speech rate on a slow, a normal and a fast agent (`bench/pace`, the same "
                  "words at three speeds), characters/minute:", "",
                  "| call | truth | from the words (error) | from the sound (error) | verdict | "
                  "expected |", "|---|---|---|---|---|---|"]
        lines += [f"| {k} | {v['true_cpm']:.0f} | {_cpm(v['words_cpm'], v['words_rel'])} | "
                  f"{_cpm(v['sound_cpm'], v['sound_rel'])} | {v['verdict']} | {v['expected']} |"
                  for k, v in pace.items()]
        lines.append("")
    cf = r.get("confidence")
    if cf:
        lines += [f"Recognition confidence against the truth (stereo calls, turn by turn; a turn's "
                  f"confidence is its utterances' lowest; `confidence_min` = {cf['threshold']}):", "",
                  "| confidence | turns | pooled CER |", "|---|---|---|"]
        lines += [f"| {k} | {v['turns']} | {_pct(v['cer'])} |" for k, v in cf["bands"].items()]
        b, a = cf["bad_share"]["below"], cf["bad_share"]["above"]
        lines += ["", f"Turns heard with CER over 30 %: {_pct(b['cer_over_30'])} of the "
                  f"{b['turns']} below the threshold, {_pct(a['cer_over_30'])} of the "
                  f"{a['turns']} above it.", ""]
    if r.get("field"):
        import field_eval

        lines += field_eval.render(r["field"])
    if r.get("personal_data"):
        import pii_eval

        lines += pii_eval.render(r["personal_data"])
    if r.get("phrase_scale"):
        import phrase_scale

        lines += phrase_scale.render(r["phrase_scale"])
    lines += ["Metric errors against the truth files (absolute; speech rate relative):", "",
              "| metric | calls | mean | max |", "|---|---|---|---|"]
    for k, v in r["metric_errors"].items():
        fmt = _pct if k.endswith("_rel") else (lambda x: "-" if x is None else f"{x:.2f}")
        lines.append(f"| {k} | {v['n']} | {fmt(v['mean'])} | {fmt(v['max'])} |")
    ra = r["rule_agreement"]
    tot = {k: sum(v.get(k, 0) for v in ra.values()) for k in ("fp", "fn", "review_fail", "review_pass")}
    lines += ["", "Rule verdicts against the scripts (positive = the rule fails; a failure that "
              "needs review deducts nothing and is counted apart): "
              f"**{tot['fp']} false alarms, {tot['fn']} misses**, needs review {tot['review_fail']} "
              f"where the rule fails, {tot['review_pass']} where it passes.", "",
              "| rule | TP | FP (false alarm) | FN (miss) | TN | review, should fail | review, should pass "
              "| n/a mismatch |", "|---|---|---|---|---|---|---|---|"]
    for rule, v in sorted(ra.items()):
        lines.append(f"| {rule} | {v['tp']} | {v['fp']} | {v['fn']} | {v['tn']} | "
                     f"{v.get('review_fail', 0)} | {v.get('review_pass', 0)} | {v['na_mismatch']} |")
    rs = r.get("report_scale")
    if rs:
        c2, d20 = rs["call_2h"], rs["dashboard_20k"]
        lines += ["", "Reviewer pages at scale (synthetic results, headless Chromium):", "",
                  "| page | size | render | browser load |", "|---|---|---|---|",
                  f"| 2-hour call (audio linked) | {c2['bytes'] / 1e6:.2f} MB | "
                  f"{c2['render_s']:.1f} s | {c2.get('browser_load_s', float('nan')):.1f} s |",
                  f"| dashboard of 20,000 calls | {d20['bytes'] / 1e6:.2f} MB | "
                  f"{d20['render_s']:.1f} s | {d20.get('browser_load_s', float('nan')):.1f} s |"]
    ws = r.get("workbench_scale")
    if ws:
        lines += ["", "The review workbench on 20,000 calls (bench/workbench_scale.py; a request "
                  "through Flask's test client, median and slowest of 5):", "",
                  "| page | rows | median | slowest |", "|---|---|---|---|"]
        lines += [f"| `{v['url']}` | {v['rows']} | {v['median_ms']:.0f} ms | {v['max_ms']:.0f} ms |"
                  for v in ws["pages"].values()]
    cl = r.get("cluster")
    if cl:
        lines += ["", "The same calls through the local pool and through Dask (wall time includes "
                  "starting workers and loading the model):", "",
                  "| path | audio hours per hour | vs pool |", "|---|---|---|"]
        names = {"pool_2": "`--workers 2`", "cluster_local_2": "`--cluster local:2`",
                 "scheduler_2_workers": "`dask scheduler` + `dask worker --nworkers 2` (localhost)"}
        lines += [f"| {names[k]} | {v['audio_h_per_h']:.1f} | {v['vs_pool']:.2f} |" for k, v in cl.items()]
    dz = r.get("diarization")
    if dz:
        lines += ["", "Mono speaker separation (details in diarize_eval.md):", "",
                  "| mixes / embedder | calls | DER (collar 0.25) | DER (no collar) | x real time |",
                  "|---|---|---|---|---|"]
        for k, v in dz["diarization"].items():
            speed = f"{1 / v['xrt']:.0f}" if v["xrt"] else "-"  # xrt: diarize time / audio time
            lines.append(f"| {k} | {v['calls']} | {_pct(v['der'])} | {_pct(v['der_c0'])} | {speed} |")
    if r["rule_mismatches"]:
        lines += ["", "Verdicts that differ from the script:", ""]
        lines += [f"- {m}" for m in r["rule_mismatches"]]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
