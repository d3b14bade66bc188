"""Run configuration: frozen dataclasses, composed, with a strict JSON round trip.

Defaults follow the authors' code (METHOD.md §7); every deviation is marked where it is used.
"""

from __future__ import annotations

import dataclasses
import json
import math
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from vaegan.errors import ConfigError
from vaegan.files import atomic_write_text

# The conditional variants (METHOD.md §5.3) are the first three with a condition y given to every
# network: cvaegan, cvae, cgan.
Variant = Literal["vaegan", "vae", "gan", "vae_disl", "cvaegan", "cvae", "cgan"]
VARIANTS: tuple[str, ...] = typing.get_args(Variant)
# What a condition's entries are: one-hot classes, 0/1 attributes, or real-valued attribute scores.
ConditionKind = Literal["class", "binary", "real"]

# The authors' code at the commit the paper's figures come from (arXiv version), whose training
# the defaults below follow: github.com/andersbll/autoencoding_beyond_pixels.
AUTHORS_CODE_COMMIT = "1906387"
# deeppy's learning rates and weight decay are for losses summed over the batch of 64.
CODE_BATCH = 64
# Upper bounds far beyond any sensible run, so that a typo fails with a message instead of an
# allocation of hundreds of gigabytes (the paper: z 128, 64 px, width 1, batch 64).
LIMITS = {
    "z_dim": 4096,
    "image_size": 1024,
    "width": 16,
    "batch_size": 65_536,
    "grid_size": 1024,
    "eval_n": 1_000_000,
}


@dataclass(frozen=True)
class ModelConfig:
    """Networks of METHOD.md §1; channel counts and stage count follow from `image_size`."""

    variant: Variant = "vaegan"
    image_size: int = 64
    channels: int = 3
    z_dim: int = 128
    width: float = 1.0  # multiplies every channel and hidden-unit count
    # Index into Dis's convolutions of the feature layer Dis_l (its output before BN/ReLU).
    # -1 = the last conv, which is the 4th at 32 and 64 px: the code's recon_depth=9 (pitfall 7).
    # Several indices (a list): L_llike sums the errors of all those layers (a deviation).
    feature_conv: int | tuple[int, ...] = -1
    # Conditional variants: names of the condition's entries (class names or attribute names) and
    # their kind; filled in from the training data when a run starts (both empty otherwise).
    condition: tuple[str, ...] = ()
    condition_kind: ConditionKind | None = None
    # Initial weights: "autofiller" = deeppy's AutoFiller, U(-a, a) with a = 1 / sqrt(3 fan_in)
    # (the code); "xavier" = Glorot normal (vaegan before 0.2, 2.5-4x larger).
    init: Literal["autofiller", "xavier"] = "autofiller"
    # Dis's normalisation: "batch" (the code: BN after every conv but the first) or "spectral"
    # (spectral normalisation of every Dis weight and no BN; a deviation, docs/QUALITY.md).
    dis_norm: Literal["batch", "spectral"] = "batch"
    # Decay of an exponential moving average of Enc's and Dec's weights, which inference
    # (sampling, reconstruction, evaluation) then uses; None: no average (the code).
    ema_decay: float | None = None
    # Where samples' codes come from: "standard" N(0, I) (the paper), or "fitted", a mixture of
    # `prior_components` Gaussians fitted to the training codes as training goes (vaegan.prior).
    prior: Literal["standard", "fitted"] = "standard"
    prior_components: int = 10

    def __post_init__(self) -> None:
        size = self.image_size
        if not 16 <= size <= LIMITS["image_size"] or size & (size - 1):
            raise ConfigError(
                f"model.image_size must be a power of two from 16 to {LIMITS['image_size']}, "
                f"got {size}"
            )
        if self.channels not in (1, 3):
            raise ConfigError(f"model.channels must be 1 or 3, got {self.channels}")
        _require(
            1 <= self.z_dim <= LIMITS["z_dim"],
            f"model.z_dim must lie in [1, {LIMITS['z_dim']}], got {self.z_dim}",
        )
        _require(
            0 < self.width <= LIMITS["width"],
            f"model.width must lie in (0, {LIMITS['width']}], got {self.width}",
        )
        n_convs = self.n_stages + 1
        chosen = self.feature_conv if isinstance(self.feature_conv, tuple) else (self.feature_conv,)
        if not chosen or not all(-n_convs <= i < n_convs for i in chosen):
            raise ConfigError(
                f"model.feature_conv={self.feature_conv} is out of range: Dis has {n_convs} convs"
            )
        if not self.conditional and (self.condition or self.condition_kind):
            raise ConfigError(f"model.condition is for conditional models, not '{self.variant}'")
        if bool(self.condition) != (self.condition_kind is not None):
            raise ConfigError("model.condition and model.condition_kind come together")
        d = self.ema_decay
        _require(d is None or 0 < d < 1, f"model.ema_decay must lie in (0, 1) or be null, got {d}")
        k = self.prior_components
        _require(k >= 1, f"model.prior_components must be >= 1, got {k}")
        if self.prior == "fitted" and (self.conditional or not self.has_encoder):
            raise ConfigError(
                f"model.prior 'fitted' fits the codes of an encoder; '{self.variant}' "
                + ("is conditional" if self.conditional else "has none")
            )

    @property
    def feature_convs(self) -> tuple[int, ...]:
        """The feature layers as indices from 0, in Dis's order, each once."""
        chosen = self.feature_conv if isinstance(self.feature_conv, tuple) else (self.feature_conv,)
        return tuple(sorted({i % (self.n_stages + 1) for i in chosen}))

    @property
    def conditional(self) -> bool:
        """True for cvaegan, cvae, cgan: each network also takes a condition y (METHOD.md §5.3)."""
        return self.variant in ("cvaegan", "cvae", "cgan")

    @property
    def base_variant(self) -> str:
        """The unconditional variant whose Algorithm 1 this one runs: cvaegan -> vaegan."""
        return self.variant[1:] if self.conditional else self.variant

    @property
    def condition_dim(self) -> int:
        """K, the length of y: an entry per class or attribute name (0 if unconditional)."""
        return len(self.condition)

    @property
    def has_encoder(self) -> bool:
        """False for gan and cgan, which have Dec and Dis only."""
        return self.base_variant != "gan"

    @property
    def has_discriminator(self) -> bool:
        """False for vae and cvae, which have Enc and Dec only."""
        return self.base_variant != "vae"

    @property
    def base_size(self) -> int:
        """Side of the smallest feature map: 4 up to 32 px (code's img32x32), 8 above (img64x64)."""
        return 4 if self.image_size <= 32 else 8

    @property
    def n_stages(self) -> int:
        """Number of stride-2 stages between the image and the base feature map."""
        return int(math.log2(self.image_size // self.base_size))

    def _scaled(self, counts: tuple[int, ...]) -> tuple[int, ...]:
        return tuple(max(1, round(c * self.width)) for c in counts)

    def _schedule(self) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
        """Unscaled (enc, dec, dis) channels per stride-2 stage, from the code's architectures."""
        if self.image_size == 32:
            return (64, 128, 256), (192, 128, 32), (128, 192, 256)  # img32x32
        enc = tuple(min(64 << i, 256) for i in range(self.n_stages))  # 64-128-256 at 64 px
        dec = (*reversed(enc[1:]), 32)  # 256-128-32 at 64 px
        dis = tuple(min(128 << i, 256) for i in range(self.n_stages))  # 128-256-256 at 64 px
        return enc, dec, dis

    @property
    def enc_channels(self) -> tuple[int, ...]:
        """Channels of Enc's stride-2 convs, one per stage, times `width` (64-128-256 at 64 px)."""
        return self._scaled(self._schedule()[0])

    @property
    def dec_channels(self) -> tuple[int, ...]:
        """Channels of Dec's stride-2 transposed convs, times `width` (256-128-32 at 64 px)."""
        return self._scaled(self._schedule()[1])

    @property
    def dis_channels(self) -> tuple[int, ...]:
        """Channels of Dis's stride-2 convs (after its first stride-1 conv of 32)."""
        return self._scaled(self._schedule()[2])

    @property
    def dis_first_channels(self) -> int:
        """Channels of Dis's first, stride-1 conv: 32 times `width`."""
        return self._scaled((32,))[0]

    @property
    def enc_hidden(self) -> int:
        """Units of Enc's hidden FC layer: the code's 1024 (paper's table: 2048) times `width`."""
        return self._scaled((1024,))[0]  # code: 1024 (paper table: 2048)

    @property
    def dis_hidden(self) -> int:
        """Units of Dis's hidden FC layer, before its logit: 512 times `width`."""
        return self._scaled((512,))[0]


@dataclass(frozen=True)
class LossConfig:
    """Weights and forms of the losses of METHOD.md §2-3."""

    # Dec minimises gamma * L_llike + adversarial term; code: w/(1-w) with w = 1e-5 (pitfall 8).
    gamma: float = 1e-5
    # Share of Dis's BCE gradient on real images; the generated ones share the rest (pitfall 11).
    real_weight: float = 0.66
    # "saturating" (code: Dec minimises log(1 - D(G))) or "non_saturating" (-log D(G), a deviation).
    generator_loss: Literal["saturating", "non_saturating"] = "saturating"
    # Equilibrium gating of Dis/Dec updates (pitfall 10); margin None turns it off.
    equilibrium: float = 0.68
    margin: float | None = 0.35
    # Std of the Gaussian observation models: on Dis_l features (paper and code: 1, identity
    # covariance) and on pixels for the plain VAE (images in [-1, 1]).
    feature_sigma: float = 1.0
    pixel_sigma: float = 1.0
    # VAE/GAN and VAE_Dis_l: add pixel_weight times the pixel-wise Gaussian L_llike (sigma
    # pixel_sigma) to the learned-similarity one (0: off, the paper). A deviation: the learned
    # features leave high frequencies that no Dis_l channel sees unconstrained.
    pixel_weight: float = 0.0
    # Which passes compute X_tilde and Dis_l (pitfall 5). "code": Dec on Z for L_llike, Dis_l on
    # [X_tilde; X], then Dec again on [Z; Z_p] and Dis on [X; Dec(Z); Dec(Z_p)] for L_GAN.
    # "fused": one Dec pass on [Z; Z_p] and one Dis pass on [X; X_tilde; X_p] serve both
    # (cheaper; BN statistics then mix posterior and prior codes, docs/DEVIATIONS.md).
    layout: Literal["code", "fused"] = "code"
    # Weight of the R1 penalty r1/2 E||grad_x logit(x)||^2 on real images in Dis's loss (0: off).
    r1: float = 0.0
    # L_prior's weight ramps linearly from 0 to 1 over the first `kl_warmup` steps (0: off).
    kl_warmup: int = 0
    # Free bits: each latent dimension's batch-mean KL counts as at least this many nats (0: off).
    free_bits: float = 0.0

    def __post_init__(self) -> None:
        w = self.real_weight
        _require(0 < w < 1, f"loss.real_weight must lie in (0, 1), got {w}")
        _require(0 <= self.gamma < math.inf, f"loss.gamma must be >= 0, got {self.gamma}")
        pw = self.pixel_weight
        _require(0 <= pw < math.inf, f"loss.pixel_weight must be >= 0, got {pw}")
        for name in ("feature_sigma", "pixel_sigma", "equilibrium"):
            value = getattr(self, name)
            _require(0 < value < math.inf, f"loss.{name} must be positive, got {value}")
        m = self.margin
        _require(m is None or 0 <= m < math.inf, f"loss.margin must be >= 0 or null, got {m}")
        _require(0 <= self.r1 < math.inf, f"loss.r1 must be >= 0, got {self.r1}")
        _require(self.kl_warmup >= 0, f"loss.kl_warmup must be >= 0, got {self.kl_warmup}")
        fb = self.free_bits
        _require(0 <= fb < math.inf, f"loss.free_bits must be >= 0, got {fb}")


@dataclass(frozen=True)
class OptimConfig:
    """The code: RMSProp; lr 0.02/64 annealed per epoch to 1e-5/64 (deeppy's GammaAnnealer);
    weight decay 1e-5 on conv/FC weights of a batch-summed loss (METHOD.md §3)."""

    optimizer: Literal["rmsprop", "adam"] = "rmsprop"
    lr: float = 0.02 / CODE_BATCH
    # Dis's own learning rate (two time-scale updates); None: `lr`. Annealed like `lr`.
    lr_dis: float | None = None
    # Added as weight_decay * p to the gradient of the batch-MEAN loss. deeppy adds 2 * 1e-5 * p to
    # that of the batch-SUM, the same update as 2e-5 / 64 here (torch's usual 1e-5 is 32x more).
    # Conv/FC weights only: none on biases, BN, and Enc's mu/logvar head (as the code).
    weight_decay: float = 2e-5 / CODE_BATCH
    rmsprop_alpha: float = 0.9  # deeppy's RMSProp decay (METHOD.md §3)
    adam_betas: tuple[float, float] = (0.5, 0.999)
    # "gamma": per epoch e of `epoch_steps` steps, lr_e = lr - (e / E)^lr_gamma (lr - lr_final)
    # with E = train.steps / epoch_steps epochs (the code: 150 of 250); "constant": lr throughout.
    schedule: Literal["gamma", "constant"] = "gamma"
    lr_final: float = 1e-5 / CODE_BATCH
    lr_gamma: float = 0.75
    epoch_steps: int = 250

    def __post_init__(self) -> None:
        _require(0 < self.lr < math.inf, f"optim.lr must be positive, got {self.lr}")
        ld = self.lr_dis
        _require(ld is None or 0 < ld < math.inf, f"optim.lr_dis must be positive, got {ld}")
        wd, alpha, betas = self.weight_decay, self.rmsprop_alpha, self.adam_betas
        _require(0 <= wd < math.inf, f"optim.weight_decay must be >= 0, got {wd}")
        _require(0 < alpha < 1, f"optim.rmsprop_alpha must lie in (0, 1), got {alpha}")
        _require(
            all(0 <= b < 1 for b in betas), f"optim.adam_betas must lie in [0, 1), got {betas}"
        )
        lf = self.lr_final
        _require(0 <= lf <= self.lr, f"optim.lr_final must lie in [0, lr], got {lf}")
        _require(
            0 < self.lr_gamma < math.inf, f"optim.lr_gamma must be positive, got {self.lr_gamma}"
        )
        _require(self.epoch_steps >= 1, f"optim.epoch_steps must be >= 1, got {self.epoch_steps}")


@dataclass(frozen=True)
class DataConfig:
    """The data set and how it is preprocessed (docs/DATA.md); images take the model's size."""

    name: str = "fashion-mnist"
    data_dir: str | None = None  # None: the data set's default directory
    split: str = "train"  # trained on; grids and --eval-every use "test"
    crop: Literal["auto", "center", "none"] = "auto"  # auto: the data set's own (METHOD.md §5)
    resize: bool = True  # False: images must already have the model's size
    flip: bool = False  # random horizontal flips of training batches
    skip_bad_images: bool = False  # leave out (and report) images that cannot be decoded
    split_seed: int = 0  # held-out split of data sets without an official one (LFW, folders)


@dataclass(frozen=True)
class TrainConfig:
    """The loop: steps, batch size (global, across processes), seed and device; how often to log,
    draw grids, checkpoint and evaluate; speed options (docs/PERFORMANCE.md)."""

    steps: int = 10_000
    batch_size: int = 64
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda | cuda:N | mps
    log_every: int = 50
    sample_every: int = 500
    checkpoint_every: int = 1000
    grid_size: int = 64  # images in the sample and reconstruction grids
    # Domain FD/KID of samples every `eval_every` steps (None: never), on `eval_n` test images,
    # with the evaluator in `evaluator` (None: evaluators/<data name>).
    eval_every: int | None = None
    eval_n: int = 2000
    evaluator: str | None = None
    # Under torchrun: BatchNorm statistics of the global batch rather than of each process's.
    sync_batchnorm: bool = False
    # Speed options (docs/PERFORMANCE.md); fp32 and eager are the reference.
    precision: Literal["fp32", "bf16", "fp16", "auto"] = "fp32"
    compile: bool = False  # torch.compile each network
    # NHWC networks and batches: on oneDNN CPUs faster and with a smaller peak than NCHW (its
    # convolutions reorder NCHW tensors to and from blocked layouts); the same numbers.
    channels_last: bool = True
    tensorboard: bool = False  # also log to RUN/tensorboard (pip install 'vaegan[tensorboard]')

    def __post_init__(self) -> None:
        if self.eval_every is not None and self.eval_every < 1:
            raise ConfigError(f"train.eval_every must be >= 1, got {self.eval_every}")
        for name in (
            "steps",
            "batch_size",
            "log_every",
            "sample_every",
            "checkpoint_every",
            "eval_n",
            "grid_size",
        ):
            value, high = getattr(self, name), LIMITS.get(name)
            if value < 1 or (high is not None and value > high):
                bound = f"lie in [1, {high:,}]" if high is not None else "be >= 1"
                raise ConfigError(f"train.{name} must {bound}, got {value:,}")


@dataclass(frozen=True)
class RunConfig:
    """A whole run's config, one section per dataclass; saved as config.json in the run folder and
    in each checkpoint."""

    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict[str, Any]:
        """The sections as nested dicts of plain values (tuples kept), ready for json.dumps."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any], source: str = "config") -> RunConfig:
        """Build from nested dicts; fields left out keep their defaults. ConfigError naming `source`
        and the key for an unknown key, a wrong type or an invalid value."""
        return _build(cls, raw, source, prefix="")

    def save(self, path: Path) -> None:
        """Write every field as indented JSON, atomically: a crash never leaves half a file."""
        atomic_write_text(Path(path), json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def load(cls, path: Path) -> RunConfig:
        """Read a config file, whole or partial; ConfigError naming `path` if missing or invalid."""
        return cls.from_dict(read_config_file(path), source=str(path))


# What a resumed run may change in its config: how long, where, and what it logs. Everything else
# defines the run, and the checkpoint's own copy of the config must agree with it.
RESUME_MAY_CHANGE = frozenset(
    {
        "train.steps",
        "train.device",
        "train.log_every",
        "train.sample_every",
        "train.checkpoint_every",
        "train.grid_size",
        "train.eval_every",
        "train.eval_n",
        "train.evaluator",
        "train.compile",
        "train.channels_last",
        "train.tensorboard",
        "data.data_dir",
    }
)


def differences(a: RunConfig, b: RunConfig) -> dict[str, tuple[Any, Any]]:
    """section.field -> (a's value, b's value) for every field where the two configs differ."""
    da, db = a.to_dict(), b.to_dict()
    return {
        f"{section}.{name}": (value, db[section][name])
        for section, fields in da.items()
        for name, value in fields.items()
        if value != db[section][name]
    }


def read_config_file(path: Path) -> dict[str, Any]:
    """The JSON object of a (possibly partial) config file, or one ConfigError naming it."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    try:
        raw = json.loads(path.read_text(), parse_constant=_reject_constant)
    except json.JSONDecodeError as err:
        raise ConfigError(f"{path}: not valid JSON ({err})") from None
    except ValueError as err:  # NaN / Infinity, which JSON does not have
        raise ConfigError(f"{path}: {err}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: a config is a JSON object, got {type(raw).__name__}")
    return raw


def dotted_override(item: str) -> dict[str, Any]:
    """`section.field=VALUE` -> {"section": {"field": value}}; VALUE is JSON (`1e-4`, `null`,
    `[0.5, 0.9]`), or else taken as a string (`model.variant=vae`)."""
    key, sep, text = item.partition("=")
    if not sep or not key:
        raise ConfigError(f"--set {item!r}: expected SECTION.FIELD=VALUE, e.g. loss.r1=1.0")
    try:
        value: Any = json.loads(text, parse_constant=_reject_constant)
    except ValueError:
        value = text
    for part in reversed(key.split(".")):
        value = {part: value}
    return value


def deep_merge(base: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """`base` with `patch`'s values put in, section by section (neither is changed)."""
    out = dict(base)
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not a valid value (JSON has no NaN or Infinity)")


def _require(ok: bool, message: str) -> None:
    if not ok:
        raise ConfigError(message)


def _build(cls: type, raw: Any, source: str, prefix: str) -> Any:
    if not isinstance(raw, dict):
        where = prefix.rstrip(".") or "config"
        raise ConfigError(f"{source}: '{where}' must be an object, got {raw!r}")
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ConfigError(
            f"{source}: unknown key '{prefix}{unknown[0]}' (known: {', '.join(sorted(known))})"
        )
    values = {}
    for name, value in raw.items():
        values[name] = _coerce(hints[name], value, source, f"{prefix}{name}")
    try:
        return cls(**values)
    except ConfigError as err:
        raise ConfigError(f"{source}: {err}") from None


def _coerce(hint: Any, value: Any, source: str, key: str) -> Any:
    """Check `value` against a type hint; JSON lists become tuples. Never repairs silently."""
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, source, prefix=f"{key}.")
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return _coerce_union(args, value, source, key)
    if origin is Literal:
        if value not in args:
            choices = ", ".join(repr(a) for a in args)
            raise ConfigError(f"{source}: '{key}' must be one of {choices}, got {value!r}")
        return value
    if origin is tuple:
        return _coerce_tuple(args, value, source, key)
    return _coerce_scalar(hint, value, source, key)


def _coerce_union(args: tuple, value: Any, source: str, key: str) -> Any:
    """Optional[T] or a union: None where allowed, else the first member that fits."""
    if value is None and type(None) in args:
        return None
    members = [a for a in args if a is not type(None)]
    if len(members) == 1:
        return _coerce(members[0], value, source, key)
    for member in members:
        try:
            return _coerce(member, value, source, key)
        except ConfigError:
            pass
    names = " or ".join("a list" if typing.get_origin(m) is tuple else m.__name__ for m in members)
    raise ConfigError(f"{source}: '{key}' must be {names}, got {value!r}")


def _coerce_tuple(args: tuple, value: Any, source: str, key: str) -> tuple:
    """tuple[T, ...] (any length) or tuple[A, B] (fixed), from a JSON list."""
    if len(args) == 2 and args[1] is Ellipsis:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{source}: '{key}' must be a list, got {value!r}")
        return tuple(_coerce(args[0], v, source, key) for v in value)
    if not isinstance(value, (list, tuple)) or len(value) != len(args):
        raise ConfigError(f"{source}: '{key}' must be a list of {len(args)}, got {value!r}")
    return tuple(_coerce(a, v, source, key) for a, v in zip(args, value, strict=True))


def _coerce_scalar(hint: Any, value: Any, source: str, key: str) -> Any:
    # bool is an int in Python: reject it where a number is expected, and vice versa.
    ok = {
        int: isinstance(value, int) and not isinstance(value, bool),
        float: isinstance(value, (int, float)) and not isinstance(value, bool),
        str: isinstance(value, str),
        bool: isinstance(value, bool),
    }.get(hint)
    if ok is None:
        raise TypeError(f"unsupported config type {hint} for {key}")
    if not ok:
        raise ConfigError(
            f"{source}: '{key}' must be of type {hint.__name__}, got {type(value).__name__} "
            f"{value!r}"
        )
    return float(value) if hint is float else value
