"""Files a command writes: checked before the work starts, written whole or not at all."""

from __future__ import annotations

import os
from pathlib import Path

from callaudit.errors import AuditError


def check_writable(path: str | None) -> None:
    """Refuse an output path whose folder does not exist, before any audio is read.
    `None` and `-` (stdout) pass."""
    if not path or path == "-":
        return
    folder = Path(path).resolve().parent
    if not folder.is_dir():
        raise AuditError(f"{path}: directory {folder} does not exist")


def atomic_write(path: str | Path, data: str | bytes, encoding: str = "utf-8") -> None:
    """Write to a temporary file beside `path`, then rename: a reader (or a crash) never
    sees half a file."""
    check_writable(str(path))
    p = Path(path)
    tmp = p.with_name(p.name + ".tmp")
    if isinstance(data, bytes):
        tmp.write_bytes(data)
    else:
        tmp.write_text(data, encoding=encoding)
    os.replace(tmp, p)


def temp_path(path: str | Path) -> Path:
    """Where to build a file that `commit(temp, path)` then puts in place (for writers that
    need a path, such as openpyxl)."""
    check_writable(str(path))
    p = Path(path)
    return p.with_name(p.name + ".tmp")


def commit(tmp: Path, path: str | Path) -> None:
    os.replace(tmp, path)
