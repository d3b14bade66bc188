"""Precision and recall of samples (Kynkaenniemi et al., 2019), in any feature space.

FD mixes two failures into one number: samples that look like no real image (blur, noise: low
precision) and real images no sample looks like (dropped classes, mode collapse: low recall).
Each set's manifold is the union of balls around its points reaching their k-th nearest neighbour;
precision is the share of samples inside the real manifold, recall the share of real images inside
the samples' manifold.
"""

from __future__ import annotations

import torch
from torch import Tensor

CHUNK = 2048  # rows of a distance matrix computed at once: 2048 x 10,000 floats = 80 MB


def kth_neighbour_radii(features: Tensor, k: int) -> Tensor:
    """Distance of each point (N, F) to its k-th nearest other point (N,)."""
    radii = []
    for start in range(0, len(features), CHUNK):
        d = torch.cdist(features[start : start + CHUNK], features)
        radii.append(d.kthvalue(k + 1, dim=1).values)  # the 1st is the point itself, at 0
    return torch.cat(radii)


def share_inside(points: Tensor, centres: Tensor, radii: Tensor) -> float:
    """Share of `points` that lie within some ball (centre, radius)."""
    inside = 0
    for start in range(0, len(points), CHUNK):
        d = torch.cdist(points[start : start + CHUNK], centres)
        inside += int((d <= radii[None, :]).any(dim=1).sum())
    return inside / len(points)


def precision_recall(real: Tensor, fake: Tensor, k: int = 3) -> dict[str, float]:
    """{"precision", "recall"} of fake features (M, F) against real ones (N, F); k = 3 as in the
    paper that defined them."""
    if min(len(real), len(fake)) <= k:
        raise ValueError(f"precision and recall need more than k = {k} images in each set")
    real, fake = real.float(), fake.float()
    precision = share_inside(fake, real, kth_neighbour_radii(real, k))
    recall = share_inside(real, fake, kth_neighbour_radii(fake, k))
    return {"precision": precision, "recall": recall}
