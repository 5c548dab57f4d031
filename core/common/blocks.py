"""A network's blocks: the units a person reads it in (a ResNet's ``layer1``, an
EfficientNet's ``blocks.5``), not its 135 leaf layers.

The sanity check randomises the network block by block (its cascade) and the pages list
block outputs first (a BatchNorm in the middle of a block is no place to start,
issue 25); both split a network the same way, here.
"""

from __future__ import annotations

from torch import nn

SPLIT_AT = 3  # a Sequential / ModuleList child with this many parameterised blocks is split

# Layers that only rescale or switch each value: their output belongs to the block
# before them (a conv, its batch norm and its ReLU are one block).
_ELEMENTWISE = (
    nn.modules.batchnorm._BatchNorm,
    nn.GroupNorm,
    nn.LayerNorm,
    nn.modules.dropout._DropoutNd,
    nn.Identity,
)


def has_parameters(module: nn.Module) -> bool:
    """Whether the module or any of its children has a parameter."""
    return any(True for _ in module.parameters())


def network_units(net: nn.Module) -> list[tuple[str, nn.Module]]:
    """The network's top-level children, with a container of many blocks split.

    A ``Sequential`` or ``ModuleList`` child holding at least :data:`SPLIT_AT` children
    with parameters is replaced by its children (EfficientNet-Lite0: ``stem``,
    ``blocks.0`` ... ``blocks.15``, ``head``, ...; ResNet: ``conv1``, ``bn1``, ``relu``,
    ``maxpool``, ``layer1`` ... ``fc``; a network that is one ``Sequential``: its layers).

    Args:
        net: Any network.

    Returns:
        ``(name, module)`` pairs in registration order.
    """
    if isinstance(net, nn.Sequential | nn.ModuleList):
        children = [(name, child) for name, child in net.named_children()]
        if sum(has_parameters(child) for _, child in children) >= SPLIT_AT:
            return children
    units: list[tuple[str, nn.Module]] = []
    for name, child in net.named_children():
        parts = list(child.named_children())
        split = sum(has_parameters(c) for _, c in parts) >= SPLIT_AT
        if isinstance(child, nn.Sequential | nn.ModuleList) and split:
            units.extend((f"{name}.{part}", c) for part, c in parts)
        else:
            units.append((name, child))
    return units


def _elementwise(module: nn.Module) -> bool:
    """A normalisation, an activation, a dropout or an identity (value by value)."""
    activation = type(module).__module__ == nn.modules.activation.__name__
    return activation or isinstance(module, _ELEMENTWISE)


def block_outputs(net: nn.Module) -> list[str]:
    """The modules whose outputs are the network's block outputs, in registration order.

    The units of :func:`network_units`, where a unit that only normalises or activates
    (batch norm, ReLU, dropout) joins the unit before it: ResNet's ``conv1``, ``bn1``,
    ``relu`` give one block whose output is ``relu``'s; VGG's ``features.0`` (conv) and
    ``features.1`` (ReLU) give ``features.1``.

    Args:
        net: Any network.

    Returns:
        Module names (as in ``named_modules()``); callers keep those with a feature map.
    """
    names: list[str] = []
    for name, module in network_units(net):
        if names and _elementwise(module):
            names[-1] = name
        else:
            names.append(name)
    return names
