"""Benchmark: one recorded training step of the perceptron playground.

Target (issue 6): one training step plus all recorded statistics for a 10-16-16-1 network
in at most 20 ms on the 2-core development machine.

Measured, on the same batches and the same network:

- ``Trainer.step``: forward layer by layer, one backward pass giving the parameter
  gradients and dLoss/d(pre)/d(post) of every neuron, the activation derivatives, the
  per-layer statistics, numpy copies of everything, the SGD update and the loss and
  accuracy on the whole training set. It runs on the playground's single-threaded worker
  (see ``core.common.run_single_threaded``), as in the app.
- A bare torch step (forward, ``loss.backward()``, ``SGD.step()``), no recording, once on
  the same single-threaded worker (the fair ratio) and once in the calling thread with
  torch's default thread count (what the trainer would cost without the worker).

Run: ``python bench/playground.py [--steps 300] [--batch 32]``
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import torch
from torch.nn import functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.timing import summary, timed
from core.common import run_single_threaded
from core.playground import MLP, NetSpec, Trainer, make_dataset

TARGET_MS = 20.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300, help="timed steps per variant")
    parser.add_argument("--batch", type=int, default=32, help="mini-batch size")
    args = parser.parse_args()

    data = make_dataset("regression", 400, seed=0, n_inputs=10, n_outputs=1)
    spec = NetSpec(10, (16, 16), 1, "tanh", "xavier")
    print(f"network {'-'.join(map(str, spec.widths))}, {spec.activation}, {spec.init}; "
          f"batch {args.batch}; {args.steps} timed steps; torch {torch.__version__}, "
          f"{torch.get_num_threads()} intra-op threads by default")  # fmt: skip

    trainer = Trainer(spec, data, lr=0.01, batch_size=args.batch, max_steps=10**9)
    trainer.run(20)  # warm-up
    recorded = timed(trainer.step, args.steps)
    # the same work in the calling thread, with torch's default threads (no worker)
    recorded_default = timed(trainer._step, args.steps)

    bare = MLP(spec, seed=0)
    optimizer = torch.optim.SGD(bare.parameters(), lr=0.01)
    generator = torch.Generator().manual_seed(1)

    def bare_step() -> None:
        idx = torch.randint(0, len(data.x), (args.batch,), generator=generator)
        optimizer.zero_grad()
        F.mse_loss(bare(data.x[idx]), data.y[idx]).backward()
        optimizer.step()

    def bare_steps_on_worker() -> list[float]:
        timed(bare_step, 20)
        return timed(bare_step, args.steps)

    bare_single = run_single_threaded(bare_steps_on_worker)
    timed(bare_step, 20)
    bare_default = timed(bare_step, args.steps)

    recorded_ms = statistics.median(recorded)
    print(f"recorded step (Trainer.step, 1 thread)   {summary(recorded)}")
    print(f"recorded step (default threads)          {summary(recorded_default)}")
    print(f"bare torch step (1 thread)               {summary(bare_single)}")
    print(f"bare torch step (default threads)        {summary(bare_default)}")
    single_ratio = recorded_ms / statistics.median(bare_single)
    print(f"ratio recorded / bare (both 1 thread): {single_ratio:.1f}x")
    print(f"ratio recorded (1 thread) / bare (default threads): "
          f"{recorded_ms / statistics.median(bare_default):.2f}x")  # fmt: skip
    verdict = "PASS" if recorded_ms <= TARGET_MS else "FAIL"
    print(f"target: median recorded step <= {TARGET_MS:.0f} ms: {verdict} ({recorded_ms:.2f} ms)")


if __name__ == "__main__":
    main()
