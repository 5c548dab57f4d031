"""The job's image list: files, folders (recursive) and text files of paths.

Every image gets an output *key*, the folder of its outputs under ``OUT/maps/``: for an
image found in a folder argument, the folder's name and the path inside it
(``photos/sub/cat.jpg``); for an image named directly (or in a list), its file name.
A key depends only on how its own argument names the image, not on the other inputs,
so a rerun with ``--resume`` finds its outputs even when inputs were added. Two images
with the same key (``a/cat.jpg`` and ``b/cat.jpg`` named directly) both get a suffix
from a hash of their absolute path: keys are unique.
"""

from __future__ import annotations

import hashlib
import os
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from core.common import SUPPORTED_EXTENSIONS

LIST_SUFFIXES = (".txt", ".lst", ".list")  # a file of paths, one per line


@dataclass(frozen=True)
class Item:
    """One image of the job.

    Attributes:
        path: The path as the user named it (shown in the summary and failures).
        file: Its absolute path (what workers read, whatever their working folder).
        key: Its output folder under ``OUT/maps/``.
    """

    path: str
    file: str
    key: str


@dataclass(frozen=True)
class Failure:
    """Something that could not be explained, with the reason in plain words.

    Attributes:
        path: The image (or the path argument) concerned.
        method: The method that failed; empty when the whole image failed.
        error: The exception's type name.
        reason: What went wrong, for the user.
    """

    path: str
    method: str
    error: str
    reason: str


def is_image_name(name: str) -> bool:
    """True for the file names of the formats :func:`core.common.load_image` reads."""
    return name.rsplit(".", 1)[-1].lower() in SUPPORTED_EXTENSIONS and "." in name


def _walk(folder: Path, exclude: Path | None) -> list[Path]:
    """Image files under a folder, recursively, in sorted order; hidden files and
    folders and the ``exclude`` folder (the job's own output) are skipped."""
    found: list[Path] = []
    for root, folders, files in os.walk(folder):
        here = Path(root)
        folders[:] = sorted(
            name
            for name in folders
            if not name.startswith(".") and (exclude is None or (here / name).resolve() != exclude)
        )
        found.extend(
            here / name
            for name in sorted(files)
            if not name.startswith(".") and is_image_name(name)
        )
    return found


def _read_list(path: Path) -> list[str]:
    """The paths in a text file: one a line; blank lines and ``#`` comments skipped.

    Raises:
        OSError / UnicodeDecodeError: the file cannot be read as text.
    """
    lines = path.read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


def list_images(
    paths: Sequence[str], exclude: Path | None = None
) -> tuple[list[Item], list[Failure]]:
    """Expand the command line's paths into the job's images.

    Args:
        paths: Image files, folders (searched recursively for the supported image
            formats) and text files of paths (``.txt``, ``.lst``, ``.list``: one path a
            line, relative to the current folder as on the command line; a listed
            folder is searched too). A file with another extension is taken as an
            image, and reported if it is not one.
        exclude: A folder never searched (the job's output folder).

    Returns:
        The images, each once, in the order found; and the paths that do not exist or
        cannot be read (a list file).
    """
    exclude = exclude.resolve() if exclude is not None else None
    failures: list[Failure] = []
    found: list[tuple[str, Path, str]] = []  # (as named, file, key)

    def add(names: Iterable[str], from_list: bool) -> None:
        for name in names:
            path = Path(name).expanduser()
            if path.is_dir():
                top = path.resolve().name or "root"
                found.extend(
                    (str(p), p, f"{top}/{p.relative_to(path).as_posix()}")
                    for p in _walk(path, exclude)
                )
            elif path.suffix.lower() in LIST_SUFFIXES and path.is_file() and not from_list:
                try:
                    add(_read_list(path), from_list=True)
                except (OSError, UnicodeDecodeError) as err:
                    failures.append(Failure(name, "", type(err).__name__, f"cannot read: {err}"))
            elif path.is_file():
                found.append((name, path, path.name))
            else:
                failures.append(Failure(name, "", "FileNotFoundError", "no such file or folder"))

    add(paths, from_list=False)
    unique: dict[Path, tuple[str, str]] = {}
    for shown, path, key in found:
        unique.setdefault(path.resolve(), (shown, key))
    counts = Counter(key for _, key in unique.values())
    items = []
    for file, (shown, key) in unique.items():
        if counts[key] > 1:
            key += "~" + hashlib.sha256(str(file).encode()).hexdigest()[:8]
        items.append(Item(path=shown, file=str(file), key=key))
    return items, failures
