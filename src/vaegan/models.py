"""Enc, Dec (= Gen) and Dis of PAPER.md §1, built from the image size, and the model of all 3."""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Iterable, Iterator

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


class JoinCondition(nn.Module):
    """Where the condition y (B, K) joins a conditional network (PAPER.md §5.3): concatenated to
    a flat vector, or broadcast to K constant feature maps appended to a conv input (the code's
    AppendSpatially). No parameters: the layer after it takes K more inputs."""

    def forward(self, h: Tensor, y: Tensor) -> Tensor:
        if h.ndim == 4:
            y = y[:, :, None, None].expand(-1, -1, *h.shape[2:])
        return torch.cat([h, y.to(h.dtype)], dim=1)


def run_layers(layers: Iterable[nn.Module], h: Tensor, y: Tensor | None) -> Tensor:
    """Layers (a Sequential, or some of one) that may include JoinCondition, which also takes y."""
    for layer in layers:
        h = layer(h, y) if isinstance(layer, JoinCondition) else layer(h)
    return h


def joined(cfg: ModelConfig) -> list[nn.Module]:
    """A JoinCondition layer in conditional models, nothing otherwise (so that unconditional
    models keep their parameter names)."""
    return [JoinCondition()] if cfg.conditional else []


class Encoder(nn.Module):
    """x (B, C, H, W) -> mu, logvar (B, z): stride-2 convs + BN + ReLU, FC + BN + ReLU, heads.

    Conditional: y joins the image and the flattened conv features.
    """

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        k = cfg.condition_dim
        layers: list[nn.Module] = joined(cfg)
        c_in = cfg.channels + k
        for c in cfg.enc_channels:
            layers += [conv(c_in, c, stride=2, bias=False), bn2d(c), nn.ReLU()]
            c_in = c
        flat = c_in * cfg.base_size**2
        layers += [nn.Flatten(), *joined(cfg), nn.Linear(flat + k, cfg.enc_hidden, bias=False)]
        layers += [bn1d(cfg.enc_hidden), nn.ReLU()]
        self.body = nn.Sequential(*layers)
        # mu and logvar heads fused into one matmul; the code's "log_sigma" is log sigma^2 (trap 9)
        self.head = nn.Linear(cfg.enc_hidden, 2 * cfg.z_dim)

    def forward(self, x: Tensor, y: Tensor | None = None) -> tuple[Tensor, Tensor]:
        mu, logvar = self.head(run_layers(self.body, x, y)).chunk(2, dim=1)
        return mu, logvar


class Decoder(nn.Module):
    """z (B, z) -> x (B, C, H, W) in [-1, 1]: FC to the base map, stride-2 transposed convs.

    Conditional: y joins z and the base feature map.
    """

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        c0, s, k = cfg.dec_channels[0], cfg.base_size, cfg.condition_dim
        layers: list[nn.Module] = [
            *joined(cfg),
            nn.Linear(cfg.z_dim + k, c0 * s * s, bias=False),
            bn1d(c0 * s * s),
            nn.ReLU(),
            nn.Unflatten(1, (c0, s, s)),
            *joined(cfg),
        ]
        c_in = c0 + k
        for c in cfg.dec_channels:
            layers += [conv_transpose(c_in, c), bn2d(c), nn.ReLU()]
            c_in = c
        layers += [conv(c_in, cfg.channels, stride=1, bias=True), nn.Tanh()]
        self.body = nn.Sequential(*layers)

    def forward(self, z: Tensor, y: Tensor | None = None) -> Tensor:
        return run_layers(self.body, z, y)


class Discriminator(nn.Module):
    """x (B, C, H, W) -> (features Dis_l(x), logit (B,)).

    A stride-1 conv without BN, then stride-2 convs + BN + ReLU, FC + BN + ReLU, FC to one logit.
    The feature layer is the output of conv `feature_conv` before its BN and ReLU (trap 7).
    Conditional: y joins the image and the flattened conv features.
    """

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        c_first, k = cfg.dis_first_channels, cfg.condition_dim
        self.join = JoinCondition() if cfg.conditional else None
        self.convs = nn.ModuleList([conv(cfg.channels + k, c_first, stride=1, bias=True)])
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
            *joined(cfg),
            nn.Linear(flat + k, cfg.dis_hidden, bias=False),
            bn1d(cfg.dis_hidden),
            nn.ReLU(),
            nn.Linear(cfg.dis_hidden, 1),
        )

    def _features_and_hidden(self, x: Tensor, y: Tensor | None) -> tuple[Tensor, Tensor]:
        """The one pass up to the hidden FC layer: (features Dis_l(x), hidden (B, dis_hidden))."""
        h = x if self.join is None else self.join(x, y)
        features = h
        for i, (conv_layer, norm) in enumerate(zip(self.convs, self.norms, strict=True)):
            h = conv_layer(h)
            if i == self.feature_index:
                features = h
            h = F.relu(norm(h))
        # All but the logit layer; islice, as slicing a Sequential builds a new one per call.
        hidden_layers = itertools.islice(self.classifier, len(self.classifier) - 1)
        return features, run_layers(hidden_layers, h, y)

    def hidden(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        """x -> the hidden FC layer (B, dis_hidden) after its BN and ReLU, before the logit."""
        return self._features_and_hidden(x, y)[1]

    def forward(self, x: Tensor, y: Tensor | None = None) -> tuple[Tensor, Tensor]:
        features, hidden = self._features_and_hidden(x, y)
        return features, self.classifier[-1](hidden).squeeze(1)


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
        if cfg.conditional and not cfg.condition:
            raise VaeganError(
                f"a '{cfg.variant}' model needs model.condition (the names of its classes or "
                "attributes; training fills it in from the data)"
            )
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

    def condition_for(self, y: Tensor | None, n: int) -> Tensor | None:
        """y checked against the model: (n, K) floats for a conditional model, None otherwise."""
        cfg = self.cfg
        if not cfg.conditional:
            if y is not None:
                raise VaeganError(f"a '{cfg.variant}' model takes no condition")
            return None
        if y is None:
            raise VaeganError(
                f"a '{cfg.variant}' model needs a condition: {cfg.condition_dim} values "
                f"({cfg.condition_kind}: {', '.join(cfg.condition[:5])}, ...)"
            )
        if y.ndim != 2 or y.shape != (n, cfg.condition_dim):
            raise VaeganError(
                f"condition of shape {tuple(y.shape)} for {n} images; this model takes "
                f"({n}, {cfg.condition_dim}): one value per {cfg.condition_kind} "
                f"({', '.join(cfg.condition[:5])}, ...)"
            )
        return y.to(self.device, torch.float32)

    @torch.inference_mode()
    def encode(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        """Images -> z = mu(x): the test-time code uses the mean, no sampling (trap 12)."""
        enc = self._require_encoder()
        y = self.condition_for(y, len(x))
        with evaluating(enc):
            return enc(x.to(self.device), y)[0]

    @torch.inference_mode()
    def decode(self, z: Tensor, y: Tensor | None = None) -> Tensor:
        y = self.condition_for(y, len(z))
        with evaluating(self.dec):
            return self.dec(z.to(self.device), y)

    def sample(
        self, n: int, y: Tensor | None = None, *, generator: torch.Generator | None = None
    ) -> Tensor:
        """Decode n draws of z ~ N(0, I) (given condition y (n, K) in a conditional model)."""
        z = torch.randn(n, self.cfg.z_dim, generator=generator, device=self.device)
        return self.decode(z, y)

    def reconstruct(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        return self.decode(self.encode(x, y), y)
