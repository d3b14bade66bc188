"""`vaegan compare`: the runs' config differences and their eval.json metrics in one table, a row
per run and evaluation setting."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from vaegan.config import RunConfig
from vaegan.errors import VaeganError
from vaegan.records import evaluation_rows, read_evaluations, setting_columns


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
    """Columns (run, differing config keys, evaluation setting, metrics) and one row per run and
    eval.json record (a run without records: one row, metrics empty)."""
    configs, evaluations = [], []
    for run in runs:
        config_file = Path(run) / "config.json"
        if not config_file.is_file():
            raise VaeganError(f"{run}: not a run directory (no config.json)")
        configs.append(flatten(RunConfig.load(config_file).to_dict()))
        evaluations.append(read_evaluations(run))
    keys = list(configs[0])
    differing = [k for k in keys if len({json.dumps(c[k]) for c in configs}) > 1]
    rows = [
        {"run": str(run)} | {k: c[k] for k in differing} | e
        for run, c, records in zip(runs, configs, evaluations, strict=True)
        for e in evaluation_rows(records) or [{}]
    ]
    metric_names = dict.fromkeys(
        k for records in evaluations for r in records for k in r["metrics"]
    )
    return ["run", *differing, *setting_columns(rows), *metric_names], rows


def format_comparison(runs: list[Path], fmt: str = "markdown") -> str:
    """comparison_rows as a Markdown table, or CSV text with fmt="csv"; floats to 5 significant
    digits, missing values empty."""
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
