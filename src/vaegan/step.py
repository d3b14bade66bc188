"""Algorithm 1 (METHOD.md §3) and its variants: each network's gradient from its own loss.

    Z <- Enc(X);  L_prior;  X_tilde <- Dec(Z);  L_llike^{Dis_l};  Z_p ~ N(0, I);  X_p <- Dec(Z_p)
    L_GAN <- log Dis(X) + log(1 - Dis(X_tilde)) + log(1 - Dis(X_p))
    theta_Enc <- -grad(L_prior + L_llike)      no GAN gradient reaches Enc (pitfall 3)
    theta_Dec <- -grad(gamma L_llike - L_GAN)  Dec minimises its adversarial term (pitfall 1)
    theta_Dis <- -grad(L_GAN)                  Dis maximises L_GAN; no L_llike gradient (pitfall 4)

Conditional variants (cvaegan, cvae, cgan; METHOD.md §5.3) run the same algorithm with the batch's
condition Y given to every network: Enc(X, Y), Dec(Z, Y) and Dec(Z_p, Y), Dis(., Y).

Each network's gradient is `torch.autograd.grad` of its own loss with respect to its own parameters,
so isolation holds by construction rather than by detaching: L_llike's gradient flows *through* Dis
into Dec and Enc, but never into Dis's parameters. The forward runs in the order of the code (so
BatchNorm's running statistics are updated in that order), in stages: the code layout first builds
the L_llike half (Enc, Dec(Z), Dis_l), takes its gradients and frees it, then builds the GAN half
(Dec on [Z; Z_p] with Z detached, Dis), so that only one half's activations are alive at a time.
All gradients are taken before any optimizer steps (simultaneous updates, pitfall 15).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

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

Gradients = dict[str, tuple[Tensor, ...]]


@dataclass
class Term:
    """One backward pass: the gradient of `loss` with respect to each named network's weights,
    times that network's factor.

    Networks share a term when their own losses' gradients at their weights are multiples of this
    loss's: Enc's loss L_prior + L_llike and Dec's gamma L_llike have the gradients dL_llike and
    gamma dL_llike at Dec's weights, since L_prior does not depend on Dec.
    """

    loss: Tensor
    factors: dict[str, float]


@dataclass
class Stage:
    """A part of one step's graph: its gradient terms and detached scalars to log. The step takes
    a stage's gradients, and frees it, before the next stage is built. `gates`: the equilibrium
    gating is decided on this stage's GAN costs, before its gradients are taken."""

    terms: list[Term]
    stats: dict[str, Tensor] = field(default_factory=dict)
    gates: bool = False


def repeat(y: Tensor | None, times: int) -> Tensor | None:
    """The condition of `times` stacked copies of the batch ([X; X_tilde; X_p] share Y)."""
    return None if y is None else y.repeat(times, 1)


def stages(
    model: VAEGAN,
    x: Tensor,
    cfg: LossConfig,
    generator: torch.Generator | None,
    dist: Distributed = SINGLE,
    y: Tensor | None = None,
    kl_weight: float = 1.0,
) -> Iterator[Stage]:
    """The stages of one step of Algorithm 1 for the model's variant, built one at a time.
    x: (B, C, H, W) in [-1, 1], this rank's share of the global batch; y: its condition (B, K) in
    a conditional model; kl_weight: L_prior's weight in Enc's loss this step (KL warm-up)."""
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
        yield gan_stage(model, x, y, cfg, noise)
    elif variant == "vae":
        yield vae_stage(model, x, y, cfg, noise, kl_weight)
    else:
        yield from vaegan_stages(model, x, y, cfg, noise, kl_weight)


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


def gan_stage(
    model: VAEGAN, x: Tensor, y: Tensor | None, cfg: LossConfig, noise: Callable[[], Tensor]
) -> Stage:
    """Plain GAN (eq. 5): Dec(Z_p) is the only fake; one Dis pass over [X; X_p] (2B)."""
    x_p = model.dec(noise(), y)  # Z_p ~ N(0, I)
    _, l_dis, l_adv, stats = dis_terms(model, x, x_p, y, cfg)
    return Stage(gan_terms(l_dis, l_adv), stats, gates=True)


def gan_terms(l_dis: Tensor, l_adv: Tensor, dec: bool = True) -> list[Term]:
    """Dis's loss, and Dec's adversarial term (if `dec`), one backward pass each: their upstreams
    differ, also at the real images' logits, which depend on the fakes through Dis's BatchNorm.
    Dec's goes last: its pass walks all of Dis and Dec, so it frees both."""
    return [Term(l_dis, {"dis": 1.0})] + ([Term(l_adv, {"dec": 1.0})] if dec else [])


def encode(
    model: VAEGAN, x: Tensor, y: Tensor | None, cfg: LossConfig, noise: Callable[[], Tensor]
) -> tuple[Tensor, Tensor]:
    """Z <- Enc(X), one reparameterised sample per image (pitfall 12); and L_prior."""
    mu, logvar = model.enc(x, y)
    z = mu + (0.5 * logvar).exp() * noise()
    return z, kl_prior(mu, logvar, cfg.free_bits)


def vae_stage(
    model: VAEGAN,
    x: Tensor,
    y: Tensor | None,
    cfg: LossConfig,
    noise: Callable[[], Tensor],
    kl_weight: float,
) -> Stage:
    """Plain VAE (eqs. 2-4): pixel-wise Gaussian likelihood. Dec's loss L_llike has Enc's
    gradient at Dec's weights, so one backward pass serves both."""
    z, l_prior = encode(model, x, y, cfg, noise)
    l_llike = gaussian_nll(model.dec(z, y), x, cfg.pixel_sigma)
    stats = {"l_prior": l_prior.detach(), "l_llike": l_llike.detach()}
    return Stage([Term(kl_weight * l_prior + l_llike, {"enc": 1.0, "dec": 1.0})], stats)


def llike(
    f_tilde: Tensor, f_x: Tensor, x_tilde: Tensor, x: Tensor, cfg: LossConfig
) -> tuple[Tensor, dict[str, Tensor]]:
    """L_llike^{Dis_l} (eq. 7), with Dis_l(X) as the target, a constant; plus the pixel-wise
    term when asked (a deviation, off in the paper). And its stats."""
    l_llike = gaussian_nll(f_tilde, f_x.detach(), cfg.feature_sigma)
    stats = {"l_llike": l_llike.detach()}
    if cfg.pixel_weight > 0:
        l_pixel = gaussian_nll(x_tilde, x, cfg.pixel_sigma)
        l_llike = l_llike + cfg.pixel_weight * l_pixel
        stats["l_pixel"] = l_pixel.detach()
    return l_llike, stats


def vaegan_stages(
    model: VAEGAN,
    x: Tensor,
    y: Tensor | None,
    cfg: LossConfig,
    noise: Callable[[], Tensor],
    kl_weight: float,
) -> Iterator[Stage]:
    """VAE/GAN (and VAE_Dis_l), Algorithm 1 line by line. Dec's share of L_llike comes from Enc's
    backward pass: gamma times it (VAE/GAN), once (VAE_Dis_l, whose Dec has no GAN term)."""
    z, l_prior = encode(model, x, y, cfg, noise)  # Z <- Enc(X); L_prior
    z_p = noise()  # Z_p ~ N(0, I)
    adversarial_dec = model.cfg.base_variant == "vaegan"
    llike_factor = cfg.gamma if adversarial_dec else 1.0
    if cfg.layout == "code":
        yield llike_stage(model, x, y, z, l_prior, cfg, kl_weight, llike_factor)
        # Only Dec and Dis learn from the GAN half: Z enters it as a constant (pitfall 3).
        yield gan_half_stage(model, x, y, torch.cat([z.detach(), z_p]), cfg, adversarial_dec)
    else:
        yield fused_stage(model, x, y, z, z_p, l_prior, cfg, kl_weight, adversarial_dec)


def llike_stage(
    model: VAEGAN,
    x: Tensor,
    y: Tensor | None,
    z: Tensor,
    l_prior: Tensor,
    cfg: LossConfig,
    kl_weight: float,
    llike_factor: float,
) -> Stage:
    """The code's L_llike half: X_tilde <- Dec(Z), so Dec's BN sees posterior codes only; Dis_l
    over [X_tilde; X] (2B). One backward pass gives Enc's gradient and Dec's share of L_llike."""
    batch = x.shape[0]
    x_tilde = model.dec(z, y)
    f_tilde, f_x = model.dis.features(torch.cat([x_tilde, x]), repeat(y, 2)).split(batch)
    l_llike, stats = llike(f_tilde, f_x, x_tilde, x, cfg)
    enc_loss = kl_weight * l_prior + l_llike  # no GAN term reaches Enc (pitfall 3)
    stats["l_prior"] = l_prior.detach()
    return Stage([Term(enc_loss, {"enc": 1.0, "dec": llike_factor})], stats)


def gan_half_stage(
    model: VAEGAN,
    x: Tensor,
    y: Tensor | None,
    codes: Tensor,
    cfg: LossConfig,
    adversarial_dec: bool,
) -> Stage:
    """The code's GAN half: Dec again over [Z; Z_p], Dis over [X; Dec(Z); Dec(Z_p)] (3B). Without
    Dec's adversarial term (VAE_Dis_l) Dec runs without a graph: its BN still updates alike."""
    with torch.set_grad_enabled(adversarial_dec and torch.is_grad_enabled()):
        fakes = model.dec(codes, repeat(y, 2))
    _, l_dis, l_adv, stats = dis_terms(model, x, fakes, y, cfg)
    return Stage(gan_terms(l_dis, l_adv, adversarial_dec), stats, gates=True)


def fused_stage(
    model: VAEGAN,
    x: Tensor,
    y: Tensor | None,
    z: Tensor,
    z_p: Tensor,
    l_prior: Tensor,
    cfg: LossConfig,
    kl_weight: float,
    adversarial_dec: bool,
) -> Stage:
    """One Dec pass over [Z; Z_p] and one Dis pass over [X; X_tilde; X_p] serve both L_llike and
    L_GAN (docs/DEVIATIONS.md says what this changes)."""
    batch = x.shape[0]
    x_tilde, x_p = model.dec(torch.cat([z, z_p]), repeat(y, 2)).split(batch)
    features, l_dis, l_adv, stats = dis_terms(model, x, torch.cat([x_tilde, x_p]), y, cfg)
    l_llike, llike_stats = llike(features[batch : 2 * batch], features[:batch], x_tilde, x, cfg)
    stats |= llike_stats | {"l_prior": l_prior.detach()}
    enc_loss = kl_weight * l_prior + l_llike
    if not adversarial_dec:  # VAE_Dis_l: Enc's pass gives Dec's gradient
        terms = [Term(l_dis, {"dis": 1.0}), Term(enc_loss, {"enc": 1.0, "dec": 1.0})]
    else:  # Dec's L_llike and GAN terms run through the same Dis and Dec passes: one backward
        dec_loss = cfg.gamma * l_llike + l_adv
        terms = [Term(l_dis, {"dis": 1.0}), Term(dec_loss, {"dec": 1.0})]
        terms.append(Term(enc_loss, {"enc": 1.0}))
    return Stage(terms, stats, gates=True)


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


def stage_gradients(
    model: VAEGAN, stage: Stage, skip: set[str], precision: Precision = FP32
) -> Gradients:
    """Each term's gradient with respect to its networks' own parameters only, times their
    factors (of the scaled loss under fp16: the optimizer steps unscale them); networks in
    `skip` left out. The last pass frees the stage's graph."""
    nets = model.networks()
    terms = [(t.loss, {n: f for n, f in t.factors.items() if n not in skip}) for t in stage.terms]
    terms = [(loss, factors) for loss, factors in terms if factors]
    grads: Gradients = {}
    for i, (loss, factors) in enumerate(terms):
        params = [list(nets[name].parameters()) for name in factors]
        last = i == len(terms) - 1
        flat = torch.autograd.grad(
            precision.scale(loss), [p for ps in params for p in ps], retain_graph=not last
        )
        for (name, factor), ps in zip(factors.items(), params, strict=True):
            mine, flat = flat[: len(ps)], flat[len(ps) :]
            grads = add(grads, {name: mine if factor == 1 else tuple(factor * g for g in mine)})
    return grads


def add(a: Gradients, b: Gradients) -> Gradients:
    """The sum of two sets of per-network gradients."""
    out = dict(a)
    for name, grads in b.items():
        if name in a:
            grads = tuple(g + h for g, h in zip(a[name], grads, strict=True))
        out[name] = grads
    return out


def step_gradients(
    model: VAEGAN,
    x: Tensor,
    cfg: LossConfig,
    generator: torch.Generator | None = None,
    dist: Distributed = SINGLE,
    precision: Precision = FP32,
    y: Tensor | None = None,
    kl_weight: float = 1.0,
) -> tuple[Gradients, dict[str, Tensor], dict[str, bool]]:
    """Each network's gradient for one step, stage by stage (the forward under autocast, the
    gradients outside it); the step's stats; and which networks step (False: gated)."""
    grads: Gradients = {}
    stats: dict[str, Tensor] = {}
    skip: set[str] = set()
    names: dict[str, None] = {}  # the networks with a loss, in order
    built = stages(model, x, cfg, generator, dist, y, kl_weight)
    while True:
        with precision.autocast():
            stage = next(built, None)
        if stage is None:
            break
        stats |= dist.mean_stats(stage.stats)
        names |= dict.fromkeys(name for term in stage.terms for name in term.factors)
        if stage.gates:
            gated = gate(stats, cfg, model.cfg.base_variant)
            skip = {name for name, update in gated.items() if not update}
        grads = add(grads, stage_gradients(model, stage, skip, precision))
        del stage  # its graph and outputs go before the next stage is built
    updates = {name: name not in skip for name in names}
    return {name: g for name, g in grads.items() if name not in skip}, stats, updates


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
    grads, stats, updates = step_gradients(model, x, cfg, generator, dist, precision, y, kl_weight)
    grads = dist.mean_gradients(grads, model)
    nets = model.networks()
    for name, net_grads in grads.items():
        for p, g in zip(nets[name].parameters(), net_grads, strict=True):
            p.grad = g
        precision.step(optimizers[name])
    precision.update()
    # Python floats: which networks stepped is already known on the host.
    return stats | {f"updated_{name}": float(update) for name, update in updates.items()}
