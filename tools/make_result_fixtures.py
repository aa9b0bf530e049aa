"""Stored results of the sample calls, for the renderer tests (tests/data/results/*.json).

The page, terminal and dashboard tests read these instead of running Whisper, so they take
seconds. Each file is what a batch worker sends back: the audit.call/1 result, the VAD
regions and the acoustics (enough to re-score it). Regenerate after a change to the result
schema or the default rule pack:

    .venv/bin/python tools/make_result_fixtures.py
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from callaudit.pipeline import Auditor  # noqa: E402

NAMES = ("demo_call", "bad_call", "ringback_call", "mono_call")


def main() -> None:
    auditor = Auditor()
    out = ROOT / "tests" / "data" / "results"
    out.mkdir(parents=True, exist_ok=True)
    for name in NAMES:
        r = auditor.audit(str(ROOT / "samples" / f"{name}.wav"))
        d = r.to_json()
        d["file"] = f"samples/{name}.wav"  # relative: the fixture works in any checkout
        doc = {"result": d, "regions": [g.to_json() for g in r.regions], "acoustics": r.acoustics}
        (out / f"{name}.json").write_text(json.dumps(doc, ensure_ascii=False, indent=1) + "\n",
                                          encoding="utf-8")
        print(name, d["score"], d["passed"])


if __name__ == "__main__":
    main()
