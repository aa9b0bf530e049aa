"""callaudit: an offline auditor for Chinese call-center recordings.

One call in one line, or an Auditor that loads the model once for many (docs/LIBRARY.md):

    import callaudit

    result = callaudit.audit_file("call.wav")            # a CallResult
    print(result.score, result.passed)
    for f in result.findings:
        if f.applicable and not f.passed:
            print(f.rule, f.deduction, f.message, [(e.start, e.text) for e in f.evidence])

    auditor = callaudit.Auditor(callaudit.AuditOptions(rules="my_center.yaml", redact=True))
    for path in paths:
        result = auditor.audit(path)                      # InputError for a bad recording
        json_ready = result.to_json()                     # audit.call/1 (callaudit.schema())

The names below are the public API; everything else is internal and may change. Importing
the package loads nothing heavy: the recognizer's libraries load with the first Auditor.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from callaudit.version import __version__

if TYPE_CHECKING:
    from callaudit.audio.decode import Audio, decode
    from callaudit.audio.vad import VadOptions
    from callaudit.errors import AuditError, InputError, ModelError, RulePackError
    from callaudit.parts import (
        CallMetrics,
        ChannelLayout,
        JudgedWith,
        PrivacyReport,
        Reason,
        Separation,
        Stretch,
    )
    from callaudit.pipeline import AuditOptions, Auditor, audit_file
    from callaudit.records import (
        SCHEMA,
        CallResult,
        Evidence,
        Finding,
        NotParty,
        Region,
        Utterance,
        result_problem,
        schema,
    )
    from callaudit.rules.pack import Rule, RulePack
    from callaudit.rules.pack import load as load_pack
    from callaudit.speech.asr import AsrOptions

# public name -> (module, name there)
_PUBLIC = {
    "Auditor": ("callaudit.pipeline", "Auditor"),
    "AuditOptions": ("callaudit.pipeline", "AuditOptions"),
    "audit_file": ("callaudit.pipeline", "audit_file"),
    "AsrOptions": ("callaudit.speech.asr", "AsrOptions"),
    "VadOptions": ("callaudit.audio.vad", "VadOptions"),
    "Audio": ("callaudit.audio.decode", "Audio"),
    "decode": ("callaudit.audio.decode", "decode"),
    "load_pack": ("callaudit.rules.pack", "load"),
    "Rule": ("callaudit.rules.pack", "Rule"),
    "RulePack": ("callaudit.rules.pack", "RulePack"),
    "CallResult": ("callaudit.records", "CallResult"),
    "Finding": ("callaudit.records", "Finding"),
    "Evidence": ("callaudit.records", "Evidence"),
    "Utterance": ("callaudit.records", "Utterance"),
    "Region": ("callaudit.records", "Region"),
    "NotParty": ("callaudit.records", "NotParty"),
    "CallMetrics": ("callaudit.parts", "CallMetrics"),
    "ChannelLayout": ("callaudit.parts", "ChannelLayout"),
    "Separation": ("callaudit.parts", "Separation"),
    "PrivacyReport": ("callaudit.parts", "PrivacyReport"),
    "JudgedWith": ("callaudit.parts", "JudgedWith"),
    "Reason": ("callaudit.parts", "Reason"),
    "Stretch": ("callaudit.parts", "Stretch"),
    "SCHEMA": ("callaudit.records", "SCHEMA"),
    "schema": ("callaudit.records", "schema"),
    "result_problem": ("callaudit.records", "result_problem"),
    "AuditError": ("callaudit.errors", "AuditError"),
    "InputError": ("callaudit.errors", "InputError"),
    "ModelError": ("callaudit.errors", "ModelError"),
    "RulePackError": ("callaudit.errors", "RulePackError"),
}

__all__ = [
    "__version__",
    "Auditor",
    "AuditOptions",
    "audit_file",
    "AsrOptions",
    "VadOptions",
    "Audio",
    "decode",
    "load_pack",
    "Rule",
    "RulePack",
    "CallResult",
    "Finding",
    "Evidence",
    "Utterance",
    "Region",
    "NotParty",
    "CallMetrics",
    "ChannelLayout",
    "Separation",
    "PrivacyReport",
    "JudgedWith",
    "Reason",
    "Stretch",
    "SCHEMA",
    "schema",
    "result_problem",
    "AuditError",
    "InputError",
    "ModelError",
    "RulePackError",
]


def __getattr__(name: str) -> Any:
    if name not in _PUBLIC:
        raise AttributeError(f"module 'callaudit' has no attribute {name!r}")
    module, attr = _PUBLIC[name]
    value = getattr(import_module(module), attr)
    globals()[name] = value  # once
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
