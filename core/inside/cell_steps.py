"""The arithmetic of one feature-map cell, one operation at a time.

Each function takes the numbers an operation read (the window of its input, its
kernel, its batch-norm statistics, ...) and recomputes its result in float64, keeping
every intermediate number (products, partial sums, the normalised value) so a page can
show them, next to the value the network itself computed (float32). The formulas are
PyTorch's (``torch.nn.Conv2d``, ``BatchNorm2d``, ``MaxPool2d``, ``AvgPool2d``, the
activations' documentation); :mod:`core.inside.cell` reads the numbers from a real
forward pass and calls these.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

Cell = tuple[int, int, int]  # (channel, row, column) of a (1, C, H, W) tensor


def number(value: float, digits: int = 4) -> str:
    """A value with ``digits`` significant digits, as the page prints every number."""
    if value == 0:
        return "0"
    return f"{value:.{digits}g}"


@dataclass(frozen=True)
class Site:
    """Where an operation ran.

    Attributes:
        op: The torch function, e.g. ``"conv2d"``, ``"add_"``.
        layer: The module whose output it is (``""``: made inside a module's code).
        layer_type: That module's class, e.g. ``"Conv2d"``.
        cell: The cell of the operation's output this step explains.
        where: For the page: ``"conv1 (Conv2d)"``, or for an operation written in a
            module's code, ``"the code of layer1.0 (BasicBlock)"``.
    """

    op: str
    layer: str
    layer_type: str
    cell: Cell
    where: str = ""


@dataclass(frozen=True)
class Step:
    """One operation on the way to a cell's value.

    Attributes:
        kind: ``"convolution"``, ``"batch norm"``, ``"activation"``, ``"max pool"``,
            ``"average pool"``, ``"padding"``, ``"sum"``, ``"difference"``,
            ``"product"``, ``"concatenation"``, ``"copy"`` or ``"not covered"``.
        site: Where it ran.
        value: The result recomputed here in float64; None when not covered.
        network: The result the network computed (float32), at the same cell.
        formula: The arithmetic with the numbers filled in.
    """

    kind: str
    site: Site
    value: float | None
    network: float
    formula: str


@dataclass(frozen=True)
class Window:
    """The input numbers a window operation (convolution, pooling) reads for one cell.

    Attributes:
        source: What the input is, e.g. ``"blocks.4 (MBConvBlock)"``.
        channels: ``(K,)`` input channels read.
        rows: ``(kh,)`` input row of each window row (outside ``[0, height)``: padding).
        cols: ``(kw,)`` input column of each window column.
        values: ``(K, kh, kw)`` float64; 0 where the window is on zero padding, NaN
            where it is on padding a pooling ignores.
        padding: ``(kh, kw)`` True where the window lies outside the input.
        size: ``(height, width)`` of the input.
    """

    source: str
    channels: np.ndarray
    rows: np.ndarray
    cols: np.ndarray
    values: np.ndarray
    padding: np.ndarray
    size: tuple[int, int]


@dataclass(frozen=True)
class ConvolutionStep(Step):
    """``sum(window * kernel) + bias`` (cross-correlation, as ``nn.Conv2d`` computes).

    Attributes:
        window: The input numbers (the channels of this output channel's group).
        weights: ``(K, kh, kw)`` the kernel of the output channel.
        products: ``(K, kh, kw)`` window × weights.
        partial_sums: ``(K,)`` the products summed per input channel.
        total: The sum of every product.
        bias: The bias, or None (a convolution without bias).
        weight_name: The kernel's parameter, e.g. ``"conv1.weight[5]"``.
        groups: The convolution's groups (``C_in`` for a depthwise one).
        stride: ``(sh, sw)``. dilation: ``(dh, dw)``.
    """

    window: Window
    weights: np.ndarray
    products: np.ndarray
    partial_sums: np.ndarray
    total: float
    bias: float | None
    weight_name: str
    groups: int
    stride: tuple[int, int]
    dilation: tuple[int, int]


def convolution_step(
    site: Site,
    window: Window,
    weights: np.ndarray,
    bias: float | None,
    network: float,
    weight_name: str = "",
    groups: int = 1,
    stride: tuple[int, int] = (1, 1),
    dilation: tuple[int, int] = (1, 1),
) -> ConvolutionStep:
    """One output cell of a convolution: the products, their sum, plus the bias.

    Args:
        site: Where it ran.
        window: The input numbers ``(K, kh, kw)`` (padding as 0).
        weights: ``(K, kh, kw)`` the output channel's kernel.
        bias: The output channel's bias, or None.
        network: The network's value of this cell.
        weight_name, groups, stride, dilation: For the page.

    Returns:
        The :class:`ConvolutionStep`.
    """
    products = window.values * weights  # (K, kh, kw)
    partial = products.sum((1, 2))  # (K,)
    total = float(products.sum())
    value = total + (bias or 0.0)
    count = products.size
    channels = f"{len(partial)} channel{'s' if len(partial) != 1 else ''} × "
    size = f"{products.shape[1]} × {products.shape[2]}"
    formula = f"sum of {count} products ({channels}{size}) = {number(total)}"
    if bias is not None:
        formula += f"; + bias {number(bias)} = {number(value)}"
    return ConvolutionStep(
        "convolution", site, value, network, formula, window, weights, products, partial,
        total, bias, weight_name, groups, stride, dilation,
    )  # fmt: skip


@dataclass(frozen=True)
class BatchNormStep(Step):
    """``(x - mean) / sqrt(var + eps) * gamma + beta`` with the running statistics.

    Attributes:
        x: The input value. mean, var: Running mean and variance of the channel.
        eps: Added to the variance. gamma, beta: The learned scale and shift.
        normalised: ``(x - mean) / sqrt(var + eps)``.
    """

    x: float
    mean: float
    var: float
    eps: float
    gamma: float
    beta: float
    normalised: float


def batch_norm_step(
    site: Site, x: float, mean: float, var: float, eps: float, gamma: float, beta: float,
    network: float,
) -> BatchNormStep:  # fmt: skip
    """An eval-mode batch norm of one value (Ioffe & Szegedy 2015,
    https://arxiv.org/abs/1502.03167), with its running statistics."""
    normalised = (x - mean) / math.sqrt(var + eps)
    value = normalised * gamma + beta
    formula = (
        f"({number(x)} - {number(mean)}) / √({number(var)} + {number(eps)}) = "
        f"{number(normalised)}; {number(normalised)} × {number(gamma)} + {number(beta)} = "
        f"{number(value)}"
    )
    return BatchNormStep(
        "batch norm", site, value, network, formula, x, mean, var, eps, gamma, beta, normalised
    )


@dataclass(frozen=True)
class Activation:
    """An activation function: its name, its formula in x, and the function."""

    title: str
    formula: str
    function: Callable[[float], float]


def _sigmoid(v: float) -> float:
    return 1 / (1 + math.exp(-v)) if v >= 0 else math.exp(v) / (1 + math.exp(v))


def activation(op: str, options: dict[str, float | str]) -> Activation | None:
    """The activation a torch function computes, with its options (e.g. ReLU6 is
    ``hardtanh`` with min 0 and max 6); None for a function that is no activation.

    Args:
        op: The torch function's name (``"relu"``, ``"hardtanh"``, ``"silu"``, ...).
        options: Its keyword options (``min_val``, ``negative_slope``, ``approximate``).
    """
    name = op.removesuffix("_")
    low, high = float(options.get("min_val", -1.0)), float(options.get("max_val", 1.0))
    slope = float(options.get("negative_slope", 0.01))
    alpha = float(options.get("alpha", 1.0))
    table: dict[str, Activation] = {
        "relu": Activation("ReLU", "max(0, x)", lambda v: max(0.0, v)),
        "relu6": Activation("ReLU6", "min(max(0, x), 6)", lambda v: min(max(0.0, v), 6.0)),
        "hardtanh": Activation(
            "ReLU6" if (low, high) == (0.0, 6.0) else "Hardtanh",
            f"min(max({number(low)}, x), {number(high)})",
            lambda v: min(max(low, v), high),
        ),
        "leaky_relu": Activation(
            "Leaky ReLU",
            f"x if x > 0, else {number(slope)} · x",
            lambda v: v if v > 0 else slope * v,
        ),
        "elu": Activation(
            "ELU",
            f"x if x > 0, else {number(alpha)} (e^x - 1)",
            lambda v: v if v > 0 else alpha * math.expm1(v),
        ),  # fmt: skip
        "sigmoid": Activation("Sigmoid", "1 / (1 + e^-x)", _sigmoid),
        "tanh": Activation("Tanh", "tanh(x)", math.tanh),
        "silu": Activation("SiLU (swish)", "x / (1 + e^-x)", lambda v: v * _sigmoid(v)),
        "hardswish": Activation(
            "Hardswish",
            "x · min(max(x + 3, 0), 6) / 6",
            lambda v: v * min(max(v + 3, 0.0), 6.0) / 6,
        ),
        "hardsigmoid": Activation(
            "Hardsigmoid", "min(max(x + 3, 0), 6) / 6", lambda v: min(max(v + 3, 0.0), 6.0) / 6
        ),
    }
    if name == "gelu":
        if options.get("approximate", "none") == "tanh":
            inner = math.sqrt(2 / math.pi)
            return Activation(
                "GELU (tanh)", "x/2 · (1 + tanh(√(2/π) · (x + 0.044715 x³)))",
                lambda v: 0.5 * v * (1 + math.tanh(inner * (v + 0.044715 * v**3))),
            )  # fmt: skip
        return Activation(
            "GELU",
            "x/2 (1 + erf(x / sqrt 2))",
            lambda v: 0.5 * v * (1 + math.erf(v / math.sqrt(2))),
        )
    return table.get(name)


@dataclass(frozen=True)
class ActivationStep(Step):
    """An activation function of one value.

    Attributes:
        function: Its name, e.g. ``"ReLU6"``. x: The input value.
    """

    function: str
    x: float


def activation_step(site: Site, act: Activation, x: float, network: float) -> ActivationStep:
    """``act`` applied to ``x``."""
    value = act.function(x)
    formula = f"{act.title}: {act.formula} with x = {number(x)} gives {number(value)}"
    return ActivationStep("activation", site, value, network, formula, act.title, x)


@dataclass(frozen=True)
class PoolStep(Step):
    """A max or average over a window of one channel.

    Attributes:
        window: The window (``K = 1``); NaN where it lies on ignored padding.
        divisor: The average's divisor (1 for a max).
        chosen: ``(i, j)`` in the window of the maximum (None for an average).
    """

    window: Window
    divisor: float
    chosen: tuple[int, int] | None


def max_pool_step(site: Site, window: Window, network: float) -> PoolStep:
    """The largest value of the window (padding ignored, as ``nn.MaxPool2d`` does)."""
    values = np.where(window.padding[None], -np.inf, window.values)[0]  # (kh, kw)
    i, j = np.unravel_index(int(np.argmax(values)), values.shape)
    value = float(values[i, j])
    count = int((~window.padding).sum())
    row, col = int(window.rows[i]), int(window.cols[j])
    formula = f"max of {count} values = {number(value)} (row {row}, column {col})"
    return PoolStep("max pool", site, value, network, formula, window, 1.0, (int(i), int(j)))


def average_pool_step(site: Site, window: Window, divisor: float, network: float) -> PoolStep:
    """The window's sum divided by ``divisor`` (PyTorch's rule for padding and
    ``count_include_pad``, computed by the caller)."""
    total = float(np.nansum(np.where(window.padding[None], 0.0, window.values)))
    value = total / divisor
    formula = f"sum {number(total)} / {number(divisor)} = {number(value)}"
    return PoolStep("average pool", site, value, network, formula, window, divisor, None)


@dataclass(frozen=True)
class Operand:
    """One input of an element-wise sum, difference or product.

    Attributes:
        source: What it is, e.g. ``"blocks.5._bn2 (BatchNorm2d)"`` or ``"the number 3"``.
        value: Its value at the cell (after broadcasting).
        shape: Its shape (a ``(1, C, 1, 1)`` operand is one number per channel).
    """

    source: str
    value: float
    shape: tuple[int, ...]


@dataclass(frozen=True)
class CombineStep(Step):
    """An element-wise sum, difference or product of tensors (a residual addition, a
    squeeze-excitation gate), written in a module's code rather than a layer.

    Attributes:
        operands: The inputs, in call order.
        symbol: ``"+"``, ``"-"`` or ``"×"``.
        followed: Which operand the explanation follows further back (None: none).
    """

    operands: tuple[Operand, ...]
    symbol: str
    followed: int | None


def combine_step(
    site: Site, symbol: str, operands: tuple[Operand, ...], followed: int | None, network: float,
    alpha: float = 1.0,
) -> CombineStep:  # fmt: skip
    """``a + alpha b``, ``a - alpha b`` or ``a × b`` of two operands at one cell."""
    a, b = operands[0].value, operands[1].value
    if symbol == "+":
        value = a + alpha * b
    elif symbol == "-":
        value = a - alpha * b
    else:
        value = a * b
    scaled = f"{number(alpha)} × " if alpha != 1 else ""
    formula = f"{number(a)} {symbol} {scaled}{number(b)} = {number(value)}"
    kind = {"+": "sum", "-": "difference"}.get(symbol, "product")
    return CombineStep(kind, site, value, network, formula, operands, symbol, followed)


@dataclass(frozen=True)
class CopyStep(Step):
    """A value handed on unchanged: zero padding's inside, a concatenation, a copy.

    Attributes:
        source: Where the value comes from, e.g. ``"blocks.4 (MBConvBlock)"``.
        source_cell: Its cell there; None when the cell is padding (the value is the
            padding value).
    """

    source: str
    source_cell: Cell | None


def copy_step(
    kind: str, site: Site, source: str, source_cell: Cell | None, value: float, network: float
) -> CopyStep:
    """``kind`` ("padding", "concatenation", "copy"): the value of ``source_cell``."""
    if source_cell is None:
        formula = f"padding: the value {number(value)}"
    else:
        c, y, x = source_cell
        formula = f"{source} at channel {c}, row {y}, column {x}: {number(value)}"
    return CopyStep(kind, site, value, network, formula, source, source_cell)


def uncovered_step(site: Site, reason: str, network: float) -> Step:
    """An operation this explanation does not recompute, and why."""
    return Step("not covered", site, None, network, reason)
