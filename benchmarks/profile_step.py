"""Where a training step's time goes: torch.profiler over a few steps, by operator.

    python benchmarks/profile_step.py                    # VAE/GAN, 32x32x1, paper widths, batch 64
    python benchmarks/profile_step.py --size 64 --channels 3 --shapes   # per input shape

Random inputs, equilibrium gating off (every network does its full work), after two untimed steps;
channels_last as `vaegan train` (--no-channels-last: NCHW).
"""

from __future__ import annotations

import argparse

import torch
from torch.profiler import ProfilerActivity, profile

from vaegan.config import LossConfig, ModelConfig, OptimConfig
from vaegan.models import VAEGAN
from vaegan.optim import make_optimizers
from vaegan.precision import Precision
from vaegan.step import train_step


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--variant", default="vaegan")
    p.add_argument("--size", type=int, default=32)
    p.add_argument("--channels", type=int, default=1)
    p.add_argument("--width", type=float, default=1.0)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--precision", default="fp32", choices=("fp32", "bf16", "fp16", "auto"))
    p.add_argument("--steps", type=int, default=2)
    p.add_argument("--rows", type=int, default=25)
    p.add_argument("--shapes", action="store_true", help="group the table by input shapes")
    p.add_argument("--channels-last", action=argparse.BooleanOptionalAction, default=True)
    args = p.parse_args()
    torch.manual_seed(0)
    cfg = ModelConfig(
        variant=args.variant, image_size=args.size, channels=args.channels, width=args.width
    )
    model = VAEGAN(cfg)
    optimizers = make_optimizers(model, OptimConfig())
    x = torch.rand(args.batch_size, args.channels, args.size, args.size) * 2 - 1
    if args.channels_last:
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    loss, precision = LossConfig(margin=None), Precision(args.precision, "cpu")
    for _ in range(2):
        train_step(model, optimizers, x, loss, precision=precision)
    with profile(activities=[ProfilerActivity.CPU], record_shapes=args.shapes) as prof:
        for _ in range(args.steps):
            train_step(model, optimizers, x, loss, precision=precision)
    table = prof.key_averages(group_by_input_shape=args.shapes)
    print(table.table(sort_by="self_cpu_time_total", row_limit=args.rows))


if __name__ == "__main__":
    main()
