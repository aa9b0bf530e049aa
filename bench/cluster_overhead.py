"""The cost of the Dask path on one machine: the same calls through the local process pool
(`--workers 2`), `--cluster local:2`, and a `dask scheduler` + `dask worker --nworkers 2` on
localhost. Wall time includes starting the workers and loading the model, as a night's run does.

    .venv/bin/python bench/cluster_overhead.py [FOLDER]
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from callaudit.batch.jobs import BatchOptions  # noqa: E402
from callaudit.batch.pool import run  # noqa: E402


def _timed(folder: Path, model_dir: str, **opts: Any) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        stats = run(str(folder), BatchOptions(db=str(Path(tmp) / "b.sqlite"), model_dir=model_dir,
                                              **opts))
        wall = time.perf_counter() - t0
    return {"calls": stats.done, "errors": stats.errors, "audio_h": stats.audio_s / 3600,
            "wall_s": wall, "audio_h_per_h": stats.audio_s / wall}


def _scheduler() -> tuple[str, list[subprocess.Popen[bytes]]]:
    dask_cli = str(Path(sys.executable).parent / "dask")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    addr = f"tcp://127.0.0.1:{port}"
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, "start_new_session": True}
    procs = [subprocess.Popen([dask_cli, "scheduler", "--host", "127.0.0.1", "--port", str(port),
                               "--no-dashboard"], **quiet)]  # type: ignore[call-overload]
    procs.append(subprocess.Popen([dask_cli, "worker", addr, "--nworkers", "2", "--nthreads", "1",
                                   "--no-dashboard", "--memory-limit", "0"], **quiet))  # type: ignore[call-overload]
    import distributed

    with distributed.Client(addr, timeout=60) as c:
        c.wait_for_workers(2, timeout=120)
    return addr, procs


def main(folder: Path, model_dir: str) -> dict[str, Any]:
    out = {"pool_2": _timed(folder, model_dir, workers=2),
           "cluster_local_2": _timed(folder, model_dir, cluster="local:2")}
    addr, procs = _scheduler()  # started before the clock: a cluster is already up at night
    try:
        out["scheduler_2_workers"] = _timed(folder, model_dir, cluster=addr)
    finally:
        for p in procs[::-1]:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
    base = out["pool_2"]["audio_h_per_h"]
    for v in out.values():
        v["vs_pool"] = v["audio_h_per_h"] / base
    return out


if __name__ == "__main__":
    from callaudit.speech.model import resolve

    src = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "samples"
    for k, v in main(src, str(resolve(None))).items():
        print(f"{k}: {v['calls']} calls, {v['audio_h_per_h']:.1f} audio h/h, "
              f"{v['wall_s']:.1f} s, {v['vs_pool']:.2f} of the pool")
