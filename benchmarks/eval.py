"""Images/s of feature extraction for the evaluation metrics.

    python benchmarks/eval.py --evaluator evaluators/fashion-mnist --n 10000
    python benchmarks/eval.py --extractor inception --n 128 --batch-size 64
    python benchmarks/eval.py --device cuda --batch-size 1000

Reports min/median/max over repeated passes of n 32x32x1 images through the domain evaluator's
feature layer (`vaegan train-evaluator` makes one; without --evaluator a randomly initialised one of
the same shape is used: the cost is the same), or through Inception (resize to 299 included).
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from vaegan.devices import resolve_device
from vaegan.judge import Evaluator, EvaluatorConfig, load_evaluator
from vaegan.metrics import extract_features
from vaegan.metrics.inception import InceptionFeatures


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--extractor", choices=("domain", "inception"), default="domain")
    p.add_argument("--evaluator", help="evaluator folder (default: random weights, same shape)")
    p.add_argument("--n", type=int, default=10_000)
    p.add_argument("--batch-size", type=int, default=500)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--device", default="cpu")
    args = p.parse_args()
    device = resolve_device(args.device)
    if args.extractor == "inception":
        extractor = InceptionFeatures().to(device)
    elif args.evaluator:
        extractor = load_evaluator(args.evaluator, device)[0]
    else:
        cfg = EvaluatorConfig("fashion-mnist", 32, 1, "classes", tuple(str(i) for i in range(10)))
        extractor = Evaluator(cfg).to(device).eval()
    extract = extractor if args.extractor == "inception" else extractor.features
    images = torch.rand(args.batch_size, 1, 32, 32, device=device) * 2 - 1

    def batches():
        for i in range(0, args.n, args.batch_size):
            yield images[: min(args.batch_size, args.n - i)]

    extract_features(extract, batches(), args.n)  # warm-up
    rates = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        extract_features(extract, batches(), args.n)  # ends with a copy to the host
        rates.append(args.n / (time.perf_counter() - start))
    print(
        f"{args.extractor} features of 32x32x1 images, batch {args.batch_size}, "
        f"{device}, {torch.get_num_threads()} threads: {statistics.median(rates):.1f} images/s "
        f"(min {min(rates):.1f}, max {max(rates):.1f})"
    )


if __name__ == "__main__":
    main()
