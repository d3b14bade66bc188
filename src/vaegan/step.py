"""Algorithm 1 (PAPER.md §3) and its variants: one forward, each network's gradient from its loss.

    Z <- Enc(X);  L_prior;  X_tilde <- Dec(Z);  L_llike^{Dis_l};  Z_p ~ N(0, I);  X_p <- Dec(Z_p)
    L_GAN <- log Dis(X) + log(1 - Dis(X_tilde)) + log(1 - Dis(X_p))
    theta_Enc <- -grad(L_prior + L_llike)          no GAN gradient reaches Enc (trap 3)
    theta_Dec <- -grad(gamma L_llike - L_GAN)      Dec minimises its adversarial term (trap 1)
    theta_Dis <- -grad(L_GAN)                      Dis maximises L_GAN; no L_llike gradient (trap 4)

Conditional variants (cvaegan, cvae, cgan; PAPER.md §5.3) run the same algorithm with the batch's
condition Y given to every network: Enc(X, Y), Dec(Z, Y) and Dec(Z_p, Y), Dis(., Y).

Each network's gradient is `torch.autograd.grad` of its own loss with respect to its own parameters,
so isolation holds by construction rather than by detaching: L_llike's gradient flows *through* Dis
into Dec and Enc, but never into Dis's parameters. All gradients are taken from the one graph
before any optimizer steps (simultaneous updates, trap 15).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from vaegan.config import LossConfig
from vaegan.distributed import SINGLE, Distributed
from vaegan.losses import (
    discriminator_loss,
    gan_costs,
    gaussian_nll,
    generator_loss,
    kl_prior,
)
from vaegan.models import VAEGAN
from vaegan.precision import FP32, Precision


@dataclass
class Forward:
    """What one forward pass yields: each network's own loss, and detached scalars to log."""

    losses: dict[str, Tensor]
    stats: dict[str, Tensor]


def forward(
    model: VAEGAN,
    x: Tensor,
    cfg: LossConfig,
    generator: torch.Generator | None,
    dist: Distributed = SINGLE,
    y: Tensor | None = None,
) -> Forward:
    """One forward pass of Algorithm 1 for the model's variant. x: (B, C, H, W) in [-1, 1],
    this rank's share of the global batch; y: its condition (B, K) in a conditional model."""
    variant = model.cfg.base_variant
    y = model.condition_for(y, len(x))
    y2 = None if y is None else torch.cat([y, y])  # [X_tilde; X_p] or [X; X_p] share Y
    batch = x.shape[0]
    saturating = cfg.generator_loss == "saturating"
    stats: dict[str, Tensor] = {}

    def noise() -> Tensor:
        """(B, z) standard normal: this rank's rows of the global batch's draw, so that N ranks
        see the noise one process would."""
        shape = (batch * dist.world, model.cfg.z_dim)
        draw = torch.randn(shape, generator=generator, device=x.device, dtype=x.dtype)
        return dist.shard(draw)

    if variant == "gan":
        # Plain GAN (eq. 5): Dec(Z_p) is the only fake.
        x_p = model.dec(noise(), y)  # Z_p ~ N(0, I)
        _, logits = model.dis(torch.cat([x, x_p]), y2)  # one Dis pass over [X; X_p] (2B)
        logit_real, logit_fake = logits[:batch], logits[batch:]
        cost_real, cost_fake = gan_costs(logit_real, logit_fake)
        l_dis = discriminator_loss(cost_real, cost_fake, cfg.real_weight)
        stats |= {"cost_real": cost_real.detach(), "cost_fake": cost_fake.detach()}
        l_adv = generator_loss(logit_fake, batch, saturating=saturating)
        stats |= {"l_dis": l_dis.detach(), "l_adv": l_adv.detach()}
        return Forward(losses={"dec": l_adv, "dis": l_dis}, stats=stats)

    # Z <- Enc(X); L_prior
    mu, logvar = model.enc(x, y)
    z = mu + (0.5 * logvar).exp() * noise()  # one sample per image (trap 12)
    l_prior = kl_prior(mu, logvar)
    stats["l_prior"] = l_prior.detach()

    if variant == "vae":
        # Plain VAE (eqs. 2-4): pixel-wise Gaussian likelihood.
        x_tilde = model.dec(z, y)
        l_llike = gaussian_nll(x_tilde, x, cfg.pixel_sigma)
        stats["l_llike"] = l_llike.detach()
        return Forward(losses={"enc": l_prior + l_llike, "dec": l_llike}, stats=stats)

    # X_tilde <- Dec(Z) and X_p <- Dec(Z_p) in one Dec pass over [Z; Z_p] (2B). The code runs Dec
    # a second time on [Z; Z_p] for the GAN term; reusing X_tilde saves that pass and only changes
    # which images share Dec's BN batch statistics (docs/DEVIATIONS.md).
    x_tilde, x_p = model.dec(torch.cat([z, noise()]), y2).split(batch)

    # One Dis pass over [X; X_tilde; X_p] (3B): BN statistics mix real and fake (trap 5). Its
    # Dis_l features give L_llike, so no second Dis_l pass over [X_tilde; X] is needed.
    y3 = None if y is None else torch.cat([y, y2])
    features, logits = model.dis(torch.cat([x, x_tilde, x_p]), y3)
    f_x, f_tilde, _ = features.split(batch)
    # L_llike^{Dis_l} (eq. 7): Dis_l(X) is the target, a constant.
    l_llike = gaussian_nll(f_tilde, f_x.detach(), cfg.feature_sigma)

    # L_GAN with three terms (trap 6): X is real; X_tilde and X_p are fake.
    logit_real, logit_fake = logits[:batch], logits[batch:]
    cost_real, cost_fake = gan_costs(logit_real, logit_fake)
    l_dis = discriminator_loss(cost_real, cost_fake, cfg.real_weight)
    stats |= {"cost_real": cost_real.detach(), "cost_fake": cost_fake.detach()}
    l_adv = generator_loss(logit_fake, batch, saturating=saturating)
    stats |= {"l_llike": l_llike.detach(), "l_dis": l_dis.detach(), "l_adv": l_adv.detach()}

    if variant == "vae_disl":
        # VAE_{Dis_l}: the learned similarity only; Dec gets no adversarial gradient.
        dec_loss = l_llike
    else:
        dec_loss = cfg.gamma * l_llike + l_adv
    return Forward(losses={"enc": l_prior + l_llike, "dec": dec_loss, "dis": l_dis}, stats=stats)


def adversarial_networks(variant: str) -> tuple[str, ...]:
    """The networks whose updates the equilibrium gating may skip (`variant`: unconditional)."""
    return {"vaegan": ("dec", "dis"), "gan": ("dec", "dis"), "vae_disl": ("dis",)}.get(variant, ())


def gate(stats: dict[str, Tensor], cfg: LossConfig, variant: str) -> dict[str, bool]:
    """The code's equilibrium gating (trap 10): which adversarial networks step this time.

    Dis too strong (a cost below equilibrium - margin): skip Dis. Dis too weak (a cost above
    equilibrium + margin): skip Dec, all of its step. Both skipped: update both. One host sync.
    """
    gated = adversarial_networks(variant)
    if cfg.margin is None or not gated:
        return {}
    cost_real, cost_fake = torch.stack([stats["cost_real"], stats["cost_fake"]]).tolist()
    low, high = cfg.equilibrium - cfg.margin, cfg.equilibrium + cfg.margin
    update_dis = not (cost_real < low or cost_fake < low)
    update_dec = not (cost_real > high or cost_fake > high)
    if not (update_dis or update_dec):
        update_dis = update_dec = True
    return {name: {"dis": update_dis, "dec": update_dec}[name] for name in gated}


def gradients(
    model: VAEGAN, losses: dict[str, Tensor], names: list[str], precision: Precision = FP32
) -> dict[str, tuple[Tensor, ...]]:
    """Gradient of each named network's own loss with respect to its own parameters only
    (of the scaled loss under fp16: the optimizer steps unscale them)."""
    nets = model.networks()
    grads = {}
    for i, name in enumerate(names):
        params = list(nets[name].parameters())
        last = i == len(names) - 1
        loss = precision.scale(losses[name])
        grads[name] = torch.autograd.grad(loss, params, retain_graph=not last)
    return grads


def train_step(
    model: VAEGAN,
    optimizers: dict[str, torch.optim.Optimizer],
    x: Tensor,
    cfg: LossConfig,
    generator: torch.Generator | None = None,
    dist: Distributed = SINGLE,
    precision: Precision = FP32,
    y: Tensor | None = None,
) -> dict[str, Tensor | float]:
    """One step of Algorithm 1: forward, gate, each network's own gradient, then all steps.
    y: the batch's condition (B, K) in a conditional model.

    With several ranks, the statistics (so the gating decision) and the gradients are those of
    the global batch: averaged across ranks, one all-reduce each. BatchNorm running statistics
    ride along with the gradients, so every rank keeps the same ones (with sync_batchnorm they
    are equal already).
    """
    for optimizer in optimizers.values():  # last step's gradients would outlive this forward
        optimizer.zero_grad(set_to_none=True)
    with precision.autocast():
        out = forward(model, x, cfg, generator, dist, y)
    out.stats = dict(zip(out.stats, dist.mean(list(out.stats.values())), strict=True))
    gated = gate(out.stats, cfg, model.cfg.base_variant)
    skip = {name for name, update in gated.items() if not update}
    names = [name for name in out.losses if name not in skip]
    grads = gradients(model, out.losses, names, precision)
    running = [b for b in model.buffers() if b.is_floating_point()] if dist.enabled else []
    flat = iter(dist.mean([g for name in names for g in grads[name]] + running))
    grads = {name: tuple(next(flat) for _ in grads[name]) for name in names}
    with torch.no_grad():
        for buffer in running:
            buffer.copy_(next(flat))
    nets = model.networks()
    for name in names:
        for p, g in zip(nets[name].parameters(), grads[name], strict=True):
            p.grad = g
        precision.step(optimizers[name])
    precision.update()
    # Python floats: which networks stepped is already known on the host.
    return out.stats | {f"updated_{name}": float(name not in skip) for name in out.losses}
