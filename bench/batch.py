"""Benchmark: the command line's engines on a folder of images (issue 14).

50 images (the sample photos, flipped and cropped) explained with Grad-CAM and scored
with deletion and insertion (EfficientNet-Lite0), through the same loop as
``python -m core.cli explain`` (an engine's results, written by the driver):

- the local engine with torch's threads (all cores) and with one thread;
- Ray Data with 1 worker and with 2 workers (one torch thread each), and 1 worker with
  two threads;
- Ray's start-up: ``ray.init`` of a local Ray, then each run's time to its first result
  (actors started, model and forward engine built), and the memory of an actor;
- the scaling from 1 to 2 workers, and what it predicts for N cores (Amdahl's law, with
  the serial share measured here).

Images/s is the steady rate, after the start-up: (results - workers) over the time
from the workers-th result to the last. Run: ``python bench/batch.py [--images 50]``
(when ``uptime`` shows a load below ~1: the numbers are wall-clock).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from PIL import Image, ImageOps

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import psutil  # noqa: E402
import torch  # noqa: E402

from core.attribution import METHODS  # noqa: E402
from core.cli import ImageResult, Job, list_images, local_results, prepare_model  # noqa: E402
from core.cli.ray_engine import ray_results  # noqa: E402
from core.cli.writers import write_result  # noqa: E402
from core.common import SAMPLES, sample_path  # noqa: E402

JOB = Job(
    model="efficientnet_lite0",
    methods=("gradcam",),
    params={"gradcam": dict(METHODS["gradcam"].resolve({}))},
    metrics=("deletion", "insertion"),
)


def make_images(folder: Path, count: int) -> None:
    """``count`` JPEGs: each sample photo as is, mirrored, and cropped to a corner or the
    middle at 60-90% of its size."""
    names = list(SAMPLES)
    for i in range(count):
        image = Image.open(sample_path(names[i % len(names)])).convert("RGB")
        variant = i // len(names)
        if variant % 2:
            image = ImageOps.mirror(image)
        if variant:
            keep = 0.9 - 0.05 * (variant % 7)
            width, height = image.size
            w, h = int(width * keep), int(height * keep)
            x = [0, width - w, (width - w) // 2][variant % 3]
            y = [0, height - h, (height - h) // 2][(variant // 3) % 3]
            image = image.crop((x, y, x + w, y + h))
        image.save(folder / f"{i:03d}_{names[i % len(names)]}", quality=90)


def actor_memory() -> list[tuple[float, float]]:
    """(RSS, USS) in MB of the Ray Data actors running our job: USS (memory no other
    process shares) is what one more worker costs; RSS also counts shared libraries."""
    sizes = []
    for process in psutil.process_iter(["cmdline"]):
        if "ExplainActor" in " ".join(process.info["cmdline"] or []):
            with contextlib.suppress(psutil.Error):
                memory = process.memory_full_info()
                sizes.append((memory.rss / 2**20, memory.uss / 2**20))
    return sizes


def timed_run(
    label: str, results: Iterator[ImageResult], out: Path, workers: int, memory: bool = False
) -> tuple[float, float]:
    """Drain an engine's results (writing them, as the driver does); print the steady
    images/s and the driver's CPU time per image (its own work: Ray Data's scheduling,
    unpickling, writing; for the local engine, everything)."""
    start, cpu = time.perf_counter(), time.process_time()
    arrivals = []
    sizes: list[tuple[float, float]] = []
    for result in results:
        write_result(out, result)
        arrivals.append(time.perf_counter() - start)
        if memory and len(arrivals) == workers + 1:
            sizes = actor_memory()
    driver = (time.process_time() - cpu) / len(arrivals)
    steady = (len(arrivals) - workers) / (arrivals[-1] - arrivals[workers - 1])
    line = (
        f"{label:28s} {steady:5.2f} images/s   first result {arrivals[0]:4.1f} s   "
        f"total {arrivals[-1]:5.1f} s   driver CPU {driver * 1000:4.0f} ms/image"
    )
    if sizes:
        line += "   actor RSS/USS " + ", ".join(f"{r:.0f}/{u:.0f}" for r, u in sizes) + " MB"
    print(line, flush=True)
    return steady, driver


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=50)
    args = parser.parse_args()
    print(f"load average at start: {', '.join(f'{v:.2f}' for v in os.getloadavg())}; "
          f"{os.cpu_count()} CPUs; torch {torch.__version__}")  # fmt: skip
    root = Path(tempfile.mkdtemp(prefix="bench-batch-"))
    try:
        (root / "images").mkdir()
        make_images(root / "images", args.images)
        items, _ = list_images([str(root / "images")])
        print(f"{len(items)} images; Grad-CAM + deletion + insertion (56 forward passes "
              f"each on the forward engine), EfficientNet-Lite0\n")  # fmt: skip
        threads = torch.get_num_threads()
        start = time.perf_counter()
        model = prepare_model(JOB)  # the forward engine's export is cached from here on
        print(f"local start-up (model, engine)   {time.perf_counter() - start:5.1f} s")
        local, _ = timed_run(f"local, {threads} threads", local_results(JOB, model, items),
                             root / "local", 1)  # fmt: skip
        model = prepare_model(JOB, threads=1)
        single, _ = timed_run("local, 1 thread", local_results(JOB, model, items), root / "l1", 1)
        torch.set_num_threads(threads)

        import ray

        start = time.perf_counter()
        ray.init(num_cpus=os.cpu_count(), include_dashboard=False,
                 object_store_memory=200 * 2**20, logging_level="ERROR")  # fmt: skip
        print(f"ray.init (a local Ray)           {time.perf_counter() - start:5.1f} s")
        rates, drivers = {}, {}
        for workers, per_worker in ((1, 1), (2, 1), (1, 2)):
            label = f"Ray, {workers} worker{'s' * (workers > 1)} x {per_worker} thread"
            label += "s" * (per_worker > 1)
            results = ray_results(JOB, items, workers, per_worker, batch_size=2, say=lambda _: None)
            rates[(workers, per_worker)], drivers[workers] = timed_run(
                label, results, root / f"ray{workers}x{per_worker}", workers, memory=True
            )
        start = time.perf_counter()
        ray.shutdown()
        print(f"ray.shutdown                     {time.perf_counter() - start:5.1f} s")
    finally:
        shutil.rmtree(root, ignore_errors=True)

    one, two = rates[(1, 1)], rates[(2, 1)]
    speedup = two / one
    serial = min(1.0, max(0.0, 2 / speedup - 1))  # Amdahl: S(2) = 1 / (f + (1 - f) / 2)
    ceiling = 1 / drivers[2]  # the driver (one process) does this much per image
    print(f"\nRay 1 -> 2 workers: x{speedup:.2f} (efficiency {speedup / 2:.0%}); Ray 1 worker "
          f"vs local 1 thread: {one / single:.0%}; local {threads} threads vs 1: "
          f"x{local / single:.2f}")  # fmt: skip
    print(f"N cores, N workers x 1 thread: between Amdahl with the serial share seen here "
          f"(f = {serial:.2f}: all of the 1 -> 2 loss taken as serial) and N x the per-worker "
          f"rate at 2 workers ({two / 2:.2f}), up to the driver's ceiling "
          f"(1 / its CPU per image = {ceiling:.0f} images/s):")  # fmt: skip
    for cores in (4, 8, 16, 32):
        low = one / (serial + (1 - serial) / cores)
        high = min(cores * two / 2, ceiling)
        print(f"  N = {cores:2d}: {low:6.1f} - {high:6.1f} images/s")
    print(f"load average at the end: {', '.join(f'{v:.2f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
