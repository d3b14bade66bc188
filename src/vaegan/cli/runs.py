"""The commands over runs: `compare` (configs and metrics), `report` (an HTML page),
`finetune` (§5.4), `export` (a model folder that travels) and `push` (the same, to the Hub)."""

from __future__ import annotations

import argparse
from pathlib import Path

from vaegan.cli.common import Subparsers, add_cache_flag, count
from vaegan.errors import VaeganError
from vaegan.names import DATASET_NAMES, FEATURES, FINETUNE_BATCH, FINETUNE_SEEDS, FINETUNE_STEPS

SERVE_PACKAGES = ("starlette", "uvicorn", "multipart", "python_multipart")  # the [serve] extra


def add_compare(sub: Subparsers) -> None:
    """`compare RUN...`'s flags: the runs, and --format (markdown, the default, or csv)."""
    c = sub.add_parser("compare", help="config differences and metrics of several runs")
    c.add_argument("runs", type=Path, nargs="+")
    c.add_argument("--format", choices=("markdown", "csv"), default="markdown")
    c.set_defaults(func=cmd_compare)


def cmd_compare(args: argparse.Namespace) -> None:
    """Print the runs' differing config keys and eval.json metrics, a row per run and setting."""
    from vaegan.compare import format_comparison

    print(format_comparison(args.runs, args.format), end="")


def add_finetune(sub: Subparsers) -> None:
    """`finetune RUN --labels N`'s flags: --features, --from-scratch, --freeze, --seeds, --steps,
    --batch-size, --lr and --out (§5.4)."""

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
    """Train the few-label classifier over the flags' seeds, merge the result into --out (default
    RUN/finetune.json) and print every setting recorded there."""
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
    """`report RUN...`'s flags: the runs (several are overlaid) and --out."""
    r = sub.add_parser("report", help="one self-contained HTML page of runs: curves, grids, config")
    r.add_argument("runs", type=Path, nargs="+", help="run directories (several: overlaid)")
    r.add_argument("--out", type=Path, help="default: RUN/report.html for one run, report.html")
    r.set_defaults(func=cmd_report)


def cmd_report(args: argparse.Namespace) -> None:
    """Write the HTML report (default RUN/report.html, or ./report.html for several runs)."""
    from vaegan.report import write_report

    out = args.out or (args.runs[0] / "report.html" if len(args.runs) == 1 else Path("report.html"))
    print(write_report(args.runs, out))


def add_serve(sub: Subparsers) -> None:
    """`serve RUN`'s flags: --host (default 127.0.0.1: this machine only), --port and --device."""
    s = sub.add_parser("serve", help="the latent explorer: a web page over a trained run")
    s.add_argument("run", type=Path, help="run directory (or its checkpoint folder)")
    s.add_argument("--host", default="127.0.0.1", help="default 127.0.0.1: this machine only")
    s.add_argument("--port", type=count(1, 65_535), default=8000)
    s.add_argument("--device", default="auto")
    add_cache_flag(s)
    s.set_defaults(func=cmd_serve)


def cmd_serve(args: argparse.Namespace) -> None:
    """Serve the latent explorer until Ctrl-C; VaeganError naming the package when the `serve` extra
    is not installed."""
    try:  # late: the web server's imports only for this command
        from vaegan.explorer.app import serve
    except ModuleNotFoundError as err:
        package = (err.name or "").partition(".")[0]
        if package not in SERVE_PACKAGES:
            raise
        raise VaeganError(
            f"vaegan serve needs {package}, which is not installed: pip install 'vaegan[serve]'"
        ) from None
    serve(args.run, args.host, args.port, args.device, args.cache_dir)


def add_export(sub: Subparsers) -> None:
    """`export RUN DIR`'s flags: the run, the model folder to write, and --onnx."""
    e = sub.add_parser(
        "export", help="a run as a model folder: weights, config, model card (docs/EXPORT.md)"
    )
    e.add_argument("run", type=Path, help="run directory (or its checkpoint folder)")
    e.add_argument("out", type=Path, help="the model folder to write (new, or empty)")
    e.add_argument(
        "--onnx", action="store_true", help="also decoder.onnx (pip install 'vaegan[onnx]')"
    )
    e.set_defaults(func=cmd_export)


def cmd_export(args: argparse.Namespace) -> None:
    """Export RUN into DIR (docs/EXPORT.md); print each file's size and the exported metrics."""
    from vaegan.card import metric_rows
    from vaegan.export import export_model
    from vaegan.records import read_evaluations

    out = export_model(args.run, args.out, onnx=args.onnx)
    for file in sorted(out.iterdir()):
        print(f"{file}  {file.stat().st_size:,} bytes")
    for metric in metric_rows(read_evaluations(out)):
        print(f"{metric.name:10s} {metric.value:12.5g}  {metric.setting}")


def add_push(sub: Subparsers) -> None:
    """`push RUN OWNER/NAME`'s flags: --private, --onnx, --token (default: HF_TOKEN or login)."""
    p = sub.add_parser(
        "push", help="export a run to a Hugging Face Hub repository (docs/EXPORT.md)"
    )
    p.add_argument("run", type=Path, help="run directory (or its checkpoint folder)")
    p.add_argument("repo", help="OWNER/NAME on the Hub; created if missing")
    p.add_argument("--private", action="store_true", help="a private repository, when created")
    p.add_argument("--token", help="a write token (default: HF_TOKEN, or `hf auth login`'s)")
    p.add_argument("--onnx", action="store_true", help="also decoder.onnx")
    p.set_defaults(func=cmd_push)


def cmd_push(args: argparse.Namespace) -> None:
    """Export RUN to the Hub repository (created if missing) and print its URL."""
    from vaegan.hub import push

    url = push(args.run, args.repo, private=args.private, token=args.token, onnx=args.onnx)
    print(f'pushed to {url}; load it with vaegan.load("{args.repo}")')
