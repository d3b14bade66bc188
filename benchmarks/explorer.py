"""Latency of the latent explorer: how long a slider move takes to come back as an image.

    python benchmarks/explorer.py                     # width 1, 32x32x1 (Fashion-MNIST's shape)
    python benchmarks/explorer.py --image-size 64 --channels 3   # the paper's CelebA networks

Serves an untrained model of the given shape (decoding costs the same as a trained one) with
`vaegan serve`'s app on 127.0.0.1, then times POST /api/render requests one after another from
this process (HTTP, JSON, decode, PNG, all included), each with a new slider value. Needs a data
set for the explorer's test images: Fashion-MNIST (its 32x32 grey images are resized as needed).
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import tempfile
import threading
import time
import urllib.request
from dataclasses import replace
from pathlib import Path

import torch
import uvicorn

from vaegan.checkpoint import save_checkpoint
from vaegan.config import DataConfig, ModelConfig, RunConfig
from vaegan.explorer.app import create_app
from vaegan.explorer.space import LatentSpace
from vaegan.models import VAEGAN


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--width", type=float, default=1.0)
    p.add_argument("--image-size", type=int, default=32)
    p.add_argument("--channels", type=int, default=1)
    p.add_argument("--requests", type=int, default=100)
    p.add_argument("--threads", type=int, help="torch threads (default: torch's)")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    model = ModelConfig(image_size=args.image_size, channels=args.channels, width=args.width)
    cfg = replace(RunConfig(), model=model, data=DataConfig(name="fashion-mnist"))
    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp) / "run"
        run.mkdir()
        save_checkpoint(run, VAEGAN(cfg.model), {}, cfg, step=0)
        cfg.save(run / "config.json")
        url, server = start(LatentSpace(run, torch.device("cpu")))
        slider = json.loads(urllib.request.urlopen(f"{url}/api/info").read())["sliders"][0]["name"]
        times = []
        for i in range(args.requests + 5):
            body = {
                "base": {"seed": 0},
                "sliders": {slider: round(-3 + 6 * (i % args.requests) / args.requests, 2)},
            }
            start_time = time.perf_counter()
            post(f"{url}/api/render", body)
            if i >= 5:  # the first requests warm up
                times.append(1000 * (time.perf_counter() - start_time))
        server.should_exit = True
    times.sort()
    print(
        f"width {args.width:g}, {args.image_size}x{args.image_size}x{args.channels}, "
        f"{torch.get_num_threads()} torch threads: median {statistics.median(times):.1f} ms, "
        f"90th percentile {times[int(0.9 * len(times))]:.1f} ms over {len(times)} requests"
    )


def start(space: LatentSpace) -> tuple[str, uvicorn.Server]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = uvicorn.Config(create_app(space), host="127.0.0.1", port=port, log_level="error")
    server = uvicorn.Server(config)
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    return f"http://127.0.0.1:{port}", server


def post(url: str, body: dict) -> bytes:
    request = urllib.request.Request(
        url, json.dumps(body).encode(), {"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request) as response:
        return response.read()


if __name__ == "__main__":
    main()
