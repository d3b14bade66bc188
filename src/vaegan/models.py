"""Enc, Dec (= Gen) and Dis of PAPER.md §1, built from the image size, and the model of all 3."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vaegan.config import ModelConfig
from vaegan.errors import VaeganError

# The code's BN: running = 0.9 * running + 0.1 * batch (PyTorch counts momentum the other way).
BN_MOMENTUM = 0.1
BN_EPS = 1e-6


def conv(c_in: int, c_out: int, *, stride: int, bias: bool) -> nn.Conv2d:
    """5x5 convolution with "same" padding: stride 2 halves the side exactly."""
    return nn.Conv2d(c_in, c_out, 5, stride=stride, padding=2, bias=bias)


def conv_transpose(c_in: int, c_out: int) -> nn.ConvTranspose2d:
    """5x5 transposed convolution, stride 2, "same": doubles the side exactly."""
    return nn.ConvTranspose2d(c_in, c_out, 5, stride=2, padding=2, output_padding=1, bias=False)


def bn2d(c: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(c, eps=BN_EPS, momentum=BN_MOMENTUM)


def bn1d(c: int) -> nn.BatchNorm1d:
    return nn.BatchNorm1d(c, eps=BN_EPS, momentum=BN_MOMENTUM)


def init_weights(module: nn.Module) -> None:
    """Glorot-style init with gain 1 and zero biases, as the code's AutoFiller."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.xavier_normal_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


class Encoder(nn.Module):
    """x (B, C, H, W) -> mu, logvar (B, z): stride-2 convs + BN + ReLU, FC + BN + ReLU, heads."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c_in = cfg.channels
        for c in cfg.enc_channels:
            layers += [conv(c_in, c, stride=2, bias=False), bn2d(c), nn.ReLU()]
            c_in = c
        flat = c_in * cfg.base_size**2
        layers += [nn.Flatten(), nn.Linear(flat, cfg.enc_hidden, bias=False)]
        layers += [bn1d(cfg.enc_hidden), nn.ReLU()]
        self.body = nn.Sequential(*layers)
        # mu and logvar heads fused into one matmul; the code's "log_sigma" is log sigma^2 (trap 9)
        self.head = nn.Linear(cfg.enc_hidden, 2 * cfg.z_dim)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        mu, logvar = self.head(self.body(x)).chunk(2, dim=1)
        return mu, logvar


class Decoder(nn.Module):
    """z (B, z) -> x (B, C, H, W) in [-1, 1]: FC to the base map, stride-2 transposed convs."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        c0, s = cfg.dec_channels[0], cfg.base_size
        layers: list[nn.Module] = [
            nn.Linear(cfg.z_dim, c0 * s * s, bias=False),
            bn1d(c0 * s * s),
            nn.ReLU(),
            nn.Unflatten(1, (c0, s, s)),
        ]
        c_in = c0
        for c in cfg.dec_channels:
            layers += [conv_transpose(c_in, c), bn2d(c), nn.ReLU()]
            c_in = c
        layers += [conv(c_in, cfg.channels, stride=1, bias=True), nn.Tanh()]
        self.body = nn.Sequential(*layers)

    def forward(self, z: Tensor) -> Tensor:
        return self.body(z)


class Discriminator(nn.Module):
    """x (B, C, H, W) -> (features Dis_l(x), logit (B,)).

    A stride-1 conv without BN, then stride-2 convs + BN + ReLU, FC + BN + ReLU, FC to one logit.
    The feature layer is the output of conv `feature_conv` before its BN and ReLU (trap 7).
    """

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        c_first = cfg.dis_first_channels
        self.convs = nn.ModuleList([conv(cfg.channels, c_first, stride=1, bias=True)])
        self.norms = nn.ModuleList([nn.Identity()])
        c_in = c_first
        for c in cfg.dis_channels:
            self.convs.append(conv(c_in, c, stride=2, bias=False))
            self.norms.append(bn2d(c))
            c_in = c
        self.feature_index = cfg.feature_conv % len(self.convs)
        flat = c_in * cfg.base_size**2
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(flat, cfg.dis_hidden, bias=False),
            bn1d(cfg.dis_hidden),
            nn.ReLU(),
            nn.Linear(cfg.dis_hidden, 1),
        )

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        h, features = x, x
        for i, (conv_layer, norm) in enumerate(zip(self.convs, self.norms, strict=True)):
            h = conv_layer(h)
            if i == self.feature_index:
                features = h
            h = F.relu(norm(h))
        return features, self.classifier(h).squeeze(1)


@contextlib.contextmanager
def evaluating(module: nn.Module) -> Iterator[None]:
    """BN on running statistics for inference (trap 13); restores the previous mode."""
    was_training = module.training
    module.eval()
    try:
        yield
    finally:
        module.train(was_training)


class VAEGAN(nn.Module):
    """Enc, Dec and Dis of one variant (`gan` has no Enc, `vae` no Dis).

    Inference methods take images as floats in [-1, 1], shaped (B, C, H, W), and run in eval mode.
    """

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.enc = Encoder(cfg) if cfg.has_encoder else None
        self.dec = Decoder(cfg)
        self.dis = Discriminator(cfg) if cfg.has_discriminator else None
        init_weights(self)

    def networks(self) -> dict[str, nn.Module]:
        """The networks that exist in this variant, each trained by its own optimizer."""
        nets = {"enc": self.enc, "dec": self.dec, "dis": self.dis}
        return {name: net for name, net in nets.items() if net is not None}

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def _require_encoder(self) -> nn.Module:
        if self.enc is None:
            raise VaeganError(
                f"a '{self.cfg.variant}' model has no encoder: it cannot encode images"
            )
        return self.enc

    @torch.inference_mode()
    def encode(self, x: Tensor) -> Tensor:
        """Images -> z = mu(x): the test-time code uses the mean, no sampling (trap 12)."""
        enc = self._require_encoder()
        with evaluating(enc):
            return enc(x.to(self.device))[0]

    @torch.inference_mode()
    def decode(self, z: Tensor) -> Tensor:
        with evaluating(self.dec):
            return self.dec(z.to(self.device))

    def sample(self, n: int, *, generator: torch.Generator | None = None) -> Tensor:
        """Decode n draws of z ~ N(0, I)."""
        z = torch.randn(n, self.cfg.z_dim, generator=generator, device=self.device)
        return self.decode(z)

    def reconstruct(self, x: Tensor) -> Tensor:
        return self.decode(self.encode(x))
