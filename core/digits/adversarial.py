"""Adversarial examples: the fast gradient sign method (FGSM, through Captum) and
DeepFool (by hand), with the network's answers before and after.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from core.common.single_thread import single_threaded
from core.digits.data import NUM_CLASSES
from core.digits.net import classify
from core.digits.preprocess import as_batch


@dataclass(frozen=True)
class AdversarialExample:
    """An input, a perturbation and the network's answers on both.

    Attributes:
        original: ``(28, 28)`` the input x.
        perturbation: ``(28, 28)`` r = adversarial - original.
        adversarial: ``(28, 28)`` x + r.
        original_probs: ``(10,)`` probabilities on x.
        adversarial_probs: ``(10,)`` probabilities on x + r.
        iterations: Gradient steps taken (1 for FGSM).
    """

    original: np.ndarray
    perturbation: np.ndarray
    adversarial: np.ndarray
    original_probs: np.ndarray
    adversarial_probs: np.ndarray
    iterations: int = 1

    @property
    def original_class(self) -> int:
        return int(self.original_probs.argmax())

    @property
    def adversarial_class(self) -> int:
        return int(self.adversarial_probs.argmax())

    @property
    def fooled(self) -> bool:
        """The predicted class changed."""
        return self.adversarial_class != self.original_class

    @property
    def l2(self) -> float:
        """Euclidean size of r."""
        return float(np.linalg.norm(self.perturbation))

    @property
    def linf(self) -> float:
        """Largest pixel change in r."""
        return float(np.abs(self.perturbation).max())


def _example(
    net: nn.Module, x: torch.Tensor, adversarial: torch.Tensor, iterations: int
) -> AdversarialExample:
    original, perturbed = x.detach()[0, 0].numpy(), adversarial.detach()[0, 0].numpy()
    return AdversarialExample(
        original=original,
        perturbation=perturbed - original,
        adversarial=perturbed,
        original_probs=classify(original, net),
        adversarial_probs=classify(perturbed, net),
        iterations=iterations,
    )


@single_threaded
def fgsm(
    net: nn.Module, digit: np.ndarray, epsilon: float, label: int | None = None
) -> AdversarialExample:
    """Fast gradient sign method: x + epsilon * sign(grad of the loss), clipped to [0, 1].

    Goodfellow et al. 2014, https://arxiv.org/abs/1412.6572. Uses Captum's
    ``captum.robust.FGSM`` (untargeted, cross-entropy loss of the logits; as in Captum,
    pixels whose gradient is below 1e-6 in size are left alone).

    Args:
        net: The digit network (not modified).
        digit: ``(28, 28)`` preprocessed digit.
        epsilon: L-inf size of the step, in pixel units (0 returns x unchanged).
        label: The class to move away from (default: the predicted class).

    Returns:
        The :class:`AdversarialExample`.
    """
    from captum.robust import FGSM

    x = as_batch(digit)  # (1, 1, 28, 28)
    label = int(classify(digit, net).argmax()) if label is None else label
    # Captum's default loss is -log(output), meant for probabilities; ours are logits.
    loss = nn.CrossEntropyLoss(reduction="none")
    attack = FGSM(net, loss_func=loss, lower_bound=0.0, upper_bound=1.0)
    with torch.enable_grad():
        adversarial = attack.perturb(
            x.requires_grad_(True), epsilon=epsilon, target=torch.tensor([label])
        )
    return _example(net, x, adversarial, 1)


@single_threaded
def deepfool(
    net: nn.Module, digit: np.ndarray, overshoot: float = 0.02, max_iterations: int = 50
) -> AdversarialExample:
    """DeepFool: the smallest (to first order) L2 step across the nearest decision boundary.

    Moosavi-Dezfooli, Fawzi and Frossard 2016, https://arxiv.org/abs/1511.04599,
    Algorithm 2 (multi-class). Each iteration linearises the logits around the current
    point, finds the class k whose boundary is nearest,
    ``|f_k - f_orig| / ||grad f_k - grad f_orig||``, and steps just past it; the total
    step is scaled by ``1 + overshoot``. Images are kept in [0, 1] after every step.

    Written by hand: Captum has no DeepFool, and the libraries that have one
    (foolbox, torchattacks, ART) are not dependencies of this project.

    Args:
        net: The digit network (not modified).
        digit: ``(28, 28)`` preprocessed digit.
        overshoot: How far past the boundary to go (the paper uses 0.02).
        max_iterations: Give up after this many linearisation steps.

    Returns:
        The :class:`AdversarialExample` (``fooled`` is False if it gave up).
    """
    x = as_batch(digit)  # (1, 1, 28, 28)
    original_class = int(classify(digit, net).argmax())
    total = torch.zeros_like(x)  # accumulated r before overshoot
    adversarial = x.clone()
    iterations = 0
    with torch.enable_grad():
        for iterations in range(1, max_iterations + 1):
            # All ten gradients in one pass: a batch of ten copies, copy k -> logit k.
            copies = adversarial.repeat(NUM_CLASSES, 1, 1, 1).requires_grad_(True)
            all_logits = net(copies)  # (10, 10)
            logits = all_logits[0].detach()  # (10,)
            if int(logits.argmax()) != original_class:
                iterations -= 1
                break
            own = all_logits[torch.arange(NUM_CLASSES), torch.arange(NUM_CLASSES)].sum()
            (grads,) = torch.autograd.grad(own, copies)  # (10, 1, 28, 28): row k = d logit_k
            others = [k for k in range(NUM_CLASSES) if k != original_class]
            w = grads[others] - grads[original_class]  # (9, 1, 28, 28)
            f = logits[others] - logits[original_class]  # (9,)
            w_norm = w.flatten(1).norm(dim=1) + 1e-8  # (9,)
            distance = f.abs() / w_norm
            nearest = int(distance.argmin())
            # Step just onto the linearised boundary (+1e-4 to cross it).
            step = (distance[nearest] + 1e-4) * w[nearest : nearest + 1] / w_norm[nearest]
            total = total + step
            adversarial = (x + (1 + overshoot) * total).clamp(0, 1).detach()
    return _example(net, x, adversarial, iterations)
