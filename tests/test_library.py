"""callaudit as a library (docs/LIBRARY.md): the public names, the docs' example run from a
wheel in a clean virtual environment, the audit.call/1 schema, and nothing done to the host
process or to what the caller passed."""

from __future__ import annotations

import dataclasses
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import callaudit
from callaudit.records import CallResult, result_problem, schema
from tests.helpers import DATA, ROOT

DOC = ROOT / "docs" / "LIBRARY.md"


def _example() -> str:
    """The first Python block of docs/LIBRARY.md."""
    return re.search(r"```python\n(.*?)```", DOC.read_text("utf-8"), re.S).group(1)  # type: ignore[union-attr]


def test_every_public_name_resolves_and_is_documented() -> None:
    assert callaudit.__all__ == ["__version__", *callaudit._PUBLIC]  # the two lists agree
    for name in callaudit.__all__[1:]:
        value = getattr(callaudit, name)
        if isinstance(value, type) or callable(value):
            assert (value.__doc__ or "").strip(), f"callaudit.{name} has no docstring"
    with pytest.raises(AttributeError):
        callaudit.Nothing  # noqa: B018
    assert (ROOT / "src" / "callaudit" / "py.typed").exists()


def test_importing_the_package_loads_nothing_heavy() -> None:
    code = ("import sys, callaudit; print(callaudit.__version__, sorted(m for m in "
            "('faster_whisper', 'ctranslate2', 'onnxruntime', 'numpy', 'jsonschema') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split(" ", 1)[1].strip() == "[]", out.stdout


def test_options_are_frozen() -> None:
    opts = callaudit.AuditOptions()
    with pytest.raises(dataclasses.FrozenInstanceError):
        opts.agent_channel = "left"  # type: ignore[misc]
    assert dataclasses.replace(opts, agent_channel="left").agent_channel == "left"


def _within(old: Any, new: Any) -> bool:
    """Every value of `old` is in `new` as it was (a result stored before a field existed
    reads back with that field at its default)."""
    if isinstance(old, dict):
        return isinstance(new, dict) and all(k in new and _within(v, new[k]) for k, v in old.items())
    if isinstance(old, list):
        return isinstance(new, list) and len(old) == len(new) and all(
            _within(a, b) for a, b in zip(old, new, strict=True))
    return bool(old == new)


@pytest.mark.parametrize("name", ["demo_call", "bad_call", "mono_call", "ringback_call"])
def test_every_stored_result_is_valid_and_reads_back(name: str) -> None:
    """The results stored in tests/data/results (some from before a field existed)."""
    d = json.loads((DATA / "results" / f"{name}.json").read_text("utf-8"))["result"]
    assert result_problem(d) == ""
    back = CallResult.from_json(d).to_json()
    assert _within(d, back)
    assert CallResult.from_json(back).to_json() == back


def test_the_schema_names_what_is_wrong() -> None:
    d = json.loads((DATA / "results" / "demo_call.json").read_text("utf-8"))["result"]
    assert schema()["properties"]["schema"]["const"] == callaudit.SCHEMA
    bad = json.loads(json.dumps(d))
    bad["utterances"][1]["role"] = "boss"
    assert "utterances/1/role" in result_problem(bad)
    bad = json.loads(json.dumps(d))
    bad["findings"][0]["deduction"] = -3
    assert "findings/0/deduction" in result_problem(bad)
    bad = {k: v for k, v in d.items() if k != "score"}
    assert "'score' is a required property" in result_problem(bad)
    assert result_problem({"schema": "other/1"}) == "not an audit.call/1 result"
    with pytest.raises(ValueError, match="utterances"):
        CallResult.from_json({**d, "utterances": "none"})


def _blas_threads() -> list[int]:
    from threadpoolctl import threadpool_info

    return [i["num_threads"] for i in threadpool_info()
            if i["user_api"] == "blas" and "ctranslate2" not in i["filepath"].lower()]


@pytest.mark.model
def test_the_audit_leaves_the_host_process_and_the_callers_audio_as_they_were(
        auditor: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """NumPy's BLAS: one thread while a call is audited, the host's setting afterwards; the
    Audio passed to audit_audio: the same samples afterwards (the audit conditions a copy)."""
    from callaudit.audio.decode import decode
    from callaudit.metrics import acoustics

    before = _blas_threads()
    if not before or max(before) < 2:
        pytest.skip("NumPy's BLAS runs on one thread here already: nothing to see")
    during: list[list[int]] = []
    measure = acoustics.measure

    def spy(*args: Any, **kwargs: Any) -> Any:
        during.append(_blas_threads())
        return measure(*args, **kwargs)

    monkeypatch.setattr("callaudit.pipeline.measure", spy)
    audio = decode(str(ROOT / "samples" / "demo_call.wav"))
    samples = [np.array(c[:], copy=True) for c in audio.channels]
    auditor.audit_audio(audio)
    assert during and all(n == 1 for n in during[0]), during
    assert _blas_threads() == before
    assert all(np.array_equal(a, c[:]) for a, c in zip(samples, audio.channels, strict=True))


@pytest.mark.model
def test_redaction_applies_to_the_record_a_program_receives(
        auditor: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The demo call's order number and phone number are masked in the CallResult itself,
    its utterances and its evidence, not only in its JSON."""
    monkeypatch.setattr(auditor, "opts", dataclasses.replace(auditor.opts, redact=True))
    r = auditor.audit(str(ROOT / "samples" / "demo_call.wav"))
    assert r.privacy and r.privacy.redacted and sum(r.privacy.counts.values()) >= 1
    said = " ".join(u.text for u in r.utterances)
    quoted = " ".join(e.text for f in r.findings for e in f.evidence)
    assert "*" in said
    assert not re.search(r"\d{5,}", said + quoted), said
    assert auditor.result_json(r) == r.to_json()


@pytest.mark.model
def test_the_docs_example_runs_from_a_wheel_in_a_clean_virtual_environment(tmp_path: Path) -> None:
    """docs/LIBRARY.md's example, as a user runs it: the wheel built from this checkout,
    installed (with its dependencies, at the locked versions) into a new virtual environment
    that sees nothing of ours, run from the repository's root on the shipped sample."""
    wheels, venv = tmp_path / "wheels", tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(wheels),
                    str(ROOT)], check=True, capture_output=True)
    wheel = next(wheels.glob("callaudit-*.whl"))
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    py = venv / "bin" / "python"
    subprocess.run([str(py), "-m", "pip", "install", "-q", "-c", str(ROOT / "requirements.lock"),
                    str(wheel)], check=True, capture_output=True)
    where = subprocess.run([str(py), "-c", "import callaudit; print(callaudit.__file__)"],
                           cwd=tmp_path, capture_output=True, text=True, check=True).stdout
    assert str(venv) in where and str(ROOT / "src") not in where
    out = subprocess.run([str(py), "-c", _example()], cwd=ROOT, capture_output=True, text=True,
                         timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    lines = out.stdout.splitlines()
    assert re.match(r"samples/demo_call\.wav: score \d+(\.\d+)?, (pass|fail)", lines[0]), lines
    assert lines[-1].startswith("samples/demo_call.wav "), lines


def test_the_schema_names_every_field_of_the_typed_parts() -> None:
    """The schema and the records say the same: a metric added to CallMetrics (or a field to
    a part) without its schema entry, or the other way round, fails here."""
    from dataclasses import fields

    from callaudit.parts import CallMetrics, JudgedWith, Separation

    props = schema()["properties"]
    assert {f.name for f in fields(CallMetrics)} == set(props["metrics"]["properties"])
    assert {f.name for f in fields(JudgedWith)} == set(props["judged_with"]["properties"])
    sep = props["separation"]["oneOf"][1]["properties"]
    assert {f.name for f in fields(Separation)} == set(sep)


def test_typed_parts_read_back_from_a_stored_result() -> None:
    d = json.loads((DATA / "results" / "mono_call.json").read_text("utf-8"))["result"]
    r = CallResult.from_json(d)
    assert r.separation is not None and r.separation.speakers == 2
    assert r.separation.why.in_lang("en") and r.metrics.get("answer_delay_s") == \
        d["metrics"]["answer_delay_s"]
    assert r.metrics.get("no_such_metric", "x") == "x"
    assert [s.start for s in r.metrics.silences] == [s["start"] for s in d["metrics"]["silences"]]
    assert r.judged_with.rules == d["judged_with"]["rules"]
    with pytest.raises(ValueError, match="audit.call/1"):
        CallResult.from_json({**d, "findings": [{"rule": "x"}]}, check=False)


def test_with_options_shares_the_model_and_leaves_the_original_as_it_was() -> None:
    """Auditor.with_options: another option set on the same loaded recognizer, no reload;
    a changed recognizer option builds its own."""
    from callaudit.errors import ModelError

    try:
        a = callaudit.Auditor(callaudit.AuditOptions(separate=False))
    except ModelError:
        pytest.skip("Whisper model not set up")
    b = a.with_options(lang="en", agent_channel="right")
    assert b.transcriber is a.transcriber and b.opts.lang == "en"
    assert a.opts.lang == "zh" and a.opts.agent_channel == "auto" and a.embedder is None
    assert b.with_options(separate=True).embedder is not None
    with pytest.raises(TypeError):
        a.with_options(no_such_option=1)
