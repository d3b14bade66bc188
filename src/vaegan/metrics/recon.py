"""Reconstruction error of held-out images with z = mu (the code's test-time encoding)."""

from __future__ import annotations

import math

import numpy as np
import torch

from vaegan.images import to_model
from vaegan.models import VAEGAN


def pixel_metrics(x: torch.Tensor, x_tilde: torch.Tensor) -> dict[str, float]:
    """MSE, PSNR and SSIM of two image sets in [0, 1], (N, C, H, W).

    MSE is the mean over every pixel of the set; PSNR = 10 log10(1 / MSE) of that set-wide MSE;
    SSIM is the mean per-image SSIM (Gaussian window 11, sigma 1.5, data range 1).
    """
    from torchmetrics.functional.image import structural_similarity_index_measure  # slow import

    mse = float((x - x_tilde).square().mean())
    ssim = float(structural_similarity_index_measure(x_tilde, x, data_range=1.0))
    psnr = math.inf if mse == 0 else 10 * math.log10(1.0 / mse)
    return {"mse": mse, "psnr": psnr, "ssim": ssim}


@torch.inference_mode()
def reconstruction_metrics(
    model: VAEGAN,
    images: np.ndarray,
    batch_size: int = 500,
    conditions: np.ndarray | None = None,
) -> dict[str, float]:
    """`pixel_metrics` of uint8 (N, H, W, C) images and their reconstructions Dec(mu(x))
    (conditional models: each image with its own condition, (N, K))."""
    originals, recons = [], []
    for i in range(0, len(images), batch_size):
        x = to_model(torch.from_numpy(images[i : i + batch_size]))
        y = None if conditions is None else torch.from_numpy(conditions[i : i + batch_size])
        recons.append(model.reconstruct(x, y).float().cpu())
        originals.append(x)
    to_unit = lambda t: (torch.cat(t) + 1) / 2  # noqa: E731  [-1, 1] -> [0, 1]
    return pixel_metrics(to_unit(originals), to_unit(recons).clamp(0, 1))
