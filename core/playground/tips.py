"""Teaching text: what to look for with an initialisation, an activation, or the pair.

The text is data (one dict per kind of hint); :func:`what_to_try` picks the hints for
the network on the page, most specific first.
"""

from __future__ import annotations

INIT_TIPS: dict[str, str] = {
    "he": "Var(W) = 2/fan_in keeps the spread of ReLU activations about constant from layer "
    "to layer. Compare the per-layer activation spread with Xavier and LeCun.",
    "uniform": "Var(W) = 1/(3 fan_in) is a third of LeCun's: with tanh or ReLU the signal "
    "shrinks at every layer. Add hidden layers and watch the deeper distributions narrow.",
    "normal": "N(0, 1) ignores the fan-in: a unit with n inputs gets pre-activations about "
    "sqrt(n) times wider than its inputs. Change the widths and watch the spread follow.",
    "lecun": "Var(W) = 1/fan_in keeps the pre-activation variance close to the input "
    "variance for units that are linear near 0 (tanh). ReLU halves it at every layer.",
    "zero": "Every unit of a layer computes the same thing and gets the same gradient, so "
    "they stay identical for ever: select two neurons of one layer and compare them.",
    "xavier": "Var(W) = 2/(fan_in + fan_out) balances the forward signal and the backward "
    "gradient (Glorot & Bengio 2010); it was derived for units that are linear near 0.",
    "small": "Each layer multiplies the signal by about 0.01: activations collapse to f(0) "
    "and the gradient reaching the first layers vanishes. The loss barely moves at first.",
    "large": "Pre-activations are about 100x too wide: sigmoid and tanh saturate, ReLU-like "
    "units pass huge values on and the gradients explode. Try a much smaller learning rate.",
}

ACTIVATION_TIPS: dict[str, str] = {
    "sigmoid": "Sigmoid outputs are in (0, 1), never centred on 0, and its slope is at most "
    "0.25: the gradient shrinks at least 4x per layer even without saturation.",
    "tanh": "tanh is centred on 0 with slope 1 there; beyond |x| of about 2.3 its output is "
    "within 0.02 of -1 or 1 (saturated) and almost no gradient passes.",
    "relu": "ReLU passes the gradient where x > 0 and blocks it elsewhere; a unit that is "
    "negative on every example is dead (see '% dead') and cannot recover.",
    "leaky_relu": "Leaky ReLU keeps a slope of 0.01 for x < 0: no unit is ever completely "
    "dead, but the negative side passes very little gradient.",
    "prelu": "PReLU learns the negative slope of every unit (it starts at 0.25, He et al. "
    "2015): units cannot die and the network can choose how linear to be.",
    "elu": "ELU is smooth; below x of about -3.9 its output is within 0.02 of -1 (counted as "
    "saturated); for positive inputs it is the identity.",
    "swish": "Swish x sigmoid(x) is smooth and dips slightly below 0 (minimum about -0.28) "
    "before going back to 0 for very negative inputs.",
}

COMBINATION_TIPS: dict[tuple[str, str], str] = {
    ("large", "sigmoid"): "Almost every hidden output is within 0.02 of 0 or 1 (see "
    "'% saturated'). Most examples send back exactly zero gradient; the few that land near a "
    "unit's threshold send back huge ones, because the weights are 100x too large. The "
    "gradient distributions show the split; training is erratic.",
    ("large", "tanh"): "Almost every hidden output is within 0.02 of -1 or 1: the units act "
    "like sign functions. Most examples pass no gradient back, a few pass enormous ones.",
    ("large", "relu"): "The activations grow layer after layer and so do the gradients "
    "(exploding). With a learning rate of 0.1 the loss can jump or diverge; try 0.001.",
    ("zero", "relu"): "Every pre-activation is exactly 0 and ReLU's slope at 0 is 0: all "
    "hidden units are dead, the hidden weights never move and only the output bias learns.",
    ("zero", "tanh"): "tanh(0) = 0, so the output weights get no gradient and pass none "
    "back: the hidden weights stay 0 for ever; only the output bias learns.",
    ("zero", "sigmoid"): "sigmoid(0) = 0.5, so the output weights do learn, but every unit of "
    "a layer keeps exactly the same weights as its neighbours: one unit's worth of capacity.",
    ("xavier", "tanh"): "The textbook pair: each layer's pre-activations are as wide as the "
    "previous layer's activations, so the spread shrinks only slowly with depth (what "
    "tanh's curve takes away) and the gradient reaches the first layer at a similar size.",
    ("he", "relu"): "The textbook pair: the factor 2 makes up for ReLU zeroing half of its "
    "inputs, so on average activations neither shrink nor grow with depth.",
    ("normal", "sigmoid"): "Sigmoid saturates only beyond |x| of about 4, so it takes wide "
    "layers: with 32 inputs per unit, 20-50% of the outputs start within 0.02 of 0 or 1.",
    ("normal", "tanh"): "The wider the layers, the more outputs start within 0.02 of -1 or 1: "
    "about 10% with 8 inputs per unit, about two thirds with 32. Try widths of 32.",
    ("small", "relu"): "Activations shrink about 100x per layer, and so does the gradient "
    "reaching the weights: add a hidden layer and see the first layer stop learning.",
    ("small", "sigmoid"): "Every hidden output starts at about 0.5: the network is nearly "
    "constant and the first layer's weights get almost no gradient.",
    ("lecun", "relu"): "ReLU zeroes about half of every layer's inputs, so with LeCun's "
    "1/fan_in the activations shrink with depth; switch to He to compare.",
}


def what_to_try(init: str, activation: str) -> list[str]:
    """Short hints for one initialisation + activation pair, most specific first.

    Args:
        init: A key of :data:`INITS`.
        activation: A key of :data:`ACTIVATIONS`.

    Returns:
        The pair's own hint (when there is one), then the initialisation's and the
        activation's.
    """
    tips = [COMBINATION_TIPS.get((init, activation), ""), INIT_TIPS[init]]
    tips.append(ACTIVATION_TIPS[activation])
    return [tip for tip in tips if tip]
