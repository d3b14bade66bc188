"""Markdown tables of docs/REPRODUCTION.md from the records scripts/reproduce_eval.sh left.

    .venv/bin/python scripts/reproduce_tables.py [runs/repro] [more run folders ...]

Reads the evaluation records of each run's eval.json (and of the eval-*.json copies that earlier
versions of reproduce_eval.sh made, one setting each) and its finetune.json (a missing record leaves
its cells as "-"), prints one table per experiment.
"""

import json
import sys
from pathlib import Path

from vaegan.files import read_json
from vaegan.records import read_evaluations, records_of

UNCONDITIONAL = ("vae", "vae_disl", "gan", "vaegan")
CONDITIONAL = ("cvae", "cgan", "cvaegan")
KEYS = ("cosine", "mse", "accuracy")  # of the attribute similarity


def read(path: Path) -> dict:
    return json.loads(path.read_text()) if path.exists() else {}


def evaluations(run: Path) -> list[dict]:
    found = read_evaluations(run)
    for copy in sorted(run.glob("eval-*.json")):
        found += records_of(read_json(copy), copy)
    return found


def evaluation(run: Path, metric: str, n: int) -> dict:
    """The run's record of `metric` at n images (of the latest step); {} if there is none."""
    found = [r for r in evaluations(run) if metric in r["metrics"] and r.get("n") == n]
    return max(found, key=lambda r: r.get("step") or 0, default={})


def cell(value, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join([*lines, *("| " + " | ".join(row) + " |" for row in rows)])


def quality(runs: list[Path]) -> str:
    rows = []
    for run in runs:
        m = evaluation(run, "fd", 10_000).get("metrics", {})
        f = evaluation(run, "fid", 1_000).get("metrics", {})
        rows.append(
            [
                run.name,
                cell(m.get("fd"), 1),
                cell(m.get("kd"), 2),
                cell(f.get("fid"), 1),
                cell(f.get("kid"), 3),
                cell(m.get("mse"), 4),
                cell(m.get("psnr"), 2),
                cell(m.get("ssim"), 3),
            ]
        )
    header = [
        "run",
        "domain FD (10k)",
        "domain KD (10k)",
        "Inception FID (1k)",
        "Inception KID (1k)",
        "recon MSE",
        "PSNR",
        "SSIM",
    ]
    return table(header, rows)


def edits(runs: list[Path]) -> str:
    """One row per attribute; per run the share assigned to it after the edit and after plain
    reconstruction (of the images without it)."""
    records = {run.name: evaluation(run, "edit", 10_000) for run in runs}
    records = {name: r for name, r in records.items() if r}
    if not records:
        return ""
    names = list(next(iter(records.values()))["edit"]["attributes"])
    header = ["class"] + [f"{run}: {what}" for run in records for what in ("edited", "recon")]
    rows = [
        [
            name,
            *(
                cell(r["edit"]["attributes"][name][k])
                for r in records.values()
                for k in ("edited", "reconstructed")
            ),
        ]
        for name in names
    ]
    rows.append(
        [
            "**mean**",
            *(
                f"**{r['metrics'][k]:.3f}**"
                for r in records.values()
                for k in ("edit", "edit_base")
            ),
        ]
    )
    strengths = {r["edit"]["strength"] for r in records.values()}
    return f"strength {', '.join(map(str, sorted(strengths)))}\n\n" + table(header, rows)


def similarity(runs: list[Path]) -> str:
    rows, real = [], None
    for run in runs:
        record = evaluation(run, "similarity_cosine", 10_000)
        if not record:
            continue
        g = record["similarity"]["generated"]
        real = record["similarity"]["real"]
        rows.append([run.name, *(f"{g[k]:.4f} ± {g[k + '_std']:.4f}" for k in KEYS)])
    if real is not None:
        rows.append(["real test images", *(f"{real[k]:.4f}" for k in KEYS)])
    return table(["images", "cosine", "squared error", "requested-class accuracy"], rows)


def finetuning(runs: list[Path]) -> str:
    rows = []
    for run in runs:
        for key, r in read(run / "finetune.json").get("results", {}).items():
            data, labels, features, init, trained = key.split("/")
            errors = f"{100 * r['test_error_mean']:.1f} ± {100 * r['test_error_std']:.1f} %"
            rows.append(
                [
                    labels,
                    run.name,
                    features,
                    init,
                    errors,
                    " ".join(f"{100 * e:.1f}" for e in r["test_errors"]),
                ]
            )
    rows.sort(key=lambda row: (int(row[0]), row[2], row[3] == "scratch", row[1]))
    return table(["labels", "run", "network", "init", "test error", "per seed (%)"], rows)


def main() -> None:
    roots = [Path(a) for a in sys.argv[1:]] or [Path("runs/repro")]
    runs = [
        r
        for root in roots
        for r in (
            [root]
            if (root / "config.json").exists()
            else sorted(p for p in root.iterdir() if (p / "config.json").exists())
        )
    ]
    by_name = {run.name: run for run in runs}
    order = {name: i for i, name in enumerate((*UNCONDITIONAL, *CONDITIONAL))}
    runs = sorted(runs, key=lambda r: (order.get(r.name, len(order)), r.name))
    print("## Samples and reconstructions\n\n" + quality(runs))
    print("\n## Class vectors\n\n" + edits(runs))
    conditional = [by_name[name] for name in CONDITIONAL if name in by_name]
    print("\n## Attribute similarity\n\n" + similarity(conditional))
    print("\n## Pretraining\n\n" + finetuning(runs))


if __name__ == "__main__":
    main()
