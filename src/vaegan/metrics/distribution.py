"""Frechet distance and kernel distance between the features of two image sets.

The features come from any extractor: here the domain evaluator's penultimate layer ("FD": Frechet
distance in the features of a classifier of the data set's own labels); for FID, Inception's.
Features are computed once per image and fed to torchmetrics' FID and KID through an identity
"network", so both metrics share one pass.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator

import torch
from torch import Tensor, nn

from vaegan.progress import bar as progress_bar


class _Precomputed(nn.Module):
    """Lets torchmetrics take features where it expects images."""

    def __init__(self, num_features: int) -> None:
        super().__init__()
        self.num_features = num_features

    def forward(self, features: Tensor) -> Tensor:
        return features


@torch.inference_mode()
def extract_features(
    extract: Callable[[Tensor], Tensor],
    batches: Iterator[Tensor],
    total: int,
    desc: str = "features",
    progress: bool = False,
) -> Tensor:
    """Features (N, F) in float64 of every batch of images (B, C, H, W) in [-1, 1]."""
    out = []
    with progress_bar(total=total, enabled=progress, desc=desc, unit="img") as bar:
        for x in batches:
            out.append(extract(x).double().cpu())
            bar.update(len(x))
    return torch.cat(out)


def distribution_distances(
    real: Tensor,
    fake: Tensor,
    *,
    kid_subsets: int = 100,
    kid_subset_size: int = 1000,
    seed: int = 0,
) -> dict[str, float]:
    """Frechet distance, and KID (mean and std over subsets) between feature sets (N, F).

    With both sets no larger than a subset, every subset is the whole of both: KID is computed
    once and "kid_std" is left out, as a spread of one value says nothing.
    """
    # Imported here: torchmetrics takes ~2 s to import, which every CLI command would pay.
    from torchmetrics.image.fid import FrechetInceptionDistance
    from torchmetrics.image.kid import KernelInceptionDistance

    if len(real) < 2 or len(fake) < 2:
        raise ValueError("the Frechet distance needs at least 2 images in each set")
    fd = FrechetInceptionDistance(feature=_Precomputed(real.shape[1]))
    fd.update(real, real=True)
    fd.update(fake, real=False)
    subset = min(kid_subset_size, len(real), len(fake))
    one_subset = max(len(real), len(fake)) <= subset
    with warnings.catch_warnings():  # "will save all extracted features": that is the point
        warnings.simplefilter("ignore", UserWarning)
        kid = KernelInceptionDistance(
            feature=_Precomputed(real.shape[1]),
            subsets=1 if one_subset else kid_subsets,
            subset_size=subset,
        )
    kid.update(real, real=True)
    kid.update(fake, real=False)
    with torch.random.fork_rng():  # KID draws its subsets from the global RNG
        torch.manual_seed(seed)
        kid_mean, kid_std = kid.compute()
    out = {"fd": float(fd.compute()), "kid": float(kid_mean)}
    return out if one_subset else out | {"kid_std": float(kid_std)}
