"""The fitted prior: a Gaussian fitted to the training codes, sampled from instead of N(0, I)."""

from dataclasses import replace

import numpy as np
import pytest
import torch

from vaegan.checkpoint import load_model
from vaegan.config import ModelConfig
from vaegan.data import load_run_data
from vaegan.errors import ConfigError
from vaegan.images import to_model
from vaegan.models import VAEGAN
from vaegan.prior import RIDGE, fit_mixture, fit_prior, with_prior
from vaegan.training import train

from helpers import tiny_config


def tiny_fitted(components: int) -> VAEGAN:
    torch.manual_seed(0)
    cfg = ModelConfig(
        image_size=16, channels=1, z_dim=4, width=0.125, prior="fitted", prior_components=components
    )
    return VAEGAN(cfg).eval()


def test_another_prior_keeps_the_networks_and_drops_the_fitted_buffers():
    model = tiny_fitted(2)
    images = np.random.default_rng(0).integers(0, 256, (100, 16, 16, 1), dtype=np.uint8)
    fit_prior(model, images)
    standard = with_prior(model, "standard")
    assert standard.cfg.prior == "standard" and not hasattr(standard, "prior_means")
    z = torch.randn(3, 4, generator=torch.Generator().manual_seed(0))
    assert torch.equal(standard.decode(z), model.decode(z))  # the same Dec
    refitted = with_prior(standard, "fitted", 3)
    assert refitted.prior_means.shape == (3, 4) and torch.equal(
        refitted.prior_means, torch.zeros(3, 4)
    )
    x = to_model(torch.from_numpy(images[:5]))
    assert torch.equal(refitted.encode(x), model.encode(x))  # the same Enc


def test_one_component_is_the_mean_and_covariance_of_the_codes():
    model = tiny_fitted(1)
    before_fit = model.draw_codes(5, torch.Generator().manual_seed(3))  # N(0, I) at first
    assert torch.equal(before_fit, torch.randn(5, 4, generator=torch.Generator().manual_seed(3)))
    images = np.random.default_rng(0).integers(0, 256, (300, 16, 16, 1), dtype=np.uint8)
    fit_prior(model, images)
    codes = model.encode(to_model(torch.from_numpy(images))).double()
    torch.testing.assert_close(model.prior_means[0].double(), codes.mean(0), rtol=1e-5, atol=1e-6)
    scale = model.prior_scales[0].double()
    cov = torch.cov(codes.T, correction=0) + RIDGE * torch.eye(4, dtype=torch.float64)
    torch.testing.assert_close(scale @ scale.T, cov, rtol=1e-4, atol=1e-6)
    assert torch.equal(scale, scale.tril()) and model.prior_weights.item() == pytest.approx(1.0)
    draws = model.draw_codes(20_000, torch.Generator().manual_seed(1)).double()
    torch.testing.assert_close(draws.mean(0), codes.mean(0), rtol=0.05, atol=0.05 * codes.std())
    # sampling decodes exactly those draws
    torch.testing.assert_close(
        model.sample(5, generator=torch.Generator().manual_seed(2)),
        model.decode(model.draw_codes(5, torch.Generator().manual_seed(2))),
    )


def test_mixture_finds_separate_clusters():
    """Three tight clusters in 2-d: EM puts one component on each, with its share."""
    g = torch.Generator().manual_seed(0)
    centres = torch.tensor([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]], dtype=torch.float64)
    sizes = [500, 300, 200]
    x = torch.cat(
        [
            c + 0.1 * torch.randn(n, 2, generator=g, dtype=torch.float64)
            for c, n in zip(centres, sizes, strict=True)
        ]
    )
    weights, means, scales = fit_mixture(x, 3)
    order = torch.cdist(centres, means).argmin(dim=1)
    assert sorted(order.tolist()) == [0, 1, 2]
    torch.testing.assert_close(means[order], centres, atol=0.03, rtol=0)
    torch.testing.assert_close(weights[order], torch.tensor([0.5, 0.3, 0.2], dtype=torch.float64))
    stds = torch.diagonal(scales @ scales.mT, dim1=1, dim2=2).sqrt()
    assert ((stds > 0.07) & (stds < 0.13)).all()
    again = fit_mixture(x, 3)  # a refit of the same codes is the same mixture
    assert all(torch.equal(a, b) for a, b in zip(again, (weights, means, scales), strict=True))


def test_fitted_prior_needs_an_unconditional_encoder():
    for variant in ("gan", "cvaegan"):
        with pytest.raises(ConfigError, match="prior 'fitted'"):
            ModelConfig(variant=variant, prior="fitted")


def test_training_refits_and_checkpoints_the_prior(tmp_path, idx_dir):
    cfg = tiny_config(idx_dir, steps=3)
    cfg = replace(cfg, model=replace(cfg.model, prior="fitted"))
    train(cfg, tmp_path / "run", progress=False)
    model, _ = load_model(tmp_path / "run")
    assert not torch.equal(model.prior_means, torch.zeros_like(model.prior_means))
    # what was saved is the fit of the final weights to the training images
    refit = VAEGAN(cfg.model)
    refit.load_state_dict(model.state_dict())
    fit_prior(refit.eval(), load_run_data(cfg, "train").images)
    for name in ("prior_weights", "prior_means", "prior_scales"):
        torch.testing.assert_close(getattr(refit, name), getattr(model, name))
