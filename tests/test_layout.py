"""The package reads like the data flow: no module imports a later stage.

audio -> speech -> metrics -> rules -> privacy -> (pipeline, results) -> render -> review -> batch
-> cli, and the shared vocabulary (records, settings, strings, errors, outputs) imports no stage at all.
Imports inside functions count too: a lazy import that runs back up is still a cycle.
The package root (`callaudit/__init__.py`) is the public face: it re-exports from any stage, and
no module inside imports it.
"""

from __future__ import annotations

import ast
from pathlib import Path

from tests.helpers import ROOT

PKG = ROOT / "src" / "callaudit"
ORDER = {"parts": 0, "records": 0, "settings": 0, "strings": 0, "errors": 0, "outputs": 0, "numerics": 0,
         "version": 0,
         "audio": 1, "speech": 2, "metrics": 3, "rules": 4, "privacy": 4.5, "pipeline": 5, "results": 5,
         "render": 6, "review": 7, "batch": 8, "cli": 9}


def _stage(module: str) -> str:
    """'callaudit.rules.judge' -> 'rules'; 'callaudit' -> '__init__'."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _imports(path: Path) -> list[str]:
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("callaudit"):
            if node.module == "callaudit":
                out += [f"callaudit.{a.name}" for a in node.names]
            else:
                out.append(node.module)
        elif isinstance(node, ast.ImportFrom) and node.level:
            raise AssertionError(f"{path}: relative import; use `from callaudit.x import ...`")
        elif isinstance(node, ast.Import):
            out += [a.name for a in node.names if a.name.startswith("callaudit")]
    return out


def _inside() -> list[Path]:
    return [p for p in PKG.rglob("*.py") if p != PKG / "__init__.py"]


def test_every_module_has_a_stage() -> None:
    for path in _inside():
        assert path.relative_to(PKG).parts[0].removesuffix(".py") in ORDER, path


def test_no_import_runs_back_up() -> None:
    wrong = []
    for path in _inside():
        here = path.relative_to(PKG).parts[0].removesuffix(".py")
        for module in _imports(path):
            there = _stage(module)
            if there not in ORDER:  # `from callaudit import x`: the public face, from inside
                wrong.append(f"{path.relative_to(PKG)} imports the package root ({module})")
                continue
            if ORDER[there] > ORDER[here] or (ORDER[here] == 0 and ORDER[there] > 0):
                wrong.append(f"{path.relative_to(PKG)} imports {module}")
            if here in ("pipeline", "results") and there in ("pipeline", "results") and here != there:
                wrong.append(f"{path.relative_to(PKG)} imports {module}")
    assert not wrong, wrong


def test_rescoring_needs_neither_the_recognizer_nor_the_vad() -> None:
    import subprocess
    import sys

    code = ("import sys, callaudit.results.rescore, callaudit.render.html; "
            "print(sorted(m for m in ('faster_whisper', 'ctranslate2', 'onnxruntime', 'webrtcvad') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_no_two_modules_import_each_other() -> None:
    """No cycle of imports among the modules (lazy imports too: rules/pack -> validate ->
    entities -> validate -> pack was one)."""
    graph: dict[str, set[str]] = {}
    for path in _inside():
        name = "callaudit." + ".".join(path.relative_to(PKG).with_suffix("").parts)
        graph[name.removesuffix(".__init__")] = {m for m in _imports(path)}
    cycles = []
    state: dict[str, int] = {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if nxt not in graph:
                continue
            if state.get(nxt) == 1:
                cycles.append(trail[trail.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, trail + [nxt])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert not cycles, cycles
