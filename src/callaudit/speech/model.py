"""Find and check the Whisper model directory (CTranslate2 format).

Order: --model DIR, then $CALLAUDIT_MODEL, then models/whisper-base in the checkout, then
./models/whisper-base. No hub download ever happens: many sites have no route to one.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from callaudit.errors import ModelError

ENV_VAR = "CALLAUDIT_MODEL"
REQUIRED = ("model.bin", "config.json", "tokenizer.json")
FIX = "run `make setup` to assemble Whisper base, or pass --model DIR / set CALLAUDIT_MODEL"


def candidates(explicit: str | None = None) -> list[Path]:
    if explicit:
        return [Path(explicit)]
    if os.environ.get(ENV_VAR):
        return [Path(os.environ[ENV_VAR])]
    checkout = Path(__file__).resolve().parents[3] / "models" / "whisper-base"
    return [checkout, Path.cwd() / "models" / "whisper-base"]


def resolve(explicit: str | None = None) -> Path:
    """The first usable model directory, or ModelError with a one-line fix."""
    tried = candidates(explicit)
    for d in tried:
        if d.is_dir() and (d / "model.bin").exists():
            check(d)
            return d
    where = ", ".join(str(d) for d in tried)
    raise ModelError(f"no Whisper model found (looked in {where}): {FIX}")


def check(d: Path) -> None:
    missing = [n for n in REQUIRED if not (d / n).exists()]
    if not any((d / n).exists() for n in ("vocabulary.txt", "vocabulary.json")):
        missing.append("vocabulary.txt")
    if missing:
        raise ModelError(f"model directory {d} is incomplete (missing {', '.join(missing)}): {FIX}")
    if (d / "model.bin").stat().st_size < 1_000_000:
        raise ModelError(f"model directory {d}: model.bin is truncated: {FIX}")
    try:
        json.loads((d / "config.json").read_text())
    except (OSError, ValueError):
        raise ModelError(f"model directory {d}: config.json is unreadable: {FIX}") from None


def describe(d: Path) -> str:
    """A short model version for the report: the directory name, and the verified hash prefix."""
    marker = d / ".verified"
    h = marker.read_text().strip()[:12] if marker.exists() else "unverified"
    return f"{d.name}@{h}"
