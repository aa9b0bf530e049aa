"""Render the personal-data test calls: tests/data/pii/scripts/*.yaml -> NAME.flac + NAME.truth.json.

    .venv/bin/python tests/data/pii/render.py [NAME ...]      # from the repository root

Runs tools/synth_calls.py in the TTS venv (.venv-tts, `make samples` creates it; needs
../shared/tools/tts), encodes its WAV losslessly as 16-bit FLAC (PyAV, from .venv), and adds
to the truth a `pii` list: for each script turn marked `pii: {type, value[, part]}`, the
turn's role and start/end in seconds of the file (the turn holds nothing but those digits,
so its span is the span of the spoken number; a number read over two turns has two entries,
part 1 and 2). A turn marked with type `name` goes to `names` instead (its span is the
whole turn, which holds more than the name). `spoken` is the turn's text as synthesized.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import wave
from pathlib import Path

import av
import numpy as np
import yaml

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
TTS_PY = ROOT / ".venv-tts" / "bin" / "python"


def to_flac(wav_path: Path, flac_path: Path) -> None:
    with wave.open(str(wav_path)) as w:
        rate, nch = w.getframerate(), w.getnchannels()
        pcm = np.frombuffer(w.readframes(w.getnframes()), "<i2").reshape(-1, nch)
    layout = "stereo" if nch == 2 else "mono"
    with av.open(str(flac_path), "w") as out:
        stream = out.add_stream("flac", rate=rate, layout=layout)
        stream.codec_context.format = "s16"
        for i in range(0, len(pcm), 4096):
            frame = av.AudioFrame.from_ndarray(
                np.ascontiguousarray(pcm[i:i + 4096].reshape(1, -1)), format="s16", layout=layout)
            frame.sample_rate = rate
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    # lossless: the FLAC decodes to the WAV's samples
    with av.open(str(flac_path)) as f:
        back = np.concatenate([fr.to_ndarray().reshape(-1, nch) for fr in f.decode(audio=0)])
    assert back.shape == pcm.shape and np.array_equal(back, pcm), flac_path


def add_pii(script: dict, truth: dict) -> None:
    turns = truth["turns"]
    assert len(turns) == len(script["turns"])
    pii, names = [], []
    for s, t in zip(script["turns"], turns, strict=True):
        mark = s.get("pii")
        if not mark:
            continue
        entry = {"type": mark["type"], "value": mark["value"], "role": t["role"],
                 "channel": t["channel"], "start": t["start"], "end": t["end"], "spoken": t["text"]}
        if "part" in mark:
            entry["part"] = mark["part"]
        (names if mark["type"] == "name" else pii).append(entry)
    truth["pii"] = pii
    if names:
        truth["names"] = names


def main(argv: list[str]) -> None:
    if not TTS_PY.exists():
        sys.exit(f"{TTS_PY} missing: run `make .venv-tts/bin/python` (see the Makefile)")
    scripts = {}
    for p in sorted((HERE / "scripts").glob("*.yaml")):
        s = yaml.safe_load(p.read_text(encoding="utf-8"))
        if not argv or s["name"] in argv:
            scripts[s["name"]] = s
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([str(TTS_PY), str(ROOT / "tools" / "synth_calls.py"), *scripts,
                        "--scripts", str(HERE / "scripts"), "--out", tmp], check=True, cwd=ROOT)
        for name, script in scripts.items():
            to_flac(Path(tmp) / f"{name}.wav", HERE / f"{name}.flac")
            truth = json.loads((Path(tmp) / f"{name}.truth.json").read_text(encoding="utf-8"))
            add_pii(script, truth)
            (HERE / f"{name}.truth.json").write_text(
                json.dumps(truth, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
            size = (HERE / f"{name}.flac").stat().st_size
            print(f"{name}.flac: {truth['duration_s']} s, {size // 1024} KB; pii: "
                  + ", ".join(f"{e['type']} {e['start']}-{e['end']}" for e in truth["pii"]))


if __name__ == "__main__":
    main(sys.argv[1:])
