"""Two-speaker test calls with exact truth, for the mono diarization benchmark.

Real speech (when ../shared/data/realzh exists): each call pairs two clips of different
speakers as agent and customer, cut at pauses into alternating turns (gaps 0.3-2 s), with a
few customer cut-ins (0.3-1.0 s overlap) and, in some calls, a 450 Hz ringback before the
agent answers. Each call is written four ways, all the same mix:

    NAME.wav             16 kHz mono, 16-bit
    NAME.tel.wav         8 kHz mono G.711 u-law (300-3400 Hz band-pass in numpy, then PyAV's
                         pcm_mulaw encoder; decoding happens when the file is read)
    NAME.stereo.wav      16 kHz stereo, agent left, customer right (mono = left + right)
    NAME.tel.stereo.wav  the telephone version of the stereo file
    NAME.truth.json      speakers, segments (tight speech extents), overlaps, ringback

TTS (always, needs only the committed samples): the stereo TTS calls of samples/ and, when
rendered (`make bench-corpus`), bench/corpus/ are summed to mono (they are already 8 kHz
telephone audio) as tts_NAME.wav, with the stereo original copied as tts_NAME.stereo.wav.

    .venv/bin/python tools/mix_mono.py [--out bench/mono] [--realzh DIR] [--calls 6]

Deterministic: the same inputs and seed give the same bytes.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import sys
import wave
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
REALZH = Path(os.environ.get("CALLAUDIT_REALZH_DIR", ROOT.parent / "shared" / "data" / "realzh"))
SR = 16000
TEL_SR = 8000
FRAME = SR // 100  # 10 ms energy frames
SPLIT_PAUSE_S = 0.12  # pauses this long are places a clip may be cut (between words)
MERGE_GAP_S = 0.5  # truth bridges shorter pauses: the VAD merge gap, metrics/timing.py speaking time
NOISE_RMS = 10 ** (-60 / 20)  # line noise, so silence is not digital zero
RING_HZ, RING_AMP = 450.0, 0.2

# (agent clip, customer clip): one clip per speaker, so a "speaker" is never two voices.
# Rough median f0 (Hz) in brackets: same-sex pairs are the hard cases. A clip that sounds like
# a caller (funasr_llamacpp: 我想问...) is never the agent: roles.py reads words.
PAIRS = [
    ("aishell1_BAC009S0764W0121.wav", "aishell1_BAC009S0724W0121.wav"),  # F 230 / F 190, same corpus
    ("cosyvoice_zero_shot_prompt.wav", "funasr_asr_example_zh.wav"),  # F 260 / M 120
    ("funasr_asr_example_zh.wav", "funasr_llamacpp_sample.wav"),  # M 120 / F 250
    ("kimiaudio_fleurs_asr_example.wav", "aishell1_BAC009S0764W0121.wav"),  # M 150 / F 230
    ("cosyvoice_zero_shot_prompt.wav", "wenetspeech_TEST_MEETING_T0000000001_S00000.wav"),  # F / meeting
    ("aishell1_BAC009S0724W0121.wav", "firered2s_hello_zh.wav"),  # F 190 / M 105, short customer clip
]


# ---------------------------------------------------------------- speech extents

def frame_db(x: np.ndarray, frame: int = FRAME) -> np.ndarray:
    k = len(x) // frame
    e = np.mean(np.square(x[: k * frame].reshape(k, frame), dtype=np.float64), axis=1)
    return 10 * np.log10(e + 1e-12)


def clip_threshold(x: np.ndarray) -> float:
    """Speech level for one clip: 30 dB under its loudest frame, but clearly above its own
    noise floor (some clips have a floor only 17 dB under the speech)."""
    db = frame_db(x)
    return float(max(db.max() - 30.0, np.percentile(db, 10) + 8.0))


def speech_runs(x: np.ndarray, threshold_db: float, min_pause_s: float, rate: int = SR,
                min_run_s: float = 0.05) -> list[tuple[int, int]]:
    """Sample spans of frames above `threshold_db`, joined across pauses shorter than
    `min_pause_s`; runs shorter than `min_run_s` are clicks, not speech."""
    frame = rate // 100
    on = frame_db(x, frame) > threshold_db
    runs: list[list[int]] = []
    for i in np.flatnonzero(on):
        if runs and (i - runs[-1][1]) * frame < min_pause_s * rate:
            runs[-1][1] = int(i) + 1
        else:
            runs.append([int(i), int(i) + 1])
    return [(a * frame, b * frame) for a, b in runs if (b - a) * frame >= min_run_s * rate]


def merge(spans: list[tuple[float, float]], gap: float) -> list[tuple[float, float]]:
    out: list[tuple[float, float]] = []
    for s, e in sorted(spans):
        if out and s - out[-1][1] < gap:
            out[-1] = (out[-1][0], max(out[-1][1], e))
        else:
            out.append((s, e))
    return out


def intersections(a: list[tuple[float, float]], b: list[tuple[float, float]]) -> list[tuple[float, float]]:
    out = [(max(s1, s2), min(e1, e2)) for s1, e1 in a for s2, e2 in b]
    return sorted((s, e) for s, e in out if e > s)


# ---------------------------------------------------------------- real-speech calls

class Speaker:
    """One clip, level-normalized, with its phrases (speech runs split at short pauses)."""

    def __init__(self, path: Path, level_dbfs: float) -> None:
        from callaudit.audio.decode import decode  # here: the TTS venv imports this module without audit

        x = decode(str(path)).channels[0].astype(np.float64)
        thr = clip_threshold(x)
        runs = speech_runs(x, thr, SPLIT_PAUSE_S)
        active = np.concatenate([x[a:b] for a, b in runs])
        gain = 10 ** (level_dbfs / 20) / (np.sqrt(np.mean(active ** 2)) or 1.0)
        self.name = path.name
        self.x = x * gain
        self.phrases = runs

    def piece(self, rng: np.random.Generator, max_s: float) -> tuple[np.ndarray, list[tuple[int, int]]]:
        """The longest run of phrases from a random one that fits `max_s` (at least one phrase),
        and its speech spans relative to the piece. Pieces start and end on a real phrase
        (>= 0.2 s), not on a breath or click."""
        ok = [k for k, (a, b) in enumerate(self.phrases) if b - a >= 0.2 * SR]
        ok = ok or list(range(len(self.phrases)))
        i = ok[int(rng.integers(len(ok)))]
        j = i
        for k in ok:
            if k > i and (self.phrases[k][1] - self.phrases[i][0]) / SR <= max_s:
                j = k
        a, b = self.phrases[i][0], self.phrases[j][1]
        seg = self.x[a:b].copy()
        ramp = min(80, len(seg) // 2)  # 5 ms fades: no clicks where a word was cut
        seg[:ramp] *= np.linspace(0, 1, ramp)
        seg[len(seg) - ramp:] *= np.linspace(1, 0, ramp)
        return seg, [(s - a, e - a) for s, e in self.phrases[i:j + 1]]


def make_turn(spk: Speaker, rng: np.random.Generator, lo: float, hi: float,
              ) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """1-3 pieces of one speaker joined by short pauses, aiming at lo..hi seconds."""
    target = rng.uniform(lo, hi)
    parts: list[np.ndarray] = []
    spans: list[tuple[int, int]] = []
    n = pieces = 0
    while pieces == 0 or (n / SR < target and pieces < 3):
        if pieces:
            gap = int(rng.uniform(0.15, 0.35) * SR)
            parts.append(np.zeros(gap))
            n += gap
        seg, sp = spk.piece(rng, max(target - n / SR, 1.0))
        spans += [(s + n, e + n) for s, e in sp]
        parts.append(seg)
        n += len(seg)
        pieces += 1
    return np.concatenate(parts), spans


def build_real(index: int, agent_clip: str, customer_clip: str, realzh: Path, seed: int = 0,
               ) -> tuple[np.ndarray, dict[str, Any]]:
    """One call: (2, n) float array (agent row 0, customer row 1) at 16 kHz and its truth."""
    rng = np.random.default_rng([seed, index])
    agent = Speaker(realzh / agent_clip, -20.0)
    customer = Speaker(realzh / customer_clip, -20.0 + rng.uniform(-4.0, 2.0))
    target_s = rng.uniform(40, 90)
    rings = int(rng.integers(1, 3)) if index % 2 else 0
    connect = (rings - 1) * 5.0 + 1.0 if rings else 0.0
    placed: list[tuple[int, int, np.ndarray, list[tuple[int, int]]]] = []  # (role, start, audio, spans)
    t = int((connect + rng.uniform(0.5, 2.0)) * SR)
    role, k, cut_ins, latest = 0, 0, 0, 0
    while True:
        audio, spans = (make_turn(agent, rng, 2.5, 8.0) if role == 0
                        else make_turn(customer, rng, 1.2, 5.0))
        placed.append((role, t, audio, spans))
        end = t + spans[-1][1]
        latest = max(latest, end)
        if role == 0 and end / SR >= target_s - 1.0:
            break
        role = 1 - role
        k += 1
        last = placed[-1][3][-1]
        # A customer cut-in in roughly every third customer turn (at least two per call),
        # only where the agent's last phrase is long enough to hold the whole overlap.
        want = role == 1 and k > 1 and (rng.random() < 0.35 or (cut_ins < 2 and end / SR > target_s / 2))
        ov = min(rng.uniform(0.3, 1.0), (last[1] - last[0]) / SR - 0.15)  # within the agent's phrase
        if want and ov >= 0.3:
            t = end - int(ov * SR)
            cut_ins += 1
        else:
            t = latest + int(rng.uniform(0.3, 2.0) * SR)  # after everyone: no self-overlap
    n = max(s + len(a) for _, s, a, _ in placed) + int(rng.uniform(0.8, 2.0) * SR)
    chans = np.zeros((2, n))
    for r in range(rings):
        i = int(r * 5 * SR)
        chans[1, i:i + SR] += RING_AMP * np.sin(2 * np.pi * RING_HZ * np.arange(SR) / SR)
    raw: dict[int, list[tuple[float, float]]] = {0: [], 1: []}
    turns = []
    for r, s, audio, spans in placed:
        chans[r, s:s + len(audio)] += audio
        raw[r] += [((s + a) / SR, (s + b) / SR) for a, b in spans]
        turns.append({"role": ("agent", "customer")[r], "speaker": "AB"[r],
                      "start": round((s + spans[0][0]) / SR, 3), "end": round((s + spans[-1][1]) / SR, 3)})
    chans += NOISE_RMS * np.random.default_rng([seed, index, 1]).standard_normal(chans.shape)
    peak = np.abs(chans.sum(axis=0)).max()
    if peak > 0.95:  # the mono sum must not clip; scale both channels alike
        chans *= 0.95 / peak
    truth = _truth(f"real_{index:02d}", {"A": agent_clip, "B": customer_clip}, raw, n / SR,
                   {"rings": rings, "connect_s": connect,
                    "tones": [[r * 5.0, r * 5.0 + 1.0] for r in range(rings)]} if rings else None)
    truth.update(source="realzh", sample_rate=SR, turns=turns)
    return chans.astype(np.float32), truth


def _truth(name: str, speakers: dict[str, str], raw: dict[int, list[tuple[float, float]]],
           duration: float, ringback: dict[str, Any] | None) -> dict[str, Any]:
    segs = {r: merge(raw[r], MERGE_GAP_S) for r in (0, 1)}
    segments = sorted(
        ({"start": round(s, 3), "end": round(e, 3), "speaker": "AB"[r], "role": ("agent", "customer")[r]}
         for r in (0, 1) for s, e in segs[r]), key=lambda d: (d["start"], d["speaker"]))
    return {
        "name": name, "agent_speaker": "A", "speakers": speakers,
        "segments": segments,
        "overlaps": [[round(s, 3), round(e, 3)] for s, e in intersections(segs[0], segs[1])],
        "duration_s": round(duration, 3), "ringback": ringback,
    }


# ---------------------------------------------------------------- telephone line + files

def telephone_band(x: np.ndarray) -> np.ndarray:
    """300-3400 Hz band-pass (FFT with short ramps) and 16 -> 8 kHz in one step."""
    spec = np.fft.rfft(x)
    f = np.fft.rfftfreq(len(x), 1 / SR)
    gain = np.clip((f - 250) / 100, 0, 1) * np.clip((3500 - f) / 200, 0, 1)
    keep = len(x) // 2 // 2 + 1  # bins up to 4 kHz: the 8 kHz spectrum
    return np.fft.irfft((spec * gain)[:keep], len(x) // 2) / 2


def _pcm16(chans: np.ndarray) -> np.ndarray:
    return (np.clip(chans.T, -1, 1) * 32767).round().astype("<i2")  # (n, channels) interleaved


def write_wav(path: Path, chans: np.ndarray, rate: int) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(chans.shape[0])
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(_pcm16(chans).tobytes())


def write_mulaw(path: Path, chans: np.ndarray, rate: int = TEL_SR) -> None:
    """A G.711 u-law WAV, as call recorders write it, encoded by PyAV (FFmpeg's encoder)."""
    import av  # here: the TTS venv imports this module without PyAV

    layout = "stereo" if chans.shape[0] == 2 else "mono"
    with av.open(str(path), "w", format="wav") as out:
        stream = out.add_stream("pcm_mulaw", rate=rate, layout=layout)
        frame = av.AudioFrame.from_ndarray(_pcm16(chans).reshape(1, -1), format="s16", layout=layout)
        frame.rate = rate
        for p in stream.encode(frame):
            out.mux(p)
        for p in stream.encode(None):
            out.mux(p)


def write_real(out: Path, chans: np.ndarray, truth: dict[str, Any]) -> None:
    name = truth["name"]
    mono = chans.sum(axis=0, keepdims=True)
    tel = np.stack([telephone_band(c) for c in chans])
    files = {"mono": f"{name}.wav", "tel": f"{name}.tel.wav",
             "stereo": f"{name}.stereo.wav", "tel_stereo": f"{name}.tel.stereo.wav"}
    write_wav(out / files["mono"], mono, SR)
    write_wav(out / files["stereo"], chans, SR)
    write_mulaw(out / files["tel"], tel.sum(axis=0, keepdims=True))
    write_mulaw(out / files["tel_stereo"], tel)
    truth["files"] = files
    truth["tel_method"] = "numpy 300-3400 Hz band-pass, 8 kHz, PyAV pcm_mulaw (G.711 u-law) WAV"
    _dump(out / f"{name}.truth.json", truth)


def _dump(path: Path, truth: dict[str, Any]) -> None:
    path.write_text(json.dumps(truth, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")


# ---------------------------------------------------------------- TTS downmixes

def read_wav(path: Path) -> tuple[np.ndarray, int]:
    with wave.open(str(path), "rb") as w:
        pcm = np.frombuffer(w.readframes(w.getnframes()), "<i2").reshape(-1, w.getnchannels())
        return pcm.T.astype(np.float64) / 32768, w.getframerate()


def tts_mix(wav: Path, truth_path: Path, out: Path) -> dict[str, Any] | None:
    """Sum a stereo TTS call to mono (or take a mono one as it is); its turns, split at
    pauses, become the segments. Most stereo calls' customer is the agent's voice at a lower
    pitch, one voice to a speaker model ("tts-same-voice"); mono_call's customer is another
    voice (synth_calls' `vtl`), labelled "tts"."""
    src = json.loads(truth_path.read_text(encoding="utf-8"))
    mono_src = src.get("layout") != "stereo"
    chans, rate = read_wav(wav)
    raw: dict[int, list[tuple[float, float]]] = {0: [], 1: []}
    for t in src["turns"]:
        r = 0 if t["role"] == "agent" else 1
        a = int(t["start"] * rate)
        x = chans[0 if mono_src else t["channel"], a:int(t["end"] * rate)]
        # -40 dBFS: synth_calls' own turn-bound level; its turns peak at -6 dBFS
        raw[r] += [((a + s) / rate, (a + e) / rate) for s, e in speech_runs(x, -40.0, MERGE_GAP_S, rate)]
    name = f"tts_{src['name']}"
    rb = src.get("ringback")
    voices = {"A": f"tts agent voice ({src['name']})", "B": f"tts customer voice ({src['name']})"}
    truth = _truth(name, voices, raw, chans.shape[1] / rate,
                   {**rb, "tones": [[k * 5.0, k * 5.0 + 1.0] for k in range(rb["rings"])]} if rb else None)
    files = {"mono": f"{name}.wav"} if mono_src else {"mono": f"{name}.wav", "stereo": f"{name}.stereo.wav"}
    write_wav(out / files["mono"], chans.sum(axis=0, keepdims=True), rate)
    if not mono_src:
        shutil.copyfile(wav, out / files["stereo"])
    two_voices = _second_voice(src["name"])
    truth.update(source="tts" if two_voices else "tts-same-voice", sample_rate=rate, telephone=True,
                 files=files,
                 agent_channel=src["agent_channel"], expect=src.get("expect", {}))
    _dump(out / f"{name}.truth.json", truth)
    return truth


def _second_voice(name: str) -> bool:
    """Whether the call's script gives the customer another voice (`vtl`), not only a pitch."""
    import yaml

    for d in (ROOT / "samples" / "scripts", ROOT / "bench" / "scripts"):
        if (d / f"{name}.yaml").exists():
            script = yaml.safe_load((d / f"{name}.yaml").read_text(encoding="utf-8"))
            return "vtl" in (script.get("voices") or {}).get("customer", {})
    return False


def tts_sources() -> list[tuple[Path, Path]]:
    pairs = [(w, w.with_suffix(".truth.json")) for w in sorted((ROOT / "samples").glob("*.wav"))]
    pairs += [(w, ROOT / "bench" / "truth" / f"{w.stem}.truth.json")
              for w in sorted((ROOT / "bench" / "corpus").glob("*.wav"))]
    return [(w, t) for w, t in pairs if t.exists()]


# ---------------------------------------------------------------- CLI

def clip_names(realzh: Path) -> set[str]:
    with open(realzh / "manifest.tsv", encoding="utf-8") as f:
        return {row["file"] for row in csv.DictReader(f, delimiter="\t")}


def build_all(out: Path, realzh: Path = REALZH, calls: int = len(PAIRS), seed: int = 0,
              tts: bool = True) -> list[dict[str, Any]]:
    out.mkdir(parents=True, exist_ok=True)
    truths: list[dict[str, Any]] = []
    if (realzh / "manifest.tsv").exists():
        known = clip_names(realzh)
        for i in range(calls):
            a, c = PAIRS[i % len(PAIRS)]
            if a in known and c in known:
                chans, truth = build_real(i, a, c, realzh, seed)
                write_real(out, chans, truth)
                truths.append(truth)
    if tts:
        truths += [t for w, tp in tts_sources() if (t := tts_mix(w, tp, out))]
    return truths


def summary(truth: dict[str, Any]) -> str:
    speech = {s: sum(d["end"] - d["start"] for d in truth["segments"] if d["speaker"] == s) for s in "AB"}
    ov = sum(e - s for s, e in truth["overlaps"])
    rb = truth["ringback"]
    return (f"{truth['name']}: {truth['duration_s']:.1f} s, A={truth['speakers']['A']} {speech['A']:.1f} s, "
            f"B={truth['speakers']['B']} {speech['B']:.1f} s, {len(truth['overlaps'])} overlaps "
            f"({ov:.1f} s), rings {rb['rings'] if rb else 0}")


def main(argv: list[str]) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(ROOT / "bench" / "mono"))
    ap.add_argument("--realzh", default=str(REALZH))
    ap.add_argument("--calls", type=int, default=len(PAIRS), help="real-speech calls to make")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-tts", action="store_true", help="skip the TTS downmixes")
    args = ap.parse_args(argv)
    for t in build_all(Path(args.out), Path(args.realzh), args.calls, args.seed, not args.no_tts):
        print(summary(t))


if __name__ == "__main__":
    main(sys.argv[1:])
