"""Dec's 5x5 stride-2 transposed convolution against two rewrites of it, forward + backward.

    python benchmarks/upsample.py            # Dec's layers at 32x32x1 and 64x64x3, batch 2 x 64

Each rewrite computes exactly what the transposed convolution does (checked here in float64):
output pixel (2m + a, 2n + b) takes input taps at offsets {-1, 0, 1} (a = 0: kernel rows 4, 2, 0)
or {0, 1} (a = 1: rows 3, 1), so the layer is four ordinary convolutions, one per output phase.

    subpixel  one 3x3 convolution with 4 x C_out outputs (the phases' kernels zero-padded to 3x3,
              36 taps for the 25 that count) and a pixel shuffle
    phases    four convolutions with exact 3x3, 3x2, 2x3 and 2x2 kernels, then the pixel shuffle

Times are medians of 5 (after one warm-up) of the output and both gradients, in NCHW and in
channels_last; the ratio is transposed / rewrite (above 1: the rewrite is faster).
"""

from __future__ import annotations

import argparse
import statistics

import torch
import torch.nn.functional as F
from timing import seconds  # benchmarks/timing.py, beside this script

TAPS = ([4, 2, 0], [3, 1])  # kernel rows (columns) of output phase 0 and phase 1
SUBPIXEL_TAPS = torch.tensor([[4, 2, 0], [5, 3, 1]])  # 5: a zero row padded onto the kernel


def transposed(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """Dec's layer as it is: 5x5, stride 2, padding 2, output padding 1 (w: C_in, C_out, 5, 5)."""
    return F.conv_transpose2d(x, w, stride=2, padding=2, output_padding=1)


def subpixel(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """One 3x3 convolution producing the four phases, then a pixel shuffle."""
    c_in, c_out = w.shape[:2]
    padded = F.pad(w, (0, 1, 0, 1))
    k = padded[:, :, SUBPIXEL_TAPS[:, None, :, None], SUBPIXEL_TAPS[None, :, None, :]]
    k = k.permute(1, 2, 3, 0, 4, 5).reshape(4 * c_out, c_in, 3, 3)
    return F.pixel_shuffle(F.conv2d(x, k, padding=1), 2)


def phases(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """Four convolutions with exact kernels (no zero taps), then a pixel shuffle."""
    h, wd = x.shape[-2:]
    xp, wt = F.pad(x, (1, 1, 1, 1)), w.transpose(0, 1)
    outs = [
        F.conv2d(xp[:, :, a:, b:], wt[:, :, TAPS[a]][:, :, :, TAPS[b]])[..., :h, :wd]
        for a in (0, 1)
        for b in (0, 1)
    ]
    y = torch.stack(outs, 2)
    return F.pixel_shuffle(y.flatten(1, 2), 2)


def forward_backward(fn, x: torch.Tensor, w: torch.Tensor):
    """A call that runs fn and both of its gradients, as a training step does."""
    x, w = x.clone().requires_grad_(), w.clone().requires_grad_()

    def run() -> None:
        y = fn(x, w)
        torch.autograd.grad(y, (x, w), torch.ones_like(y))

    return run


def check_equal() -> None:
    x = torch.randn(3, 7, 5, 6, dtype=torch.float64)
    w = torch.randn(7, 4, 5, 5, dtype=torch.float64)
    for fn in (subpixel, phases):
        err = (fn(x, w) - transposed(x, w)).abs().max().item()
        assert err < 1e-12, (fn.__name__, err)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--batch", type=int, default=128, help="Dec's batch: 2 x 64 ([Z; Z_p])")
    p.add_argument("--repeats", type=int, default=5)
    args = p.parse_args()
    check_equal()
    cpu = torch.device("cpu")
    # Dec's layers (C_in, C_out, input side): the code's 32x32 networks, then the 64x64 ones.
    layers = [(192, 192, 4), (192, 128, 8), (128, 32, 16), (256, 256, 8), (256, 128, 16)]
    layers.append((128, 32, 32))
    print("| layer | layout | transposed ms | subpixel ms | phases ms | ratio subpixel | phases |")
    print("|---|---|---|---|---|---|---|")
    for c_in, c_out, side in layers:
        w = torch.randn(c_in, c_out, 5, 5) * 0.05
        for layout in ("NCHW", "channels_last"):
            x = torch.randn(args.batch, c_in, side, side)
            if layout == "channels_last":
                x = x.contiguous(memory_format=torch.channels_last)
            ms = {
                fn.__name__: 1e3
                * statistics.median(seconds(forward_backward(fn, x, w), cpu, args.repeats))
                for fn in (transposed, subpixel, phases)
            }
            t = ms["transposed"]
            print(
                f"| {c_in}->{c_out}, {side}x{side} | {layout} | {t:.1f} | {ms['subpixel']:.1f} | "
                f"{ms['phases']:.1f} | {t / ms['subpixel']:.2f} | {t / ms['phases']:.2f} |"
            )


if __name__ == "__main__":
    main()
