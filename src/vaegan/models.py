"""Enc, Dec (= Gen) and Dis of METHOD.md §1, built from the image size, and the model of all 3."""

from __future__ import annotations

import contextlib
import copy
import itertools
import math
from collections.abc import Iterable, Iterator

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vaegan.config import ModelConfig
from vaegan.errors import VaeganError
from vaegan.images import as_model_images

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
    """BatchNorm over c feature maps with the code's eps and momentum (METHOD.md §1)."""
    return nn.BatchNorm2d(c, eps=BN_EPS, momentum=BN_MOMENTUM)


def bn1d(c: int) -> nn.BatchNorm1d:
    """BatchNorm over c features of an FC layer, with the code's eps and momentum."""
    return nn.BatchNorm1d(c, eps=BN_EPS, momentum=BN_MOMENTUM)


def autofiller_bound(weight: Tensor) -> float:
    """deeppy's AutoFiller(gain=1): U(-a, a) with a = 1 / sqrt(3 fan_in), std 1 / (3 sqrt(fan_in)).

    deeppy's fan_in is prod(shape[1:]) of a 4-d filter, which in torch's layouts is c_in k k for a
    conv (c_out, c_in, k, k) and c_out k k for a transposed conv (c_in, c_out, k, k), exactly as
    deeppy's own layouts give; and the input size of an FC layer (torch: shape[1]).
    """
    fan_in = math.prod(weight.shape[1:])
    return 1 / math.sqrt(3 * fan_in)


def init_weights(module: nn.Module, kind: str = "autofiller") -> None:
    """Conv/FC weights by the code's AutoFiller ("autofiller") or Glorot normal ("xavier");
    zero biases (deeppy's default). BN starts at scale 1, shift 0."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            if kind == "autofiller":
                a = autofiller_bound(m.weight)
                nn.init.uniform_(m.weight, -a, a)
            else:
                nn.init.xavier_normal_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


class JoinCondition(nn.Module):
    """Where the condition y (B, K) joins a conditional network (METHOD.md §5.3): concatenated to
    a flat vector, or broadcast to K constant feature maps appended to a conv input (the code's
    AppendSpatially). No parameters: the layer after it takes K more inputs."""

    def forward(self, h: Tensor, y: Tensor) -> Tensor:
        """h (B, F) or (B, C, H, W) with y appended: (B, F + K) or (B, C + K, H, W)."""
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
        # mu and logvar heads in one matmul; the code's "log_sigma" is log sigma^2 (pitfall 9)
        self.head = nn.Linear(cfg.enc_hidden, 2 * cfg.z_dim)

    def forward(self, x: Tensor, y: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Images (B, C, H, W) in [-1, 1] -> mu and log sigma^2 of q(z|x), each (B, z)."""
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
        """Codes (B, z) -> images (B, C, H, W) in [-1, 1] (training mode: batch statistics)."""
        return run_layers(self.body, z, y)


def joined_features(layers: list[Tensor]) -> Tensor:
    """One feature layer as it is (B, C, H, W); several flattened and concatenated (B, F)."""
    if len(layers) == 1:
        return layers[0]
    return torch.cat([h.flatten(1) for h in layers], dim=1)


class Discriminator(nn.Module):
    """x (B, C, H, W) -> (features Dis_l(x), logit (B,)).

    A stride-1 conv without BN, then stride-2 convs + BN + ReLU, FC + BN + ReLU, FC to one logit.
    The feature layer is the output of conv `feature_conv` before its BN and ReLU (pitfall 7); with
    several feature layers, their outputs flattened and concatenated (B, F).
    Conditional: y joins the image and the flattened conv features.
    """

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        c_first, k = cfg.dis_first_channels, cfg.condition_dim
        # Spectral normalisation replaces BN: BN would undo the Lipschitz bound it gives.
        batch = cfg.dis_norm == "batch"
        self.join = JoinCondition() if cfg.conditional else None
        self.convs = nn.ModuleList([conv(cfg.channels + k, c_first, stride=1, bias=True)])
        self.norms = nn.ModuleList([nn.Identity()])
        c_in = c_first
        for c in cfg.dis_channels:
            self.convs.append(conv(c_in, c, stride=2, bias=not batch))
            self.norms.append(bn2d(c) if batch else nn.Identity())
            c_in = c
        self.feature_indices = cfg.feature_convs
        flat = c_in * cfg.base_size**2
        self.classifier = nn.Sequential(
            nn.Flatten(),
            *joined(cfg),
            nn.Linear(flat + k, cfg.dis_hidden, bias=not batch),
            bn1d(cfg.dis_hidden) if batch else nn.Identity(),
            nn.ReLU(),
            nn.Linear(cfg.dis_hidden, 1),
        )

    def add_spectral_norm(self) -> None:
        """Spectral normalisation of every conv and FC weight (after their initialisation)."""
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.utils.parametrizations.spectral_norm(m)

    def features(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        """Dis_l(x) alone: the convs up to the feature layer, nothing after it."""
        return self(x, y, features_only=True)[0]

    def _features(self, x: Tensor, y: Tensor | None) -> Tensor:
        h = x if self.join is None else self.join(x, y)
        last, taken = self.feature_indices[-1], []
        for i in range(last + 1):
            h = self.convs[i](h)
            if i in self.feature_indices:
                taken.append(h)
            if i < last:
                h = F.relu(self.norms[i](h))
        return joined_features(taken)

    def _features_and_hidden(self, x: Tensor, y: Tensor | None) -> tuple[Tensor, Tensor]:
        """The one pass up to the hidden FC layer: (features Dis_l(x), hidden (B, dis_hidden))."""
        h = x if self.join is None else self.join(x, y)
        taken = []
        for i, (conv_layer, norm) in enumerate(zip(self.convs, self.norms, strict=True)):
            h = conv_layer(h)
            if i in self.feature_indices:
                taken.append(h)
            h = F.relu(norm(h))
        features = joined_features(taken)
        # All but the logit layer; islice, as slicing a Sequential builds a new one per call.
        hidden_layers = itertools.islice(self.classifier, len(self.classifier) - 1)
        return features, run_layers(hidden_layers, h, y)

    def hidden(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        """x -> the hidden FC layer (B, dis_hidden) after its BN and ReLU, before the logit."""
        return self._features_and_hidden(x, y)[1]

    def forward(
        self, x: Tensor, y: Tensor | None = None, features_only: bool = False
    ) -> tuple[Tensor, Tensor | None]:
        """(Dis_l(x), logit (B,)); features_only: (Dis_l(x), None), the layers after Dis_l unrun.
        Both through forward, so that a compiled Dis compiles both."""
        if features_only:
            return self._features(x, y), None
        features, hidden = self._features_and_hidden(x, y)
        return features, self.classifier[-1](hidden).squeeze(1)


@contextlib.contextmanager
def evaluating(module: nn.Module) -> Iterator[None]:
    """BN on running statistics for inference (pitfall 13); restores the previous mode."""
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
        init_weights(self, cfg.init)
        if self.dis is not None and cfg.dis_norm == "spectral":
            self.dis.add_spectral_norm()
        # The fitted prior sum_k w_k N(m_k, L_k L_k^T) (vaegan.prior); N(0, I) until its first fit.
        if cfg.prior == "fitted":
            k, z = cfg.prior_components, cfg.z_dim
            self.register_buffer("prior_weights", torch.full((k,), 1 / k))
            self.register_buffer("prior_means", torch.zeros(k, z))
            self.register_buffer("prior_scales", torch.eye(z).repeat(k, 1, 1))
        # Moving averages of Enc and Dec (optim.update_average), used for inference; frozen.
        self.averaged = nn.ModuleDict()
        if cfg.ema_decay is not None:
            for name in ("enc", "dec"):
                if getattr(self, name) is not None:
                    self.averaged[name] = copy.deepcopy(getattr(self, name)).requires_grad_(False)

    def networks(self) -> dict[str, nn.Module]:
        """The networks that exist in this variant, each trained by its own optimizer."""
        nets = {"enc": self.enc, "dec": self.dec, "dis": self.dis}
        return {name: net for name, net in nets.items() if net is not None}

    def compile_networks(self, **options) -> None:
        """torch.compile each trained network in place (parameter names, so checkpoints, stay).

        Each network's gradient re-walks graphs the others share (retain_graph), which compiled
        graphs with donated buffers refuse: donation is turned off, process-wide.
        """
        import torch._functorch.config

        torch._functorch.config.donated_buffer = False
        for net in self.networks().values():
            net.compile(**options)

    def inference_network(self, name: str) -> nn.Module:
        """Enc or Dec as inference uses it: the moving average where the model keeps one."""
        return self.averaged[name] if name in self.averaged else getattr(self, name)

    @property
    def device(self) -> torch.device:
        """Where the weights are (and where inputs are moved to)."""
        return next(self.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        """The weights' dtype (float32 unless the model was moved to bf16/fp16)."""
        return next(self.parameters()).dtype

    def _require_encoder(self) -> nn.Module:
        if self.enc is None:
            raise VaeganError(
                f"a '{self.cfg.variant}' model has no encoder: it cannot encode images"
            )
        return self.inference_network("enc")

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
        y = torch.as_tensor(y)
        if y.ndim != 2 or y.shape != (n, cfg.condition_dim):
            raise VaeganError(
                f"condition of shape {tuple(y.shape)} for {n} images; this model takes "
                f"({n}, {cfg.condition_dim}): one value per {cfg.condition_kind} "
                f"({', '.join(cfg.condition[:5])}, ...)"
            )
        return y.to(self.device, self.dtype)

    def _batched(
        self,
        net: nn.Module,
        inputs: Tensor,
        y: Tensor | None,
        batch_size: int,
        grad: bool,
        output: int | None = None,
    ) -> Tensor:
        """net(inputs, y) (its `output`-th result if it returns several) in eval mode,
        `batch_size` rows at a time; with `grad`, differentiable (latent optimisation), else
        under inference mode."""
        if batch_size < 1:
            raise VaeganError(f"batch_size {batch_size}: give at least 1")
        y = self.condition_for(y, len(inputs))
        outs = []
        with torch.enable_grad() if grad else torch.inference_mode(), evaluating(net):
            for i in range(0, max(len(inputs), 1), batch_size):  # an empty batch: empty out
                out = net(inputs[i : i + batch_size], None if y is None else y[i : i + batch_size])
                outs.append(out if output is None else out[output])
        return torch.cat(outs) if len(outs) != 1 else outs[0]

    def encode(
        self,
        x: Tensor | np.ndarray,
        y: Tensor | None = None,
        *,
        batch_size: int = 256,
        grad: bool = False,
    ) -> Tensor:
        """Images -> z = mu(x), (B, z_dim): the test-time code uses the mean, no sampling
        (pitfall 12). x: uint8 or floats in [-1, 1], (B, C, H, W) or (B, H, W, C)."""
        enc = self._require_encoder()
        cfg = self.cfg
        x = as_model_images(x, cfg.channels, cfg.image_size, self.dtype).to(self.device)
        return self._batched(enc, x, y, batch_size, grad, output=0)

    def decode(
        self,
        z: Tensor | np.ndarray,
        y: Tensor | None = None,
        *,
        batch_size: int = 256,
        grad: bool = False,
    ) -> Tensor:
        """Codes (B, z_dim) -> images (B, C, H, W) in [-1, 1], in the model's dtype."""
        z = torch.as_tensor(z)
        if z.ndim != 2 or z.shape[1] != self.cfg.z_dim:
            raise VaeganError(
                f"codes of shape {tuple(z.shape)}; this model takes (B, {self.cfg.z_dim})"
            )
        z = z.to(self.device, self.dtype)
        return self._batched(self.inference_network("dec"), z, y, batch_size, grad)

    def draw_codes(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """n codes (n, z) from the model's prior: N(0, I), or the fitted mixture (a component
        k ~ w, then m_k + L_k eps). The generator, if given, lives on the model's device."""
        eps = torch.randn(n, self.cfg.z_dim, generator=generator, device=self.device)
        if self.cfg.prior == "standard" or n == 0:
            return eps
        weights = self.prior_weights.float()  # a bf16/fp16 model's buffers: drawn in fp32
        k = torch.multinomial(weights, n, replacement=True, generator=generator)
        means, scales = self.prior_means.float()[k], self.prior_scales.float()[k]
        return means + (scales @ eps[:, :, None]).squeeze(2)

    def sample(
        self,
        n: int,
        y: Tensor | None = None,
        *,
        generator: torch.Generator | None = None,
        batch_size: int = 256,
        grad: bool = False,
    ) -> Tensor:
        """Decode n codes from the prior (N(0, I), or the fitted one) (given condition y (n, K)
        in a conditional model)."""
        z = self.draw_codes(n, generator)
        return self.decode(z, y, batch_size=batch_size, grad=grad)

    def reconstruct(
        self,
        x: Tensor | np.ndarray,
        y: Tensor | None = None,
        *,
        batch_size: int = 256,
        grad: bool = False,
    ) -> Tensor:
        """Images -> Dec(Enc's mean): (B, C, H, W) in [-1, 1]."""
        z = self.encode(x, y, batch_size=batch_size, grad=grad)
        return self.decode(z, y, batch_size=batch_size, grad=grad)
