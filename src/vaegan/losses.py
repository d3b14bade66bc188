"""The losses of METHOD.md §2 as pure functions: tensors in, scalar out.

Reduction everywhere: summed over the elements of one sample, averaged over the batch. The code sums
over the batch as well and divides its learning rate by the batch size, which is the same update.
Inputs are taken to fp32 first: under bf16/fp16 autocast a sum over 16,384 feature errors would
lose its precision (or overflow).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def kl_prior(mu: Tensor, logvar: Tensor, free_bits: float = 0.0) -> Tensor:
    """L_prior = KL(q(z|x) || N(0, I)) = -1/2 sum_j (1 + log s_j^2 - mu_j^2 - s_j^2)  (§2).

    mu, logvar: (B, z). `logvar` is log sigma^2 (pitfall 9). With free bits (a deviation, off in
    the code) each dimension's batch-mean KL counts as at least `free_bits` nats, so the gradient
    stops pulling a dimension towards the prior once it is below that.
    """
    mu, logvar = mu.float(), logvar.float()
    per_dim = -0.5 * (1 + logvar - mu.square() - logvar.exp()).mean(dim=0)  # (z,)
    if free_bits > 0:
        per_dim = per_dim.clamp(min=free_bits)
    return per_dim.sum()


def gaussian_nll(x_tilde: Tensor, x: Tensor, sigma: float = 1.0) -> Tensor:
    """-log N(x | x_tilde, sigma^2 I) without its constant: 1/2 sum ((x - x_tilde) / sigma)^2.

    Both (B, ...). As L_llike^{Dis_l} (eq. 7) on Dis_l features with sigma = 1, the code's
    GaussianNegLogLikelihood; as the plain VAE's pixel-wise L_llike^{pixel} (eqs. 2-4) on images.
    """
    return 0.5 * ((x.float() - x_tilde.float()) / sigma).square().flatten(1).sum(dim=1).mean()


def gan_costs(logit_real: Tensor, logit_fake: Tensor) -> tuple[Tensor, Tensor]:
    """(mean -log D(x), mean -log(1 - D(x_fake))): the two halves of Dis's BCE (eqs. 5 and 8).

    logit_real: (B,); logit_fake: (F,), here the F = 2B images Dec(Enc(x)) and Dec(z_p). Their
    detached values are also the code's real and fake costs for the equilibrium gating. Computed on
    logits: exact where the code adds 1e-3 inside the log.
    """
    return F.softplus(-logit_real.float()).mean(), F.softplus(logit_fake.float()).mean()


def discriminator_loss(cost_real: Tensor, cost_fake: Tensor, real_weight: float) -> Tensor:
    """Dis's side of L_GAN, minimised: -[log D(x) + log(1 - D(x_fake))], from `gan_costs`.

    The code weights real images by `real_weight` and shares 1 - real_weight among the fakes
    (0.66 vs 0.17 each for F = 2B, pitfall 11); with the batch-size reduction that is a weighted
    mean of the two halves.
    """
    return real_weight * cost_real + (1 - real_weight) * cost_fake


def generator_loss(logit_fake: Tensor, batch_size: int, *, saturating: bool = True) -> Tensor:
    """Dec's adversarial term, summed over the F fakes and divided by the batch size B.

    Saturating (the code, pitfall 2): minimise log(1 - D(G)) = -softplus(l).
    Non-saturating (a deviation): minimise -log D(G) = softplus(-l).
    The code's Dec gets the unweighted gradient summed over both fakes, hence sum / B.
    """
    logit_fake = logit_fake.float()
    per_fake = -F.softplus(logit_fake) if saturating else F.softplus(-logit_fake)
    return per_fake.sum() / batch_size


def r1_penalty(logit_real: Tensor, x: Tensor) -> Tensor:
    """E ||grad_x logit(x)||^2 over real images x (B, ...) that require grad (Mescheder et al.,
    2018; a deviation, off in the code). Kept in the graph, so that Dis's gradient includes it."""
    (grad,) = torch.autograd.grad(logit_real.sum(), x, create_graph=True)
    return grad.float().square().flatten(1).sum(dim=1).mean()
