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

Sound on a party's channel that is not that party speaking (all optional; a script without
them renders exactly as before):
- role `system`: a machine voice (`voices: {system: {...}}`, default speed 1.3, f0 1.25) played
  on the channel of the turn's `leg: agent|customer` (on mono: in the mix); `kind` is free text
  ("announcement:powered_off", "prompt", "voicemail"). Truth: role "system", leg, channel, kind.
  System turns count in `silences` (sound on the line) but not in `speech_rate_cpm`.
- `lead_silence: S`: S seconds of digital zeros at the very start of the file, before any
  ringback; every truth time (turns, connect, silences, spans) shifts by S.
- `late_start: S`: the recorder started S seconds into the call: the file begins there (a turn
  under way is cut), and every truth time shifts by -S (a cut turn starts at 0).
- `echo: {delay_ms, gain_db, leg: customer}`: the other party's channel (the agent's for
  leg customer), delayed and attenuated, added onto `leg`'s channel (stereo only).
- `background: {text, gain_db, leg, at, until?, gap?, speed?, f0?, vtl?}`: a third voice
  (`voices: {background: {...}}` or keys here; default speed 1.2, f0 0.9: a TV newsreader)
  on `leg`'s channel, its peak `gain_db` from the turns' peak (-20: 20 dB under), from `at` s after
  connect, repeated (`gap` s apart, default 1.0) and cut at `until` (seconds from connect;
  default the end of the file). Truth: `background` with the settings and each repetition's
  span. Echo and background go in before line noise and telephone processing.
- `sounds: [{leg, at, dur, seed?, gain_db?, band?}]`: a burst of band-limited noise (a
  click of the headset, a knock, line crackle; nobody speaks in it) on `leg`'s channel, `at` s
  after connect, `dur` s long (10 ms attack, 50 ms release), its peak `gain_db` from the
  turns' peak (default 0), its noise drawn from `seed` (default 0), `band` [lo, hi] Hz
  (default [300, 3400]). Truth: `sounds`, each with its span and `said: ""`.
- `outcome: {...}`: free-form expectations about the whole call (e.g. {outcome: not_connected,
  label: announcement:busy}), copied to the truth as `outcome`.
FLAC: `.venv/bin/python tools/synth_calls.py --flac WAV_DIR --out DIR` converts (PyAV).
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


SYSTEM_VOICE = {"speed": 1.3, "f0": 1.25}
BACKGROUND_VOICE = {"speed": 1.2, "f0": 0.9}


def _voice(tts, text: str, v: dict[str, Any]) -> np.ndarray:  # type: ignore[no-untyped-def]
    audio = tts.synth(text, speed=v.get("speed", 1.0), f0=v.get("f0", 1.0))
    if v.get("vtl", 1.0) != 1.0:
        audio = vocal_tract(audio, v["vtl"])
    a, b = bounds(audio)
    audio = audio[a:b]
    return audio / (np.abs(audio).max() or 1.0) * TURN_PEAK


def _leg(where: dict[str, Any], what: str) -> str:
    leg = where.get("leg")
    if leg not in ("agent", "customer"):
        sys.exit(f"{what}: `leg: agent|customer` is required (got {leg!r})")
    return leg


def _background(bg: dict[str, Any], voices: dict[str, Any], tts, start: float,  # type: ignore[no-untyped-def]
                stop: float) -> tuple[np.ndarray, int, list[tuple[int, int]]]:
    """The background voice repeated from `start` to `stop` (s of the file): its samples from
    the start and each repetition's [first, last) sample, cut at stop."""
    v = {**BACKGROUND_VOICE, **voices.get("background", {}),
         **{k: bg[k] for k in ("speed", "f0", "vtl") if k in bg}}
    piece = _voice(tts, tts.spell_digits(bg["text"]), v) * 10 ** (float(bg.get("gain_db", -20)) / 20)
    i0, i1 = int(round(start * SR)), int(round(stop * SR))
    gap = int(round(float(bg.get("gap", 1.0)) * SR))
    out = np.zeros(max(i1 - i0, 0), np.float32)
    spans, i = [], 0
    while i < len(out):
        seg = piece[: len(out) - i]
        out[i:i + len(seg)] = seg
        spans.append((i0 + i, i0 + i + len(seg)))
        i += len(piece) + gap
    return out, i0, spans


def noise_burst(dur: float, seed: int = 0, band: tuple[float, float] = (300.0, 3400.0)) -> np.ndarray:
    """`dur` s of noise from `seed`, band-limited to `band` Hz (FFT brick wall), peak 1, with
    a 10 ms attack and a 50 ms release: a sound that is no speech."""
    n = int(round(dur * SR))
    spec = np.fft.rfft(np.random.default_rng(seed).standard_normal(n))
    f = np.fft.rfftfreq(n, 1 / SR)
    spec[(f < band[0]) | (f > band[1])] = 0
    x = np.fft.irfft(spec, n)
    env = np.ones(n)
    a, r = min(n, int(0.01 * SR)), min(n, int(0.05 * SR))
    env[:a] = np.linspace(0, 1, a)
    env[n - r:] = np.minimum(env[n - r:], np.linspace(1, 0, r))
    x = x * env
    return (x / (np.abs(x).max() or 1.0)).astype(np.float32)


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
        base = voices.get(turn["role"], SYSTEM_VOICE if turn["role"] == "system" else {})
        v = {**base, **{k: turn[k] for k in ("speed", "f0", "vtl") if k in turn}}
        text = tts.spell_digits(turn["text"])
        audio = _voice(tts, text, v)
        start = connect + turn["at"] if "at" in turn else prev_end + turn["after"]
        rendered.append(({**turn, "text": text}, audio, start))
        prev_end = start + len(audio) / SR
    total = max(s + len(a) / SR for _, a, s in rendered) + float(script.get("tail", 1.5))
    n = int(round(total * SR))
    chans = np.zeros((2 if stereo else 1, n), np.float32)
    for k in range(rings):
        t = np.arange(SR) / SR
        chans[ch_of["customer"], k * 5 * SR:(k * 5 + 1) * SR] += 0.2 * np.sin(2 * np.pi * 450 * t)
    rate = int(script.get("sample_rate", 8000))
    lead_n = int(round(float(script.get("lead_silence", 0)) * rate))  # zeros at `rate`
    lead = lead_n / rate
    # a recorder that started late: the file begins this long into the call (a turn there is cut)
    late = float(script.get("late_start", 0))

    def t(i: int) -> float:  # a sample at SR before the lead -> seconds of the file
        return round(max(0.0, i / SR + lead - late), 3)

    turns_out = []
    for turn, audio, start in rendered:
        i = int(round(start * SR))
        system = turn["role"] == "system"
        leg = _leg(turn, f"system turn {turn['text']!r}") if system else turn["role"]
        chans[ch_of[leg], i:i + len(audio)] += audio
        row = {"role": turn["role"], "channel": ch_of[leg], "start": t(i), "end": t(i + len(audio)),
               "text": turn["text"], "chars": han_count(turn["text"]),
               "speech_s": round(speech_seconds(audio), 3)}
        if system:
            row.update({"leg": leg, "kind": turn.get("kind", "")})
        turns_out.append(row)
    extra: dict[str, Any] = {}
    if "background" in script:
        bg = script["background"]
        leg = _leg(bg, "background")
        stop = connect + float(bg["until"]) if "until" in bg else n / SR
        sound, i0, spans = _background(bg, voices, tts, connect + float(bg.get("at", 0.0)), stop)
        chans[ch_of[leg], i0:i0 + len(sound)] += sound[: n - i0]
        extra["background"] = {
            "text": tts.spell_digits(bg["text"]), "gain_db": float(bg.get("gain_db", -20)),
            "leg": leg, "channel": ch_of[leg], "spans": [{"start": t(a), "end": t(b)} for a, b in spans]}
    if "sounds" in script:
        rows = []
        for snd in script["sounds"]:
            leg = _leg(snd, "sound")
            x = noise_burst(float(snd["dur"]), int(snd.get("seed", 0)),
                            tuple(snd.get("band", (300.0, 3400.0)))) * TURN_PEAK \
                * 10 ** (float(snd.get("gain_db", 0)) / 20)
            i = int(round((connect + float(snd["at"])) * SR))
            x = x[: max(0, n - i)]
            chans[ch_of[leg], i:i + len(x)] += x
            rows.append({"kind": "noise", "leg": leg, "channel": ch_of[leg], "start": t(i),
                         "end": t(i + len(x)), "seed": int(snd.get("seed", 0)),
                         "gain_db": float(snd.get("gain_db", 0)), "said": ""})
        extra["sounds"] = rows
    if "echo" in script:
        if not stereo:
            sys.exit("echo: stereo only")
        echo = script["echo"]
        leg = echo.get("leg", "customer")
        src = ch_of["agent" if leg == "customer" else "customer"]
        d = int(round(float(echo.get("delay_ms", 60)) / 1000 * SR))
        g = 10 ** (float(echo.get("gain_db", -18)) / 20)
        chans[ch_of[leg], d:] += (g * chans[src, : n - d]).astype(np.float32)
        extra["echo"] = {"delay_ms": float(echo.get("delay_ms", 60)),
                         "gain_db": float(echo.get("gain_db", -18)),
                         "leg": leg, "channel": ch_of[leg], "from_channel": src}
    if "outcome" in script:
        extra["outcome"] = script["outcome"]
    rng = np.random.default_rng(0)
    chans += (NOISE_RMS * rng.standard_normal(chans.shape)).astype(np.float32)
    if script.get("telephone", True):
        chans = np.stack([telephone(c) for c in chans])
    out = np.stack([resample_to(c, rate) for c in chans])
    if late:
        out = out[:, int(round(late * rate)):]
        extra["late_start_s"] = late
    if lead_n:
        out = np.concatenate([np.zeros((out.shape[0], lead_n), np.float32), out], axis=1)
        extra["lead_silence_s"] = lead
    truth = {
        "name": script["name"], "description": script.get("description", ""),
        "sample_rate": rate, "layout": "stereo" if stereo else "mono",
        "agent_channel": script.get("agent_channel", "left") if stereo else "mono",
        "duration_s": round(n / SR + lead - late, 3),
        "ringback": {"rings": rings, "connect_s": round(connect + lead, 3)} if rings else None,
        "expect": script.get("expect", {}), "known_misses": script.get("known_misses", {}),
        "turns": turns_out,
    }
    truth.update(_timing(turns_out))
    truth.update(extra)
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


def wav_to_flac(src: Path, dst: Path) -> None:
    """16-bit FLAC of a WAV with PyAV (in .venv, not .venv-tts), at the strongest compression."""
    import av

    with wave.open(str(src), "rb") as w:
        rate, nch = w.getframerate(), w.getnchannels()
        pcm = np.frombuffer(w.readframes(w.getnframes()), "<i2").reshape(-1, nch)
    with av.open(str(dst), "w", format="flac") as f:
        st = f.add_stream("flac", rate=rate, layout="stereo" if nch == 2 else "mono")
        st.codec_context.options = {"compression_level": "12"}
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(pcm.reshape(1, -1)), format="s16",
                                           layout="stereo" if nch == 2 else "mono")
        frame.sample_rate = rate
        for pkt in st.encode(frame):
            f.mux(pkt)
        for pkt in st.encode(None):
            f.mux(pkt)


def main(argv: list[str]) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("names", nargs="*", help="only these scripts (default: all)")
    ap.add_argument("--scripts", default=str(ROOT / "samples" / "scripts"))
    ap.add_argument("--out", default=str(ROOT / "samples"))
    ap.add_argument("--truth-out", help="where truth files go (default: --out)")
    ap.add_argument("--flac", metavar="WAV_DIR", help="no synthesis: convert WAV_DIR/NAME.wav to "
                    "--out/NAME.flac (needs PyAV: run with .venv/bin/python)")
    args = ap.parse_args(argv)
    if args.flac:
        Path(args.out).mkdir(parents=True, exist_ok=True)
        for src in sorted(Path(args.flac).glob("*.wav")):
            if not args.names or src.stem in args.names:
                dst = Path(args.out) / f"{src.stem}.flac"
                wav_to_flac(src, dst)
                print(f"{dst.name}: {dst.stat().st_size // 1024} KB")
        return
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
