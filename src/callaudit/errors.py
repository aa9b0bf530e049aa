"""Errors a user can act on. Each renders as one line naming the file and the problem."""

from __future__ import annotations


def first_line(e: BaseException) -> str:
    """An exception as one line: its message's first line, or its type when it has none."""
    lines = str(e).strip().splitlines()
    return lines[0] if lines else type(e).__name__


class AuditError(Exception):
    """Base: the CLI prints `str(err)` on one line and exits with status 2."""


class InputError(AuditError):
    """The recording cannot be audited (missing, empty, not audio, truncated, too long)."""

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem


class ScratchError(AuditError):
    """No room for a long recording's decoded samples in the temporary folder (TMPDIR):
    not the recording's fault, so a batch stores nothing and audits it on its next run."""

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = path


class ModelError(AuditError):
    """The Whisper model directory is missing or unusable."""


class RulePackError(AuditError):
    """A rule pack failed validation; `errors` holds one line per problem."""

    def __init__(self, path: str, errors: list[str]) -> None:
        super().__init__(f"{path}: {len(errors)} error(s) in rule pack: " + "; ".join(errors))
        self.path = path
        self.errors = errors


class StorageError(AuditError):
    """The results database cannot be written (disk full, read-only medium, I/O error).
    What was stored before is intact; the CLI exits with its own status (4)."""
