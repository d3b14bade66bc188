"""Data sets behind one small interface: uint8 images (N, H, W, C) with optional labels and
attributes. Each format has its own module; this one names them, and caches what they build."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path

from vaegan.config import RunConfig
from vaegan.data import celeba, folder, lfw, svhn
from vaegan.data.cache import cache_key, cached_dataset, default_cache_dir
from vaegan.data.celeba import celeba_inputs, load_celeba
from vaegan.data.dataset import Dataset
from vaegan.data.folder import folder_inputs, folder_splits, load_folder
from vaegan.data.idx import idx_files, load_idx_dataset
from vaegan.data.info import describe
from vaegan.data.lfw import lfw_inputs, load_lfw
from vaegan.data.obtain import download_dir
from vaegan.data.svhn import load_svhn, svhn_file
from vaegan.data.transform import LoadOptions
from vaegan.errors import DataError

FASHION_MNIST_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
MNIST_CLASSES = tuple(str(d) for d in range(10))


@dataclass(frozen=True)
class DatasetSpec:
    """How to find and build a named data set, and the image shape it has by default."""

    splits: tuple[str, ...]
    inputs: Callable[[Path, str], list[Path]]  # files a split is built from; DataError if absent
    build: Callable[[Path, str, LoadOptions, bool], Dataset]  # (dir, split, options, progress)
    image_size: int
    channels: int
    layout: str  # the expected files, for errors and `vaegan data info`
    default_dir: str | None = None
    # Splits a given directory has (default: all of `splits`), and splits that are unions of
    # others (`vaegan data info` adds those up instead of building them).
    available: Callable[[Path], tuple[str, ...]] | None = None
    unions: tuple[tuple[str, tuple[str, ...]], ...] = ()
    optional: tuple[str, ...] = ()  # splits a usual download leaves out (SVHN's extra)

    def splits_in(self, root: Path) -> tuple[str, ...]:
        """The splits `root` has: what `available` finds there, or else all of `splits`."""
        return self.available(root) if self.available else self.splits

    def absent_optional(self, root: Path) -> tuple[str, ...]:
        """The optional splits whose files are not in `root`."""
        absent = []
        for split in self.optional:
            try:
                self.inputs(root, split)
            except DataError:
                absent.append(split)
        return tuple(absent)


def _idx(name: str, classes: tuple[str, ...] = (), any_name: bool = False) -> dict:
    def build(root: Path, split: str, options: LoadOptions, progress: bool) -> Dataset:
        return load_idx_dataset(name, root, split, options, classes=classes, any_name=any_name)

    return {
        "splits": ("train", "test"),
        "inputs": lambda root, split: list(idx_files(root, split, any_name=any_name)),
        "build": build,
    }


MNIST_LAYOUT = "DIR/{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]"
DEBIAN_HINT = "; on Debian: apt-get install dataset-fashion-mnist"
DATASETS: dict[str, DatasetSpec] = {
    "fashion-mnist": DatasetSpec(
        **_idx("fashion-mnist", FASHION_MNIST_CLASSES),
        image_size=32,
        channels=1,
        layout=MNIST_LAYOUT + DEBIAN_HINT,
        default_dir="/usr/share/datasets/fashion-mnist",
    ),
    "mnist": DatasetSpec(
        **_idx("mnist", MNIST_CLASSES),
        image_size=32,
        channels=1,
        layout=MNIST_LAYOUT,
        default_dir="/usr/share/datasets/mnist",
    ),
    "idx": DatasetSpec(
        **_idx("idx", any_name=True),
        image_size=32,
        channels=1,
        layout="DIR/*{train,t10k|test}-{images-idx3,labels-idx1}-ubyte[.gz] (one pair per split)",
    ),
    "svhn": DatasetSpec(
        splits=svhn.SPLITS,
        inputs=lambda root, split: [svhn_file(root, split)],
        build=load_svhn,
        image_size=32,
        channels=3,
        layout="DIR/{train,test,extra}_32x32.mat",
        optional=("extra",),
    ),
    "celeba": DatasetSpec(
        splits=celeba.SPLITS,
        inputs=celeba_inputs,
        build=load_celeba,
        image_size=64,
        channels=3,
        unions=(("trainval", ("train", "val")),),
        layout="DIR/img_align_celeba/ (or img_align_celeba.zip), DIR/list_attr_celeba.txt, "
        "DIR/list_eval_partition.txt",
    ),
    "lfw": DatasetSpec(
        splits=lfw.SPLITS,
        inputs=lfw_inputs,
        build=load_lfw,
        image_size=64,
        channels=3,
        layout="DIR/lfw/ (or lfw-deepfunneled/, lfw.tgz, lfw-deepfunneled.tgz), "
        "DIR/lfw_attributes.txt",
    ),
    "folder": DatasetSpec(
        splits=folder.SPLITS,
        inputs=folder_inputs,
        build=load_folder,
        image_size=64,
        channels=3,
        available=folder_splits,
        unions=(("all", ("train", "test")),),
        layout="DIR/**/*.{jpg,png,...}; class subfolders DIR/CLASS/ give labels; "
        "DIR/train/ and DIR/test/ give the splits",
    ),
}


def load_dataset(
    name: str,
    data_dir: str | Path | None = None,
    split: str = "train",
    options: LoadOptions | None = None,
    *,
    cache_dir: Path | None = None,
    use_cache: bool = True,
    progress: bool = False,
) -> Dataset:
    """Split `split` of data set `name` in `data_dir`, preprocessed by `options` (None: the
    data set's own size and channels), from the cache in `cache_dir` when it holds it."""
    if name not in DATASETS:
        raise DataError(f"unknown data set '{name}' (known: {', '.join(sorted(DATASETS))})")
    spec = DATASETS[name]
    directory = data_dir or default_location(name, spec, cache_dir)
    if directory is None:
        raise DataError(f"{name}: pass --data-dir DIR, laid out as {spec.layout}")
    root = Path(directory)
    if not root.is_dir():
        raise DataError(f"{root}: data directory not found ({name} expects {spec.layout})")
    if split not in spec.splits_in(root):
        known = ", ".join(spec.splits_in(root))
        raise DataError(f"unknown split '{split}' for {name} in {root} (known: {known})")
    options = options or LoadOptions(image_size=spec.image_size, channels=spec.channels)
    inputs = spec.inputs(root, split)
    build = partial(spec.build, root, split, options, progress)
    cache = (cache_dir or default_cache_dir()) if use_cache else None
    return cached_dataset(cache, cache_key(name, split, options, inputs), build)


def default_location(name: str, spec: DatasetSpec, cache_dir: Path | None = None) -> str | None:
    """Where a data set is when no --data-dir says: its system folder, else where `vaegan data
    obtain` downloaded it, else the system folder (whose absence the error then names)."""
    if spec.default_dir and Path(spec.default_dir).is_dir():
        return spec.default_dir
    downloaded = download_dir(name, cache_dir)
    return str(downloaded) if downloaded.is_dir() else spec.default_dir


def run_options(cfg: RunConfig) -> LoadOptions:
    """A run's data at its model's image size and channels."""
    return LoadOptions(
        image_size=cfg.model.image_size,
        channels=cfg.model.channels,
        crop=cfg.data.crop,
        resize=cfg.data.resize,
        skip_bad_images=cfg.data.skip_bad_images,
        split_seed=cfg.data.split_seed,
    )


def load_run_data(
    cfg: RunConfig,
    split: str,
    *,
    data: str | None = None,
    data_dir: str | Path | None = None,
    skip_bad_images: bool = False,
    **kwargs,
) -> Dataset:
    """Split `split` of the data set a run trains on (or of `data`), preprocessed for its model.

    Another data set than the run's is read from `data_dir` (or its default directory) with its
    own default preprocessing, at the model's image size and channels. `skip_bad_images` leaves
    out (and lists) images that cannot be decoded, as the run's own setting may already do.
    """
    name = data or cfg.data.name
    if name == cfg.data.name:
        options, data_dir = run_options(cfg), data_dir or cfg.data.data_dir
    else:
        options = LoadOptions(image_size=cfg.model.image_size, channels=cfg.model.channels)
    if skip_bad_images:
        options = replace(options, skip_bad_images=True)
    return load_dataset(name, data_dir, split, options, **kwargs)


__all__ = [
    "DATASETS",
    "Dataset",
    "DatasetSpec",
    "LoadOptions",
    "describe",
    "load_dataset",
    "load_run_data",
]
