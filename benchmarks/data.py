"""Preprocessing throughput and cache start-up time of the data loaders.

    python benchmarks/data.py --n 2000            # CelebA layout, synthetic photos
    python benchmarks/data.py --n 2000 --zip      # the same, read from img_align_celeba.zip

Writes n synthetic 218x178 JPEGs in CelebA's layout (smooth random colour fields at JPEG quality
90, about the size of the real files), then times: building the 64x64 train+val+test data
(decode, crop 148x148 at (40, 15), blur, bicubic resize; --workers threads), writing the
cache, and loading it again (what a second run pays: SHA-256 check plus memory-map).
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from vaegan.data import LoadOptions, load_dataset

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from dataset_files import CELEBA_ATTRIBUTES


def photo(rng: np.random.Generator) -> bytes:
    """A smooth random colour field with some grain: JPEG-compresses like a photograph."""
    coarse = rng.integers(0, 256, (7, 6, 3)).astype(np.uint8)
    image = Image.fromarray(coarse).resize((178, 218), Image.BICUBIC)
    grain = rng.normal(0, 6, (218, 178, 3))
    pixels = np.clip(np.asarray(image) + grain, 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def write_layout(root: Path, n: int, as_zip: bool) -> int:
    rng = np.random.default_rng(0)
    names = [f"{i + 1:06d}.jpg" for i in range(n)]
    total = 0
    folder = root / "img_align_celeba"
    archive = zipfile.ZipFile(root / "img_align_celeba.zip", "w") if as_zip else None
    folder.mkdir(exist_ok=as_zip) if not as_zip else None
    for name in names:
        blob = photo(rng)
        total += len(blob)
        if archive:
            archive.writestr(f"img_align_celeba/{name}", blob)
        else:
            (folder / name).write_bytes(blob)
    if archive:
        archive.close()
    values = rng.choice([-1, 1], (n, 40))
    rows = [name + "".join(f"{v:3d}" for v in row) for name, row in zip(names, values, strict=True)]
    (root / "list_attr_celeba.txt").write_text(
        f"{n}\n" + " ".join(CELEBA_ATTRIBUTES) + "\n" + "\n".join(rows) + "\n"
    )
    (root / "list_eval_partition.txt").write_text(
        "".join(f"{name} {max(0, i % 10 - 7)}\n" for i, name in enumerate(names))  # 80/10/10
    )
    return total


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--n", type=int, default=2000)
    p.add_argument("--zip", action="store_true")
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root, cache = Path(tmp) / "celeba", Path(tmp) / "cache"
        root.mkdir()
        size = write_layout(root, args.n, args.zip)
        options = LoadOptions(image_size=64, channels=3)
        start = time.perf_counter()
        built = sum(
            len(load_dataset("celeba", root, s, options, cache_dir=cache))
            for s in ("train", "val", "test")
        )
        first = time.perf_counter() - start
        start = time.perf_counter()
        for s in ("train", "val", "test"):
            load_dataset("celeba", root, s, options, cache_dir=cache)
        second = time.perf_counter() - start
    threads = torch.get_num_threads()
    print(f"machine: {os.cpu_count()} CPUs, torch {torch.__version__}, {threads} threads")
    source = "zip" if args.zip else "folder"
    print(f"{args.n} JPEGs ({size / args.n / 1024:.1f} KiB each) from {source}")
    print(f"first run (decode, crop, resize, cache): {first:.2f} s = {built / first:.0f} images/s")
    print(f"second run (checked cache): {second:.3f} s")
    print(
        f"202,599 CelebA images at this rate: {202_599 / (built / first) / 60:.1f} min once, then "
        f"{second * 202_599 / built:.1f} s per start"
    )


if __name__ == "__main__":
    main()
