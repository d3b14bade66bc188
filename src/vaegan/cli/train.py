"""`vaegan train`: a config from the data set's defaults, --preset, --config, --set and flags."""

from __future__ import annotations

import argparse
import json
import os
from dataclasses import replace
from pathlib import Path
from typing import Any

from vaegan.cli.common import Subparsers, add_cache_flag, add_preprocessing_flags
from vaegan.config import (
    RESUME_MAY_CHANGE,
    VARIANTS,
    RunConfig,
)
from vaegan.errors import VaeganError
from vaegan.names import DATASET_NAMES
from vaegan.presets import PRESETS
from vaegan.progress import logger

SET_TRUE: dict[str, Any] = {"action": "store_const", "const": True}
# The flags of `train` that set one config field each, in --help's order:
# (flag, section, field, add_argument keywords). --crop and --skip-bad-images come from
# add_preprocessing_flags, which other commands share.
CONFIG_FLAGS: tuple[tuple[str, str, str, dict[str, Any]], ...] = (
    ("--model", "model", "variant", {"choices": VARIANTS}),
    ("--data", "data", "name", {"choices": DATASET_NAMES}),
    ("--data-dir", "data", "data_dir", {"help": "where the data set's files are (docs/DATA.md)"}),
    (
        "--split",
        "data",
        "split",
        {
            "help": "split to train on (default train; CelebA: val, test, "
            "trainval; SVHN: extra; folders: all)"
        },
    ),
    ("--crop", "data", "crop", {}),
    ("--skip-bad-images", "data", "skip_bad_images", {}),
    (
        "--no-resize",
        "data",
        "resize",
        {
            "dest": "resize",
            "action": "store_const",
            "const": False,
            "help": "require images of the model's size instead of resizing them",
        },
    ),
    ("--flip", "data", "flip", SET_TRUE | {"help": "mirror a random half of each training batch"}),
    (
        "--split-seed",
        "data",
        "split_seed",
        {"type": int, "help": "held-out split of LFW and image folders"},
    ),
    ("--steps", "train", "steps", {"type": int}),
    (
        "--batch-size",
        "train",
        "batch_size",
        {"type": int, "help": "global batch (torchrun divides it)"},
    ),
    (
        "--width",
        "model",
        "width",
        {"type": float, "help": "channel multiplier (1 = the paper's networks)"},
    ),
    ("--z-dim", "model", "z_dim", {"type": int}),
    ("--image-size", "model", "image_size", {"type": int}),
    ("--seed", "train", "seed", {"type": int}),
    ("--lr", "optim", "lr", {"type": float}),
    ("--gamma", "loss", "gamma", {"type": float, "help": "weight of L_llike in Dec's loss"}),
    ("--device", "train", "device", {"help": "auto, cpu, cuda, cuda:N or mps"}),
    (
        "--eval-every",
        "train",
        "eval_every",
        {"type": int, "help": "log domain FD/KID of samples every N steps"},
    ),
    ("--evaluator", "train", "evaluator", {"help": "evaluator folder (default: evaluators/DATA)"}),
    (
        "--precision",
        "train",
        "precision",
        {
            "choices": ("fp32", "bf16", "fp16", "auto"),
            "help": "autocast dtype of the step (fp16 with a gradient scaler); auto: bf16 where "
            "the hardware has it (CUDA, CPUs with AMX), else fp32; default fp32",
        },
    ),
    (
        "--compile",
        "train",
        "compile",
        SET_TRUE
        | {
            "help": "torch.compile each network (for "
            "GPUs; slower on a small CPU: docs/PERFORMANCE.md)"
        },
    ),
    (
        "--channels-last",
        "train",
        "channels_last",
        {
            "action": argparse.BooleanOptionalAction,
            "help": "NHWC memory layout for the networks and batches (the default; "
            "--no-channels-last: NCHW)",
        },
    ),
    (
        "--tensorboard",
        "train",
        "tensorboard",
        SET_TRUE | {"help": "also write TensorBoard event files to RUN/tensorboard"},
    ),
    (
        "--sync-batchnorm",
        "train",
        "sync_batchnorm",
        SET_TRUE | {"help": "under torchrun: BatchNorm statistics of the global batch"},
    ),
)
# Flag -> (section, field), by argparse's dest.
TRAIN_FLAGS = {
    kwargs.get("dest", flag.removeprefix("--").replace("-", "_")): (section, field)
    for flag, section, field, kwargs in CONFIG_FLAGS
}
# What --resume lets change: the data may have moved; all else that defines the run stays.


def add_train(sub: Subparsers) -> None:
    """`train --out RUN`'s flags: --preset, --config, --set, --resume, one flag per common config
    field (CONFIG_FLAGS), --quiet and --cache-dir."""
    t = sub.add_parser("train", help="train a model into a run directory")
    t.add_argument("--out", required=True, help="run directory")
    t.add_argument(
        "--preset",
        choices=PRESETS,
        help="a named config: paper (the authors' code), demo (make demo), quality "
        "(the best recipe measured, docs/QUALITY.md)",
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
    for flag, _, _, kwargs in CONFIG_FLAGS:
        if flag == "--crop":
            add_preprocessing_flags(t)
        elif flag != "--skip-bad-images":
            t.add_argument(flag, **kwargs)
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    add_cache_flag(t)
    t.set_defaults(func=cmd_train)


def cmd_train(args: argparse.Namespace) -> None:
    """Train (or with --resume continue) the run in --out; the main rank then prints where the
    checkpoint, metrics and latest grids are."""
    from vaegan.training import train

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


def build_config(args: argparse.Namespace) -> RunConfig:
    """Defaults for the data set, then the --preset, the --config file, each --set, and the
    flags given on the command line, each over the ones before."""
    given = {flag: getattr(args, flag) for flag in TRAIN_FLAGS if getattr(args, flag) is not None}
    if args.resume:
        cfg = resumed_config(args, given)
    else:
        cfg = layered_config(args)
    for section in ("model", "loss", "optim", "data", "train"):
        fields = {
            f: given[flag] for flag, (s, f) in TRAIN_FLAGS.items() if s == section and flag in given
        }
        if fields:
            cfg = replace(cfg, **{section: replace(getattr(cfg, section), **fields)})
    return cfg


def resumed_config(args: argparse.Namespace, given: dict[str, Any]) -> RunConfig:
    """The run's own config, with any --set of a field a resume may change (intervals, device,
    speed options); an error for a flag or --set that would redefine the run. A flag repeating
    the run's own value is harmless."""
    for option in ("config", "preset"):
        if getattr(args, option):
            raise VaeganError(f"--resume continues a run with its own config; drop --{option}")
    path = Path(args.out) / "config.json"
    if not path.is_file():
        raise VaeganError(f"{args.out}: no run to resume there (no config.json); drop --resume")
    cfg = RunConfig.load(path)
    keys = [item.partition("=")[0] for item in args.set or ()]
    fixed = sorted({key for key in keys if key not in RESUME_MAY_CHANGE})
    if fixed:
        raise VaeganError(
            f"--resume continues {args.out} with its own config; --set {', '.join(fixed)} would "
            f"redefine it (a resume may change: {', '.join(sorted(RESUME_MAY_CHANGE))})"
        )
    if args.set:
        from vaegan.configure import make_config  # lazily: `vaegan --help` stays light

        cfg = make_config(config=path, overrides=args.set, source=f"{path} + --set")
    saved = cfg.to_dict()
    changed = sorted(
        f"--{flag.replace('_', '-')}"
        for flag, value in given.items()
        if ".".join(TRAIN_FLAGS[flag]) not in RESUME_MAY_CHANGE
        and saved[TRAIN_FLAGS[flag][0]][TRAIN_FLAGS[flag][1]] != value
    )
    if changed:
        raise VaeganError(
            f"--resume continues {args.out} with its own config; drop {' '.join(changed)}"
        )
    note_layout_switch(args.out, saved["train"]["channels_last"], given.get("channels_last"))
    return cfg


def note_layout_switch(run: Path, had: bool, flag: bool | None) -> None:
    """Log a resume that switches the memory layout (allowed: the same computation)."""
    if flag is not None and flag != had:
        logger.info(
            f"{run}: resuming in {'channels_last' if flag else 'NCHW'} (the run had "
            f"{'channels_last' if had else 'NCHW'}): the same computation, rounded otherwise"
        )


def layered_config(args: argparse.Namespace) -> RunConfig:
    """--preset, then --config, then each --set over the defaults of the data set they name."""
    from vaegan.configure import make_config

    given = [f"--preset {args.preset}" if args.preset else "", str(args.config or "")]
    source = " + ".join(filter(None, [*given, "--set" if args.set else ""])) or "defaults"
    return make_config(
        args.preset, data=args.data, config=args.config, overrides=args.set or (), source=source
    )


def add_config(sub: Subparsers) -> None:
    """`config show`'s flags: --preset, --config, --set and --data, as `train` takes them."""
    c = sub.add_parser("config", help="configs: show the one a train command would resolve")
    show = c.add_subparsers(dest="config_command", required=True).add_parser(
        "show", help="print the resolved config (every field) as JSON"
    )
    show.add_argument("--preset", choices=PRESETS, help="a named config (as train's --preset)")
    show.add_argument("--config", type=Path, help="JSON run config, whole or partial")
    show.add_argument(
        "--set",
        action="append",
        metavar="SECTION.FIELD=VALUE",
        help="set any config field (repeatable; after --preset and --config)",
    )
    show.add_argument("--data", choices=DATASET_NAMES, help="the data set whose shape to use")
    show.set_defaults(func=cmd_config_show)


def cmd_config_show(args: argparse.Namespace) -> None:
    """Print the config those flags resolve to, every field, as indented JSON."""
    print(json.dumps(layered_config(args).to_dict(), indent=2))
