"""Images/s and peak memory of one training step (Algorithm 1), per variant.

    python benchmarks/step.py                       # 32x32x1 and 64x64x3, paper widths, CPU
    python benchmarks/step.py --no-channels-last    # NCHW networks and batches
    python benchmarks/step.py --device cuda --batch-size 64 --repeats 5
    python benchmarks/step.py --markdown            # a table to paste into docs/PERFORMANCE.md
    python benchmarks/step.py --device cuda --precision bf16 --compile reduce-overhead
                                                    # autocast, torch.compile (CUDA graphs)

Each (variant, shape) runs in its own process so that peak memory is its own: on CUDA the
allocator's peak, on CPU the growth of the process's peak RSS over the timed steps.
Gating is off so that every step does the full work of every network.

FLOPs per image are counted with torch.utils.flop_counter over one step; GFLOP/s is that times
images/s. The machine's ceilings are measured in the parent, interleaved with nothing: a 2048^3
fp32 matmul, and the forward + backward (input and weight gradients) of a 5x5 stride-2 conv of
the size the networks use most (128 -> 256 channels on 16x16 maps, batch 192 = 3 x 64, as Dis's
3B pass), in the step's memory layout. Each row's step is reported as a share of both. On CUDA,
model FLOPs utilisation (MFU) is the step's FLOP/s over the GPU's dense peak for the step's
precision (fp32 convolutions run as TF32 on tensor cores, cuDNN's default): a table of known GPUs,
or --peak-tflops.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import subprocess
import sys
import time

import torch
from timing import seconds  # benchmarks/timing.py, beside this script
from torch.utils.flop_counter import FlopCounterMode

from vaegan.allocator import keep_freed_memory
from vaegan.config import LossConfig, ModelConfig, OptimConfig
from vaegan.devices import resolve_device
from vaegan.models import VAEGAN
from vaegan.optim import make_optimizers
from vaegan.precision import Precision
from vaegan.step import train_step

# Dense tensor-core peaks in TFLOP/s (the vendors' data sheets, SXM parts): TF32 for fp32 steps.
PEAK_TFLOPS = {
    "H200": {"fp32": 494.7, "bf16": 989.4, "fp16": 989.4},
    "H100": {"fp32": 494.7, "bf16": 989.4, "fp16": 989.4},
    "A100": {"fp32": 156.0, "bf16": 312.0, "fp16": 312.0},
}


def rss_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


def build(args: argparse.Namespace, device: torch.device) -> tuple[VAEGAN, dict, torch.Tensor]:
    """The model, its optimizers and a random batch, as the step will see them."""
    if device.type == "cpu" and args.keep_freed_memory:  # as `vaegan train` on the CPU
        keep_freed_memory()
    torch.manual_seed(0)
    cfg = ModelConfig(
        variant=args.variant, image_size=args.image_size, channels=args.channels, width=args.width
    )
    model = VAEGAN(cfg).to(device)
    x = torch.rand(args.batch_size, args.channels, args.image_size, args.image_size) * 2 - 1
    x = x.to(device)
    if args.channels_last:  # NHWC weights and batches, as `vaegan train` by default
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    return model, make_optimizers(model, OptimConfig()), x


def measure(args: argparse.Namespace) -> dict:
    """Runs in the child process: time `repeats` blocks of `steps` steps after a warm-up."""
    device = resolve_device(args.device)
    model, optimizers, x = build(args, device)
    precision = Precision(args.precision, device)
    loss_cfg = LossConfig(margin=None)

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize()

    def step() -> None:
        train_step(model, optimizers, x, loss_cfg, precision=precision)

    with FlopCounterMode(display=False) as counter:
        step()
    flops_per_image = counter.get_total_flops() / args.batch_size
    compile_s = 0.0
    if args.compile != "none":  # after counting: the counter does not see inside compiled code
        start = time.perf_counter()
        model.compile_networks(**({} if args.compile == "default" else {"mode": args.compile}))
        step()
        sync()
        compile_s = time.perf_counter() - start
    for _ in range(args.warmup):
        step()
    sync()
    rss_before = rss_mib()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    rates = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        for _ in range(args.steps):
            step()
        sync()
        rates.append(args.steps * args.batch_size / (time.perf_counter() - start))
    if device.type == "cuda":
        peak = torch.cuda.max_memory_allocated() / 2**20
    else:  # ru_maxrss is in KiB on Linux
        peak = max(0.0, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - rss_before)
    return {
        "variant": args.variant,
        "shape": f"{args.image_size}x{args.image_size}x{args.channels}",
        "width": args.width,
        "batch": args.batch_size,
        "min": min(rates),
        "median": statistics.median(rates),
        "max": max(rates),
        "peak_mib": peak,
        "gflop_per_image": flops_per_image / 1e9,
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else "",
        "threads": torch.get_num_threads(),
        "precision": args.precision,
        "compile": args.compile,
        "compile_s": compile_s,
    }


def peak_tflops(args: argparse.Namespace, device_name: str) -> float | None:
    """The GPU's dense peak for the run's precision: --peak-tflops, or the table's entry."""
    if args.peak_tflops:
        return args.peak_tflops
    if "PCIe" in device_name or "NVL" in device_name:  # lower clocks than the SXM parts' table
        return None
    for name, peaks in PEAK_TFLOPS.items():
        if name in device_name:
            return peaks[args.precision]
    return None


def timed(fn, device: torch.device, repeats: int = 7) -> float:
    """Median seconds of fn() after one warm-up."""
    return statistics.median(seconds(fn, device, repeats))


def ceilings(device: torch.device, channels_last: bool) -> dict[str, float]:
    """GFLOP/s of a large fp32 matmul and of a typical conv's forward + backward, the conv in
    the step's layout (oneDNN's NHWC convolutions are faster than its NCHW ones)."""
    a = torch.randn(2048, 2048, device=device)
    matmul = 2 * 2048**3 / timed(lambda: a @ a, device) / 1e9
    conv = torch.nn.Conv2d(128, 256, 5, stride=2, padding=2, bias=False).to(device)
    x = torch.randn(192, 128, 16, 16, device=device)
    if channels_last:
        conv = conv.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    x.requires_grad_(True)

    def conv_step() -> None:
        conv(x).sum().backward()

    with FlopCounterMode(display=False) as counter:
        conv_step()
    flops = counter.get_total_flops()
    return {"matmul": matmul, "conv": flops / timed(conv_step, device, 5) / 1e9}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--variants", default="vaegan,vae,gan,vae_disl")
    p.add_argument("--shapes", default="32x1,64x3", help="SIZExCHANNELS, comma separated")
    p.add_argument("--width", type=float, default=1.0)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--steps", type=int, default=3, help="steps per timed repeat")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--device", default="cpu")
    p.add_argument("--precision", choices=("fp32", "bf16", "fp16"), default="fp32")
    p.add_argument(
        "--compile",
        choices=("none", "default", "reduce-overhead", "max-autotune"),
        default="none",
        help="torch.compile each network (reduce-overhead: CUDA graphs); timed once, apart",
    )
    p.add_argument(
        "--channels-last",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="NHWC layout (the default, as `vaegan train`); --no-channels-last: NCHW",
    )
    p.add_argument(
        "--keep-freed-memory",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="glibc keeps freed memory for reuse, as `vaegan train` on the CPU "
        "(vaegan.allocator); --no-keep-freed-memory: glibc's defaults",
    )
    p.add_argument("--peak-tflops", type=float, help="the device's peak, for MFU (GPUs)")
    p.add_argument("--markdown", action="store_true")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--variant", help=argparse.SUPPRESS)
    p.add_argument("--image-size", type=int, help=argparse.SUPPRESS)
    p.add_argument("--channels", type=int, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        print(json.dumps(measure(args)))
        return

    if args.device == "cpu" and args.keep_freed_memory:  # the ceilings under the same malloc
        keep_freed_memory()
    ceiling = ceilings(resolve_device(args.device), args.channels_last)
    print(
        f"ceilings: matmul {ceiling['matmul']:.0f} GFLOP/s, conv fwd+bwd "
        f"{ceiling['conv']:.0f} GFLOP/s",
        file=sys.stderr,
    )
    rows = []
    for shape in args.shapes.split(","):
        size, channels = shape.split("x")
        for variant in args.variants.split(","):
            cmd = [
                sys.executable,
                __file__,
                "--child",
                "--variant",
                variant,
                "--image-size",
                size,
                "--channels",
                channels,
                "--width",
                str(args.width),
                "--batch-size",
                str(args.batch_size),
                "--steps",
                str(args.steps),
                "--repeats",
                str(args.repeats),
                "--warmup",
                str(args.warmup),
                "--device",
                args.device,
                "--precision",
                args.precision,
                "--compile",
                args.compile,
                "--channels-last" if args.channels_last else "--no-channels-last",
                "--keep-freed-memory" if args.keep_freed_memory else "--no-keep-freed-memory",
            ]
            out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
            rows.append(json.loads(out.strip().splitlines()[-1]))
            r = rows[-1]
            r["gflops"] = r["gflop_per_image"] * r["median"]
            peak = peak_tflops(args, r["device_name"])
            r["mfu"] = r["gflops"] / (1000 * peak) if peak else None
            print(
                f"{r['variant']:9s} {r['shape']:8s} batch {r['batch']}: "
                f"{r['median']:8.1f} img/s (min {r['min']:.1f}, max {r['max']:.1f}), "
                f"peak {r['peak_mib']:.0f} MiB, {r['gflop_per_image']:.2f} GFLOP/img = "
                f"{r['gflops']:.0f} GFLOP/s"
                + (f", MFU {100 * r['mfu']:.1f} %" if r["mfu"] is not None else "")
                + (f", compiled in {r['compile_s']:.0f} s" if args.compile != "none" else ""),
                file=sys.stderr,
            )
    if args.markdown:
        print(
            f"\nMachine: {platform.processor() or platform.machine()}, "
            f"torch {torch.__version__}, device {rows[0]['device']} {rows[0]['device_name']}, "
            f"{args.precision}, compile {args.compile}, "
            f"{'channels_last' if args.channels_last else 'NCHW'}, "
            f"{rows[0]['threads']} threads; ceilings: fp32 matmul {ceiling['matmul']:.0f} "
            f"GFLOP/s, conv forward+backward {ceiling['conv']:.0f} GFLOP/s\n"
        )
        print(
            "| variant | image | width | batch | images/s median (min-max) | peak MiB "
            "| GFLOP/image | GFLOP/s | of matmul | of conv | MFU |"
        )
        print("|---|---|---|---|---|---|---|---|---|---|---|")
        for r in rows:
            print(
                f"| {r['variant']} | {r['shape']} | {r['width']} | {r['batch']} | "
                f"{r['median']:.1f} ({r['min']:.1f}-{r['max']:.1f}) | {r['peak_mib']:.0f} | "
                f"{r['gflop_per_image']:.2f} | {r['gflops']:.0f} | "
                f"{100 * r['gflops'] / ceiling['matmul']:.0f} % | "
                f"{100 * r['gflops'] / ceiling['conv']:.0f} % | "
                + (f"{100 * r['mfu']:.1f} % |" if r["mfu"] is not None else "- |")
            )


if __name__ == "__main__":
    main()
