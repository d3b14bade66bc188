"""Where samples' codes come from: N(0, I) as the paper, or a mixture fitted to the training codes.

A VAE's encoder does not fill N(0, I): the codes mu(x) of the training images occupy an
anisotropic, clustered part of it (on Fashion-MNIST some directions vary 10x more than the prior's,
others 1,000x less), and decoded prior draws that fall outside it ("prior holes") look like nothing
the model reconstructs. Ex-post density estimation (Ghosh et al., 2020, "From variational to
deterministic autoencoders") fits a density to the codes after training and samples from it
instead. We fit a mixture of K full-covariance Gaussians by EM to mu(x) of the first `FIT_IMAGES`
training images. A deviation from the paper, off in its preset (`model.prior` "standard");
docs/QUALITY.md measures what it buys.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import torch
from torch import Tensor

from vaegan.errors import VaeganError
from vaegan.images import to_model
from vaegan.models import VAEGAN

FIT_IMAGES = 10_000
EM_STEPS = 40
# Added to each covariance's diagonal: directions the encoder never uses have ~0 variance.
RIDGE = 1e-4


@torch.no_grad()
def encode_all(model: VAEGAN, images: np.ndarray, batch_size: int = 500) -> Tensor:
    """mu(x) (N, z) of uint8 images (N, H, W, C)."""
    batches = (
        to_model(torch.from_numpy(np.asarray(images[i : i + batch_size])))
        for i in range(0, len(images), batch_size)
    )
    return torch.cat([model.encode(x) for x in batches]).float()


def log_densities(x: Tensor, means: Tensor, scales: Tensor) -> Tensor:
    """log N(x_n | m_k, L_k L_k^T) for points (N, d), means (K, d), Cholesky factors (K, d, d):
    (K, N)."""
    d = x.shape[1]
    whitened = torch.linalg.solve_triangular(scales, (x[None] - means[:, None]).mT, upper=False)
    log_det = 2 * torch.diagonal(scales, dim1=1, dim2=2).log().sum(dim=1)
    return -0.5 * (whitened.square().sum(dim=1) + log_det[:, None] + d * math.log(2 * math.pi))


def fit_mixture(x: Tensor, k: int, steps: int = EM_STEPS) -> tuple[Tensor, Tensor, Tensor]:
    """EM for a mixture of k full-covariance Gaussians on points x (N, d), started from k of the
    points chosen by a fixed seed (so a refit of the same codes gives the same mixture).
    Returns weights (k,), means (k, d) and Cholesky factors of the covariances (k, d, d)."""
    n, d = x.shape
    ridge = RIDGE * torch.eye(d, dtype=x.dtype, device=x.device)
    start = torch.randperm(n, generator=torch.Generator().manual_seed(0))[:k]
    means = x[start.to(x.device)]
    covs = (torch.cov(x.T) + ridge).expand(k, d, d)
    weights = torch.full((k,), 1 / k, dtype=x.dtype, device=x.device)
    for _ in range(steps):
        log_p = weights.log()[:, None] + log_densities(x, means, cholesky(covs))
        resp = torch.softmax(log_p, dim=0)  # (k, N): each point's share in each component
        counts = resp.sum(dim=1) + 1e-10
        weights = counts / n
        means = resp @ x / counts[:, None]
        centred = x[None] - means[:, None]  # (k, N, d)
        covs = torch.einsum("kn,knd,kne->kde", resp, centred, centred) / counts[:, None, None]
        covs = covs + ridge
    return weights, means, cholesky(covs)


def cholesky(covs: Tensor) -> Tensor:
    """Cholesky factors of covariances (k, d, d), with more ridge where float32 rounding left one
    not quite positive definite."""
    factors, info = torch.linalg.cholesky_ex(covs)
    eye = torch.eye(covs.shape[-1], dtype=covs.dtype, device=covs.device)
    for power in range(1, 7):
        if not bool((info > 0).any()):
            return factors
        factors, info = torch.linalg.cholesky_ex(covs + RIDGE * 10**power * eye)
    raise VaeganError(
        "the fitted prior's covariances are not positive definite (non-finite codes?)"
    )


def fit_prior(model: VAEGAN, images: np.ndarray) -> None:
    """Fit the model's prior mixture to mu(x) of uint8 images (N, H, W, C) (at most FIT_IMAGES
    of them), in place: prior_weights (K,), prior_means (K, z), prior_scales (K, z, z)."""
    codes = encode_all(model, images[:FIT_IMAGES])
    if not bool(torch.isfinite(codes).all()):
        raise VaeganError("cannot fit the prior: the encoder gave non-finite codes")
    fitted = fit_mixture(codes, model.cfg.prior_components)
    buffers = (model.prior_weights, model.prior_means, model.prior_scales)
    for buffer, value in zip(buffers, fitted, strict=True):
        buffer.copy_(value)


def with_prior(model: VAEGAN, prior: str, components: int | None = None) -> VAEGAN:
    """A copy of the model (in eval mode) with the same networks and another prior; a fitted one
    starts as N(0, I) until `fit_prior`."""
    fields = {"prior": prior} | ({"prior_components": components} if components else {})
    other = VAEGAN(replace(model.cfg, **fields)).to(model.device).eval()
    weights = {k: v for k, v in model.state_dict().items() if not k.startswith("prior_")}
    other.load_state_dict(weights, strict=False)  # all but the prior buffers
    return other
