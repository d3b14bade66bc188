"""The commands that decode a trained run's codes: sample, reconstruct, interpolate, walk, edit,
and `attributes compute`."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from vaegan.cli.common import (
    Subparsers,
    add_data_flags,
    add_run_command,
    comma_list,
    count,
    held_out_data,
    held_out_images,
    run_split,
)
from vaegan.errors import VaeganError
from vaegan.names import ATTRIBUTE_IMAGES, DEFAULT_STRENGTH

if TYPE_CHECKING:
    import torch

    from vaegan.config import RunConfig

MAX_SAMPLES = 100_000  # sample --n: 1.2 GB of 64x64 colour images as uint8
DECODE_BATCH = 1_000  # codes decoded at once, so that memory does not grow with --n


def add_sample(sub: Subparsers) -> None:
    """`sample RUN --out FILE`: --n draws, --seed, and --condition for conditional models."""
    s = add_run_command(
        sub, "sample", "decode draws of z from the model's prior", cmd_sample, draws_z=True
    )
    s.add_argument("--n", type=count(1, MAX_SAMPLES), default=64)
    s.add_argument(
        "--condition",
        help="conditional models: a class name, NAME=VALUE,... "
        "(attributes; others 0), K comma-separated values, or 'test' (the first images' "
        "own, of --split, by default the test split); default: each class in turn "
        "(attributes: 'test')",
    )
    add_data_flags(s, data_help="with --condition test: default the run's data set")


def cmd_sample(args: argparse.Namespace) -> None:
    """Decode --n codes drawn from the run's prior, DECODE_BATCH at a time, and print the file
    written; class-conditional runs get a column per class."""
    import numpy as np
    import torch

    from vaegan.checkpoint import load_model
    from vaegan.devices import resolve_device
    from vaegan.images import save_images, to_uint8

    model, cfg = load_model(args.run, resolve_device(args.device))
    g = torch.Generator(device=model.device).manual_seed(args.seed)
    y, ncol = sample_conditions(args, cfg), None
    if cfg.model.condition_kind == "class" and args.condition is None:
        ncol = cfg.model.condition_dim  # one column per class
    codes = model.draw_codes(args.n, g)
    images = np.concatenate(
        [
            to_uint8(
                model.decode(
                    codes[i : i + DECODE_BATCH], None if y is None else y[i : i + DECODE_BATCH]
                )
            )
            for i in range(0, args.n, DECODE_BATCH)
        ]
    )
    print(save_images(images, args.out, ncol))


def sample_conditions(args: argparse.Namespace, cfg: RunConfig) -> torch.Tensor | None:
    """The condition of each of the n samples: --condition's, the test images' ("test"), or by
    default every class in turn (attributes: the test images')."""
    import torch

    from vaegan.conditions import FROM_TEST_SET, condition_values, parse_condition

    model, n = cfg.model, args.n
    if not model.conditional:
        if args.condition is not None:
            raise VaeganError(f"a '{model.variant}' model takes no --condition")
        return None
    if args.condition is None and model.condition_kind == "class":
        return torch.eye(model.condition_dim)[torch.arange(n) % model.condition_dim]
    if args.condition in (None, FROM_TEST_SET):
        data = held_out_data(args, cfg, n)
        return torch.from_numpy(condition_values(data, model, n))
    return torch.from_numpy(parse_condition(args.condition, model)).expand(n, -1)


def add_reconstruct(sub: Subparsers) -> None:
    """`reconstruct RUN --out FILE`: --n held-out images (default 32) and the data flags."""
    c = add_run_command(
        sub, "reconstruct", "encode and decode held-out images (z = mu)", cmd_reconstruct
    )
    add_data_flags(c)
    c.add_argument("--n", type=count(1, 10_000), default=32)


def cmd_reconstruct(args: argparse.Namespace) -> None:
    """Reconstruct the first --n held-out images (z = mu, each under its own condition): a .png
    interleaves rows of originals and reconstructions, a .npy holds the reconstructions alone."""
    import torch

    from vaegan.checkpoint import load_model
    from vaegan.conditions import condition_values
    from vaegan.devices import resolve_device
    from vaegan.images import interleave_rows, save_images, to_model, to_uint8

    model, cfg = load_model(args.run, resolve_device(args.device))
    data = held_out_data(args, cfg, args.n)
    originals = data.images[: args.n]
    y = condition_values(data, cfg.model, args.n)  # each image under its own condition
    y = None if y is None else torch.from_numpy(y)
    recon = to_uint8(model.reconstruct(to_model(torch.from_numpy(originals)), y))
    if Path(args.out).suffix == ".npy":
        print(save_images(recon, args.out))
    else:
        ncol = min(8, args.n)
        print(save_images(interleave_rows(originals, recon, ncol), args.out, ncol))


def add_interpolate(sub: Subparsers) -> None:
    """`interpolate RUN --out FILE`: --pairs, --steps (ends included), --mode and --gif."""
    c = add_run_command(
        sub, "interpolate", "decode latent paths between pairs of images", cmd_interpolate
    )
    add_data_flags(c)
    c.add_argument("--pairs", type=count(1, 1_000), default=8)
    c.add_argument(
        "--steps", type=count(2, 1_000), default=10, help="images per path, ends included"
    )
    c.add_argument("--mode", choices=("linear", "spherical"), default="spherical")
    c.add_argument(
        "--gif", help="also an animated FILE.gif: every pair side by side, forward then back"
    )


def cmd_interpolate(args: argparse.Namespace) -> None:
    """A row per pair of held-out images: the decoded path between their codes, and with --gif an
    animation of every path; unconditional models only."""
    import torch

    from vaegan.checkpoint import load_model
    from vaegan.devices import resolve_device
    from vaegan.images import make_grid, save_gif, save_images, to_model, to_uint8
    from vaegan.latent import interpolate, require_unconditional, there_and_back

    model, cfg = load_model(args.run, resolve_device(args.device))
    require_unconditional(model, "interpolation")
    ends = to_model(torch.from_numpy(held_out_images(args, cfg, 2 * args.pairs)))
    z = model.encode(ends)
    rows = [interpolate(z[2 * i], z[2 * i + 1], args.steps, args.mode) for i in range(args.pairs)]
    images = to_uint8(model.decode(torch.cat(rows)))
    print(save_images(images, args.out, ncol=args.steps))
    if args.gif:
        paths = images.reshape(args.pairs, args.steps, *images.shape[1:])
        # Frame t: the t-th image of every pair, side by side.
        frames = [make_grid(paths[:, t], ncol=args.pairs) for t in range(args.steps)]
        print(save_gif(there_and_back(frames), args.gif))


def add_walk(sub: Subparsers) -> None:
    """`walk RUN --out FILE.gif|.png`: --n walkers, --frames, --leg, --change and --columns."""
    w = add_run_command(
        sub,
        "walk",
        "the official code's random walk through z ~ N(0, I)",
        cmd_walk,
        out_help=".gif: the walk animated; .png: a row of frames per walker",
        draws_z=True,
    )
    w.add_argument("--n", type=count(1, 1_000), default=16, help="walkers (images per frame)")
    w.add_argument("--frames", type=count(1, 10_000), default=100)
    w.add_argument("--leg", type=count(1, 10_000), default=10, help="frames between waypoints")
    w.add_argument(
        "--change", type=float, default=0.1, help="share of coordinates redrawn at each waypoint"
    )
    w.add_argument(
        "--columns", type=count(1, 1_000), default=10, help=".png: frames shown per walker"
    )


def cmd_walk(args: argparse.Namespace) -> None:
    """Decode --n random walks through z ~ N(0, I): a .gif of every frame, or a .png row of
    --columns frames per walker; unconditional models only."""
    import numpy as np
    import torch

    from vaegan.checkpoint import load_model
    from vaegan.devices import resolve_device
    from vaegan.images import make_grid, save_gif, save_images
    from vaegan.latent import decode_codes, random_walk, require_unconditional

    model, _ = load_model(args.run, resolve_device(args.device))
    require_unconditional(model, "the latent walk")
    g = torch.Generator().manual_seed(args.seed)
    start = torch.randn(args.n, model.cfg.z_dim, generator=g)
    path = random_walk(start, args.frames, leg=args.leg, change_fraction=args.change, generator=g)
    images = decode_codes(model, path.flatten(0, 1))
    images = images.reshape(args.frames, args.n, *images.shape[1:])  # (frames, n, H, W, C)
    if Path(args.out).suffix.lower() == ".gif":
        print(save_gif([make_grid(frame) for frame in images], args.out))
        return
    # A still: one row per walker, through `columns` frames evenly spread over the walk.
    shown = np.linspace(0, args.frames - 1, min(args.columns, args.frames)).round().astype(int)
    rows = images[shown].swapaxes(0, 1).reshape(-1, *images.shape[2:])
    print(save_images(rows, args.out, ncol=len(shown)))


def add_edit(sub: Subparsers) -> None:
    """`edit RUN --vectors FILE --out FILE`: --attrs, --n, --strength S and the data flags."""
    c = add_run_command(
        sub, "edit", "add attribute vectors to held-out images (the paper's figure)", cmd_edit
    )
    c.add_argument("--vectors", type=Path, required=True, help="from vaegan attributes compute")
    c.add_argument("--attrs", help="A,B,... of the vectors (default: all)")
    c.add_argument("--n", type=count(1, 1_000), default=8, help="images (rows)")
    c.add_argument(
        "--strength",
        type=float,
        default=DEFAULT_STRENGTH,
        help="S in z + S v_a (default %(default)s)",
    )
    add_data_flags(c)


def cmd_edit(args: argparse.Namespace) -> None:
    """A row per held-out image: input, reconstruction, then z + S v_a decoded for each attribute;
    CheckpointError if the vectors were computed with another model."""
    from vaegan.attributes import AttributeVectors
    from vaegan.checkpoint import load_model
    from vaegan.devices import resolve_device
    from vaegan.images import save_images
    from vaegan.latent import edit_grid

    model, cfg = load_model(args.run, resolve_device(args.device))
    vectors = AttributeVectors.load(args.vectors)
    vectors.check_model(args.run, model)
    names, v = vectors.select(comma_list(args.attrs))
    grid = edit_grid(model, held_out_images(args, cfg, args.n), v, args.strength)
    print(save_images(grid.reshape(-1, *grid.shape[2:]), args.out, ncol=grid.shape[1]))
    print(f"columns: input, reconstruction, then + {args.strength:g} x: {', '.join(names)}")


def add_attributes(sub: Subparsers) -> None:
    """`attributes compute RUN --out FILE`: --attrs, --n, data flags (default split: train)."""
    a = sub.add_parser("attributes", help="visual attribute vectors").add_subparsers(
        dest="attributes_command", required=True
    )
    c = a.add_parser("compute", help="v_a = mean z with a - mean z without a (z = mu)")
    c.add_argument("run", type=Path, help="run directory (or its checkpoint folder)")
    c.add_argument("--out", type=Path, required=True, help="FILE.safetensors")
    add_data_flags(c, split="train")
    c.add_argument("--attrs", help="A,B,... class or attribute names (default: all)")
    c.add_argument(
        "--n",
        type=count(1),
        help=f"the first N images (default {ATTRIBUTE_IMAGES:,} or the whole split if smaller)",
    )
    c.add_argument("--device", default="auto")
    c.add_argument("--quiet", action="store_true")
    c.set_defaults(func=cmd_attributes_compute)


def cmd_attributes_compute(args: argparse.Namespace) -> None:
    """Compute the run's attribute vectors (METHOD.md §5.2), print each one's image counts with and
    without it and its length |v|, and save them."""
    from vaegan.attributes import compute_attribute_vectors
    from vaegan.checkpoint import load_model
    from vaegan.devices import resolve_device

    model, cfg = load_model(args.run, resolve_device(args.device))
    data = run_split(args, cfg, progress=not args.quiet)
    vectors = compute_attribute_vectors(
        model, data, args.run, split=args.split, attrs=comma_list(args.attrs), n=args.n
    )
    print(f"{vectors.kind} vectors from the first {vectors.n} images of {data.name}/{args.split}")
    print(f"{'attribute':20s} {'with':>7s} {'without':>7s} {'|v|':>7s}")
    for i, name in enumerate(vectors.names):
        print(
            f"{name:20s} {vectors.count_with[i]:7d} {vectors.count_without[i]:7d} "
            f"{float(vectors.vectors[i].norm()):7.3f}"
        )
    print(vectors.save(args.out))
