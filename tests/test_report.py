"""The HTML report: its contents, that training keeps it current, and that it works in Chromium."""

import json
import os
import re
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from vaegan.cli import main
from vaegan.report import read_run, report_html
from vaegan.training import train

from helpers import tiny_config

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SCREENSHOTS = Path(__file__).parents[1] / "docs" / "images"


@pytest.fixture(scope="module")
def runs(tmp_path_factory, idx_dir_module):
    """Two tiny runs that differ in their seed, with grids at steps 2 and 4."""
    root = tmp_path_factory.mktemp("report")
    out = []
    for seed in (0, 1):
        cfg = tiny_config(idx_dir_module, steps=4)
        cfg = replace(cfg, train=replace(cfg.train, sample_every=2, seed=seed))
        train(cfg, root / f"seed{seed}", progress=False, cache_dir=root / "cache")
        out.append(root / f"seed{seed}")
    return out


def test_training_keeps_a_self_contained_report(runs):
    page = (runs[0] / "report.html").read_text()
    assert "Plotly" in page and not re.search(r"<script[^>]+src=", page)  # plotly.js inline
    assert "https://" not in page.split("<script>", 2)[2][:1000]  # nothing fetched at load
    assert page.count("data:image/png;base64,") >= 4  # samples and reconstructions, 2 steps
    assert '"steps": [2, 4]' in page
    for key in ("l_prior", "l_llike", "cost_real", "updated_dis", "images_per_s"):
        assert f'"name":"{key}"' in page
    assert "train.sample_every" in page  # the resolved config


def test_several_runs_overlay_and_show_where_they_differ(runs, tmp_path):
    out = tmp_path / "both.html"
    assert main(["report", *map(str, runs), "--out", str(out)]) == 0
    page = out.read_text()
    assert "Where the runs differ" in page and "<th>train.seed</th>" in page
    assert '"name":"seed0: l_llike"' in page and '"name":"seed1: l_llike"' in page


def test_a_folder_that_is_not_a_run(tmp_path, capsys):
    assert main(["report", str(tmp_path), "--out", str(tmp_path / "r.html")]) == 2
    assert "not a run directory (no config.json)" in capsys.readouterr().err


def test_training_without_plotly_warns_and_goes_on(tmp_path, idx_dir, monkeypatch, caplog):
    import sys

    monkeypatch.setitem(sys.modules, "plotly", None)  # an environment without the report's Plotly
    monkeypatch.setitem(sys.modules, "plotly.offline", None)
    ckpt = train(tiny_config(idx_dir, steps=2), tmp_path / "run", progress=False)
    assert (ckpt / "model.safetensors").is_file() and not (tmp_path / "run/report.html").exists()
    assert "report.html not updated" in caplog.text


def test_a_run_without_metrics_yet(tmp_path, idx_dir):
    tiny_config(idx_dir).save(tmp_path / "config.json")
    page = report_html([read_run(tmp_path)])
    assert "No metrics logged yet" in page and "No grids yet" in page
    assert "No eval.json yet" in page


def test_the_evaluation_table_has_a_row_per_setting(tmp_path, idx_dir):
    from vaegan.report import metrics_html

    tiny_config(idx_dir).save(tmp_path / "config.json")
    setting = {"data": "fashion-mnist", "split": "test", "seed": 0, "step": 4}
    records = [
        setting | {"n": 1000, "metrics": {"fid": 30.0, "kid": 0.02}},
        setting | {"n": 10000, "metrics": {"fd": 3.5}, "edit": {"strength": 1.5}},
    ]
    (tmp_path / "eval.json").write_text(json.dumps({"format": 2, "evaluations": records}))
    table = metrics_html([read_run(tmp_path)])
    head = "".join(f"<th>{c}</th>" for c in ("run", "step", "split", "n", "seed", "strength"))
    assert head + "<th>fid</th><th>kid</th><th>fd</th>" in table
    rows = re.findall(r"<tr><td>.*?</tr>", table)
    assert len(rows) == 2
    assert "<td>1000</td><td>0</td><td></td><td>30</td>" in rows[0]
    assert "<td>10000</td><td>0</td><td>1.5</td><td></td><td></td><td>3.5</td>" in rows[1]


@pytest.mark.skipif(CHROMIUM is None, reason="needs Chromium: apt-get install -y chromium")
def test_the_report_in_a_browser(runs, tmp_path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1150, "height": 900})
        errors = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda err: errors.append(str(err)))
        page.goto((runs[0] / "report.html").as_uri())
        page.wait_for_selector(".js-plotly-plot .main-svg")
        assert page.locator(".js-plotly-plot").count() >= 4  # the charts rendered
        grid = page.locator("#grid-0-samples")
        last = grid.get_attribute("src")
        page.locator("#slider-0").fill("0")  # back to the first grid
        assert page.locator("#step-0").text_content() == "2"
        assert grid.get_attribute("src") != last
        shot = SCREENSHOTS if os.environ.get("VAEGAN_SCREENSHOTS") else tmp_path
        page.screenshot(path=str(shot / "report.png"), full_page=False)
        browser.close()
    assert not errors, errors


def test_tensorboard_event_files_hold_the_scalars_and_grids(tmp_path, idx_dir):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    cfg = tiny_config(idx_dir, steps=4)
    cfg = replace(cfg, train=replace(cfg.train, sample_every=2, tensorboard=True))
    train(cfg, tmp_path / "run", progress=False)
    events = EventAccumulator(str(tmp_path / "run/tensorboard"), size_guidance={"images": 0})
    events.Reload()
    tags = events.Tags()
    assert {"l_prior", "l_llike", "cost_real", "images_per_s"} <= set(tags["scalars"])
    assert [e.step for e in events.Scalars("l_llike")] == [1, 2, 3, 4]
    logged = [json.loads(line)["l_llike"] for line in (tmp_path / "run/metrics.jsonl").open()]
    assert [e.value for e in events.Scalars("l_llike")] == pytest.approx(logged, rel=1e-6)
    assert {"samples", "reconstructions"} <= set(tags["images"])
    assert [e.step for e in events.Images("samples")] == [2, 4]


def test_long_runs_embed_a_bounded_number_of_grids():
    from vaegan.report import MAX_GRID_STEPS, shown_steps

    steps = list(range(500, 37_501, 500))  # the paper's run, a grid every 500 steps
    shown = shown_steps(steps)
    assert len(shown) == MAX_GRID_STEPS and shown[0] == 500 and shown[-1] == 37_500
    assert shown == sorted(set(shown)) and shown_steps(steps[:5]) == steps[:5]
