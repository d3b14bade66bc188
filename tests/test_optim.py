"""The code's optimisation (METHOD.md §3): weight decay, learning-rate schedule; the EMA."""

import math
from dataclasses import replace

import pytest
import torch

from vaegan.config import LossConfig, ModelConfig, OptimConfig
from vaegan.losses import gaussian_nll, kl_prior
from vaegan.models import VAEGAN
from vaegan.optim import (
    decayed_parameters,
    lr_factor,
    make_optimizers,
    set_learning_rates,
    update_average,
)
from vaegan.step import train_step

B = 8


def tiny_vae(seed: int = 0, **options) -> VAEGAN:
    torch.manual_seed(seed)
    return VAEGAN(
        ModelConfig(variant="vae", image_size=16, channels=1, z_dim=4, width=0.125, **options)
    )


def per_image_losses(model: VAEGAN, x: torch.Tensor) -> torch.Tensor:
    """The VAE's loss of each image (B,), deterministic (z = mu) so both sides see the same."""
    mu, logvar = model.enc(x)
    x_tilde = model.dec(mu)
    return torch.stack(
        [
            gaussian_nll(x_tilde[i : i + 1], x[i : i + 1])
            + kl_prior(mu[i : i + 1], logvar[i : i + 1])
            for i in range(len(x))
        ]
    )


def test_default_weight_decay_is_the_codes_on_a_mean_loss():
    assert OptimConfig().weight_decay == pytest.approx(2 * 1e-5 / 64)  # 3.1e-7, not 1e-5


def test_decay_on_mean_loss_equals_deeppys_decay_on_summed_loss():
    """deeppy: RMSProp on grad(sum of the batch's losses) + 2 wd p. Ours: RMSprop on
    grad(mean loss) + weight_decay p with weight_decay = 2 wd / B. The same steps."""
    wd, lr, alpha = 0.05, 1e-3, 0.9  # a decay large enough to matter in 3 steps
    x = torch.rand(B, 1, 16, 16, generator=torch.Generator().manual_seed(1)) * 2 - 1

    def ours(weight_decay):
        model = tiny_vae()
        optimizers = make_optimizers(model, OptimConfig(lr=lr, weight_decay=weight_decay))
        for _ in range(3):
            for opt in optimizers.values():
                opt.zero_grad()
            per_image_losses(model, x).mean().backward()
            for opt in optimizers.values():
                opt.step()
        return list(model.parameters())

    code = tiny_vae()
    decay = {id(p) for name in ("enc", "dec") for p in decayed_parameters(code, name)[0]}
    square_avg = {id(p): torch.zeros_like(p) for p in code.parameters()}
    for _ in range(3):
        code.zero_grad()
        per_image_losses(code, x).sum().backward()
        with torch.no_grad():  # deeppy's RMSProp, by hand
            for p in code.parameters():
                g = p.grad + (2 * wd * p if id(p) in decay else 0)
                square_avg[id(p)].mul_(alpha).add_((1 - alpha) * g * g)
                # eps scaled by B as the gradient is: RMSProp is otherwise scale-free
                p -= lr * g / (square_avg[id(p)].sqrt() + B * 1e-8)
    for a, b in zip(ours(2 * wd / B), code.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)
    # torch's customary reading (the same number on the mean loss) is another update
    moved = [(a - b).abs().max() for a, b in zip(ours(wd), code.parameters(), strict=True)]
    assert max(moved) > 1e-4


def test_no_decay_on_biases_bn_and_the_mu_logvar_head():
    model = tiny_vae()
    decay, no_decay = decayed_parameters(model, "enc")
    head = {id(p) for p in model.enc.head.parameters()}
    assert head <= {id(p) for p in no_decay}
    assert all(p.ndim > 1 for p in decay) and not head & {id(p) for p in decay}
    groups = make_optimizers(model, OptimConfig())["enc"].param_groups
    assert [g["weight_decay"] for g in groups] == [OptimConfig().weight_decay, 0.0]
    assert sum(len(g["params"]) for g in groups) == len(list(model.enc.parameters()))


def test_gamma_schedule_is_deeppys_annealer_per_epoch():
    cfg = OptimConfig()  # 0.02/64 -> 1e-5/64, gamma 0.75, epochs of 250 steps
    start, stop, total = 0.02, 1e-5, 37_500  # 150 epochs, as the code

    def code_lr(epoch):  # GammaAnnealer(start, stop, 150, 0.75).value(epoch) / 64
        t = epoch / 150 if epoch > 0 else 0
        return (start - t**0.75 * (start - stop)) / 64

    for step in (0, 249, 250, 18_750, 37_499):
        assert cfg.lr * lr_factor(cfg, step, total) == pytest.approx(code_lr(step // 250))
    assert cfg.lr * lr_factor(cfg, 18_750, total) == pytest.approx(
        (0.02 - 0.5**0.75 * (0.02 - 1e-5)) / 64
    )
    assert lr_factor(replace(cfg, schedule="constant"), 30_000, total) == 1.0
    # shorter runs anneal over their own length
    assert lr_factor(cfg, 750, 1500) == pytest.approx(lr_factor(cfg, 18_750, 37_500))


def test_learning_rates_are_set_per_network_with_two_time_scales():
    model = VAEGAN(ModelConfig(image_size=16, channels=1, z_dim=4, width=0.125))
    cfg = OptimConfig(lr=1e-3, lr_dis=4e-3, lr_final=1e-4, epoch_steps=1)
    optimizers = make_optimizers(model, cfg)
    set_learning_rates(optimizers, cfg, step=5, total_steps=10)
    factor = (1e-3 - 0.5**0.75 * (1e-3 - 1e-4)) / 1e-3
    for name, opt in optimizers.items():
        expected = (4e-3 if name == "dis" else 1e-3) * factor
        assert all(g["lr"] == pytest.approx(expected) for g in opt.param_groups), name


def test_moving_average_follows_the_trained_weights():
    model = VAEGAN(ModelConfig(image_size=16, channels=1, z_dim=4, width=0.125, ema_decay=0.9))
    assert set(model.averaged) == {"enc", "dec"}
    assert not any(p.requires_grad for p in model.averaged.parameters())
    optimizers = make_optimizers(model, OptimConfig(lr=1e-2))
    x = torch.rand(B, 1, 16, 16) * 2 - 1
    before = [p.clone() for p in model.averaged["dec"].parameters()]
    train_step(model, optimizers, x, LossConfig(margin=None), torch.Generator().manual_seed(0))
    update_average(model, step=100)  # decay min(0.9, 102/111) = 0.9
    for old, new, trained in zip(
        before, model.averaged["dec"].parameters(), model.dec.parameters(), strict=True
    ):
        torch.testing.assert_close(new, 0.9 * old + 0.1 * trained)
    for kept, buffer in zip(model.averaged["dec"].buffers(), model.dec.buffers(), strict=True):
        assert torch.equal(kept, buffer)  # BN statistics are copied
    # early on the average follows closely: decay (1 + t) / (10 + t) at t = 1 is 2/11
    update_average(model, step=0)
    # inference decodes with the average, not with the trained Dec
    z = torch.randn(3, 4)
    with torch.no_grad():
        model.averaged["dec"].body[0].weight.mul_(2)
    assert not torch.allclose(model.decode(z), model.dec.eval()(z))
    assert torch.equal(model.decode(z), model.averaged["dec"].eval()(z))


def test_no_average_without_ema_decay():
    model = tiny_vae()
    assert len(model.averaged) == 0 and model.inference_network("dec") is model.dec
    update_average(model, step=3)  # a no-op
    assert math.isfinite(float(model.sample(2).sum()))
