"""A torch.export program (``.pt2``), read without unpickling anything beyond weights.

``torch.export.load`` unpickles parts of the archive with ``weights_only=False`` (the
sample inputs when the safe load fails, pickled weights and constants, custom and opaque
objects) and loads AOTInductor's compiled libraries: a crafted ``.pt2`` can run code.
So before torch sees the archive, :func:`check_archive` reads its table of contents and
configs and refuses it unless every member is one of:

- the archive's JSON and text files (the graph, configs, version, byte order),
- raw tensor bytes (weights and tensor constants stored without pickle),
- a pickle that ``torch.load(weights_only=True)`` accepts (pickled weights and tensor
  constants, the sample inputs).

A pickle the safe unpickler accepts refers only to torch's allow-listed rebuild
functions, so torch's own unpickler then runs nothing else. Custom or opaque objects,
compiled code, a legacy archive or any member not listed above is refused with the
reason. The program is then unflattened into its module tree (hooks on its layers work,
for CAM methods and the layer table).
"""

from __future__ import annotations

import io
import json
import logging
import zipfile
from fnmatch import fnmatch
from typing import Any

import torch
from torch import nn

from core.models.engine import first_line
from core.models.files import (
    HOW_TO_EXPORT,
    Found,
    ModelFileError,
    OneImageAtATime,
    Settings,
    check_input_shape,
)

log = logging.getLogger(__name__)

TEXT_MEMBERS = (
    "archive_format", "archive_version", "byteorder", ".data/version",
    ".data/serialization_id", "models/*.json", "data/weights/*_weights_config.json",
    "data/constants/*_constants_config.json", "extra/*",
)  # fmt: skip
PAYLOAD_FOLDERS = {"weights": "data/weights/", "constants": "data/constants/"}
TENSOR_CONSTANT = "tensor_"  # torch's prefix of tensor constants (others are objects)


def _refuse(file_name: str, why: str) -> ModelFileError:
    return ModelFileError(f"{file_name} is refused: {why}. {HOW_TO_EXPORT}")


def _safe_pickle(payload: bytes) -> str | None:
    """None when ``torch.load(weights_only=True)`` accepts the bytes, else its reason."""
    try:
        torch.load(io.BytesIO(payload), map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - UnpicklingError, RuntimeError, ...
        return first_line(err)
    return None


def check_archive(data: bytes, file_name: str) -> None:
    """Refuse a ``.pt2`` archive unless reading it unpickles nothing beyond weights.

    Args:
        data: The file's bytes.
        file_name: For messages.

    Raises:
        ModelFileError: not a zip archive, compiled code, custom objects, pickles the
            safe unpickler refuses, an old or unknown layout.
    """
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        names = [n for n in archive.namelist() if not n.endswith("/")]
    except (zipfile.BadZipFile, ValueError) as err:
        raise ModelFileError(f"{file_name} is not a readable .pt2 archive ({err})") from None
    roots = {name.split("/", 1)[0] for name in names}
    if len(roots) != 1 or any("/" not in name for name in names):
        raise ModelFileError(f"{file_name} is not a torch.export archive (no archive folder)")
    root = roots.pop() + "/"
    members = {name[len(root) :]: name for name in names}
    if any(m.startswith("data/aotinductor/") for m in members):
        raise _refuse(file_name, "it holds compiled native code (AOTInductor), which would run")
    if "archive_format" not in members:
        raise _refuse(file_name, "it is not a torch.export archive of this torch's format")
    raw: set[str] = set()
    pickled = {m for m in members if m.startswith("data/sample_inputs/")}
    try:
        for kind, folder in PAYLOAD_FOLDERS.items():
            for member in [m for m in members if fnmatch(m, f"{folder}*_{kind}_config.json")]:
                config = json.loads(archive.read(members[member]))["config"]
                for fqn, meta in config.items():
                    path = folder + str(meta["path_name"])
                    if kind == "constants" and not str(meta["path_name"]).startswith(
                        TENSOR_CONSTANT
                    ):
                        raise _refuse(
                            file_name, f"its constant {fqn} is a pickled object, not a tensor"
                        )
                    (pickled if meta.get("use_pickle") else raw).add(path)
    except (KeyError, TypeError, ValueError) as err:
        raise ModelFileError(f"{file_name}: its payload configs cannot be read ({err})") from None
    for member in members:
        known = member in raw or member in pickled
        if not known and not any(fnmatch(member, pattern) for pattern in TEXT_MEMBERS):
            raise _refuse(file_name, f"it holds an unexpected file ({member})")
    for member in sorted(pickled):
        if member not in members:
            raise ModelFileError(f"{file_name}: {member} is listed but missing")
        reason = _safe_pickle(archive.read(members[member]))
        if reason is not None:
            raise _refuse(file_name, f"{member} needs more than weights to unpickle ({reason})")


def _training_ops(program: Any) -> list[str]:
    """Operators that behave as in training (batch statistics, dropout)."""
    found = []
    for node in program.graph.nodes:
        target = str(node.target)
        if node.op != "call_function":
            continue
        if "batch_norm" in target and len(node.args) > 5 and node.args[5] is True:
            found.append("batch norm in training mode")
        if "dropout" in target and len(node.args) > 2 and node.args[2] is True:
            found.append("dropout in training mode")
    return sorted(set(found))


def _shape(value: Any) -> tuple[int | None, ...]:
    """A placeholder's shape: ints where fixed, None where symbolic."""
    return tuple(int(d) if isinstance(d, int) else None for d in value.shape)


def _interpret(net: nn.Module, on: bool) -> None:
    for module in net.modules():
        if hasattr(module, "_run_with_interpreter"):
            setattr(module, "_run_with_interpreter", on)  # noqa: B010 - unflatten's own flag


def _prepare_unflattened(net: nn.Module, example: Any) -> None:
    """Make a freshly unflattened program (not shared yet) fit for the app.

    The graph nodes' tracing metadata is dropped: the module runs without it, and its
    fake tensors with symbolic sizes make the module impossible to copy (the attribution
    code's private copies). Each sub-module then runs its generated code rather than
    torch.fx's interpreter (the same operations, about twice as fast on the methods with
    many passes, and errors keep their own message) when that gives the interpreter's
    logits on the program's own example input; otherwise (a module called twice, as a
    ResNet block's ReLU, needs the interpreter) the interpreter stays.
    """
    for module in net.modules():
        graph = getattr(module, "graph", None)
        for node in getattr(graph, "nodes", ()):
            node.meta = {}
    if not isinstance(example, torch.Tensor):
        return
    with torch.inference_mode():
        expected = net(example)
        _interpret(net, False)
        try:
            same = torch.equal(net(example), expected)
        except Exception:  # noqa: BLE001 - the generated code cannot run it: interpret
            same = False
    if not same:
        _interpret(net, True)


def load_pt2(data: bytes, file_name: str, settings: Settings) -> Found:
    """Read a torch.export program (after :func:`check_archive`).

    Args:
        data: The file's bytes.
        file_name: For messages.
        settings: The user's settings (checked against the program's input).

    Raises:
        ModelFileError: refused archive, unreadable program, not one image input and one
            output, a batch fixed above 1, a program exported in training mode.
    """
    check_archive(data, file_name)
    try:
        program = torch.export.load(io.BytesIO(data))
    except Exception as err:  # noqa: BLE001 - the deserializer raises many types
        raise ModelFileError(
            f"{file_name} cannot be read by this torch ({torch.__version__}): "
            f"{first_line(err)}. Export it again with this version."
        ) from None
    signature = program.graph_signature
    inputs = list(signature.user_inputs)
    if len(inputs) != 1:
        raise ModelFileError(
            f"the program takes {len(inputs)} inputs ({', '.join(map(str, inputs))}); a "
            "classifier for this app takes one image tensor (batch, channels, height, width)"
        )
    if len(signature.user_outputs) != 1:
        raise ModelFileError(
            f"the program returns {len(signature.user_outputs)} outputs; a classifier for "
            "this app returns one tensor of logits (1, classes)"
        )
    training = _training_ops(program)
    if training or signature.buffers_to_mutate:
        what = ", ".join(training) or "it updates its buffers when it runs"
        raise ModelFileError(
            f"the program was exported in training mode ({what}): call model.eval() "
            "before torch.export.export"
        )
    placeholder = next(
        n for n in program.graph.nodes if n.op == "placeholder" and n.name == inputs[0]
    )
    value = placeholder.meta.get("val")
    shape = _shape(value) if isinstance(value, torch.Tensor) else ()
    fixed = check_input_shape(shape, "program", settings)
    notes = []
    try:
        net: nn.Module = torch.export.unflatten(program)
        example = (program.example_inputs or ((),))[0]
        _prepare_unflattened(net, example[0] if example else None)
    except Exception as err:  # noqa: BLE001 - then the flat module, without named layers
        log.warning("%s: unflatten failed (%s); using the flat module", file_name, err)
        net = program.module()
        notes.append("its layers could not be named (torch.export.unflatten failed)")
    if fixed.one_at_a_time:
        net = OneImageAtATime(net)
        notes.append("exported for batches of one image: batched methods run image by image")
    return Found(net=net, channels=fixed.channels, input_size=fixed.size, notes=tuple(notes))
