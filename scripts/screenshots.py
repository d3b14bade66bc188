"""Screenshots of a run's report and of the latent explorer, for the README (docs/images).

    python scripts/screenshots.py RUN [--out docs/images]

Writes RUN's report (`vaegan report`), opens it in Debian's headless Chromium through Playwright,
then serves the explorer on a free port of 127.0.0.1, moves two sliders and saves both pages.
"""

from __future__ import annotations

import argparse
import shutil
import socket
import threading
import time
from pathlib import Path

import torch
import uvicorn
from playwright.sync_api import sync_playwright

from vaegan.explorer.app import create_app
from vaegan.explorer.space import LatentSpace
from vaegan.report import write_report


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("run", type=Path)
    p.add_argument("--out", type=Path, default=Path("docs/images"))
    args = p.parse_args()
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    report = write_report([args.run], args.run / "report.html")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1150, "height": 1500})
        page.goto(report.resolve().as_uri())
        page.wait_for_selector(".js-plotly-plot .main-svg")
        page.screenshot(path=str(args.out / "report.png"))
        url, server = serve(LatentSpace(args.run, torch.device("cpu")))
        page = browser.new_page(viewport={"width": 1150, "height": 900})
        page.goto(url)
        page.wait_for_function("document.getElementById('view').src.startsWith('blob:')")
        page.locator("#tests img").nth(3).click()
        for name, value in (("Sneaker", "1.5"), ("PC1", "-1")):
            before = page.get_attribute("#view", "src")
            page.locator(f'input[data-name="{name}"]').fill(value)
            page.wait_for_function(f"document.getElementById('view').src !== '{before}'")
        time.sleep(0.5)
        page.screenshot(path=str(args.out / "explorer.png"))
        server.should_exit = True
        browser.close()
    print(args.out / "report.png", args.out / "explorer.png")


def serve(space: LatentSpace) -> tuple[str, uvicorn.Server]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(space), port=port, log_level="error"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    return f"http://127.0.0.1:{port}", server


if __name__ == "__main__":
    main()
