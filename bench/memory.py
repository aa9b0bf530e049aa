"""Peak memory and time of one worker auditing a long recording (issue 16: a worker must
stay under 1 GB whatever the duration, up to the 4-hour limit).

    python bench/memory.py [--hours 1 3] [--kinds silent spoken] [--out DIR]

Makes the recordings (8 kHz stereo 16-bit WAV, as call recorders store them, written in
blocks so this script stays small): `silent` is line hiss on both channels (-70 dBFS),
`spoken` is the shipped demo call (samples/demo_call.wav) over and over, so most of the
file is speech. Each is audited
in a fresh process (`Auditor().audit`, as a batch worker does), whose own peak RSS
(ru_maxrss) and wall time are reported, with the peak of the model alone for reference.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
import wave
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RATE = 8000
BLOCK_S = 60


def make(path: Path, hours: float, kind: str) -> None:
    rng = np.random.default_rng(0)
    demo = None
    if kind == "spoken":
        with wave.open(str(ROOT / "samples" / "demo_call.wav")) as w:
            assert w.getframerate() == RATE and w.getnchannels() == 2, "demo call: 8 kHz stereo"
            demo = np.frombuffer(w.readframes(w.getnframes()), "<i2").reshape(-1, 2)
    total = int(hours * 3600 * RATE)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(RATE)
        done = 0
        while done < total:
            n = min(BLOCK_S * RATE, total - done)
            if demo is None:
                block = (rng.standard_normal((n, 2)) * 32767 * 10 ** (-70 / 20)).astype("<i2")
            else:
                at = (done + np.arange(n)) % len(demo)
                block = demo[at]
            w.writeframes(block.tobytes())
            done += n


def _peak_mb() -> float:
    """This process's peak resident memory (MB): VmHWM, which belongs to the process's own
    memory map. ru_maxrss is not used: on Linux a child started from a big parent (bench/run.py
    after its other stages: 1.46 GB) reports the parent's peak as its own."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def one(path: str) -> None:
    """Audit `path` in this process; print its peak RSS and seconds as JSON."""
    sys.path.insert(0, str(ROOT / "src"))
    from callaudit.pipeline import Auditor

    t0 = time.perf_counter()
    auditor = Auditor()
    model_mb = _peak_mb()
    t1 = time.perf_counter()
    r = auditor.audit(path)
    print(json.dumps({"peak_rss_mb": _peak_mb(),
                      "model_rss_mb": model_mb, "load_s": t1 - t0,
                      "audit_s": time.perf_counter() - t1, "duration_s": r.duration_s,
                      "utterances": len(r.utterances), "outcome": r.outcome}))


def run(hours: list[float], kinds: list[str]) -> list[dict[str, object]]:
    """Each kind at each length made, audited in a fresh process, and measured."""
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for kind in kinds:
            for h in hours:
                path = Path(tmp) / f"{kind}_{h:g}h.wav"
                make(path, h, kind)
                out = subprocess.run([sys.executable, __file__, "--one", str(path)],
                                     capture_output=True, text=True, check=True)
                row = {"kind": kind, "hours": h, **json.loads(out.stdout.splitlines()[-1])}
                rows.append(row)
                path.unlink()
                print(f"{kind} {h:g} h: peak {row['peak_rss_mb']:.0f} MB (model alone "
                      f"{row['model_rss_mb']:.0f} MB), audit {row['audit_s']:.0f} s", flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--hours", type=float, nargs="+", default=[1.0, 3.0])
    ap.add_argument("--kinds", nargs="+", default=["silent"], choices=["silent", "spoken"])
    ap.add_argument("--out", default=str(ROOT / "bench"))
    ap.add_argument("--one", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        one(args.one)
        return
    rows = run(args.hours, args.kinds)
    Path(args.out).mkdir(parents=True, exist_ok=True)
    Path(args.out, "memory.json").write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
