"""Training images/s and peak memory of vaegan next to pythae's VAEGAN, side by side.

    python benchmarks/pythae_side_by_side.py --setup        # once: pythae into its own venv
    python benchmarks/pythae_side_by_side.py --markdown     # 32x32x1, batch 64, 5 runs each
    python benchmarks/pythae_side_by_side.py --shapes 32x1,64x3 --repeats 5 --steps 3 --markdown
    python benchmarks/pythae_side_by_side.py --channels-last   # NHWC models and batch, both sides

pythae (0.1.2) is never a dependency of vaegan: `--setup` installs it, with the same torch, into
benchmarks/.pythae-venv, and its measurements run under that venv's Python. Run this script with
the project's Python (.venv/bin/python): the vaegan measurements run under it.

Same networks. Both sides build vaegan's own Enc, Dec and Dis (vaegan.models, which needs torch,
NumPy, Pillow and safetensors; the pythae child imports it from src/ and no training code), with
the same seed, so the same weights. For pythae they are wrapped in its BaseEncoder / BaseDecoder /
BaseDiscriminator interfaces: Dis's layer k <= 4 is its conv k (output before BN), layer 5 the
classifier followed by the sigmoid that pythae's BCE expects; pythae's reconstruction layer is
layer 4, vaegan's Dis_l. pythae's margin gating is turned off (margin 1e30), as vaegan's
(LossConfig(margin=None)), so every step does all the work of all three networks.

Same step. vaegan: `vaegan.step.train_step`. pythae: what its CoupledOptimizerAdversarialTrainer
does per batch, with pythae's own code: `model(inputs, ...)`, `trainer._optimizers_step(out)`
(3 backward passes, 3 optimizer steps) and the 4 `.item()` calls of its loop; without data
loading and the tqdm callback. Same optimizers: RMSprop, vaegan's OptimConfig lr and alpha and
weight decay (pythae's trainer takes one parameter group per network, so there the decay applies
to biases and BN too). Same input: one fixed batch, uniform in [-1, 1] (both decoders end in
tanh; pythae's VAEGAN has no pixel loss that would want [0, 1]). Same threads.

Each measurement is a fresh child process: warm-up steps, then `--steps` timed steps, giving one
images/s figure. Children alternate pythae / vaegan (the first of each pair alternating too) for
`--repeats` rounds; the table gives min / median / max over those runs. Peak memory: after the
warm-up, freed heap is returned to the OS (malloc_trim) and the kernel's peak-RSS mark is reset;
peak MiB is the highest RSS during the timed steps above the RSS right before them (parameters,
their gradients and optimizer state are in that baseline for both). "Live" peak MiB: one more
step after that with every allocation of 64 KiB or more mmapped, so that freed tensors leave the
RSS at once and it follows the live tensors rather than malloc's cache. FLOPs per image are
counted with torch.utils.flop_counter over one step. `--json` keeps every run; `--from-json`
prints the markdown of earlier runs again.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import datetime
import gc
import json
import os
import platform
import resource
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SRC = ROOT / "src"
VENV = HERE / ".pythae-venv"
TORCH_PIN = "torch==2.13.0"
PYTHAE_PIN = "pythae==0.1.2"
# pythae 0.1.2's install_requires, for a --no-deps install if its pins conflict with the torch.
PYTHAE_DEPS = [
    "cloudpickle>=2.1.0",
    "imageio",
    "numpy>=1.19",
    "pydantic>=2.0",
    "scikit-learn",
    "scipy>=1.7.1",
    "tqdm",
    "typing-extensions",
]
# What the pythae child imports of vaegan (vaegan.config, vaegan.models) needs beside torch.
VAEGAN_MODEL_DEPS = ["numpy", "pillow", "safetensors"]
CHECK = "import pythae.models, pythae.trainers; from pythae.models import VAEGAN, VAEGANConfig"


def venv_python(venv: Path) -> Path:
    return venv / "bin" / "python"


# ---------------------------------------------------------------------------------- setup


def setup(venv: Path) -> None:
    """Create the venv; torch first (the local CPU build), then pythae against that torch."""
    py = venv_python(venv)
    if not py.exists():
        print(f"creating {venv}", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(py), "-m", "pip", "install", "--disable-pip-version-check"]
    subprocess.run([*pip, TORCH_PIN], check=True)
    # Pinning torch again keeps pip from swapping in another build while resolving pythae.
    if subprocess.run([*pip, PYTHAE_PIN, TORCH_PIN]).returncode != 0:
        print("pythae's pins conflict: installing it with --no-deps", file=sys.stderr)
        subprocess.run([*pip, "--no-deps", PYTHAE_PIN], check=True)
        subprocess.run([*pip, TORCH_PIN, *PYTHAE_DEPS], check=True)
    subprocess.run([*pip, TORCH_PIN, *VAEGAN_MODEL_DEPS], check=True)
    subprocess.run([str(py), "-c", CHECK], check=True)
    out = subprocess.run(
        [
            str(py),
            "-c",
            "import torch, importlib.metadata as m; print(torch.__version__, m.version('pythae'))",
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    print(f"{venv}: torch {out[0]}, pythae {out[1]}: ready", file=sys.stderr)


# ------------------------------------------------------------------------ child helpers


def status_kib(key: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise KeyError(key)


def start_peak_window() -> float:
    """Return freed heap to the OS, reset the peak-RSS mark; the current RSS in MiB."""
    gc.collect()
    with contextlib.suppress(OSError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # reset VmHWM to the current RSS (Linux >= 4.0)
    except OSError:
        pass
    return status_kib("VmRSS") / 1024


def peak_mib() -> float:
    try:
        return status_kib("VmHWM") / 1024
    except (OSError, KeyError):  # no /proc: ru_maxrss is KiB on Linux, and never reset
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def live_peak_mib(step) -> float:
    """Peak RSS of one more step above the RSS before it, with every allocation of 64 KiB or
    more mmapped (freed memory goes back to the OS at once), so that the RSS follows the live
    tensors. Run last: it makes malloc slower, and glibc has no way back to its dynamic default."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 64 * 1024)  # M_MMAP_THRESHOLD (fixed from now on)
        libc.mallopt(-1, 128 * 1024)  # M_TRIM_THRESHOLD
    except (OSError, AttributeError):
        return float("nan")
    rss_before = start_peak_window()
    step()
    return peak_mib() - rss_before


def run_timed(step, args: argparse.Namespace, batch: int, threads: int) -> dict:
    """FLOPs of one step, warm-up, the timed steps and their peak RSS, then one step's live peak."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        step()
    flops = counter.get_total_flops() / batch
    for _ in range(args.warmup):
        step()
    rss_before = start_peak_window()
    times = []
    for _ in range(args.steps):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    peak = peak_mib() - rss_before
    return {
        "images_per_s": args.steps * batch / sum(times),
        "step_s": times,
        "peak_mib": peak,
        "live_peak_mib": live_peak_mib(step),
        "rss_before_mib": rss_before,
        "gflop_per_image": flops / 1e9,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "requested_threads": threads,
    }


def common_setup(args: argparse.Namespace):
    """Threads, the source of the networks, the config and the fixed batch, for both sides."""
    sys.path.insert(0, str(SRC))  # both sides build the networks of this working tree
    import torch

    torch.set_num_threads(args.threads)
    from vaegan.config import ModelConfig

    cfg = ModelConfig(image_size=args.image_size, channels=args.channels, width=args.width)
    gen = torch.Generator().manual_seed(1)
    x = torch.rand(args.batch_size, cfg.channels, cfg.image_size, cfg.image_size, generator=gen)
    return cfg, as_layout(x * 2 - 1, args)


def as_layout(module_or_batch, args: argparse.Namespace):
    """The model or batch in NHWC with --channels-last (both sides alike), else unchanged."""
    import torch

    if not args.channels_last:
        return module_or_batch
    if isinstance(module_or_batch, torch.Tensor):
        return module_or_batch.contiguous(memory_format=torch.channels_last)
    return module_or_batch.to(memory_format=torch.channels_last)


def param_counts(enc, dec, dis) -> dict[str, int]:
    return {
        n: sum(p.numel() for p in m.parameters())
        for n, m in (("enc", enc), ("dec", dec), ("dis", dis))
    }


# --------------------------------------------------------------------------- the children


def vaegan_child(args: argparse.Namespace) -> dict:
    cfg, x = common_setup(args)
    import torch

    import vaegan
    from vaegan.config import LossConfig, OptimConfig
    from vaegan.models import VAEGAN
    from vaegan.optim import make_optimizers
    from vaegan.step import train_step

    torch.manual_seed(0)
    model = as_layout(VAEGAN(cfg), args)
    optimizers = make_optimizers(model, OptimConfig())
    loss_cfg = LossConfig(margin=None)  # no gating: every step updates all three networks
    model.train()

    def step() -> None:
        train_step(model, optimizers, x, loss_cfg)

    out = run_timed(step, args, args.batch_size, args.threads)
    out |= {"impl": "vaegan", "version": vaegan.__version__}
    out["params"] = param_counts(model.enc, model.dec, model.dis)
    return out


def pythae_wrappers() -> tuple[type, type, type]:
    """vaegan's Enc, Dec and Dis behind pythae's network interfaces (imported in the child)."""
    import torch
    from pythae.models.base.base_utils import ModelOutput
    from pythae.models.nn import BaseDecoder, BaseEncoder

    class Enc(BaseEncoder):
        def __init__(self, enc: torch.nn.Module) -> None:
            BaseEncoder.__init__(self)
            self.enc = enc

        def forward(self, x: torch.Tensor) -> ModelOutput:
            mu, logvar = self.enc(x)
            return ModelOutput(embedding=mu, log_covariance=logvar)

    class Dec(BaseDecoder):
        def __init__(self, dec: torch.nn.Module) -> None:
            BaseDecoder.__init__(self)
            self.dec = dec

        def forward(self, z: torch.Tensor) -> ModelOutput:
            return ModelOutput(reconstruction=self.dec(z))

    return Enc, Dec, pythae_discriminator()


def pythae_discriminator() -> type:
    """vaegan's Dis behind pythae's discriminator interface (imported in the child)."""
    import torch
    import torch.nn.functional as F
    from pythae.models.base.base_utils import ModelOutput
    from pythae.models.nn import BaseDiscriminator

    class Dis(BaseDiscriminator):
        """vaegan's Dis as pythae's layered discriminator: layer k <= n_convs is conv k (its
        output before BN), the last layer BN + ReLU + classifier + sigmoid (pythae's BCE takes
        probabilities). Like pythae's own discriminators it stops at the deepest layer asked."""

        def __init__(self, dis: torch.nn.Module) -> None:
            BaseDiscriminator.__init__(self)
            self.dis = dis
            self.n_convs = len(dis.convs)
            self.depth = self.n_convs + 1

        def layer(self, i: int, h: torch.Tensor) -> torch.Tensor:
            """Layer i + 1: conv i (after the previous BN + ReLU), or the classifier."""
            if i >= self.n_convs:
                return torch.sigmoid(self.dis.classifier(F.relu(self.dis.norms[-1](h))))
            return self.dis.convs[i](F.relu(self.dis.norms[i - 1](h)) if i > 0 else h)

        def forward(self, x: torch.Tensor, output_layer_levels: list[int] | None = None):
            output = ModelOutput()
            levels = set(output_layer_levels or ())
            # Every layer without levels or with -1 (the last) among them, else the deepest.
            max_depth = max(levels) if levels and -1 not in levels else self.depth
            h = x
            for i in range(max_depth):
                h = self.layer(i, h)
                if i + 1 in levels:
                    output[f"embedding_layer_{i + 1}"] = h
                if i + 1 == self.depth:
                    output["embedding"] = h
            return output

    return Dis


def pythae_child(args: argparse.Namespace) -> dict:
    cfg, x = common_setup(args)
    import importlib.metadata

    import torch
    from pythae.data.datasets import BaseDataset, DatasetOutput
    from pythae.models import VAEGAN as PythaeVAEGAN
    from pythae.models import VAEGANConfig
    from pythae.trainers import (
        CoupledOptimizerAdversarialTrainer,
        CoupledOptimizerAdversarialTrainerConfig,
    )

    from vaegan.config import LossConfig, OptimConfig
    from vaegan.models import VAEGAN

    assert "vaegan.step" not in sys.modules and "vaegan.training" not in sys.modules

    Enc, Dec, Dis = pythae_wrappers()
    torch.manual_seed(0)
    nets = VAEGAN(cfg)  # same seed, same init, same weights as the vaegan child
    gamma = LossConfig().gamma  # vaegan: gamma L_llike + L_adv; pythae: (1-s) recon - s L_dis
    model_cfg = VAEGANConfig(
        input_dim=(cfg.channels, cfg.image_size, cfg.image_size),
        latent_dim=cfg.z_dim,
        adversarial_loss_scale=1 / (1 + gamma),
        reconstruction_layer=nets.dis.feature_indices[-1] + 1,  # the default: one feature conv
        margin=1e30,  # gating off, as vaegan's margin=None
    )
    model = PythaeVAEGAN(
        model_cfg, encoder=Enc(nets.enc), decoder=Dec(nets.dec), discriminator=Dis(nets.dis)
    )
    model = as_layout(model, args)
    optim = OptimConfig()
    opt_params = {"alpha": optim.rmsprop_alpha, "weight_decay": optim.weight_decay}
    labels = torch.zeros(args.batch_size)
    with tempfile.TemporaryDirectory() as tmp:
        train_cfg = CoupledOptimizerAdversarialTrainerConfig(
            output_dir=tmp,
            per_device_train_batch_size=args.batch_size,
            num_epochs=1,
            no_cuda=True,
            encoder_optimizer_cls="RMSprop",
            decoder_optimizer_cls="RMSprop",
            discriminator_optimizer_cls="RMSprop",
            encoder_optimizer_params=opt_params,
            decoder_optimizer_params=opt_params,
            discriminator_optimizer_params=opt_params,
            encoder_learning_rate=optim.lr,
            decoder_learning_rate=optim.lr,
            discriminator_learning_rate=optim.lr,
        )
        trainer = CoupledOptimizerAdversarialTrainer(
            model, train_dataset=BaseDataset(x, labels), training_config=train_cfg
        )
        trainer.prepare_training()  # the three optimizers, as trainer.train() sets them up
        inputs = DatasetOutput(data=x, labels=labels)
        trainer.model.train()

        def step() -> None:
            # CoupledOptimizerAdversarialTrainer.train_step's loop body for one batch.
            out = trainer.model(inputs, epoch=1, dataset_size=args.batch_size, uses_ddp=False)
            trainer._optimizers_step(out)
            loss = out.encoder_loss + out.decoder_loss + out.discriminator_loss
            out.encoder_loss.item(), out.decoder_loss.item(), out.discriminator_loss.item()
            loss.item()

        result = run_timed(step, args, args.batch_size, args.threads)
    result |= {"impl": "pythae", "version": importlib.metadata.version("pythae")}
    result["params"] = param_counts(model.encoder, model.decoder, model.discriminator)
    return result


# --------------------------------------------------------------------------------- parent


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def run_child(impl: str, python: Path, args: argparse.Namespace, size: str, ch: str) -> dict:
    cmd = [
        str(python),
        str(Path(__file__).resolve()),
        "--child",
        impl,
        "--image-size",
        size,
        "--channels",
        ch,
        "--width",
        str(args.width),
        "--batch-size",
        str(args.batch_size),
        "--steps",
        str(args.steps),
        "--warmup",
        str(args.warmup),
        "--threads",
        str(args.threads),
        *(["--channels-last"] if args.channels_last else []),
    ]
    env = os.environ | {"OMP_NUM_THREADS": str(args.threads), "MKL_NUM_THREADS": str(args.threads)}
    env.pop("PYTHONPATH", None)
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT)
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr)
        raise SystemExit(f"the {impl} child failed (exit {proc.returncode}): {shlex.join(cmd)}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def summarise(runs: list[dict]) -> dict:
    rates = [r["images_per_s"] for r in runs]
    median = statistics.median(rates)
    return {
        "min": min(rates),
        "median": median,
        "max": max(rates),
        "n": len(rates),
        "peak_mib": statistics.median(r["peak_mib"] for r in runs),
        "peak_max": max(r["peak_mib"] for r in runs),
        "live_peak_mib": statistics.median(r["live_peak_mib"] for r in runs),
        "live_peak_max": max(r["live_peak_mib"] for r in runs),
        "gflop_per_image": runs[0]["gflop_per_image"],
        "gflops": runs[0]["gflop_per_image"] * median,
        "params": runs[0]["params"],
        "version": runs[0]["version"],
        "torch": runs[0]["torch"],
        "threads": runs[0]["threads"],
    }


def render(results: dict[str, dict]) -> str:
    """The markdown: machine, how each shape was run, and the table."""
    summaries = {
        shape: {impl: summarise(rs) for impl, rs in res["runs"].items()}
        for shape, res in results.items()
    }
    first = next(iter(summaries.values()))
    meta = next(iter(results.values()))["meta"]
    out = [
        f"Machine: {meta['cpu']}, {meta['cpus']} logical CPUs; torch {first['vaegan']['torch']} "
        f"(pythae's venv: torch {first['pythae']['torch']}, pythae {first['pythae']['version']}); "
        f"{first['vaegan']['threads']} threads on both sides.",
        "",
    ]
    for shape, res in results.items():
        m = res["meta"]
        out.append(
            f"- {shape}, batch {m['batch']}, {m.get('layout', 'NCHW')}: {m['repeats']} "
            "interleaved runs per side, "
            f"each {m['warmup']} warm-up + {m['steps']} timed steps; {m['date']}; "
            f"`{m['command']}`"
        )
    out += [
        "",
        "| image | implementation | params Enc / Dec / Dis | images/s median (min-max) "
        "| vaegan / pythae | GFLOP/image | GFLOP/s | peak MiB, timed steps: median (max) "
        "| peak MiB, live: median (max) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for shape, summary in summaries.items():
        for impl in ("pythae", "vaegan"):
            s = summary[impl]
            ratio = f"{s['median'] / summary['pythae']['median']:.2f}x"
            params = " / ".join(f"{s['params'][n] / 1e6:.2f}M" for n in ("enc", "dec", "dis"))
            out.append(
                f"| {shape} | {impl} {s['version']} | {params} | {s['median']:.1f} "
                f"({s['min']:.1f}-{s['max']:.1f}) | {ratio} | "
                f"{s['gflop_per_image']:.2f} | {s['gflops']:.0f} | {s['peak_mib']:.0f} "
                f"({s['peak_max']:.0f}) | {s['live_peak_mib']:.0f} "
                f"({s['live_peak_max']:.0f}) |"
            )
    return "\n".join(out)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--setup", action="store_true", help=f"install pythae into {VENV.name}, exit")
    p.add_argument("--venv", type=Path, default=VENV, help="pythae's virtual environment")
    p.add_argument("--shapes", default="32x1", help="SIZExCHANNELS, comma separated")
    p.add_argument("--width", type=float, default=1.0)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--steps", type=int, default=3, help="timed steps per run")
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--repeats", type=int, default=5, help="runs (child processes) per side")
    p.add_argument("--threads", type=int, default=2, help="torch threads on both sides")
    p.add_argument(
        "--channels-last", action="store_true", help="NHWC models and batch, on both sides"
    )
    p.add_argument("--markdown", action="store_true", help="print the table and machine info")
    p.add_argument("--json", type=Path, help="also write every run's numbers here")
    p.add_argument(
        "--from-json",
        type=Path,
        nargs="+",
        metavar="JSON",
        help="measure nothing: print the markdown of earlier --json files",
    )
    p.add_argument("--child", choices=["pythae", "vaegan"], help=argparse.SUPPRESS)
    p.add_argument("--image-size", type=int, help=argparse.SUPPRESS)
    p.add_argument("--channels", type=int, help=argparse.SUPPRESS)
    args = p.parse_args()

    if args.child:
        child = pythae_child if args.child == "pythae" else vaegan_child
        print(json.dumps(child(args)))
        return
    if args.setup:
        setup(args.venv)
        return
    if args.from_json:
        results = {}
        for path in args.from_json:
            results |= json.loads(path.read_text())
        print(render(results))
        return
    py_pythae = venv_python(args.venv)
    if not py_pythae.exists():
        raise SystemExit(
            f"pythae's virtual environment {args.venv} is missing: create it once with\n"
            f"    .venv/bin/python benchmarks/{Path(__file__).name} --setup"
            + ("" if args.venv == VENV else f" --venv {shlex.quote(str(args.venv))}")
            + f"   (from {ROOT})"
        )
    py_vaegan = Path(sys.executable)

    command = f"{shlex.quote(sys.executable)} {shlex.join(sys.argv)}"
    results = {}
    for shape in args.shapes.split(","):
        results |= measure_shape(shape, args, py_pythae, py_vaegan, command)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1) + "\n")
    if args.markdown:
        print(render(results))


def measure_shape(
    shape: str, args: argparse.Namespace, py_pythae: Path, py_vaegan: Path, command: str
) -> dict:
    """Alternating child runs of both sides at one SIZExCHANNELS; their numbers and setting."""
    size, ch = shape.split("x")
    runs: dict[str, list[dict]] = {"pythae": [], "vaegan": []}
    for r in range(args.repeats):
        order = ["pythae", "vaegan"] if r % 2 == 0 else ["vaegan", "pythae"]
        for impl in order:
            python = py_pythae if impl == "pythae" else py_vaegan
            run = run_child(impl, python, args, size, ch)
            runs[impl].append(run)
            print(
                f"{shape} run {r + 1}/{args.repeats} {impl:6s}: "
                f"{run['images_per_s']:7.1f} img/s, peak +{run['peak_mib']:.0f} MiB "
                f"(live +{run['live_peak_mib']:.0f}), "
                f"{run['gflop_per_image']:.2f} GFLOP/img",
                file=sys.stderr,
            )
    date = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    meta = {
        "command": command,
        "date": date,
        "cpu": cpu_model(),
        "cpus": os.cpu_count(),
        "batch": args.batch_size,
        "repeats": args.repeats,
        "warmup": args.warmup,
        "steps": args.steps,
        "layout": "channels_last" if args.channels_last else "NCHW",
    }
    result = {f"{size}x{size}x{ch}": {"meta": meta, "runs": runs}}
    py, vg = summarise(runs["pythae"]), summarise(runs["vaegan"])
    print(
        f"{shape}: vaegan / pythae images/s (medians) = {vg['median'] / py['median']:.2f}x; "
        f"peak {vg['peak_mib']:.0f} vs {py['peak_mib']:.0f} MiB (live "
        f"{vg['live_peak_mib']:.0f} vs {py['live_peak_mib']:.0f}); "
        f"{vg['gflop_per_image']:.2f} vs {py['gflop_per_image']:.2f} GFLOP/image",
        file=sys.stderr,
    )
    return result


if __name__ == "__main__":
    main()
