"""The field recordings (../shared/field, when present): each file against the value its
README gives for a correct audit. Run by bench/run.py; alone: `.venv/bin/python bench/field_eval.py`.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
FIELD = ROOT.parent / "shared" / "field"

# file -> what a correct audit gives (../shared/field/README.md). A number with a tolerance
# is (value, tolerance); "rule:X" is whether rule X passed (None: not applicable).
EXPECT: dict[str, dict[str, Any]] = {
    "f01_moh_in_hold.wav": {"score": (98, 2), "holds": 1, "agent_speech_rate_cpm": (204, 15)},
    "f03_us_ringback.wav": {"rings": 3, "connect_s": (13.0, 0.5), "answer_delay_s": (0.6, 0.5),
                            "rule:answer_delay": True},
    "f03c_cn_ringback_control.wav": {"rings": 3, "connect_s": (11.0, 0.5),
                                     "answer_delay_s": (0.6, 0.5), "rule:answer_delay": True},
    "f05_same_mix_3db.wav": {"score": (98, 2), "layout": "same_mix"},
    "f06_mix_left_silent_right.wav": {"score": (98, 2), "rule:silent_call": (True, None)},
    "f09_dc_offset.wav": {"score": (98, 2), "answer_delay_s": (0.8, 0.3),
                          "agent_speech_rate_cpm": (204, 15)},
    "f15_subscribe_word.wav": {"score": (69, 2), "passed": False, "rule:forbidden_phrase": False},
    "f15c_control_no_subscribe.wav": {"score": (69, 2), "passed": False},
    "f16_no_speech_hiss.wav": {"outcome": "no_speech"},
    "f20_amrnb.amr": {"duration_s": (81.8, 1.0)},
    "f22_two_streams.mka": {"channels": 2, "customer_spoke": True, "agent_spoke": True},
    "g05_carrier_announcement.wav": {"outcome": "not_connected", "score": None},
    "g07_agent_echo_on_caller.wav": {"score": (98, 2), "customer_talk": (0.14, 0.03),
                                     "rule:farewell": True, "rule:thanks_reply": True},
    "g13_silence_then_ringback.wav": {"rings": 2, "connect_s": (31.0, 0.5),
                                      "answer_delay_s": (0.6, 0.5), "rule:answer_delay": True},
    "g13c_ringback_no_silence_control.wav": {"rings": 2, "answer_delay_s": (0.6, 0.5)},
}


def _value(r: dict[str, Any], key: str) -> Any:
    if key.startswith("rule:"):
        f = next((f for f in r["findings"] if f["rule"] == key[5:]), None)
        return None if f is None or not f["applicable"] else f["passed"]
    if key == "holds":
        return len(r["metrics"]["holds"])
    if key == "customer_talk":
        return r["metrics"]["talk_ratio"]["customer"]
    if key == "layout":
        return (r.get("layout") or {}).get("kind")
    return r["metrics"][key] if key in r["metrics"] else r.get(key)


def _ok(got: Any, want: Any) -> bool:
    if isinstance(want, tuple) and len(want) == 2 and isinstance(want[0], (int, float)) \
            and not isinstance(want[0], bool):
        return got is not None and abs(got - want[0]) <= want[1]
    if isinstance(want, tuple):  # any of
        return got in want
    return got == want


def run() -> dict[str, Any]:
    """{file: {key: {want, got, ok}}, ...} and the count of files fully right."""
    if not FIELD.is_dir():
        return {"skipped": f"{FIELD} not present"}
    sys.path.insert(0, str(ROOT / "src"))
    from callaudit.errors import AuditError
    from callaudit.pipeline import Auditor

    auditor = Auditor()
    files: dict[str, Any] = {}
    for name, want in EXPECT.items():
        try:
            r = auditor.audit(str(FIELD / name)).to_json()
            files[name] = {k: {"want": w, "got": _value(r, k), "ok": _ok(_value(r, k), w)}
                           for k, w in want.items()}
        except AuditError as e:
            files[name] = {"error": {"want": "audited", "got": str(e), "ok": False}}
    right = sum(all(c["ok"] for c in v.values()) for v in files.values())
    return {"files": files, "right": right, "total": len(files)}


def render(res: dict[str, Any]) -> list[str]:
    if "skipped" in res:
        return [f"Field recordings: {res['skipped']}.", ""]
    lines = [f"Field recordings (`../shared/field`): **{res['right']} of {res['total']}** audited "
             "as their README says.", "", "| file | check | want | got | |", "|---|---|---|---|---|"]
    for name, checks in res["files"].items():
        for k, c in checks.items():
            got = f"{c['got']:.2f}" if isinstance(c["got"], float) else str(c["got"])
            lines.append(f"| {name} | {k} | {c['want']} | {got[:80]} | {'ok' if c['ok'] else 'WRONG'} |")
    return lines + [""]


if __name__ == "__main__":
    print("\n".join(render(run())))
