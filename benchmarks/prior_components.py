"""Domain FD of a trained run's samples for several fitted priors, without training again.

    python benchmarks/prior_components.py runs/quality/demo/vaegan --components 0,1,5,10,20

0 components means N(0, I) (the paper's prior). Each K refits the mixture (vaegan.prior) to the
run's training codes with the run's own weights (its moving averages where it keeps them) and
scores --n samples against the first --n test images (domain features, as `vaegan evaluate`), with
the time the fit took.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from vaegan.checkpoint import load_model
from vaegan.data import load_run_data
from vaegan.judge import default_evaluator
from vaegan.metrics.quality import domain_names, domain_quality
from vaegan.prior import fit_prior, with_prior


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("run", type=Path)
    p.add_argument("--components", default="0,1,5,10,20")
    p.add_argument("--n", type=int, default=10_000)
    args = p.parse_args()
    trained, cfg = load_model(args.run)
    test = load_run_data(cfg, "test").images[: args.n]
    train = load_run_data(cfg, cfg.data.split).images
    quality = domain_quality(default_evaluator(cfg.data.name), cfg.data.name, test)
    print(f"{args.run} (step of its checkpoint), domain features, n = {args.n}")
    print("| prior | fit seconds | FD | precision | recall |")
    print("|---|---|---|---|---|")
    for k in map(int, args.components.split(",")):
        model = with_prior(trained, "fitted", k) if k else with_prior(trained, "standard")
        start = time.perf_counter()
        if k:
            fit_prior(model, train)
        seconds = time.perf_counter() - start
        d = domain_names(quality(model))
        name = f"mixture of {k}" if k else "N(0, I)"
        cells = [
            name,
            f"{seconds:.1f}",
            f"{d['fd']:.2f}",
            f"{d['precision']:.3f}",
            f"{d['recall']:.3f}",
        ]
        print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
