"""Algorithm 1: each network's gradient is exactly the gradient of its own loss (METHOD.md §3)."""

import copy
from dataclasses import replace

import pytest
import torch

import vaegan.step as step_module
from vaegan.config import VARIANTS, LossConfig, ModelConfig, OptimConfig
from vaegan.losses import discriminator_loss, gaussian_nll, generator_loss
from vaegan.models import VAEGAN
from vaegan.optim import make_optimizers
from vaegan.step import gate, stages, step_gradients, train_step

B, Z = 4, 6
DEFAULTS = LossConfig()
ATTRIBUTES = ("Smiling", "Male", "Eyeglasses")  # the condition of the conditional variants


def tiny_model(variant: str, seed: int = 0, **options) -> VAEGAN:
    torch.manual_seed(seed)
    cfg = ModelConfig(variant=variant, image_size=16, channels=1, z_dim=Z, width=0.125, **options)
    if cfg.conditional:
        cfg = replace(cfg, condition=ATTRIBUTES, condition_kind="binary")
    return VAEGAN(cfg)


def batch(seed: int = 1) -> torch.Tensor:
    return torch.rand(B, 1, 16, 16, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def condition(model, seed: int = 3) -> torch.Tensor | None:
    """A 0/1 condition per image for conditional models, None for the others."""
    if not model.cfg.conditional:
        return None
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 2, (B, len(ATTRIBUTES)), generator=g).float()


def network_gradients(model, x, cfg=DEFAULTS, seed=2, kl_weight=1.0):
    """Every network's gradient as train_step takes it, with the gating off."""
    g, y = torch.Generator().manual_seed(seed), condition(model)
    cfg = replace(cfg, margin=None)
    grads, stats, _ = step_gradients(model, x, cfg, g, y=y, kl_weight=kl_weight)
    return grads, stats


def reference_dis_loss(logits, real_weight):
    """Weighted BCE with torch's own function: real images first, then the fakes."""
    real, fake = logits[:B], logits[B:]
    bce = torch.nn.functional.binary_cross_entropy_with_logits
    return real_weight * bce(real, torch.ones_like(real)) + (1 - real_weight) * bce(
        fake, torch.zeros_like(fake)
    )


def repeated(y, times):
    """The condition of `times` stacked copies of the batch."""
    return None if y is None else torch.cat([y] * times)


def reference_run(model, x, cfg, g, y):
    """mu, logvar, X_tilde for L_llike, and the fakes Dis sees; the noise drawn in `forward`'s
    order (eps, then z_p)."""
    variant = model.cfg.base_variant
    if variant == "gan":
        z_p = torch.randn(B, Z, generator=g)
        return None, None, None, model.dec(z_p, y)
    mu, logvar = model.enc(x, y)
    z = mu + (0.5 * logvar).exp() * torch.randn(mu.shape, generator=g)
    if variant == "vae":
        return mu, logvar, model.dec(z, y), None
    z_p = torch.randn(B, Z, generator=g)
    if cfg.layout == "code":  # Dec on Z alone for L_llike, then on [Z; Z_p] for L_GAN
        x_tilde = model.dec(z, y)
        return mu, logvar, x_tilde, model.dec(torch.cat([z, z_p]), repeated(y, 2))
    fakes = model.dec(torch.cat([z, z_p]), repeated(y, 2))
    return mu, logvar, fakes[:B], fakes


def reference_prior(mu, logvar, cfg, kl_weight):
    kl = -0.5 * (1 + logvar - mu**2 - logvar.exp())  # by hand, per image and dimension
    return kl_weight * kl.mean(0).clamp(min=cfg.free_bits).sum()


def reference_dis_objective(logits, x_real, cfg):
    """Dis's loss with the R1 penalty when asked."""
    loss = reference_dis_loss(logits, cfg.real_weight)
    if cfg.r1 > 0:
        (grad,) = torch.autograd.grad(logits[:B].sum(), x_real, create_graph=True)
        loss = loss + cfg.r1 / 2 * grad.square().sum((1, 2, 3)).mean()
    return loss


def reference_adversarial(logits, cfg):
    return generator_loss(logits[B:], B, saturating=cfg.generator_loss == "saturating")


def reference_gan_loss(name, model, x_real, fakes, cfg, y):
    if name == "dis":
        fakes = fakes.detach()
    _, logits = model.dis(torch.cat([x_real, fakes]), repeated(y, 2))
    if name == "dis":
        return reference_dis_objective(logits, x_real, cfg)
    return reference_adversarial(logits, cfg)


def reference_vaegan_loss(name, model, x, x_real, run, cfg, y, kl_weight):
    """VAE/GAN and VAE_Disl: network `name`'s loss, Dec's images detached for Dis."""
    mu, logvar, x_tilde, fakes = run
    if name == "dis":  # Dis sees Dec's images as inputs only
        x_tilde, fakes = x_tilde.detach(), fakes.detach()
    features, logits = model.dis(torch.cat([x_real, fakes]), repeated(y, 3))
    if cfg.layout == "code":  # a Dis_l pass of its own over [X_tilde; X]
        h = model.dis.features(torch.cat([x_tilde, x]), repeated(y, 2))
        l_llike = gaussian_nll(h[:B], h[B:].detach(), cfg.feature_sigma)
    else:
        l_llike = gaussian_nll(features[B : 2 * B], features[:B].detach(), cfg.feature_sigma)
    l_llike = l_llike + cfg.pixel_weight * gaussian_nll(x_tilde, x, cfg.pixel_sigma)
    if name == "enc":
        return reference_prior(mu, logvar, cfg, kl_weight) + l_llike
    if name == "dis":
        return reference_dis_objective(logits, x_real, cfg)
    if model.cfg.base_variant == "vae_disl":
        return l_llike
    return cfg.gamma * l_llike + reference_adversarial(logits, cfg)


def reference_loss(name, model, x, run, cfg, y, kl_weight):
    """Network `name`'s loss from one forward of the other networks, frozen."""
    variant = model.cfg.base_variant
    x_real = x.clone().requires_grad_(cfg.r1 > 0)
    if variant == "vae":
        mu, logvar, x_tilde, _ = run
        l_llike = gaussian_nll(x_tilde, x, cfg.pixel_sigma)
        return l_llike + (reference_prior(mu, logvar, cfg, kl_weight) if name == "enc" else 0)
    if variant == "gan":
        return reference_gan_loss(name, model, x_real, run[3], cfg, y)
    return reference_vaegan_loss(name, model, x, x_real, run, cfg, y, kl_weight)


def reference_gradients(model, x, cfg=DEFAULTS, seed=2, kl_weight=1.0):
    """Each network's gradient the way most ports get it: detach inputs, freeze other nets.

    Draws the same noise in the same order as `forward` (eps, then z_p).
    """
    g = torch.Generator().manual_seed(seed)
    nets = model.networks()
    y = condition(model)
    out = {}
    state = torch.random.get_rng_state()
    for name, net in nets.items():
        g.manual_seed(seed)
        torch.random.set_rng_state(state)
        for other_name, other in nets.items():
            other.requires_grad_(other_name == name)
        loss = reference_loss(name, model, x, reference_run(model, x, cfg, g, y), cfg, y, kl_weight)
        for each in nets.values():
            each.zero_grad(set_to_none=True)
        loss.backward()
        out[name] = tuple(p.grad.clone() for p in net.parameters())
    for each in nets.values():
        each.requires_grad_(True)
    return out


def assert_same(a, b, atol=1e-7):
    assert len(a) == len(b)
    for ga, gb in zip(a, b, strict=True):
        torch.testing.assert_close(ga, gb, rtol=1e-4, atol=atol)


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("generator_loss_kind", ["saturating", "non_saturating"])
@pytest.mark.parametrize("layout", ["code", "fused"])
def test_each_network_gets_exactly_its_own_gradient(variant, generator_loss_kind, layout):
    cfg = LossConfig(
        gamma=0.3, feature_sigma=2.0, generator_loss=generator_loss_kind, layout=layout
    )
    model, x = tiny_model(variant), batch()
    ours, _ = network_gradients(model, x, cfg)
    ref = reference_gradients(model, x, cfg)
    assert set(ours) == set(ref) == set(model.networks())
    for name in ours:
        assert_same(ours[name], ref[name])
        assert any(g.abs().sum() > 0 for g in ours[name])


@pytest.mark.parametrize("variant", ["vaegan", "gan", "vae", "cvaegan"])
def test_quality_options_keep_each_network_to_its_own_gradient(variant):
    """R1 on real images, free bits and a KL weight, a pixel term beside the learned one, Dis
    with spectral normalisation."""
    cfg = LossConfig(
        gamma=0.3, r1=2.0, free_bits=0.05, layout="code", pixel_weight=0.7, pixel_sigma=0.5
    )
    model, x = tiny_model(variant, dis_norm="spectral"), batch()
    if model.dis is not None:  # converge spectral norm's power iteration: each pass moves it
        with torch.no_grad():
            for _ in range(100):
                model.dis(x, condition(model))
    state = {k: v.clone() for k, v in model.state_dict().items()}
    ours, stats = network_gradients(model, x, cfg, kl_weight=0.4)
    model.load_state_dict(state)
    ref = reference_gradients(model, x, cfg, kl_weight=0.4)
    for name in ours:  # the power iteration's last digits still move between passes
        assert_same(ours[name], ref[name], atol=1e-5)
    if variant != "vae":
        assert stats["r1"] > 0


def scaled(fn, factor):
    return lambda *a, **k: factor * fn(*a, **k)


@pytest.mark.parametrize("variant", ["vaegan", "vae_disl", "cvaegan"])
def test_enc_gradient_ignores_gan_loss(variant, monkeypatch):
    model, x = tiny_model(variant), batch()
    before, _ = network_gradients(model, x)
    monkeypatch.setattr(step_module, "discriminator_loss", scaled(discriminator_loss, 10.0))
    monkeypatch.setattr(step_module, "generator_loss", scaled(generator_loss, 10.0))
    after, _ = network_gradients(model, x)
    assert_same(before["enc"], after["enc"])
    assert not torch.allclose(before["dis"][0], after["dis"][0])  # the scaling did act
    if variant != "vae_disl":
        assert not torch.allclose(before["dec"][0], after["dec"][0])
    else:  # VAE_{Dis_l}: no GAN gradient reaches Dec either
        assert_same(before["dec"], after["dec"])


@pytest.mark.parametrize("variant", ["vaegan", "vae_disl", "cvaegan"])
def test_dis_gradient_ignores_llike(variant, monkeypatch):
    model, x = tiny_model(variant), batch()
    before, _ = network_gradients(model, x)
    monkeypatch.setattr(step_module, "gaussian_nll", scaled(gaussian_nll, 10.0))
    after, _ = network_gradients(model, x)
    assert_same(before["dis"], after["dis"])
    assert not torch.allclose(before["enc"][0], after["enc"][0])


def test_llike_gradient_flows_through_dis_into_enc():
    model, x = tiny_model("vaegan"), batch()
    llike_half = next(stages(model, x, LossConfig(), torch.Generator().manual_seed(0)))
    (term,) = llike_half.terms  # Enc's loss, whose pass also gives Dec's share of L_llike
    assert term.factors == {"enc": 1.0, "dec": LossConfig().gamma}
    l_llike_only = term.loss - llike_half.stats["l_prior"]  # the part Dis_l carries
    grads = torch.autograd.grad(l_llike_only, list(model.enc.parameters()))
    assert sum(g.abs().sum() for g in grads) > 0


@pytest.mark.parametrize(
    "costs,expected",
    [
        ((0.7, 0.7), {"dis": True, "dec": True}),
        ((0.2, 0.7), {"dis": False, "dec": True}),  # Dis too strong on reals
        ((0.7, 1.2), {"dis": True, "dec": False}),  # Dis too weak on fakes
        ((0.2, 1.2), {"dis": True, "dec": True}),  # both skipped -> both updated
    ],
)
def test_equilibrium_gating(costs, expected):
    stats = {"cost_real": torch.tensor(costs[0]), "cost_fake": torch.tensor(costs[1])}
    assert gate(stats, LossConfig(equilibrium=0.68, margin=0.35), "vaegan") == expected
    assert gate(stats, LossConfig(margin=None), "vaegan") == {}
    assert gate(stats, LossConfig(), "vae_disl") == {"dis": expected["dis"]}


def test_gated_network_does_not_move():
    model, x = tiny_model("vaegan"), batch()
    optimizers = make_optimizers(model, OptimConfig())
    # equilibrium far above any cost: every cost is "too low" -> Dis skipped, Dec updated
    cfg = LossConfig(equilibrium=100.0, margin=0.1)
    dis_before = [p.clone() for p in model.dis.parameters()]
    dec_before = [p.clone() for p in model.dec.parameters()]
    stats = train_step(model, optimizers, x, cfg, torch.Generator().manual_seed(0))
    assert stats["updated_dis"] == 0.0 and stats["updated_dec"] == 1.0
    assert all(torch.equal(a, b) for a, b in zip(dis_before, model.dis.parameters(), strict=True))
    assert not all(
        torch.equal(a, b) for a, b in zip(dec_before, model.dec.parameters(), strict=True)
    )


def test_dec_skipped_when_dis_is_too_weak_while_enc_steps():
    model, x = tiny_model("vaegan"), batch()
    optimizers = make_optimizers(model, OptimConfig())
    # equilibrium far below any cost: every cost is "too high" -> Dec skipped (and Dis updated)
    cfg = LossConfig(equilibrium=1e-3, margin=1e-4)
    before = {name: [p.clone() for p in net.parameters()] for name, net in model.networks().items()}
    stats = train_step(model, optimizers, x, cfg, torch.Generator().manual_seed(0))
    assert (stats["updated_dec"], stats["updated_dis"], stats["updated_enc"]) == (0.0, 1.0, 1.0)
    for name, net in model.networks().items():
        moved = not all(
            torch.equal(a, b) for a, b in zip(before[name], net.parameters(), strict=True)
        )
        assert moved == (name != "dec"), name


@pytest.mark.parametrize("variant", VARIANTS)
def test_training_lowers_the_loss_on_a_fixed_batch(variant):
    model, x = tiny_model(variant), batch()
    optimizers = make_optimizers(model, OptimConfig(lr=1e-3))
    cfg = LossConfig(margin=None)
    # With a Dis (gan, vaegan, vae_disl), Enc's loss chases Dis's moving features, so watch Dis,
    # which must learn to tell the fixed batch from fakes (the sign of L_GAN, pitfall 1).
    watched = "dis" if model.cfg.has_discriminator else "enc"
    y = condition(model)

    def loss_now():
        with torch.no_grad():
            built = stages(model, x, cfg, torch.Generator().manual_seed(0), y=y)
            losses = {n: t.loss for stage in built for t in stage.terms for n in t.factors}
        return losses[watched].item()

    first = loss_now()
    for i in range(50):
        train_step(model, optimizers, x, cfg, torch.Generator().manual_seed(i), y=y)
    assert loss_now() < 0.7 * first


@pytest.mark.parametrize(
    "variant,layout,passes",
    [
        ("vae", "code", 1),  # Enc's loss gives Dec's gradient too
        ("gan", "code", 2),
        ("vae_disl", "code", 2),  # Enc + Dec, Dis
        ("vae_disl", "fused", 2),
        ("vaegan", "code", 3),  # Enc + Dec's share of L_llike, Dec's GAN term, Dis
        ("vaegan", "fused", 3),  # Enc, Dec, Dis: Dec's upstream at Dis differs from Enc's
    ],
)
def test_backward_passes_per_step(variant, layout, passes, monkeypatch):
    """Networks whose gradients one pass gives share it (Term.factors)."""
    model, x = tiny_model(variant), batch()
    calls, grad = [], torch.autograd.grad
    monkeypatch.setattr(torch.autograd, "grad", lambda *a, **k: calls.append(1) or grad(*a, **k))
    cfg = replace(DEFAULTS, layout=layout, margin=None)
    train_step(model, make_optimizers(model, OptimConfig()), x, cfg)
    assert len(calls) == passes


class SavedBytes:
    """What autograd graphs hold for their backward passes: a saved_tensors_hooks pack that
    counts the bytes until the graph lets go of them."""

    live = 0

    def __init__(self, tensor: torch.Tensor) -> None:
        self.tensor, self.size = tensor, tensor.numel() * tensor.element_size()
        SavedBytes.live += self.size

    def __del__(self) -> None:
        SavedBytes.live -= self.size


@pytest.mark.parametrize("variant", ["vaegan", "vae_disl", "cvaegan"])
def test_the_llike_half_is_freed_before_the_gan_half_is_built(variant):
    """Code layout: when Dec starts its GAN pass, nothing of Enc, Dec(Z) or Dis_l is alive."""
    model, x = tiny_model(variant), batch()
    passes, live_then = [], []

    def at_dec(module, args):
        passes.append(SavedBytes.live)
        if len(passes) == 2:  # the GAN half's Dec over [Z; Z_p]
            live_then.append(SavedBytes.live)

    handle = model.dec.register_forward_pre_hook(at_dec)
    SavedBytes.live = 0
    with torch.autograd.graph.saved_tensors_hooks(SavedBytes, lambda held: held.tensor):
        cfg = replace(DEFAULTS, margin=None)
        train_step(model, make_optimizers(model, OptimConfig()), x, cfg, y=condition(model))
    handle.remove()
    assert passes[0] > 0  # Enc's activations are held when Dec(Z) starts: the hook counts
    assert live_then == [0]


@pytest.mark.parametrize("variant", ["vaegan", "vae_disl", "cvaegan"])
@pytest.mark.parametrize("layout", ["code", "fused"])
def test_batchnorm_statistics_update_in_the_codes_order(variant, layout):
    """The stages run the forward passes in the code's order, so each BatchNorm's running
    statistics end where a plain forward in that order leaves them (Dec on Z, then on [Z; Z_p];
    Dis_l on [X_tilde; X], then Dis on [X; Dec(Z); Dec(Z_p)])."""
    model, x = tiny_model(variant), batch()
    reference = copy.deepcopy(model)
    cfg = replace(DEFAULTS, layout=layout, margin=None)
    y = condition(model)
    train_step(model, make_optimizers(model, OptimConfig()), x, cfg, generator(2), y=y)
    with torch.no_grad():
        _, _, x_tilde, fakes = reference_run(reference, x, cfg, generator(2), y)
        if layout == "code":
            reference.dis.features(torch.cat([x_tilde, x]), repeated(y, 2))
        reference.dis(torch.cat([x, fakes]), repeated(y, 3))
    buffers = dict(model.named_buffers())
    assert any(name.endswith("running_mean") for name in buffers)
    for name, expected in reference.named_buffers():
        assert torch.equal(buffers[name], expected), name
