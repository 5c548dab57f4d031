"""Do torch threads help a scheduler worker? (issue 21: a lone student's Integrated
Gradients takes ~3.3 s on one worker thread with one torch thread.)

The default model's forward pass (batch 2, as Integrated Gradients runs it), timed on
the main thread and on a worker thread, with 1 and 2 torch threads, with and without
oneDNN, and with the main thread having run torch on 2 threads first (as a process that
loaded its model on the main thread has) or on 1. Each case runs in its own process, so
no OpenMP state carries over.

Usage: ``python bench/worker_threads.py``
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
REPEATS = 10


def _case(main_threads: int, where: str, threads: int, onednn: bool) -> float:
    """Milliseconds per forward pass in this process (run in a child)."""
    import torch

    sys.path.insert(0, str(REPO))
    torch.set_num_threads(main_threads)  # the main thread's team (and the default)
    from core.models import load_model

    net = load_model("efficientnet_lite0").net.eval()
    x = torch.randn(2, 3, 224, 224)
    result: dict[str, float] = {}

    def run() -> None:
        torch.set_num_threads(threads)
        with torch.backends.mkldnn.flags(enabled=onednn), torch.no_grad():
            net(x)
            start = time.perf_counter()
            for _ in range(REPEATS):
                net(x)
        result["ms"] = (time.perf_counter() - start) / REPEATS * 1e3

    if where == "main":
        run()
    else:
        worker = threading.Thread(target=run)
        worker.start()
        worker.join()
    return result["ms"]


def main() -> None:
    if len(sys.argv) == 6 and sys.argv[1] == "--case":
        main_threads, where, threads, onednn = sys.argv[2:]
        print(json.dumps(_case(int(main_threads), where, int(threads), onednn == "1")))
        return
    print("forward pass of EfficientNet-Lite0, batch 2, ms (each case in a new process)")
    for main_threads in (2, 1):
        for onednn in ("1", "0"):
            for where in ("main", "worker"):
                times = []
                for threads in ("1", "2"):
                    out = subprocess.run(
                        [sys.executable, __file__, "--case", str(main_threads), where, threads,
                         onednn],
                        capture_output=True, text=True, check=True, cwd=REPO,
                    )  # fmt: skip
                    times.append(json.loads(out.stdout.strip().splitlines()[-1]))
                print(f"main thread's torch threads {main_threads}, oneDNN {onednn}, "
                      f"{where:6} thread: 1 thread {times[0]:7.0f}   2 threads {times[1]:7.0f}"
                      f"   ratio {times[1] / times[0]:.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
