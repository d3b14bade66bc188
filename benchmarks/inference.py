"""Images/s and latency of sampling (z ~ N(0, I) -> Dec) and encoding (Enc, z = mu).

    python benchmarks/inference.py                      # CPU, 32x32x1 and 64x64x3, paper widths
    python benchmarks/inference.py --batch-size 1 --repeats 50   # one image: the explorer's case
    python benchmarks/inference.py --device cuda --repeats 20

Eval mode (BatchNorm running statistics) under torch.inference_mode, as `vaegan sample` and
`vaegan reconstruct` run; median (min-max) over the repeats after one warm-up batch.
"""

from __future__ import annotations

import argparse
import statistics

import torch
from timing import seconds  # benchmarks/timing.py, beside this script

from vaegan.config import ModelConfig
from vaegan.devices import resolve_device
from vaegan.models import VAEGAN


def rate(fn, n: int, device: torch.device, repeats: int) -> tuple[float, float, float]:
    """Images/s: median, min, max over the repeats."""
    rates = [n / t for t in seconds(fn, device, repeats)]
    return statistics.median(rates), min(rates), max(rates)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--shapes", default="32x1,64x3")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--device", default="cpu")
    args = p.parse_args()
    device = resolve_device(args.device)
    print(
        "| image | sampling images/s | encoding images/s | sampling ms | encoding ms |  "
        f"({device}, {torch.get_num_threads()} threads, batch {args.batch_size})"
    )
    print("|---|---|---|---|---|")
    for shape in args.shapes.split(","):
        size, channels = map(int, shape.split("x"))
        model = VAEGAN(ModelConfig(image_size=size, channels=channels)).to(device).eval()
        x = torch.rand(args.batch_size, channels, size, size, device=device) * 2 - 1
        with torch.inference_mode():
            sample = rate(
                lambda m=model: m.sample(args.batch_size), args.batch_size, device, args.repeats
            )
            encode = rate(lambda m=model, x=x: m.encode(x), args.batch_size, device, args.repeats)
        cells = [f"{m:,.0f} ({lo:,.0f}-{hi:,.0f})" for m, lo, hi in (sample, encode)]
        cells += [f"{1e3 * args.batch_size / m:.2f}" for m, _, _ in (sample, encode)]  # per batch
        print(f"| {size}x{size}x{channels} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
