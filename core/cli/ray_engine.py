"""The Ray engine: the same job on Ray Data, on a cluster or on a local Ray.

The image list becomes a dataset (paths only: each actor reads its images itself, so
every node must see them at the same path), one block per batch, mapped with
``map_batches`` over a fixed pool of :class:`ExplainActor` s. Each actor sets its torch
threads and builds the model and its forward engine once, in ``__init__``, and runs
:func:`core.cli.job.explain_image` on each image: the local engine's function, so the
results are the same. Results (rows and file contents) stream back to the driver, which
writes them in the local engine's layout.

Ray is optional (``requirements-scale.txt``) and imported only here, only when used.
With ``$RAY_ADDRESS`` set (``ray job submit`` sets it) the job joins that cluster;
otherwise it starts a local Ray with this machine's CPUs and shuts it down at the end.
"""

from __future__ import annotations

import logging
import os
import pickle
from collections.abc import Callable, Generator
from typing import Any

import numpy as np

from core.attribution.runner import ENGINE_ENV
from core.cli.inputs import Item
from core.cli.job import ImageResult, Job, explain_image, prepare_model
from core.models.engine import CACHE_ENV

OBJECT_STORE_BYTES = 200 * 2**20  # a local Ray's shared memory: results are ~0.2 MB each
FORWARDED_ENV = (CACHE_ENV, ENGINE_ENV)  # the driver's settings, passed on to every actor


class EngineError(RuntimeError):
    """The Ray engine cannot run the job as asked; the message says why and what to do."""


class ExplainActor:
    """A Ray Data callable class: one model per actor, then image after image.

    Args:
        job: The settings.
        threads: Torch intra-op threads of this actor (it reserves as many CPUs).
    """

    def __init__(self, job: Job, threads: int) -> None:
        self.job = job
        self.model = prepare_model(job, threads)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Explain a batch of images.

        Args:
            batch: Columns ``path``, ``file`` and ``key`` (see :class:`Item`).

        Returns:
            Columns ``key`` and ``payload`` (each image's pickled :class:`ImageResult`).
        """
        columns = zip(batch["path"], batch["file"], batch["key"], strict=True)
        results = [
            explain_image(self.job, self.model, Item(str(path), str(file), str(key)))
            for path, file, key in columns
        ]
        payloads = np.empty(len(results), dtype=object)
        payloads[:] = [pickle.dumps(result) for result in results]
        return {"key": np.asarray([r.item.key for r in results]), "payload": payloads}


def _ray() -> Any:
    """The ``ray`` module with Ray Data.

    Raises:
        EngineError: Ray is not installed (with how to install it).
    """
    # Ray Data's info and warnings would scroll over the progress bar (they stay in its
    # session logs; real failures reach the driver as exceptions). Its logger reads this
    # when ray.data is first imported.
    os.environ.setdefault("RAY_DATA_LOG_LEVEL", "ERROR")
    try:
        import ray
        import ray.data
    except ImportError as err:
        raise EngineError(
            f"--engine ray needs Ray Data ({err}): pip install -r requirements-scale.txt"
        ) from None
    return ray


def start_ray() -> bool:
    """Join the cluster at ``$RAY_ADDRESS``, or start a local Ray (quietly).

    Returns:
        True when this call started Ray (so the caller shuts it down).

    Raises:
        EngineError: Ray could not start or join (with Ray's reason).
    """
    ray = _ray()
    if ray.is_initialized():
        return False
    settings: dict[str, Any] = {"logging_level": logging.ERROR, "include_dashboard": False}
    if not os.environ.get("RAY_ADDRESS"):
        settings.update(num_cpus=os.cpu_count() or 1, object_store_memory=OBJECT_STORE_BYTES)
    try:
        ray.init(**settings)
    except Exception as err:
        address = os.environ.get("RAY_ADDRESS")
        action = f"join the Ray cluster at {address}" if address else "start a local Ray"
        hint = ""
        if address and not os.environ.get("RAY_AUTH_MODE"):
            hint = " (a cluster with token authentication needs RAY_AUTH_MODE=token and its token)"
        raise EngineError(f"could not {action}: {err}{hint}") from err
    return True


def cluster_cpus() -> int:
    """CPUs of the Ray cluster this process is connected to."""
    return int(_ray().cluster_resources().get("CPU", 0))


def ray_results(
    job: Job,
    items: list[Item],
    workers: int | None,
    threads: int,
    batch_size: int,
    say: Callable[[str], None] = print,
) -> Generator[ImageResult, None, None]:
    """The job on Ray Data: the results as they arrive (in any order).

    Starts (or joins) Ray when it is not running yet, and then shuts it down at the end.

    Args:
        job: The settings.
        items: The images to explain.
        workers: Actors (None: the cluster's CPUs divided by ``threads``).
        threads: Torch threads (and reserved CPUs) per actor.
        batch_size: Images per task.
        say: Where to report the cluster and the pool.

    Yields:
        One :class:`ImageResult` per image.

    Raises:
        EngineError: Ray is missing, cannot start, or the cluster is too small.
    """
    ray = _ray()
    started = start_ray()
    try:
        cpus = cluster_cpus()
        workers = workers or max(1, cpus // threads)
        if workers * threads > cpus:
            raise EngineError(
                f"{workers} workers x {threads} threads need {workers * threads} CPUs; the "
                f"Ray cluster has {cpus}: lower --workers or --threads"
            )
        joined = "started a local Ray" if started else "on the Ray cluster"
        say(f"{joined} ({cpus} CPUs): {workers} workers x {threads} torch threads")
        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = False  # the command line draws its own
        context.print_on_execution_start = False
        context.enable_auto_log_stats = False
        rows = [{"path": i.path, "file": i.file, "key": i.key} for i in items]
        blocks = max(1, -(-len(rows) // batch_size))  # a block per task: every actor gets work
        dataset = ray.data.from_items(rows, override_num_blocks=blocks)
        env = {name: os.environ[name] for name in FORWARDED_ENV if os.environ.get(name)}
        explained = dataset.map_batches(
            ExplainActor,
            fn_constructor_args=(job, threads),
            batch_size=batch_size,
            compute=ray.data.ActorPoolStrategy(size=workers),
            num_cpus=threads,
            runtime_env={"env_vars": env} if env else None,
        )
        for row in explained.iter_rows():
            yield pickle.loads(row["payload"])  # our own actors' results
    finally:
        if started:
            ray.shutdown()
