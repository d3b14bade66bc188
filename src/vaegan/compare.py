"""`vaegan compare`: the runs' config differences and their eval.json metrics in one table."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from vaegan.config import RunConfig
from vaegan.errors import CheckpointError, VaeganError
from vaegan.files import read_json


def flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """{"model": {"width": 1}} -> {"model.width": 1}."""
    out: dict[str, Any] = {}
    for key, value in d.items():
        if isinstance(value, dict):
            out |= flatten(value, f"{prefix}{key}.")
        else:
            out[f"{prefix}{key}"] = value
    return out


def comparison_rows(runs: list[Path]) -> tuple[list[str], list[dict[str, Any]]]:
    """Columns (run, differing config keys, metrics) and one row per run."""
    configs, metrics = [], []
    for run in runs:
        config_file = Path(run) / "config.json"
        if not config_file.is_file():
            raise VaeganError(f"{run}: not a run directory (no config.json)")
        configs.append(flatten(RunConfig.load(config_file).to_dict()))
        eval_file = Path(run) / "eval.json"
        metrics.append(
            read_json(eval_file, CheckpointError).get("metrics", {}) if eval_file.is_file() else {}
        )
    keys = list(configs[0])
    differing = [k for k in keys if len({json.dumps(c[k]) for c in configs}) > 1]
    metric_names = list(dict.fromkeys(name for m in metrics for name in m))
    rows = [
        {"run": str(run)} | {k: c[k] for k in differing} | m
        for run, c, m in zip(runs, configs, metrics, strict=True)
    ]
    return ["run", *differing, *metric_names], rows


def format_comparison(runs: list[Path], fmt: str = "markdown") -> str:
    columns, rows = comparison_rows(runs)

    def cell(value: Any) -> str:
        if value is None:
            return ""
        return f"{value:.5g}" if isinstance(value, float) else str(value)

    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows([[cell(row.get(c)) for c in columns] for row in rows])
        return buffer.getvalue()
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(row.get(c)) for c in columns) + " |" for row in rows]
    return "\n".join(lines) + "\n"
