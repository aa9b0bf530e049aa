"""Small mono test calls for the diarization tests (tests/data/mono/), each with its truth:

    one_speaker.wav   ~15 s, only the agent voice: diarization must not invent a second party
    music_hold.wav    two voices around ~10 s of synthesized hold music (sine chords)
    one_second.wav    a 1 s call: "喂？" and line noise

8 kHz mono 16-bit telephone audio (300-3400 Hz + G.711 u-law round trip, as synth_calls.py),
truth in the format of tools/mix_mono.py plus "music": [[start, end]] (music is not speech).

    .venv-tts/bin/python tools/make_mono_fixtures.py [--out tests/data/mono]

Needs the offline TTS (see tools/synth_calls.py). Deterministic: same script, same bytes.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from mix_mono import MERGE_GAP_S, _dump, _truth, speech_runs  # noqa: E402
from synth_calls import NOISE_RMS, SR, TURN_PEAK, _tts, bounds, resample_to, telephone, write_wav  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RATE = 8000
VOICES = {0: {"f0": 1.0, "speed": 1.6}, 1: {"f0": 0.72, "speed": 1.3}}  # agent, customer
SPEAKERS = {"A": "tts agent voice (f0 1.0, speed 1.6)", "B": "tts customer voice (f0 0.72, speed 1.3)"}

# (role 0 agent | 1 customer | "music", text or seconds of music, pause before it in seconds)
CALLS: dict[str, list[tuple[int | str, str | float, float]]] = {
    "one_speaker": [
        (0, "您好，这里是客户服务中心，工号零零八，请问有什么可以帮您？", 0.6),
        (0, "您好，请问能听到我说话吗？", 1.5),
    ],
    "music_hold": [
        (0, "您好，请问有什么可以帮您？", 0.5),
        (1, "我想查一下订单。", 0.7),
        (0, "好的，请您稍等。", 0.6),
        ("music", 10.0, 0.5),
        (0, "感谢您的等待，订单已经发货了。", 0.5),
        (1, "好的，谢谢。", 0.6),
    ],
    "one_second": [(0, "喂？", 0.3)],
}


def music(seconds: float) -> np.ndarray:
    """Hold music: four chords of sines with a few harmonics, each note plucked and decaying."""
    chords = [(261.6, 329.6, 392.0), (349.2, 440.0, 523.3), (392.0, 493.9, 587.3), (261.6, 329.6, 392.0)]
    n = int(seconds * SR)
    per = n // len(chords)
    t = np.arange(per) / SR
    env = np.minimum(t / 0.02, 1.0) * np.exp(-t / 1.2)  # 20 ms attack, slow decay
    out = np.concatenate([
        sum(sum(np.sin(2 * np.pi * f * h * t) / h ** 2 for h in (1, 2, 3)) for f in chord) * env
        for chord in chords])
    return np.pad(out, (0, n - len(out))) * (0.1 / np.abs(out).max())  # about -20 dBFS peak


def build(name: str, plan: list[tuple[int | str, str | float, float]], tts: Any,
          ) -> tuple[np.ndarray, dict[str, Any]]:
    parts: list[tuple[int | str, int, np.ndarray]] = []
    t = 0
    for who, what, pause in plan:
        t += int(pause * SR)
        if who == "music":
            x = music(float(what))
        else:
            audio = tts.synth(str(what), **VOICES[int(who)])
            a, b = bounds(audio)
            x = audio[a:b] / (np.abs(audio[a:b]).max() or 1.0) * TURN_PEAK
        parts.append((who, t, x))
        t += len(x)
    n = max(t + int(0.4 * SR), SR)  # a short tail; the shortest call is still 1 s
    mix = np.zeros(n)
    raw: dict[int, list[tuple[float, float]]] = {0: [], 1: []}
    music_spans = []
    for who, s, x in parts:
        mix[s:s + len(x)] += x
        if who == "music":
            music_spans.append([round(s / SR, 3), round((s + len(x)) / SR, 3)])
        else:
            raw[int(who)] += [((s + a) / SR, (s + b) / SR) for a, b in speech_runs(x, -40.0, MERGE_GAP_S)]
    mix += NOISE_RMS * np.random.default_rng(0).standard_normal(n)
    audio = resample_to(telephone(mix.astype(np.float32)), RATE)
    speakers = {k: v for k, v in SPEAKERS.items() if raw["AB".index(k)]}
    truth = _truth(name, speakers, raw, n / SR, None)
    truth.update(source="tts", sample_rate=RATE, telephone=True, files={"mono": f"{name}.wav"},
                 music=music_spans)
    return audio[None, :], truth


def main(argv: list[str]) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(ROOT / "tests" / "data" / "mono"))
    out = Path(ap.parse_args(argv).out)
    out.mkdir(parents=True, exist_ok=True)
    tts = _tts()
    for name, plan in CALLS.items():
        audio, truth = build(name, plan, tts)
        write_wav(out / f"{name}.wav", audio, RATE)
        _dump(out / f"{name}.truth.json", truth)
        print(f"{name}.wav: {truth['duration_s']:.1f} s, {(out / f'{name}.wav').stat().st_size // 1024} KB, "
              f"{len(truth['segments'])} segments")


if __name__ == "__main__":
    main(sys.argv[1:])
