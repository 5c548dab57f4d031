"""``python -m core.cli``: the driver. Parse, list the images, skip the complete ones,
run an engine, write what comes back, summarise.

Whatever the engine, the driver writes every file (:mod:`core.cli.writers`), so the
local and Ray engines give the same layout; a progress bar (tqdm) shows images/s and
the time left. Ctrl-C stops the job and leaves only complete outputs, with a summary of
them; ``--resume`` finishes it later.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import importlib.metadata
import platform
import sys
import time
from collections.abc import Generator, Sequence
from pathlib import Path
from typing import Any

from tqdm import tqdm

from core.attribution import METHODS, input_shape_for
from core.cli.args import (
    build_parser,
    check_ray,
    describe_methods,
    describe_models,
    model_source,
    parse_list,
    parse_params,
)
from core.cli.inputs import Failure, Item, list_images
from core.cli.job import (
    METRICS,
    ImageResult,
    Job,
    job_model,
    local_results,
    uses_forward_engine,
    warm_up,
)
from core.cli.ray_engine import EngineError, ray_results
from core.cli.writers import (
    complete_record,
    write_failures,
    write_job,
    write_result,
    write_summary,
)
from core.common import SUPPORTED_EXTENSIONS, torch_threads
from core.evaluation.curves import STEPS
from core.models import ImageModel, ModelFileError, ModelUnavailable, source_name
from core.models.engine import existing_engine

INTERRUPTED = 130  # the shell's code for a job ended by Ctrl-C (128 + SIGINT)


def _say(text: str) -> None:
    """A message on stderr (stdout keeps only the final result line)."""
    print(text, file=sys.stderr, flush=True)


def _count(n: int, noun: str) -> str:
    """``1 image``, ``2 images``."""
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for name in ("torch", "torchvision", "onnxruntime", "ray", "numpy", "pandas"):
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            found[name] = importlib.metadata.version(name)
    return found


def make_job(args: argparse.Namespace, parser: argparse.ArgumentParser) -> Job:
    """The job of the parsed arguments, before the model is loaded.

    Raises:
        SystemExit: (2) unknown methods or metrics, bad ``--param`` entries.
    """
    methods = parse_list(args.methods, list(METHODS), "--methods", parser)
    if not methods:
        parser.error("--methods: give at least one method")
    source = model_source(args, parser)
    return Job(
        model=args.model if source is None else source_name(source),
        model_file=source,
        methods=methods,
        params=parse_params(args.param, methods, parser),
        target=args.target,
        metrics=parse_list(args.metrics, METRICS, "--metrics", parser),
        substrates={"deletion": args.deletion_substrate, "insertion": args.insertion_substrate},
        cmap=args.cmap,
        opacity=args.opacity,
    )


def fit_to_model(job: Job, model: ImageModel, steps: int, parser: argparse.ArgumentParser) -> Job:
    """Check the job against the model (class index, layer names) and set the curve step.

    Raises:
        SystemExit: (2) a class index out of range, or a layer the model does not have
            (the message lists the layers with a feature map, deepest first).
    """
    classes = len(model.labels)
    if job.target is not None and job.target >= classes:
        parser.error(
            f"--target {job.target}: {model.title} has {classes} classes (0..{classes - 1})"
        )
    layers = [(m, p["layer"]) for m, p in job.params.items() if p.get("layer")]
    choices = list(input_shape_for(model).channels) if layers else []
    for method, layer in layers:
        if layer not in choices:
            parser.error(
                f"--param {method}.layer={layer}: {model.title} has no feature-map layer "
                f"{layer!r}; it has: {', '.join(reversed(choices))}"
            )
    pixels = model.input_size[0] * model.input_size[1]
    return dataclasses.replace(job, step=None if steps == STEPS else -(-pixels // steps))


def iter_nothing() -> Generator[ImageResult, None, None]:
    """No results (nothing left to do: no engine is started)."""
    yield from ()


def run_engine(
    args: argparse.Namespace, job: Job, model: ImageModel, items: list[Item]
) -> Generator[ImageResult, None, None]:
    """The chosen engine's results for the images."""
    if args.engine == "ray":
        return ray_results(job, items, args.workers, args.threads or 1, args.batch_size, _say)
    return local_results(job, model, items)


def explain_command(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """``explain``: the whole job. Returns the exit code (see the ``--help`` epilog)."""
    job = make_job(args, parser)
    if args.engine == "ray":
        check_ray(parser)
    elif args.workers:
        _say("warning: --workers is for --engine ray; the local engine runs in this process")
    out = Path(args.out)
    items, failures = list_images(args.paths, exclude=out)
    if not items and not failures:
        _say(f"error: no images in {' '.join(args.paths)} (looked for "
             f".{', .'.join(SUPPORTED_EXTENSIONS)})")  # fmt: skip
        return 1
    try:
        model = job_model(job)
    except ModelUnavailable as err:
        _say(f"error: {err}")
        return 1
    except ModelFileError as err:
        parser.error(f"--model {args.model}: {err}")
    job = fit_to_model(job, model, args.steps, parser)
    records: dict[str, dict[str, Any]] = {}
    if args.resume:
        for item in items:
            record = complete_record(out, item, job)
            if record is not None:
                records[item.key] = record
                failures.extend(Failure(**entry) for entry in record["failures"])
        _say(f"resume: {len(records)} of {len(items)} images complete, "
             f"{len(items) - len(records)} to go")  # fmt: skip
    todo = [item for item in items if item.key not in records]
    where = "on Ray" if args.engine == "ray" else "in this process"
    methods = f"{_count(len(job.methods), 'method')} ({', '.join(job.methods)})"
    _say(f"{_count(len(todo), 'image')} x {methods} with {model.title} {where} -> {out}/")
    if todo and uses_forward_engine(job):
        if existing_engine(model.net, model.input_shape) is None:  # an ONNX file has its own
            _say("preparing the forward engine (the first run on a machine exports the model "
                 "to ONNX, ~10-30 s)")  # fmt: skip
        warm_up(job, model)  # on the driver too: a local Ray's actors find the export cached
    start = time.perf_counter()
    done, interrupted, crashed = 0, False, None
    bar = tqdm(total=len(todo), unit="image", desc="explain", file=sys.stderr,
               disable=args.quiet or not todo, dynamic_ncols=True, smoothing=0.1)  # fmt: skip
    try:
        results = run_engine(args, job, model, todo) if todo else iter_nothing()
        with contextlib.closing(results):
            for result in results:
                write_result(out, result)
                if result.failure is None:
                    records[result.item.key] = result.record
                failures.extend(result.failures)
                done += 1
                bar.update(1)
                if failures:
                    bar.set_postfix(failures=len(failures), refresh=False)
    except KeyboardInterrupt:
        interrupted = True
    except EngineError as err:
        crashed = str(err)
    except Exception as err:
        if args.engine != "ray":
            raise
        lines = str(err).strip().splitlines() or [type(err).__name__]
        crashed = f"the Ray job failed: {lines[-1]}"
    finally:
        bar.close()
    seconds = time.perf_counter() - start
    return finish(args, job, out, items, records, failures, done, seconds, interrupted, crashed)


def finish(
    args: argparse.Namespace,
    job: Job,
    out: Path,
    items: list[Item],
    records: dict[str, dict[str, Any]],
    failures: list[Failure],
    done: int,
    seconds: float,
    interrupted: bool,
    crashed: str | None,
) -> int:
    """Write the summary, the failures and ``job.json`` (of the complete images only);
    report; return the exit code."""
    ordered = [records[item.key] for item in items if item.key in records]
    summary = write_summary(out, job, ordered, args.summary)
    failed = write_failures(out, failures)
    maps = sum(len(record["rows"]) for record in ordered)
    write_job(out, job, {
        "engine": args.engine, "workers": args.workers, "threads": args.threads,
        "images": len(items), "complete": len(ordered), "maps": maps,
        "failures": len(failures), "seconds": round(seconds, 3), "interrupted": interrupted,
        "versions": _versions(), "command": sys.argv,
    })  # fmt: skip
    rate = f"{done / seconds:.2f} images/s" if done and seconds > 0 else "nothing to do"
    print(f"{len(ordered)} of {len(items)} images explained ({maps} maps); {done} in this run, "
          f"{seconds:.1f} s ({rate}) -> {summary}")  # fmt: skip
    if failures:
        images = sum(1 for f in failures if not f.method)
        parts = [_count(images, "image") + " could not be read"] if images else []
        if len(failures) > images:
            parts.append(_count(len(failures) - images, "map") + " failed")
        _say(f"warning: {' and '.join(parts)}; see {failed}")
    if interrupted:
        _say(f"interrupted: {len(ordered)} of {len(items)} images complete; run the same "
             f"command with --resume to finish")  # fmt: skip
        return INTERRUPTED
    if crashed:
        _say(f"error: {crashed}")
        return 1
    if maps == 0:
        _say(f"error: nothing could be explained; see {failed}")
        return 1
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """The command line's entry point.

    Args:
        argv: The arguments (default ``sys.argv[1:]``).

    Returns:
        The exit code (argparse exits with 2 itself on bad arguments).
    """
    args = build_parser().parse_args(argv)
    if args.command == "methods":
        print(describe_methods())
        return 0
    if args.command == "models":
        print(describe_models())
        return 0
    if args.command == "layers":
        parser = build_parser()
        source = model_source(args, parser)
        job = Job(args.model, (), {}, model_file=source)
        try:
            model = job_model(job)
        except ModelUnavailable as err:
            _say(f"error: {err}")
            return 1
        except ModelFileError as err:
            parser.error(f"--model {args.model}: {err}")
        layers = list(reversed(list(input_shape_for(model).channels)))
        default = model.target_layer or (layers[0] if layers else "")
        print("\n".join(f"{n}{'  (default)' if n == default else ''}" for n in layers))
        return 0
    # --threads for the local engine: this process's torch threads, for this job only
    threads = args.threads if args.engine == "local" else None
    try:
        with torch_threads(threads) if threads else contextlib.nullcontext():
            return explain_command(args, args.command_parser)
    except KeyboardInterrupt:  # before the images started (loading, exporting)
        _say("interrupted: nothing was written")
        return INTERRUPTED
