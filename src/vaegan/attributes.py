"""Visual attribute vectors (METHOD.md §5.2): v_a = mean z of images with a - mean z without a.

Encoded with z = mu (pitfall 12), from the first n images of a split (the code: 10,000 training
images). What "with a" means depends on the data set's annotations:
    class   one class against the rest (Fashion-MNIST, MNIST, SVHN, image folders)
    binary  a 0/1 attribute is 1 (CelebA)
    real    a real-valued attribute score is above REAL_THRESHOLD (LFW)
Saved as one safetensors file: the tensor "vectors" (A, z) and, in its metadata, a JSON record of
the names, counts, data and the weights they were computed with (so that vectors are never applied
to another model by mistake).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError, safe_open
from torch import Tensor

from vaegan.checkpoint import checkpoint_step, find_checkpoint
from vaegan.config import ConditionKind
from vaegan.data import Dataset
from vaegan.errors import CheckpointError, DataError
from vaegan.files import atomic_save_tensors, file_sha256
from vaegan.latent import encode_images, require_unconditional
from vaegan.models import VAEGAN
from vaegan.names import ATTRIBUTE_IMAGES, DEFAULT_STRENGTH  # noqa: F401 (re-exported)

BINARY_THRESHOLD = 0.5  # binary attributes are stored as 0/1
# LFW's attribute values are the margins of Kumar et al.'s attribute classifiers: above 0 the
# classifier says the face has the attribute.
REAL_THRESHOLD = 0.0
FORMAT = "vaegan-attribute-vectors/1"


@dataclass(frozen=True)
class Membership:
    """Which images have which attribute: has[i, a] is True when image i has attribute a."""

    kind: ConditionKind
    names: tuple[str, ...]
    has: np.ndarray  # bool (N, A)
    threshold: float | None  # None for classes

    def indices(self, wanted: tuple[str, ...] | None, source: str) -> list[int]:
        """Column of each wanted name (all when None); a clear error for an unknown one."""
        if not wanted:
            return list(range(len(self.names)))
        return [index_of(name, self.names, source) for name in wanted]


def index_of(name: str, names: tuple[str, ...], source: str) -> int:
    """Position of `name` in `names`; DataError naming `source` and the known names if absent."""
    if name not in names:
        raise DataError(f"unknown attribute '{name}' in {source} (known: {', '.join(names)})")
    return names.index(name)


def membership(data: Dataset) -> Membership:
    """Class labels where the data set has any (as the evaluator prefers), else its attributes."""
    kind, names = data.annotation("attribute vectors need one of them")
    if kind == "class":
        has = data.labels[:, None] == np.arange(len(names))[None, :]
        return Membership(kind, names, has, None)
    threshold = BINARY_THRESHOLD if kind == "binary" else REAL_THRESHOLD
    return Membership(kind, names, data.attributes > threshold, threshold)


def mean_differences(z: Tensor, has: np.ndarray) -> Tensor:
    """v_a = mean(z | a) - mean(z | not a): z (N, z), has bool (N, A) -> (A, z), in float64."""
    z = z.double()
    with_a = torch.from_numpy(has).double()  # (N, A)
    without_a = 1.0 - with_a
    mean_with = with_a.T @ z / with_a.sum(0)[:, None]
    mean_without = without_a.T @ z / without_a.sum(0)[:, None]
    return mean_with - mean_without


@dataclass(frozen=True)
class ModelIdentity:
    """The weights vectors were computed with: their file's SHA-256, where and when it was."""

    sha256: str
    run: str
    step: int
    z_dim: int


def model_identity(run: Path, model: VAEGAN) -> ModelIdentity:
    """The weights in `run`'s checkpoint: model.safetensors' SHA-256, the run, step and z_dim."""
    ckpt = find_checkpoint(run)
    return ModelIdentity(
        sha256=file_sha256(ckpt / "model.safetensors"),
        run=str(run),
        step=checkpoint_step(ckpt),
        z_dim=model.cfg.z_dim,
    )


@dataclass(frozen=True)
class AttributeVectors:
    """Vectors v_a (A, z) of one model (METHOD.md §5.2) and how they were made: the names, the
    images with and without each, the data split and n."""

    vectors: Tensor  # float32 (A, z)
    names: tuple[str, ...]
    kind: ConditionKind
    threshold: float | None
    count_with: tuple[int, ...]
    count_without: tuple[int, ...]
    data: str
    split: str
    n: int
    model: ModelIdentity
    source: str = ""  # the file they were loaded from, for error messages

    def record(self) -> dict:
        """The metadata saved with the vectors: the format and every field but `source`."""
        fields = asdict(self)
        del fields["vectors"], fields["source"]
        return {"format": FORMAT, **fields}

    def save(self, path: Path) -> Path:
        """One safetensors file, written beside `path` and renamed over it."""
        path = Path(path)
        if path.suffix != ".safetensors":
            raise DataError(f"{path}: attribute vectors are saved as .safetensors")
        path.parent.mkdir(parents=True, exist_ok=True)
        metadata = {"vaegan": json.dumps(self.record())}
        atomic_save_tensors({"vectors": self.vectors.float()}, path, metadata)
        return path

    @classmethod
    def load(cls, path: Path) -> AttributeVectors:
        """Vectors saved by `save`; CheckpointError naming `path` if it is missing, not such a file,
        or its shapes disagree."""
        path = Path(path)
        if not path.is_file():
            raise CheckpointError(
                f"{path}: file not found (make it with `vaegan attributes compute`)"
            )
        try:
            with safe_open(path, framework="pt") as f:
                meta, vectors = f.metadata() or {}, f.get_tensor("vectors")
            raw = json.loads(meta["vaegan"])
            if raw.pop("format") != FORMAT:
                raise ValueError("unknown format")
            raw["model"] = ModelIdentity(**raw["model"])
            for key in ("names", "count_with", "count_without"):
                raw[key] = tuple(raw[key])
            loaded = cls(vectors=vectors, source=str(path), **raw)
        except (SafetensorError, OSError, KeyError, TypeError, ValueError) as err:
            raise CheckpointError(f"{path}: not a file of attribute vectors ({err})") from None
        if loaded.vectors.shape != (len(loaded.names), loaded.model.z_dim):
            raise CheckpointError(
                f"{path}: vectors of shape {tuple(vectors.shape)} for "
                f"{len(loaded.names)} names and z of {loaded.model.z_dim}"
            )
        return loaded

    def select(self, wanted: tuple[str, ...] | None) -> tuple[tuple[str, ...], Tensor]:
        """The wanted names (all when None) and their vectors (A, z)."""
        index = [index_of(name, self.names, self.source) for name in wanted or self.names]
        return tuple(self.names[i] for i in index), self.vectors[index]

    def check_model(self, run: Path, model: VAEGAN) -> None:
        """Vectors are directions in one model's latent space: refuse any other model."""
        if model.cfg.z_dim != self.model.z_dim:
            raise CheckpointError(
                f"{self.source}: vectors of z size {self.model.z_dim}, but the model in {run} "
                f"has z of {model.cfg.z_dim}"
            )
        current = model_identity(run, model)
        if current.sha256 != self.model.sha256:
            raise CheckpointError(
                f"{self.source}: computed with another model ({self.model.run} at step "
                f"{self.model.step}, weights {self.model.sha256[:12]}), not {run} (step "
                f"{current.step}, weights {current.sha256[:12]}); recompute them with "
                f"`vaegan attributes compute {run}`"
            )


def compute_attribute_vectors(
    model: VAEGAN,
    data: Dataset,
    run: Path,
    *,
    split: str,
    attrs: tuple[str, ...] | None = None,
    n: int | None = None,
) -> AttributeVectors:
    """Vectors of the wanted attributes (all when None) from the first n images (default: the
    first ATTRIBUTE_IMAGES, or all if fewer)."""
    require_unconditional(model, "attribute vectors")
    if n is not None and n > len(data):
        raise DataError(f"--n {n} exceeds the {len(data)} images of {data.name}/{split}")
    n = min(ATTRIBUTE_IMAGES, len(data)) if n is None else n
    source = f"{data.name}/{split}"
    m = membership(data)
    columns = m.indices(attrs, source)
    has = m.has[:n, columns]
    names = tuple(m.names[c] for c in columns)
    count_with = has.sum(0)
    for name, k in zip(names, count_with, strict=True):
        if k == 0 or k == n:
            which = "with" if k == 0 else "without"
            raise DataError(
                f"'{name}': no images {which} it among the first {n} of {source}; "
                "a vector needs both (use more images: --n)"
            )
    z = encode_images(model, data.images[:n])
    return AttributeVectors(
        vectors=mean_differences(z, has).float(),
        names=names,
        kind=m.kind,
        threshold=m.threshold,
        count_with=tuple(int(k) for k in count_with),
        count_without=tuple(int(n - k) for k in count_with),
        data=data.name,
        split=split,
        n=n,
        model=model_identity(run, model),
    )
