"""`vaegan data info` and `vaegan data download`."""

from __future__ import annotations

import argparse
from pathlib import Path

from vaegan.cli.common import Subparsers, add_cache_flag, add_preprocessing_flags, load_options
from vaegan.names import DATASET_NAMES, DOWNLOADABLE


def add_data(sub: Subparsers) -> None:
    """The `data` subcommands: `info NAME`, `download NAME --to DIR` and `obtain NAME`."""

    d = sub.add_parser("data", help="inspect and download data sets").add_subparsers(
        dest="data_command", required=True
    )
    i = d.add_parser("info", help="counts per split, image shape, labels, a preview grid")
    i.add_argument("name", choices=DATASET_NAMES, help="the data set's format")
    i.add_argument("--data-dir", help="its files (README: Data sets); default: where known")
    i.add_argument("--image-size", type=int, help="default: the data set's own")
    i.add_argument(
        "--preview", type=Path, help="PNG of the first split (CACHE/previews/NAME-preview.png)"
    )
    add_preprocessing_flags(i, defaults=True)
    add_cache_flag(i)
    i.add_argument("--quiet", action="store_true")
    i.set_defaults(func=cmd_data_info)
    g = d.add_parser("download", help="fetch a public data set, SHA-256 verified, resumable")
    g.add_argument(
        "name",
        choices=sorted({*DOWNLOADABLE, "celeba"}),
        help="lfw fetches lfw.tgz; lfw_attributes.txt has no checksum to verify, "
        "so it is fetched by hand; celeba prints what to fetch",
    )
    g.add_argument("--to", required=True, help="directory to download into (then --data-dir)")
    g.add_argument("--mirror", help="fetch every file from MIRROR/FILE instead")
    g.add_argument("--quiet", action="store_true")
    g.set_defaults(func=cmd_data_download)
    o = d.add_parser("obtain", help="make a data set available: installed, cached, apt or download")
    o.add_argument("name", choices=DOWNLOADABLE, help="the data set")
    add_cache_flag(o)
    o.set_defaults(func=cmd_data_obtain)


def cmd_data_info(args: argparse.Namespace) -> None:
    """Print images per split, image shape, classes and attributes, and save a preview grid of the
    first split's first 64 images (default CACHE/previews/NAME-preview.png)."""
    from vaegan.data import DATASETS, describe, load_dataset
    from vaegan.data.cache import default_cache_dir
    from vaegan.images import save_images

    spec = DATASETS[args.name]
    options = load_options(args, spec)
    root = Path(args.data_dir or spec.default_dir or ".")
    unions = dict(spec.unions)
    present = spec.splits_in(root) if root.is_dir() else spec.splits
    absent = spec.absent_optional(root) if root.is_dir() else ()
    present = tuple(s for s in present if s not in absent)
    splits = {
        split: load_dataset(
            args.name,
            args.data_dir,
            split,
            options,
            cache_dir=args.cache_dir,
            progress=not args.quiet,
        )
        for split in present
        if split not in unions
    }
    counts = {
        s: len(splits[s]) if s in splits else sum(len(splits[p]) for p in unions[s])
        for s in present
    }
    print(describe(args.name, splits, counts))
    if absent:
        print(f"absent:    {', '.join(absent)} (optional; not in {root})")
    first = next(iter(splits.values()))
    # Not in the working directory by default: it might be the data directory itself.
    cache = args.cache_dir or default_cache_dir()
    preview = args.preview or cache / "previews" / f"{args.name}-preview.png"
    print(f"preview:   {save_images(first.images[:64], preview, ncol=8)}")


def cmd_data_obtain(args: argparse.Namespace) -> None:
    """Print the folder holding NAME and how it got there: installed, cached, apt or downloaded."""
    from vaegan.data import DATASETS
    from vaegan.data.obtain import obtain

    default = DATASETS[args.name].default_dir
    folder, how = obtain(args.name, Path(default) if default else None, args.cache_dir)
    print(f"{args.name}: {folder} ({how})")


def cmd_data_download(args: argparse.Namespace) -> None:
    """Download NAME into --to, SHA-256 verified and resumable, and print each file's path."""
    from vaegan.data.download import download

    for path in download(args.name, Path(args.to), mirror=args.mirror, progress=not args.quiet):
        print(path)
