"""`vaegan report`: one self-contained HTML page about one or more runs.

Loss and equilibrium-cost curves, images/s, the share of steps each network stepped, the domain FD
logged during training, the sample and reconstruction grids over training (a slider over steps),
eval.json's metrics (a row per evaluation setting) and the resolved config; several runs overlay
their curves and show where their configs differ (vaegan.compare).

The charts are Plotly's: plotly.py turns each figure into JSON for plotly.js, and the page carries
plotly.js inline, so the file opens offline and needs no CDN. Plotly gives zoom, hover read-outs and
legend toggling, which hand-drawn SVG would not, and it is widely used and maintained. The grids are
the run's PNG files, embedded as data URLs; the slider is a few lines of plain JavaScript.
"""

from __future__ import annotations

import base64
import html
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vaegan.compare import comparison_rows
from vaegan.errors import VaeganError
from vaegan.files import atomic_write_text, read_json
from vaegan.records import evaluation_rows, read_evaluations, setting_columns

# The curves, by the metrics.jsonl keys they draw (each chart only if a run logged any of them).
CHARTS = (
    ("Losses", ("l_prior", "l_llike", "l_pixel", "l_dis", "l_adv", "r1"), True),
    ("Equilibrium costs (-log D(x), -log(1 - D(fake)))", ("cost_real", "cost_fake"), False),
    ("Share of steps each network stepped", ("updated_enc", "updated_dec", "updated_dis"), False),
    ("Domain FD of samples during training (n = eval_n)", ("fd",), True),
    ("Precision and recall of samples during training", ("precision", "recall"), False),
    ("Images per second", ("images_per_s",), False),
)
GRID = re.compile(r"(samples|reconstructions)_(\d+)\.png$")
# Grids embedded per run at most, evenly spread and the last always among them, so that the page of
# a long run (the paper's 37,500 steps) stays a few megabytes and quick to rewrite.
MAX_GRID_STEPS = 24


@dataclass
class RunRecord:
    """What a run directory holds that the report shows."""

    path: Path
    lines: list[dict[str, float]]
    config: dict[str, Any]
    evaluations: list[dict[str, Any]]  # eval.json's records, one per evaluation setting
    grids: dict[str, list[tuple[int, Path]]] = field(default_factory=dict)  # kind -> (step, file)


def read_run(run: Path) -> RunRecord:
    """A run folder as the report shows it: metrics.jsonl (lines cut short by a crash skipped),
    config.json, eval.json's records and the samples/ grids; VaeganError without config.json."""
    run = Path(run)
    config_file = run / "config.json"
    if not config_file.is_file():
        raise VaeganError(f"{run}: not a run directory (no config.json)")
    lines = []
    metrics_file = run / "metrics.jsonl"
    if metrics_file.is_file():
        for text in metrics_file.read_text().splitlines():
            try:
                lines.append(json.loads(text))
            except json.JSONDecodeError:
                continue  # a line cut short by a crash: the report shows the rest
    grids: dict[str, list[tuple[int, Path]]] = {}
    for png in sorted((run / "samples").glob("*.png")):
        match = GRID.match(png.name)
        if match:
            grids.setdefault(match.group(1), []).append((int(match.group(2)), png))
    config = read_json(config_file, VaeganError)
    return RunRecord(run, lines, config, read_evaluations(run), grids)


def curve_figure(records: list[RunRecord], title: str, keys: tuple[str, ...], log_y: bool):
    """A Plotly figure of `keys` against step for every run; None if no run logged any."""
    import plotly.graph_objects as go

    fig = go.Figure()
    for record in records:
        for key in keys:
            points = [(line["step"], line[key]) for line in record.lines if key in line]
            points = [(s, v) for s, v in points if isinstance(v, (int, float)) and math.isfinite(v)]
            if not points:
                continue
            name = key if len(records) == 1 else f"{record.path.name}: {key}"
            steps, values = zip(*points, strict=True)
            fig.add_trace(go.Scatter(x=steps, y=values, mode="lines", name=name))
    if not fig.data:
        return None
    fig.update_layout(
        title=title,
        xaxis_title="step",
        height=340,
        margin={"t": 50, "b": 40},
        yaxis_type="log" if log_y else "linear",
        template="plotly_white",
    )
    return fig


def data_url(png: Path) -> str:
    """A PNG file as a base64 data: URL, so that the page needs no file beside it."""
    return "data:image/png;base64," + base64.b64encode(png.read_bytes()).decode()


def shown_steps(steps: list[int]) -> list[int]:
    """At most MAX_GRID_STEPS of the steps, evenly spread, the first and last included."""
    if len(steps) <= MAX_GRID_STEPS:
        return steps
    picks = {round(i * (len(steps) - 1) / (MAX_GRID_STEPS - 1)) for i in range(MAX_GRID_STEPS)}
    return [steps[i] for i in sorted(picks)]


def grid_slider(record: RunRecord, index: int) -> str:
    """The run's grids at the step a range input picks (samples and reconstructions together)."""
    steps = shown_steps(sorted({step for grids in record.grids.values() for step, _ in grids}))
    if not steps:
        return "<p>No grids yet.</p>"
    images = {
        kind: {step: data_url(png) for step, png in grids if step in steps}
        for kind, grids in record.grids.items()
    }
    last = len(steps) - 1
    figures = "".join(
        f'<figure><img id="grid-{index}-{kind}" src="{images[kind].get(steps[last], "")}" '
        f'alt="{kind}"><figcaption>{kind}</figcaption></figure>'
        for kind in sorted(images)
    )
    return (
        f'<div class="grids" data-run="{index}">'
        f'<label>step <output id="step-{index}">{steps[last]}</output> '
        f'<input type="range" id="slider-{index}" min="0" max="{last}" value="{last}"></label>'
        f'<div class="row">{figures}</div></div>'
        f"<script>GRIDS[{index}] = {json.dumps({'steps': steps, 'images': images})};</script>"
    )


def table(columns: list[str], rows: list[dict[str, Any]]) -> str:
    """An HTML table, a row per dict: floats to 5 significant digits, text escaped, gaps empty."""

    def cell(value: Any) -> str:
        if isinstance(value, float):
            return f"{value:.5g}"
        return "" if value is None else html.escape(str(value))

    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{cell(row.get(c))}</td>" for c in columns) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def config_html(records: list[RunRecord]) -> str:
    """One run: its whole resolved config; several: where they differ, and their metrics."""
    if len(records) > 1:
        columns, rows = comparison_rows([r.path for r in records])
        return "<h2>Where the runs differ</h2>" + table(columns, rows)
    parts = []
    for section, fields in records[0].config.items():
        rows = [{"field": f"{section}.{k}", "value": json.dumps(v)} for k, v in fields.items()]
        parts.append(table(["field", "value"], rows))
    return "<h2>Config</h2>" + "".join(parts)


def metrics_html(records: list[RunRecord]) -> str:
    """One row per run and evaluation setting: the setting, then the metrics."""
    rows = [{"run": r.path.name} | row for r in records for row in evaluation_rows(r.evaluations)]
    if not rows:
        return "<h2>Evaluation</h2><p>No eval.json yet (<code>vaegan evaluate RUN</code>).</p>"
    names = dict.fromkeys(k for r in records for e in r.evaluations for k in e["metrics"])
    return "<h2>Evaluation (eval.json)</h2>" + table(["run", *setting_columns(rows), *names], rows)


def report_html(records: list[RunRecord]) -> str:
    """The whole page, plotly.js inline."""
    from plotly.offline import get_plotlyjs

    charts = []
    for title, keys, log_y in CHARTS:
        fig = curve_figure(records, title, keys, log_y)
        if fig is not None:
            charts.append(fig.to_html(full_html=False, include_plotlyjs=False))
    grids = "".join(
        f"<h3>{html.escape(r.path.name)}</h3>{grid_slider(r, i)}" for i, r in enumerate(records)
    )
    names = ", ".join(html.escape(str(r.path)) for r in records)
    return PAGE.format(
        title=html.escape(", ".join(r.path.name for r in records)),
        names=names,
        plotly=get_plotlyjs(),
        charts="".join(charts) or "<p>No metrics logged yet.</p>",
        grids=grids,
        metrics=metrics_html(records),
        config=config_html(records),
    )


def write_report(runs: list[Path], out: Path) -> Path:
    """Read the runs and write their report to `out`, atomically (a browser may be reading it)."""
    records = [read_run(run) for run in runs]
    atomic_write_text(Path(out), report_html(records))
    return Path(out)


PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>vaegan report: {title}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 1.5em auto; max-width: 1100px; color: #222; }}
table {{ border-collapse: collapse; margin: 0.5em 0 1em; font-size: 0.9em; }}
td, th {{ border: 1px solid #ccc; padding: 2px 8px; text-align: left; }}
.row {{ display: flex; gap: 1em; flex-wrap: wrap; }}
figure {{ margin: 0; }} img {{ image-rendering: pixelated; width: 420px; }}
input[type=range] {{ width: 420px; vertical-align: middle; }}
</style>
<script>{plotly}</script>
<script>
const GRIDS = {{}};
function showStep(run, position) {{
  const grids = GRIDS[run], step = grids.steps[position];
  document.getElementById("step-" + run).textContent = step;
  for (const [kind, byStep] of Object.entries(grids.images)) {{
    const img = document.getElementById("grid-" + run + "-" + kind);
    if (byStep[step]) img.src = byStep[step];
  }}
}}
document.addEventListener("input", (event) => {{
  const match = event.target.id.match(/^slider-(\\d+)$/);
  if (match) showStep(match[1], Number(event.target.value));
}});
</script>
</head><body>
<h1>vaegan report</h1><p>{names}</p>
<h2>Training curves</h2>{charts}
<h2>Samples and reconstructions over training</h2>{grids}
{metrics}
{config}
</body></html>
"""
