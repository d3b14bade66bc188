"""What several commands share: the flags that name a run and a data split, and reading them."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vaegan.errors import VaeganError
from vaegan.names import DATASET_NAMES

if TYPE_CHECKING:
    import numpy as np

    from vaegan.config import RunConfig
    from vaegan.data import Dataset

Subparsers = argparse._SubParsersAction
Handler = Callable[[argparse.Namespace], None]
CROPS = ("auto", "center", "none")


def count(low: int = 1, high: int = 1_000_000) -> Callable[[str], int]:
    """An argparse type: an integer in [low, high], the limit named when it is not."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must lie in [{low:,}, {high:,}], got {value:,}")
        return value

    parse.__name__ = "count"  # what argparse names in its message
    return parse


def comma_list(text: str | None) -> tuple[str, ...] | None:
    """--attrs or --metrics "A, B" -> ("A", "B"); None (all) when not given."""
    return tuple(a.strip() for a in text.split(",") if a.strip()) if text else None


def add_run_command(
    sub: Subparsers,
    name: str,
    help: str,
    func: Handler,
    out_help: str = ".png for a grid, .npy for uint8 (N,H,W,C)",
    draws_z: bool = False,
) -> argparse.ArgumentParser:
    """A command that reads a trained run and writes --out."""
    c = sub.add_parser(name, help=help)
    c.add_argument("run", type=Path, help="run directory (or its checkpoint folder)")
    c.add_argument("--out", required=True, help=out_help)
    c.add_argument("--device", default="auto")
    if draws_z:  # only commands that draw z take a seed
        c.add_argument("--seed", type=int, default=0, help="of the draws of z")
    c.set_defaults(func=func)
    return c


def add_data_flags(
    p: argparse.ArgumentParser, split: str = "test", data_help: str | None = None
) -> None:
    """--data, --data-dir, --split, --skip-bad-images and --cache-dir of a command that reads a
    run's data."""
    p.add_argument("--data", choices=DATASET_NAMES, help=data_help or "default: the run's data set")
    p.add_argument("--data-dir")
    p.add_argument("--split", default=split)
    add_skip_flag(p)
    add_cache_flag(p)


def add_skip_flag(p: argparse.ArgumentParser, default: bool | None = False) -> None:
    """--skip-bad-images (a run's own setting holds too; `train` leaves None for its config)."""
    p.add_argument(
        "--skip-bad-images",
        action="store_const",
        const=True,
        default=default,
        help="leave out (and list) images that cannot be decoded",
    )


def add_preprocessing_flags(p: argparse.ArgumentParser, defaults: bool = False) -> None:
    """--crop and --skip-bad-images; `train` leaves them None so a --config file's values hold."""
    p.add_argument(
        "--crop",
        choices=CROPS,
        default="auto" if defaults else None,
        help="auto: the data set's own (CelebA 148x148 at (40, 15), LFW centre "
        "150x150, folders centre square, MNIST padded to 32); center: the largest "
        "centred square; none: the whole image",
    )
    add_skip_flag(p, default=False if defaults else None)


def load_options(args: argparse.Namespace, spec, **more):  # spec: vaegan.data.DatasetSpec
    """The preprocessing flags (--image-size, --crop, --skip-bad-images) as LoadOptions."""
    from vaegan.data import LoadOptions

    return LoadOptions(
        image_size=args.image_size or spec.image_size,
        channels=spec.channels,
        crop=args.crop,
        skip_bad_images=args.skip_bad_images,
        **more,
    )


def add_cache_flag(p: argparse.ArgumentParser) -> None:
    """--cache-dir: where preprocessed data sets are kept (default $XDG_CACHE_HOME/vaegan)."""
    p.add_argument(
        "--cache-dir",
        type=Path,
        help="cache of preprocessed data (default $XDG_CACHE_HOME/vaegan or ~/.cache/vaegan)",
    )


def run_split(args: argparse.Namespace, cfg: RunConfig, **options: Any) -> Dataset:
    """The split add_data_flags chose (by default of the run's own data set), as the run's model
    takes it; `options` go to load_dataset (e.g. progress)."""
    from vaegan.data import load_run_data

    return load_run_data(
        cfg,
        args.split,
        data=args.data,
        data_dir=args.data_dir,
        cache_dir=args.cache_dir,
        skip_bad_images=args.skip_bad_images,
        **options,
    )


def held_out_data(args: argparse.Namespace, cfg: RunConfig, n: int) -> Dataset:
    """The chosen split (by default the run's own data set), checked to hold n images."""
    data = run_split(args, cfg)
    if n > len(data):
        raise VaeganError(f"{n} images requested, but split '{args.split}' has {len(data)}")
    return data


def held_out_images(args: argparse.Namespace, cfg: RunConfig, n: int) -> np.ndarray:
    """The first n images of the chosen split (by default the run's own data set)."""
    return held_out_data(args, cfg, n).images[:n]
