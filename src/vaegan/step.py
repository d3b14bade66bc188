"""Algorithm 1 (METHOD.md §3) and its variants: one forward, each network's gradient from its loss.

    Z <- Enc(X);  L_prior;  X_tilde <- Dec(Z);  L_llike^{Dis_l};  Z_p ~ N(0, I);  X_p <- Dec(Z_p)
    L_GAN <- log Dis(X) + log(1 - Dis(X_tilde)) + log(1 - Dis(X_p))
    theta_Enc <- -grad(L_prior + L_llike)      no GAN gradient reaches Enc (pitfall 3)
    theta_Dec <- -grad(gamma L_llike - L_GAN)  Dec minimises its adversarial term (pitfall 1)
    theta_Dis <- -grad(L_GAN)                  Dis maximises L_GAN; no L_llike gradient (pitfall 4)

Conditional variants (cvaegan, cvae, cgan; METHOD.md §5.3) run the same algorithm with the batch's
condition Y given to every network: Enc(X, Y), Dec(Z, Y) and Dec(Z_p, Y), Dis(., Y).

Each network's gradient is `torch.autograd.grad` of its own loss with respect to its own parameters,
so isolation holds by construction rather than by detaching: L_llike's gradient flows *through* Dis
into Dec and Enc, but never into Dis's parameters. All gradients are taken from the one graph
before any optimizer steps (simultaneous updates, pitfall 15).
"""

from __future__ import annotations

from collections.abc import Callable
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
    r1_penalty,
)
from vaegan.models import VAEGAN
from vaegan.precision import FP32, Precision


@dataclass
class Forward:
    """What one forward pass yields: each network's own loss, and detached scalars to log.

    `shared`: networks whose gradients one backward pass of the first one's loss gives exactly,
    because their losses differ only by terms that do not reach the others' weights (VAE_Disl:
    Enc's loss is L_prior + L_llike, Dec's L_llike, and L_prior does not depend on Dec).
    """

    losses: dict[str, Tensor]
    stats: dict[str, Tensor]
    shared: tuple[str, ...] = ()


def repeat(y: Tensor | None, times: int) -> Tensor | None:
    """The condition of `times` stacked copies of the batch ([X; X_tilde; X_p] share Y)."""
    return None if y is None else y.repeat(times, 1)


def forward(
    model: VAEGAN,
    x: Tensor,
    cfg: LossConfig,
    generator: torch.Generator | None,
    dist: Distributed = SINGLE,
    y: Tensor | None = None,
    kl_weight: float = 1.0,
) -> Forward:
    """One forward pass of Algorithm 1 for the model's variant. x: (B, C, H, W) in [-1, 1],
    this rank's share of the global batch; y: its condition (B, K) in a conditional model;
    kl_weight: L_prior's weight in Enc's loss this step (KL warm-up)."""
    y = model.condition_for(y, len(x))
    batch = x.shape[0]

    def noise() -> Tensor:
        """(B, z) standard normal: this rank's rows of the global batch's draw, so that N ranks
        see the noise one process would."""
        shape = (batch * dist.world, model.cfg.z_dim)
        draw = torch.randn(shape, generator=generator, device=x.device, dtype=x.dtype)
        return dist.shard(draw)

    variant = model.cfg.base_variant
    if variant == "gan":
        return gan_forward(model, x, y, cfg, noise)
    if variant == "vae":
        return vae_forward(model, x, y, cfg, noise, kl_weight)
    return vaegan_forward(model, x, y, cfg, noise, kl_weight)


def dis_terms(
    model: VAEGAN, x: Tensor, fakes: Tensor, y: Tensor | None, cfg: LossConfig
) -> tuple[Tensor, Tensor, Tensor, dict[str, Tensor]]:
    """One Dis pass over [X; fakes] (BN statistics mix real and fake, pitfall 5).

    Returns Dis_l features of all of them, Dis's loss (BCE, weighted as the code, pitfall 11; plus
    the R1 penalty if asked), Dec's adversarial term on the fakes (pitfall 2), and stats to log.
    """
    batch = x.shape[0]
    if cfg.r1 > 0:  # R1 needs the logits' gradient with respect to the real images
        x = x.detach().requires_grad_(True)
    features, logits = model.dis(torch.cat([x, fakes]), repeat(y, len(fakes) // batch + 1))
    logit_real, logit_fake = logits[:batch], logits[batch:]
    cost_real, cost_fake = gan_costs(logit_real, logit_fake)
    l_dis = discriminator_loss(cost_real, cost_fake, cfg.real_weight)
    stats = {"cost_real": cost_real.detach(), "cost_fake": cost_fake.detach()}
    if cfg.r1 > 0:
        penalty = r1_penalty(logit_real, x)
        l_dis = l_dis + 0.5 * cfg.r1 * penalty
        stats["r1"] = penalty.detach()
    l_adv = generator_loss(logit_fake, batch, saturating=cfg.generator_loss == "saturating")
    stats |= {"l_dis": l_dis.detach(), "l_adv": l_adv.detach()}
    return features, l_dis, l_adv, stats


def gan_forward(
    model: VAEGAN, x: Tensor, y: Tensor | None, cfg: LossConfig, noise: Callable[[], Tensor]
) -> Forward:
    """Plain GAN (eq. 5): Dec(Z_p) is the only fake; one Dis pass over [X; X_p] (2B)."""
    x_p = model.dec(noise(), y)  # Z_p ~ N(0, I)
    _, l_dis, l_adv, stats = dis_terms(model, x, x_p, y, cfg)
    return Forward(losses={"dec": l_adv, "dis": l_dis}, stats=stats)


def encode(
    model: VAEGAN, x: Tensor, y: Tensor | None, cfg: LossConfig, noise: Callable[[], Tensor]
) -> tuple[Tensor, Tensor]:
    """Z <- Enc(X), one reparameterised sample per image (pitfall 12); and L_prior."""
    mu, logvar = model.enc(x, y)
    z = mu + (0.5 * logvar).exp() * noise()
    return z, kl_prior(mu, logvar, cfg.free_bits)


def vae_forward(
    model: VAEGAN,
    x: Tensor,
    y: Tensor | None,
    cfg: LossConfig,
    noise: Callable[[], Tensor],
    kl_weight: float,
) -> Forward:
    """Plain VAE (eqs. 2-4): pixel-wise Gaussian likelihood."""
    z, l_prior = encode(model, x, y, cfg, noise)
    l_llike = gaussian_nll(model.dec(z, y), x, cfg.pixel_sigma)
    stats = {"l_prior": l_prior.detach(), "l_llike": l_llike.detach()}
    return Forward(losses={"enc": kl_weight * l_prior + l_llike, "dec": l_llike}, stats=stats)


def vaegan_forward(
    model: VAEGAN,
    x: Tensor,
    y: Tensor | None,
    cfg: LossConfig,
    noise: Callable[[], Tensor],
    kl_weight: float,
) -> Forward:
    """VAE/GAN (and VAE_Dis_l), Algorithm 1 line by line."""
    batch = x.shape[0]
    z, l_prior = encode(model, x, y, cfg, noise)  # Z <- Enc(X); L_prior
    z_p = noise()  # Z_p ~ N(0, I)
    if cfg.layout == "code":
        # X_tilde <- Dec(Z): Dec's BN sees posterior codes only. Dis_l over [X_tilde; X] (2B).
        x_tilde = model.dec(z, y)
        f_tilde, f_x = model.dis.features(torch.cat([x_tilde, x]), repeat(y, 2)).split(batch)
        # The GAN batch: Dec again over [Z; Z_p], Dis over [X; Dec(Z); Dec(Z_p)] (3B).
        fakes = model.dec(torch.cat([z, z_p]), repeat(y, 2))
        _, l_dis, l_adv, stats = dis_terms(model, x, fakes, y, cfg)
    else:
        # One Dec pass over [Z; Z_p] and one Dis pass over [X; X_tilde; X_p] serve both L_llike
        # and L_GAN (docs/DEVIATIONS.md says what this changes).
        x_tilde, x_p = model.dec(torch.cat([z, z_p]), repeat(y, 2)).split(batch)
        features, l_dis, l_adv, stats = dis_terms(model, x, torch.cat([x_tilde, x_p]), y, cfg)
        f_x, f_tilde = features[:batch], features[batch : 2 * batch]
    # L_llike^{Dis_l} (eq. 7): Dis_l(X) is the target, a constant.
    l_llike = gaussian_nll(f_tilde, f_x.detach(), cfg.feature_sigma)
    stats |= {"l_prior": l_prior.detach(), "l_llike": l_llike.detach()}
    if cfg.pixel_weight > 0:  # a pixel-wise term beside it (a deviation, off in the paper)
        l_pixel = gaussian_nll(x_tilde, x, cfg.pixel_sigma)
        l_llike = l_llike + cfg.pixel_weight * l_pixel
        stats["l_pixel"] = l_pixel.detach()
    enc_loss = kl_weight * l_prior + l_llike  # no GAN term reaches Enc (pitfall 3)
    losses = {"enc": enc_loss, "dec": cfg.gamma * l_llike + l_adv, "dis": l_dis}
    if model.cfg.base_variant == "vae_disl":
        # Dec's loss is L_llike alone (no adversarial gradient): Enc's loss has the same gradient
        # at Dec's weights, so one backward through Dis_l and Dec serves both (13.5 % fewer FLOPs
        # per step at 32x32x1, docs/PERFORMANCE.md).
        losses["dec"] = l_llike
        return Forward(losses=losses, stats=stats, shared=("enc", "dec"))
    return Forward(losses=losses, stats=stats)


def adversarial_networks(variant: str) -> tuple[str, ...]:
    """The networks whose updates the equilibrium gating may skip (`variant`: unconditional)."""
    return {"vaegan": ("dec", "dis"), "gan": ("dec", "dis"), "vae_disl": ("dis",)}.get(variant, ())


def gate(stats: dict[str, Tensor], cfg: LossConfig, variant: str) -> dict[str, bool]:
    """The code's equilibrium gating (pitfall 10): which adversarial networks step this time.

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
    model: VAEGAN,
    losses: dict[str, Tensor],
    names: list[str],
    precision: Precision = FP32,
    shared: tuple[str, ...] = (),
) -> dict[str, tuple[Tensor, ...]]:
    """Gradient of each named network's own loss with respect to its own parameters only
    (of the scaled loss under fp16: the optimizer steps unscale them). The `shared` networks'
    gradients come from one backward pass of the first one's loss (Forward.shared)."""
    nets = model.networks()
    joint = bool(shared) and set(shared) <= set(names)  # a gated network breaks the group up
    groups = [list(shared)] if joint else []
    groups += [[name] for name in names if not (joint and name in shared)]
    grads = {}
    for i, group in enumerate(groups):
        params = [list(nets[name].parameters()) for name in group]
        last = i == len(groups) - 1
        loss = precision.scale(losses[group[0]])
        flat = torch.autograd.grad(loss, [p for ps in params for p in ps], retain_graph=not last)
        for name, ps in zip(group, params, strict=True):
            grads[name], flat = flat[: len(ps)], flat[len(ps) :]
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
    kl_weight: float = 1.0,
) -> dict[str, Tensor | float]:
    """One step of Algorithm 1: forward, gate, each network's own gradient, then all steps.
    y: the batch's condition (B, K) in a conditional model; kl_weight: L_prior's weight.

    With several ranks, the statistics (so the gating decision) and the gradients are those of
    the global batch (Distributed.mean_stats, Distributed.mean_gradients).
    """
    for optimizer in optimizers.values():  # last step's gradients would outlive this forward
        optimizer.zero_grad(set_to_none=True)
    with precision.autocast():
        out = forward(model, x, cfg, generator, dist, y, kl_weight)
    out.stats = dist.mean_stats(out.stats)
    gated = gate(out.stats, cfg, model.cfg.base_variant)
    skip = {name for name, update in gated.items() if not update}
    names = [name for name in out.losses if name not in skip]
    grads = gradients(model, out.losses, names, precision, out.shared)
    grads = dist.mean_gradients(grads, model)
    nets = model.networks()
    for name, net_grads in grads.items():
        for p, g in zip(nets[name].parameters(), net_grads, strict=True):
            p.grad = g
        precision.step(optimizers[name])
    precision.update()
    # Python floats: which networks stepped is already known on the host.
    return out.stats | {f"updated_{name}": float(name not in skip) for name in out.losses}
