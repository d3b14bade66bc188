"""Sample quality per unit of compute: train configurations for the same FLOPs, evaluate each alike.

    python benchmarks/quality.py --budget-of vaegan:2500 --out runs/quality/demo \\
        vaegan=preset:quality vae=preset:quality,model.variant=vae gan=preset:quality,...
    python benchmarks/quality.py ... --fid-n 5000          # Inception FID/KID too (slow on a CPU)

A configuration is NAME=SOURCE[,section.field=VALUE,...]: SOURCE is a JSON file or preset:NAME,
and each override replaces one field as `vaegan train --set` does (`loss.r1=1`,
`model.ema_decay=null`, `model.feature_conv=[0,2]`, `model.variant=vae`). The budget is a number of
GFLOP (--budget) or the compute of STEPS steps of one of the configurations (--budget-of
NAME:STEPS); each configuration then trains for as many steps as that buys, counted with
torch.utils.flop_counter over one full step (every network updated: gating only skips work).

Each run trains in its own process (`vaegan train`, its wall time measured; --threads sets
OMP_NUM_THREADS for it), logging the domain FD at n = 2,000 eleven times along the way for the
curve. Then every run is evaluated the same way: domain FD/KD, precision and recall at --fd-n
(10,000) test images, reconstruction MSE/SSIM where there is an encoder, the share of samples the
evaluator puts in each class, and with --fid-n Inception FID/KID. Writes OUT/TABLE.json (every
number), OUT/TABLE.md (a table) and OUT/TABLE.png (FD against compute), TABLE from --table. A
finished run is not trained again. Two diagnostic columns say what the inference-time options buy:
the domain FD of the same weights with codes from N(0, I) instead of a fitted prior, and with the
trained Enc/Dec instead of their moving averages (prior refitted for them).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import flop_registry

from vaegan.checkpoint import checkpoint_step, find_checkpoint, load_model
from vaegan.config import RunConfig, deep_merge, dotted_override, read_config_file
from vaegan.data import load_run_data
from vaegan.data.cache import default_cache_dir
from vaegan.errors import VaeganError
from vaegan.evaluate import evaluate_run
from vaegan.judge import default_evaluator
from vaegan.metrics.quality import domain_quality
from vaegan.models import VAEGAN
from vaegan.optim import make_optimizers
from vaegan.presets import preset
from vaegan.prior import fit_prior, with_prior
from vaegan.step import train_step

CURVE_POINTS = 10


def top_level_split(text: str) -> list[str]:
    """Split at commas outside brackets: `a=1,b=[0,2]` -> ['a=1', 'b=[0,2]']."""
    parts, depth, start = [], 0, 0
    for i, char in enumerate(text):
        depth += {"[": 1, "]": -1}.get(char, 0)
        if char == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    return [*parts, text[start:]]


def parse_spec(spec: str) -> tuple[str, RunConfig]:
    """NAME=SOURCE[,section.field=VALUE,...] -> (NAME, config); VALUE as `vaegan train --set`."""
    name, _, rest = spec.partition("=")
    source, *overrides = top_level_split(rest)
    if source.startswith("preset:"):
        raw = preset(source.removeprefix("preset:"))
    else:
        raw = read_config_file(Path(source))
    for item in overrides:
        raw = deep_merge(raw, dotted_override(item))
    return name, RunConfig.from_dict(raw, source=spec)


class CountFlops(TorchDispatchMode):
    """FLOPs of every op torch's flop counter knows. FlopCounterMode itself tracks modules with
    hooks that refuse the double backward of the R1 penalty."""

    def __init__(self) -> None:
        super().__init__()
        self.total = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        count = flop_registry.get(func._overloadpacket)
        if count is not None:
            self.total += count(*args, **kwargs, out_val=out)
        return out


def flops_per_step(cfg: RunConfig) -> float:
    """FLOPs of one full training step (every network updated) on a random batch."""
    if cfg.model.conditional:
        raise VaeganError("the quality harness compares unconditional models")
    torch.manual_seed(0)
    model = VAEGAN(cfg.model)
    optimizers = make_optimizers(model, cfg.optim)
    shape = (cfg.train.batch_size, cfg.model.channels, cfg.model.image_size, cfg.model.image_size)
    x = torch.rand(shape) * 2 - 1
    ungated = replace(cfg.loss, margin=None)
    with CountFlops() as counter:
        train_step(model, optimizers, x, ungated, torch.Generator().manual_seed(0))
    return float(counter.total)


def budgeted(cfg: RunConfig, steps: int) -> RunConfig:
    """The config trained for `steps`, logging the in-training FD curve."""
    every = max(1, steps // CURVE_POINTS)
    train = replace(
        cfg.train,
        steps=steps,
        sample_every=every,
        checkpoint_every=steps,
        eval_every=every,
        eval_n=2000,
        log_every=min(cfg.train.log_every, every),
    )
    return replace(cfg, train=train)


def train_run(cfg: RunConfig, run: Path, threads: int | None) -> float | None:
    """Train into `run` in a child process; its wall seconds (None: it was finished already)."""
    try:
        finished = checkpoint_step(find_checkpoint(run)) == cfg.train.steps
        if finished and RunConfig.load(run / "config.json") == cfg:
            return None
    except VaeganError:
        pass
    if run.exists():
        raise VaeganError(f"{run}: holds another run; remove it or choose another --out")
    run.mkdir(parents=True)
    cfg.save(run / "requested.json")
    env = os.environ | ({"OMP_NUM_THREADS": str(threads)} if threads else {})
    command = [
        sys.executable,
        "-m",
        "vaegan",
        "train",
        "--config",
        str(run / "requested.json"),
        "--out",
        str(run),
        "--quiet",
    ]
    start = time.perf_counter()
    subprocess.run(command, check=True, env=env)
    return time.perf_counter() - start


def evaluate(run: Path, cfg: RunConfig, fd_n: int, fid_n: int) -> dict[str, float]:
    # The real images' features are cached, so each model costs only its own samples' features.
    options = {
        "evaluator_dir": default_evaluator(cfg.data.name),
        "progress": False,
        "cache_dir": default_cache_dir(),
    }
    metrics = ["fd", "classes"] + (["recon"] if cfg.model.has_encoder else [])
    results = evaluate_run(run, metrics=tuple(metrics), n=fd_n, **options)["metrics"]
    results |= diagnostics(run, cfg, fd_n)
    if fid_n:
        results |= evaluate_run(run, metrics=("fid", "kid"), n=fid_n, **options)["metrics"]
    return results


def diagnostics(run: Path, cfg: RunConfig, n: int) -> dict[str, float]:
    """The domain FD the same run gives without its inference-time options: with codes from
    N(0, I) instead of the fitted prior, and with the trained Dec instead of its moving average."""
    model, _ = load_model(run)
    test = load_run_data(cfg, "test").images[:n]
    quality = domain_quality(default_evaluator(cfg.data.name), cfg.data.name, test)
    out = {}
    if cfg.model.prior == "fitted":
        out["fd_standard_prior"] = quality(with_prior(model, "standard"))["fd"]
    if model.averaged:
        model.averaged = torch.nn.ModuleDict()  # inference falls back to the trained Enc/Dec
        if cfg.model.prior == "fitted":
            fit_prior(model, load_run_data(cfg, cfg.data.split).images)
        out["fd_trained_weights"] = quality(model)["fd"]
    return out


def curve(run: Path) -> list[tuple[int, float]]:
    """(step, domain FD at n = 2,000) from the run's metrics.jsonl."""
    lines = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return [(line["step"], line["fd"]) for line in lines if "fd" in line]


def markdown(rows: list[dict]) -> str:
    cols = [
        ("run", "name", "{}"),
        ("variant", "variant", "{}"),
        ("GFLOP/step", "gflop_per_step", "{:.1f}"),
        ("steps", "steps", "{}"),
        ("train min", "train_minutes", "{:.1f}"),
        ("FD", "fd", "{:.2f}"),
        ("KD", "kd", "{:.3f}"),
        ("precision", "precision", "{:.3f}"),
        ("recall", "recall", "{:.3f}"),
        ("FID", "fid", "{:.1f}"),
        ("KID", "kid", "{:.4f}"),
        ("recon MSE", "mse", "{:.4f}"),
        ("SSIM", "ssim", "{:.3f}"),
        ("min class", "class_min", "{:.3f}"),
        ("max class", "class_max", "{:.3f}"),
        ("FD, N(0,I) codes", "fd_standard_prior", "{:.2f}"),
        ("FD, trained weights", "fd_trained_weights", "{:.2f}"),
    ]
    lines = ["| " + " | ".join(c[0] for c in cols) + " |", "|" + "---|" * len(cols)]
    for row in rows:
        cells = [fmt.format(row[key]) if row.get(key) is not None else "-" for _, key, fmt in cols]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def plot(rows: list[dict], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for row in rows:
        steps, fds = zip(*row["curve"], strict=True) if row["curve"] else ((), ())
        tflop = [s * row["gflop_per_step"] / 1e3 for s in steps]
        (line,) = ax.plot(tflop, fds, marker=".", label=f"{row['name']} (FD@2k)")
        final = row["steps"] * row["gflop_per_step"] / 1e3
        ax.plot([final], [row["fd"]], marker="*", markersize=12, color=line.get_color())
    ax.set_xlabel("training compute (TFLOP)")
    ax.set_ylabel("domain FD (lower is better)")
    ax.set_yscale("log")
    ax.set_title("Sample quality against compute (stars: FD at n = 10,000 at the end)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("configs", nargs="+", help="NAME=SOURCE[,key=JSON,...]")
    budget = p.add_mutually_exclusive_group(required=True)
    budget.add_argument("--budget", type=float, help="GFLOP of training per configuration")
    budget.add_argument("--budget-of", help="NAME:STEPS, the compute of STEPS steps of NAME")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--fd-n", type=int, default=10_000)
    p.add_argument("--fid-n", type=int, default=0, help="Inception FID/KID images (0: none)")
    p.add_argument("--threads", type=int, help="OMP_NUM_THREADS of each training process")
    p.add_argument("--train-only", action="store_true", help="train, evaluate nothing (yet)")
    p.add_argument("--table", default="quality", help="OUT/TABLE.md, .json, .png (default quality)")
    args = p.parse_args()

    configs = dict(parse_spec(spec) for spec in args.configs)
    gflop = {name: flops_per_step(cfg) / 1e9 for name, cfg in configs.items()}
    if args.budget_of:
        ref, _, steps = args.budget_of.partition(":")
        total = gflop[ref] * int(steps)
    else:
        total = args.budget
    print(f"budget: {total / 1e3:.1f} TFLOP per configuration", file=sys.stderr)
    args.out.mkdir(parents=True, exist_ok=True)
    rows = []
    for name, cfg in configs.items():
        cfg = budgeted(cfg, max(1, round(total / gflop[name])))
        run = args.out / name
        print(f"{name}: {gflop[name]:.2f} GFLOP/step x {cfg.train.steps} steps", file=sys.stderr)
        seconds = train_run(cfg, run, args.threads)
        if seconds is not None:
            (run / "wall_seconds.txt").write_text(f"{seconds:.1f}\n")
        if args.train_only:
            continue
        seconds = float((run / "wall_seconds.txt").read_text())
        row = {
            "name": name,
            "variant": cfg.model.variant,
            "gflop_per_step": gflop[name],
            "steps": cfg.train.steps,
            "train_minutes": seconds / 60,
            "threads": args.threads,
            "curve": curve(run),
        }
        row |= evaluate(run, cfg, args.fd_n, args.fid_n)
        rows.append(row)
        print(json.dumps({k: v for k, v in row.items() if k != "curve"}), file=sys.stderr)
        (args.out / f"{args.table}.json").write_text(json.dumps(rows, indent=2) + "\n")
    if not rows:
        return
    (args.out / f"{args.table}.md").write_text(markdown(rows))
    plot(rows, args.out / f"{args.table}.png")
    print(markdown(rows))


if __name__ == "__main__":
    main()
