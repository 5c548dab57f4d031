"""Writing a job's outputs so that an interruption leaves complete files only.

Layout of ``OUT/``:

- ``maps/<key>/<method>.png``: each map over the picture the network sees.
- ``maps/<key>/maps.npz``: the raw maps (float32, one array per method), the picture
  (``input``, uint8) and the metric curves (``<method>.deletion``, ...).
- ``maps/<key>/record.json``: the image's rows, failures, hash and the job's settings;
  written last, so its presence means the image's outputs are complete.
- ``summary.csv`` (or ``summary.parquet``): a row per image x method.
- ``failures.csv``: what could not be explained, and why.
- ``job.json``: the settings and library versions.

Every file is written under a temporary name in its own folder, then renamed
(``os.replace`` is atomic on POSIX and Windows): a file either is complete or is not
there. ``--resume`` skips an image whose record matches the job's settings, the image's
size and time stamp, and whose files are all there.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

import pandas as pd

from core.cli.inputs import Failure, Item
from core.cli.job import ImageResult, Job, file_stamp

RECORD = "record.json"
FAILURE_COLUMNS = [f.name for f in fields(Failure)]
SUMMARY_FORMATS = ("csv", "parquet")


def atomic_write(path: Path, write: Callable[[Path], Any]) -> None:
    """Write a file through a temporary name in the same folder, then rename it.

    Args:
        path: The file.
        write: Writes the content to the path it is given.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    try:
        write(partial)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


def write_bytes(path: Path, data: bytes) -> None:
    """:func:`atomic_write` of bytes."""
    atomic_write(path, lambda partial: partial.write_bytes(data))


def image_folder(out: Path, item: Item) -> Path:
    """Where an image's outputs go."""
    return out / "maps" / item.key


def write_result(out: Path, result: ImageResult) -> None:
    """Write one image's files, then its record (the mark of completeness).

    Nothing is written for an image that failed as a whole.
    """
    if result.failure is not None:
        return
    folder = image_folder(out, result.item)
    (folder / RECORD).unlink(missing_ok=True)  # incomplete until the new record is in
    for stale in folder.glob(".*.partial"):  # left by a killed run
        stale.unlink(missing_ok=True)
    for name, data in result.files.items():
        write_bytes(folder / name, data)
    write_bytes(folder / RECORD, json.dumps(result.record, indent=1).encode())


def complete_record(out: Path, item: Item, job: Job) -> dict[str, Any] | None:
    """An image's earlier record, if its outputs are complete and current.

    Returns:
        The record when it exists, was made with the same settings, for the image as it
        is now (size and time stamp), without a failure worth retrying, and every file
        it lists exists; else None.
    """
    folder = image_folder(out, item)
    try:
        record: dict[str, Any] = json.loads((folder / RECORD).read_text())
        stamp = file_stamp(item.file)
    except (OSError, ValueError):
        return None
    current = (
        record.get("signature") == job.signature()
        and all(record.get(key) == value for key, value in stamp.items())
        and not record.get("retry", True)
        and all((folder / name).is_file() for name in record.get("files", ["?"]))
    )
    return record if current else None


def write_summary(out: Path, job: Job, records: Iterable[dict[str, Any]], fmt: str) -> Path:
    """The summary of the given records: a row per image x method.

    Args:
        out: The output folder.
        job: The settings (for the columns).
        records: Complete images' records, in job order.
        fmt: ``"csv"`` or ``"parquet"``.

    Returns:
        The summary's path.
    """
    rows = [row for record in records for row in record["rows"]]
    frame = pd.DataFrame(rows, columns=job.columns())
    path = out / f"summary.{fmt}"
    if fmt == "parquet":
        atomic_write(path, lambda partial: frame.to_parquet(partial, index=False))
    else:
        atomic_write(path, lambda partial: frame.to_csv(partial, index=False))
    return path


def write_failures(out: Path, failures: Iterable[Failure]) -> Path:
    """``failures.csv``: path, method (empty: the whole image), error type, reason."""
    frame = pd.DataFrame([asdict(f) for f in failures], columns=FAILURE_COLUMNS)
    path = out / "failures.csv"
    atomic_write(path, lambda partial: frame.to_csv(partial, index=False))
    return path


def write_job(out: Path, job: Job, details: dict[str, Any]) -> None:
    """``job.json``: the settings, plus what the run reports (engine, counts, versions)."""
    content = {"job": asdict(job), **details}
    write_bytes(out / "job.json", json.dumps(content, indent=1, default=str).encode())
