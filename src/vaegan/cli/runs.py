"""The commands over runs: `compare` (configs and metrics), `report` (an HTML page) and
`finetune` (§5.4)."""

from __future__ import annotations

import argparse
from pathlib import Path

from vaegan.cli.common import Subparsers, add_cache_flag, count
from vaegan.names import DATASET_NAMES, FEATURES, FINETUNE_BATCH, FINETUNE_SEEDS, FINETUNE_STEPS


def add_compare(sub: Subparsers) -> None:
    c = sub.add_parser("compare", help="config differences and metrics of several runs")
    c.add_argument("runs", type=Path, nargs="+")
    c.add_argument("--format", choices=("markdown", "csv"), default="markdown")
    c.set_defaults(func=cmd_compare)


def cmd_compare(args: argparse.Namespace) -> None:
    from vaegan.compare import format_comparison

    print(format_comparison(args.runs, args.format), end="")


def add_finetune(sub: Subparsers) -> None:

    f = sub.add_parser(
        "finetune", help="few-label classifier on a run's Enc or Dis vs from scratch (§5.4)"
    )
    f.add_argument("run", type=Path, help="run directory (or its checkpoint folder)")
    f.add_argument("--data", choices=DATASET_NAMES, help="default: the run's data set")
    f.add_argument("--data-dir")
    add_cache_flag(f)
    f.add_argument(
        "--labels",
        type=count(1),
        required=True,
        help="labelled training images, the same number per class",
    )
    f.add_argument(
        "--features",
        choices=FEATURES,
        default="enc",
        help="hidden FC layer of Enc (default) or of Dis (gan runs)",
    )
    f.add_argument(
        "--from-scratch",
        action="store_true",
        help="the same network freshly initialised, for comparison",
    )
    f.add_argument(
        "--freeze",
        action="store_true",
        help="train the linear head only (a probe); default: fine-tune all",
    )
    f.add_argument("--seeds", type=count(1, 100), help=f"seeds 0..N-1 (default {FINETUNE_SEEDS})")
    f.add_argument("--steps", type=count(1), help=f"default {FINETUNE_STEPS}")
    f.add_argument("--batch-size", type=count(1, 65_536), help=f"default {FINETUNE_BATCH}")
    f.add_argument("--lr", type=float, help="AdamW step (default 3e-4; 3e-3 with --freeze)")
    f.add_argument("--out", type=Path, help="JSON record (default RUN/finetune.json)")
    f.add_argument("--device", default="auto")
    f.add_argument("--quiet", action="store_true")
    f.set_defaults(func=cmd_finetune)


def cmd_finetune(args: argparse.Namespace) -> None:
    # Flags left out keep FinetuneConfig's defaults (lr: chosen by --freeze).
    from vaegan.devices import resolve_device
    from vaegan.finetune import FinetuneConfig, finetune_run, format_results, record_result

    tuning = {k: getattr(args, k) for k in ("seeds", "steps", "batch_size", "lr")}
    cfg = FinetuneConfig(
        labels=args.labels,
        features=args.features,
        from_scratch=args.from_scratch,
        freeze=args.freeze,
        **{k: v for k, v in tuning.items() if v is not None},
    )
    result = finetune_run(
        args.run,
        cfg,
        data=args.data,
        data_dir=args.data_dir,
        cache_dir=args.cache_dir,
        device=resolve_device(args.device),
        progress=not args.quiet,
    )
    out = args.out or Path(args.run) / "finetune.json"
    print(format_results(record_result(out, args.run, result)))
    print(f"written to {out}")


def add_report(sub: Subparsers) -> None:
    r = sub.add_parser("report", help="one self-contained HTML page of runs: curves, grids, config")
    r.add_argument("runs", type=Path, nargs="+", help="run directories (several: overlaid)")
    r.add_argument("--out", type=Path, help="default: RUN/report.html for one run, report.html")
    r.set_defaults(func=cmd_report)


def cmd_report(args: argparse.Namespace) -> None:
    from vaegan.report import write_report

    out = args.out or (args.runs[0] / "report.html" if len(args.runs) == 1 else Path("report.html"))
    print(write_report(args.runs, out))


def add_serve(sub: Subparsers) -> None:
    s = sub.add_parser("serve", help="the latent explorer: a web page over a trained run")
    s.add_argument("run", type=Path, help="run directory (or its checkpoint folder)")
    s.add_argument("--host", default="127.0.0.1", help="default 127.0.0.1: this machine only")
    s.add_argument("--port", type=count(1, 65_535), default=8000)
    s.add_argument("--device", default="auto")
    add_cache_flag(s)
    s.set_defaults(func=cmd_serve)


def cmd_serve(args: argparse.Namespace) -> None:
    from vaegan.explorer.app import serve  # late: the web server's imports only for this command

    serve(args.run, args.host, args.port, args.device, args.cache_dir)
