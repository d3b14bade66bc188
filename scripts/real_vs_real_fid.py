"""The floor of Inception FID/KID at a given n: the first n training images against the first n
test images of a data set (docs/REPRODUCTION.md compares models at n = 1,000, where FID is biased).

    .venv/bin/python scripts/real_vs_real_fid.py [--data fashion-mnist] [--n 1000]
"""

import argparse
from pathlib import Path

import torch

from vaegan.config import RunConfig
from vaegan.data import load_run_data
from vaegan.images import to_model
from vaegan.metrics.distribution import distribution_distances, extract_features
from vaegan.metrics.inception import InceptionFeatures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--config",
        type=Path,
        default=Path("configs/fashion32.json"),
        help="a run config: its data set and image size",
    )
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--batch-size", type=int, default=50)
    args = parser.parse_args()
    cfg = RunConfig.load(args.config)
    inception = InceptionFeatures()
    features = []
    for split in ("train", "test"):
        images = load_run_data(cfg, split).images[: args.n]
        batches = (
            to_model(torch.from_numpy(images[i : i + args.batch_size]))
            for i in range(0, len(images), args.batch_size)
        )
        features.append(extract_features(inception, batches, len(images), desc=split))
    d = distribution_distances(*features)
    print(
        f"{cfg.data.name} train[:{args.n}] vs test[:{args.n}]: Inception FID {d['fd']:.2f}, "
        f"KID {d['kid']:.4f}"
    )


if __name__ == "__main__":
    main()
