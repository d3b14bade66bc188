import math

import pytest
import torch

from vaegan.losses import discriminator_loss, gan_costs, gaussian_nll, generator_loss, kl_prior


def test_kl_prior_by_hand():
    # one sample, two dims: mu = (1, 0), logvar = (0, log 2)
    mu = torch.tensor([[1.0, 0.0]])
    logvar = torch.tensor([[0.0, math.log(2.0)]])
    # -1/2 [(1 + 0 - 1 - 1) + (1 + log 2 - 0 - 2)] = -1/2 [-1 + log 2 - 1] = 1 - log(2)/2
    assert kl_prior(mu, logvar).item() == pytest.approx(1 - math.log(2) / 2)


def test_kl_prior_zero_at_prior_and_mean_over_batch():
    assert kl_prior(torch.zeros(3, 5), torch.zeros(3, 5)).item() == 0.0
    mu = torch.tensor([[2.0], [0.0]])  # KL 2 and 0 -> batch mean 1
    assert kl_prior(mu, torch.zeros(2, 1)).item() == pytest.approx(1.0)


def test_gaussian_nll_sums_over_elements_and_averages_over_batch():
    x = torch.zeros(2, 1, 2, 2)
    x_tilde = torch.tensor([1.0, 1.0, 1.0, 1.0, 2.0, 0.0, 0.0, 0.0]).reshape(2, 1, 2, 2)
    # per sample 1/2 * sum d^2: 2.0 and 2.0 -> mean 2.0
    assert gaussian_nll(x_tilde, x).item() == pytest.approx(2.0)
    assert gaussian_nll(x_tilde, x, sigma=2.0).item() == pytest.approx(0.5)


def test_discriminator_loss_weights_real_and_fake():
    logit_real = torch.tensor([0.0, 0.0])  # -log(1/2) = log 2 each
    logit_fake = torch.tensor([math.log(3.0)] * 4)  # D = 3/4, -log(1/4) = log 4
    loss = discriminator_loss(*gan_costs(logit_real, logit_fake), real_weight=0.66)
    assert loss.item() == pytest.approx(0.66 * math.log(2) + 0.34 * math.log(4))


def test_generator_loss_saturating_and_not():
    logit = torch.tensor([0.0, math.log(3.0)])  # D = 1/2, 3/4
    # saturating: sum log(1 - D) / B, B = 1 real image per two fakes
    sat = generator_loss(logit, batch_size=1, saturating=True).item()
    assert sat == pytest.approx(math.log(0.5) + math.log(0.25))
    non = generator_loss(logit, batch_size=2, saturating=False).item()
    assert non == pytest.approx(-(math.log(0.5) + math.log(0.75)) / 2)


def test_gan_costs_are_unweighted_means():
    real, fake = gan_costs(torch.tensor([0.0, 0.0]), torch.tensor([0.0]))
    assert real.item() == pytest.approx(math.log(2)) and fake.item() == pytest.approx(math.log(2))
