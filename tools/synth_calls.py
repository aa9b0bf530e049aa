"""Synthesize labelled two-party test calls from scripts (samples/scripts/*.yaml).

Each script lists turns with their text, voice and timing; the output is the recording
(samples/NAME.wav) and its truth (samples/NAME.truth.json): every turn's role, channel,
start/end (first/last sample above -40 dBFS of the synthesized speech, in seconds of the
file), spoken text, syllable count, plus the silences and the expected rule verdicts.

    .venv-tts/bin/python tools/synth_calls.py [NAME ...]     # see samples/scripts/README.md

Needs the offline TTS of ../shared/tools/tts (or $CALLAUDIT_TTS_DIR). Deterministic: the
same script gives the same bytes.

Script keys: name, description, sample_rate (8000|16000), layout (stereo|mono),
agent_channel (left|right), telephone (bool: 300-3400 Hz band + G.711 u-law round trip),
ringback (rings of 450 Hz, 1 s on / 4 s off, on the caller's channel before connect;
connect = the end of the last ring, and `at` counts from there),
voices {agent|customer: {speed, f0, vtl}}, turns [{role, text, at | after, speed?, f0?, vtl?}]
(a turn's `vtl` over its voice's: 1.3 replays it 1.3x faster and higher, a raised voice)
(`at`: seconds from connect; `after`: seconds after the previous turn's end, negative
overlaps it), tail (seconds after the last turn), expect {rule: pass|fail|n/a}.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import wave
from pathlib import Path
from typing import Any

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
TTS_DIR = Path(os.environ.get("CALLAUDIT_TTS_DIR", ROOT.parent / "shared" / "tools" / "tts"))
SR = 16000
SPEECH_DB = -40.0  # turn bounds: first/last 10 ms frame above this level
NOISE_RMS = 10 ** (-62 / 20)  # line noise so silence is not digital zero
TURN_PEAK = 10 ** (-6 / 20)


def _tts():  # type: ignore[no-untyped-def]
    if not (TTS_DIR / "zh_tts.py").exists():
        sys.exit(f"TTS not found at {TTS_DIR}: set CALLAUDIT_TTS_DIR (see samples/scripts/README.md)")
    sys.path.insert(0, str(TTS_DIR))
    import zh_tts

    return zh_tts


def bounds(x: np.ndarray) -> tuple[int, int]:
    n = SR // 100
    k = len(x) // n
    db = 10 * np.log10(np.mean(np.square(x[: k * n].reshape(k, n), dtype=np.float64), axis=1) + 1e-12)
    on = np.nonzero(db > SPEECH_DB)[0]
    return (int(on[0]) * n, (int(on[-1]) + 1) * n) if len(on) else (0, len(x))


def speech_seconds(x: np.ndarray) -> float:
    """Duration minus inner pauses of 0.5 s or more: the speaking time metrics/timing.py defines."""
    n = SR // 100
    k = len(x) // n
    db = 10 * np.log10(np.mean(np.square(x[: k * n].reshape(k, n), dtype=np.float64), axis=1) + 1e-12)
    quiet = db <= SPEECH_DB
    pauses, run = 0, 0
    for q in quiet:
        run = run + 1 if q else 0
        if run == 50:  # 0.5 s reached: count the whole run from here on
            pauses += 50
        elif run > 50:
            pauses += 1
    return len(x) / SR - pauses * n / SR


def telephone(x: np.ndarray) -> np.ndarray:
    """300-3400 Hz band-pass (FFT brick wall with short ramps) and a G.711 u-law round trip."""
    spec = np.fft.rfft(x)
    f = np.fft.rfftfreq(len(x), 1 / SR)
    gain = np.clip((f - 250) / 100, 0, 1) * np.clip((3500 - f) / 200, 0, 1)
    y = np.fft.irfft(spec * gain, len(x))
    mu = 255.0
    enc = np.sign(y) * np.log1p(mu * np.minimum(np.abs(y), 1.0)) / np.log1p(mu)
    enc = np.round(enc * 127) / 127  # 8-bit code
    return (np.sign(enc) * ((1 + mu) ** np.abs(enc) - 1) / mu).astype(np.float32)


def resample_to(x: np.ndarray, rate: int) -> np.ndarray:
    if rate == SR:
        return x
    assert rate == 8000
    spec = np.fft.rfft(x)
    return (np.fft.irfft(spec[: len(x) // 4 + 1], len(x) // 2) / 2).astype(np.float32)


def han_count(text: str) -> int:
    return len(re.findall(r"[\u4e00-\u9fff]", text))


def vocal_tract(audio: np.ndarray, factor: float) -> np.ndarray:
    """Another speaker from the one TTS voice: replaying at `factor` scales pitch and formants
    together, as a longer (< 1) or shorter vocal tract would; a pitch change alone leaves the
    timbre, and a speaker model hears the same person. Duration scales by 1/factor (set the
    voice's speed to compensate)."""
    n = int(round(len(audio) / factor))
    return np.interp(np.arange(n) * factor, np.arange(len(audio)), audio).astype(np.float32)


def build(script: dict[str, Any], tts) -> tuple[np.ndarray, dict[str, Any]]:  # type: ignore[no-untyped-def]
    voices = script.get("voices", {})
    stereo = script.get("layout", "stereo") == "stereo"
    agent_ch = 0 if script.get("agent_channel", "left") == "left" else 1
    ch_of = {"agent": agent_ch if stereo else 0, "customer": (1 - agent_ch) if stereo else 0}
    rings = int(script.get("ringback", 0))
    connect = (rings - 1) * 5.0 + 1.0 if rings else 0.0
    rendered: list[tuple[dict[str, Any], np.ndarray, float]] = []
    prev_end = connect
    for turn in script["turns"]:
        v = {**voices.get(turn["role"], {}), **{k: turn[k] for k in ("speed", "f0", "vtl") if k in turn}}
        text = tts.spell_digits(turn["text"])
        audio = tts.synth(text, speed=v.get("speed", 1.0), f0=v.get("f0", 1.0))
        if v.get("vtl", 1.0) != 1.0:
            audio = vocal_tract(audio, v["vtl"])
        a, b = bounds(audio)
        audio = audio[a:b]
        audio = audio / (np.abs(audio).max() or 1.0) * TURN_PEAK
        start = connect + turn["at"] if "at" in turn else prev_end + turn["after"]
        rendered.append(({**turn, "text": text}, audio, start))
        prev_end = start + len(audio) / SR
    total = max(s + len(a) / SR for _, a, s in rendered) + float(script.get("tail", 1.5))
    n = int(round(total * SR))
    chans = np.zeros((2 if stereo else 1, n), np.float32)
    for k in range(rings):
        t = np.arange(SR) / SR
        chans[ch_of["customer"], k * 5 * SR:(k * 5 + 1) * SR] += 0.2 * np.sin(2 * np.pi * 450 * t)
    turns_out = []
    for turn, audio, start in rendered:
        i = int(round(start * SR))
        chans[ch_of[turn["role"]], i:i + len(audio)] += audio
        turns_out.append({"role": turn["role"], "channel": ch_of[turn["role"]],
                          "start": round(i / SR, 3), "end": round((i + len(audio)) / SR, 3),
                          "text": turn["text"], "chars": han_count(turn["text"]),
                          "speech_s": round(speech_seconds(audio), 3)})
    rng = np.random.default_rng(0)
    chans += (NOISE_RMS * rng.standard_normal(chans.shape)).astype(np.float32)
    if script.get("telephone", True):
        chans = np.stack([telephone(c) for c in chans])
    rate = int(script.get("sample_rate", 8000))
    out = np.stack([resample_to(c, rate) for c in chans])
    truth = {
        "name": script["name"], "description": script.get("description", ""),
        "sample_rate": rate, "layout": "stereo" if stereo else "mono",
        "agent_channel": script.get("agent_channel", "left") if stereo else "mono",
        "duration_s": round(n / SR, 3),
        "ringback": {"rings": rings, "connect_s": connect} if rings else None,
        "expect": script.get("expect", {}), "known_misses": script.get("known_misses", {}),
        "turns": turns_out,
    }
    truth.update(_timing(turns_out))
    return out, truth


def _timing(turns: list[dict[str, Any]]) -> dict[str, Any]:
    rate = {}
    for role in ("agent", "customer"):
        ts = [t for t in turns if t["role"] == role]
        secs = sum(t["speech_s"] for t in ts)
        rate[role] = round(sum(t["chars"] for t in ts) * 60 / secs, 1) if secs else None
    spans = sorted((t["start"], t["end"]) for t in turns)
    merged: list[list[float]] = []
    for s, e in spans:
        if merged and s <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], e)
        else:
            merged.append([s, e])
    silences = [{"start": a[1], "end": b[0], "duration_s": round(b[0] - a[1], 3)}
                for a, b in zip(merged, merged[1:], strict=False) if b[0] - a[1] >= 1.0]
    return {"speech_rate_cpm": rate, "silences": silences,
            "max_silence_s": max((s["duration_s"] for s in silences), default=0.0)}


def write_wav(path: Path, chans: np.ndarray, rate: int) -> None:
    pcm = (np.clip(chans.T, -1, 1) * 32767).round().astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(chans.shape[0])
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.tobytes())


def main(argv: list[str]) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("names", nargs="*", help="only these scripts (default: all)")
    ap.add_argument("--scripts", default=str(ROOT / "samples" / "scripts"))
    ap.add_argument("--out", default=str(ROOT / "samples"))
    ap.add_argument("--truth-out", help="where truth files go (default: --out)")
    args = ap.parse_args(argv)
    tts = _tts()
    out_dir, truth_dir = Path(args.out), Path(args.truth_out or args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    truth_dir.mkdir(parents=True, exist_ok=True)
    for path in sorted(Path(args.scripts).glob("*.yaml")):
        script = yaml.safe_load(path.read_text(encoding="utf-8"))
        if args.names and script["name"] not in args.names:
            continue
        audio, truth = build(script, tts)
        out = out_dir / f"{script['name']}.wav"
        write_wav(out, audio, truth["sample_rate"])
        (truth_dir / f"{script['name']}.truth.json").write_text(
            json.dumps(truth, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
        print(f"{out.name}: {truth['duration_s']:.1f} s, {out.stat().st_size // 1024} KB, agent "
              f"{truth['speech_rate_cpm']['agent']} chars/min, max silence {truth['max_silence_s']} s")


if __name__ == "__main__":
    main(sys.argv[1:])
