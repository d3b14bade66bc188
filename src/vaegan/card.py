"""The model card of an exported model: README.md with the Hub's metadata, what the model is,
how to load it, its metrics (eval.json) and samples, and the paper to cite."""

from __future__ import annotations

from dataclasses import dataclass

from vaegan.config import ModelConfig, RunConfig

ONNX_FILE = "decoder.onnx"

# Hugging Face Hub ids of the data sets that have an official copy there (the card's metadata).
HUB_DATASETS = {
    "fashion-mnist": "zalando-datasets/fashion_mnist",
    "mnist": "ylecun/mnist",
    "svhn": "ufldl-stanford/svhn",
}
VARIANTS = {  # base variant -> (name, what it is)
    "vaegan": (
        "VAE/GAN",
        "a VAE and a GAN that share one decoder/generator, the VAE's reconstruction error "
        "measured in a hidden layer of the GAN's discriminator",
    ),
    "vae": ("VAE", "an autoencoder with a pixel-wise reconstruction error (the paper's baseline)"),
    "gan": ("GAN", "a generator and a discriminator, no encoder (the paper's baseline)"),
    "vae_disl": (
        "VAE_Disl",
        "a VAE whose reconstruction error is measured in a discriminator's hidden layer, "
        "without the adversarial loss on the decoder (the paper's baseline)",
    ),
}
CITATION = """\
@inproceedings{larsen2016autoencoding,
  title     = {Autoencoding beyond pixels using a learned similarity metric},
  author    = {Larsen, Anders Boesen Lindbo and S{\\o}nderby, S{\\o}ren Kaae and
               Larochelle, Hugo and Winther, Ole},
  booktitle = {Proceedings of the 33rd International Conference on Machine Learning},
  series    = {Proceedings of Machine Learning Research},
  volume    = {48},
  pages     = {1558--1566},
  year      = {2016}
}"""


@dataclass(frozen=True)
class Metric:
    """One number of eval.json and the setting it was measured in."""

    name: str
    value: float
    setting: str


@dataclass(frozen=True)
class Exported:
    """What the model card describes."""

    config: RunConfig
    step: int
    metrics: tuple[Metric, ...]
    samples_step: int | None
    onnx: bool
    load_as: str  # what to pass to vaegan.load: the folder's name or a Hub repository id


def metric_rows(evaluations: list[dict]) -> list[Metric]:
    """The numbers of eval.json's records (vaegan.records), each with its setting."""
    rows = []
    for record in evaluations:
        setting = describe_setting(record)
        for name, value in record["metrics"].items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                rows.append(Metric(str(name), float(value), setting))
    return rows


def describe_setting(record: dict) -> str:
    """What an evaluation was measured on: "fashion-mnist test, n 10,000, seed 0, step 3,000"
    (and an edit's strength), so that two records never read alike."""
    parts = [" ".join(str(record[k]) for k in ("data", "split") if record.get(k) is not None)]
    keys = ("n", "seed", "step")
    parts += [f"{k} {record[k]:,}" for k in keys if isinstance(record.get(k), int)]
    edit = record.get("edit")
    if isinstance(edit, dict) and isinstance(edit.get("strength"), (int, float)):
        parts.append(f"edit strength {edit['strength']:g}")
    return ", ".join(p for p in parts if p)


def model_card(exported: Exported) -> str:
    """README.md: Hugging Face metadata, what the model is, how to load it, its metrics and
    samples, and the paper to cite."""
    m = exported.config.model
    sections = [
        front_matter(exported.config),
        f"# {title(exported.config)}\n",
        f"{variant_text(m)}.\n",
        "A model of Larsen et al., *Autoencoding beyond pixels using a learned similarity metric* "
        "(ICML 2016), trained with vaegan, a reimplementation of the authors' code "
        "(github.com/andersbll/autoencoding_beyond_pixels).\n",
        facts_table(exported),
        usage(exported),
        metrics_section(exported.metrics),
    ]
    if exported.samples_step is not None:
        sections.append(
            f"## Samples\n\n![Samples of the model at step {exported.samples_step:,}]"
            "(samples.png)\n"
        )
    sections.append(f"## Citation\n\n```bibtex\n{CITATION}\n```\n")
    return "\n".join(sections)


def variant_text(m: ModelConfig) -> str:
    """What the variant is, in one sentence."""
    name, what = VARIANTS[m.base_variant]
    if m.conditional:
        return f"Conditional {name}: {what}; every network also sees a condition y"
    return f"{name}: {what}"


def front_matter(config: RunConfig) -> str:
    """The YAML metadata the Hub reads (library, tags, licence, data set)."""
    lines = ["---", "library_name: vaegan", "license: mit", "tags:"]
    tags = dict.fromkeys(("vaegan", "vae-gan", "image-generation", config.model.variant))
    lines += [f"- {tag}" for tag in tags]
    if config.data.name in HUB_DATASETS:
        lines += ["datasets:", f"- {HUB_DATASETS[config.data.name]}"]
    return "\n".join([*lines, "---", ""])


def channels(m: ModelConfig) -> str:
    """The channel count in words, "1 channel" or "3 channels", for the facts table."""
    return "1 channel" if m.channels == 1 else f"{m.channels} channels"


def title(config: RunConfig) -> str:
    """The card's heading, e.g. "vaegan on celeba, 64x64x3"."""
    m = config.model
    return f"{m.variant} on {config.data.name}, {m.image_size}x{m.image_size}x{m.channels}"


def facts_table(exported: Exported) -> str:
    """What the model is, as a two-column table."""
    c = exported.config
    m = c.model
    rows = [
        ("variant", f"`{m.variant}`"),
        ("data set", f"{c.data.name} (split {c.data.split})"),
        ("images", f"{m.image_size}x{m.image_size}, {channels(m)}, floats in [-1, 1]"),
        ("z_dim", str(m.z_dim)),
        ("network width", f"{m.width:g} of the paper's"),
        ("steps trained", f"{exported.step:,} (batch {c.train.batch_size})"),
    ]
    if m.conditional:
        names = ", ".join(m.condition[:10]) + (", ..." if len(m.condition) > 10 else "")
        rows.append((f"condition y ({m.condition_kind})", f"{m.condition_dim} values: {names}"))
    if m.prior == "fitted":
        rows.append(
            ("sampling prior", f"a mixture of {m.prior_components} Gaussians fitted to codes")
        )
    if m.ema_decay is not None:
        rows.append(("inference weights", f"moving average of Enc and Dec (decay {m.ema_decay})"))
    body = "\n".join(f"| {k} | {v} |" for k, v in rows)
    return f"## The model\n\n| | |\n|---|---|\n{body}\n"


def usage(exported: Exported) -> str:
    """How to load the model and draw samples (and, with decoder.onnx, run it without torch)."""
    m = exported.config.model
    if "/" in exported.load_as:
        where = 'from the Hub: pip install "vaegan[hub]"'
    else:
        where = 'this folder; once pushed, vaegan.load("OWNER/NAME")'
    shape = f"(16, {m.channels}, {m.image_size}, {m.image_size}) in [-1, 1]"
    lines = ["import torch", "import vaegan", ""] if m.conditional else ["import vaegan", ""]
    lines.append(f'model = vaegan.load("{exported.load_as}")  # {where}')
    if m.conditional:
        lines += [
            f"y = torch.zeros(16, {m.condition_dim})  # the condition y, a row per image",
            f"y[:, 0] = 1  # {m.condition[0]}",
            f"x = model.sample(16, y)  # {shape}",
        ]
    else:
        lines.append(f"x = model.sample(16)  # {shape}")
    if m.has_encoder:
        lines.append("z = model.encode(x" + (", y)" if m.conditional else ")") + "  # codes mu(x)")
    text = "## Use it\n\n```python\n" + "\n".join(lines) + "\n```\n"
    if exported.onnx:
        inputs = "z (B, z_dim)" + (" and y (B, K)" if m.conditional else "")
        text += (
            f"\n`{ONNX_FILE}` is the decoder alone, for onnxruntime: {inputs} in, images x "
            "(B, C, H, W) in [-1, 1] out."
        )
        if m.prior == "fitted":  # N(0, I) codes would miss where this decoder learned to draw
            text += (
                " Draw z as `model.sample` does, from the fitted mixture: `prior_weights`, "
                "`prior_means` and `prior_scales` (Cholesky factors) in model.safetensors."
            )
        text += "\n"
    return text


def metrics_section(metrics: tuple[Metric, ...]) -> str:
    """The Metrics section: a row per metric with the setting it was evaluated on, or how to
    evaluate when there is none."""
    if not metrics:
        return "## Metrics\n\nNot evaluated yet (`vaegan evaluate RUN` writes eval.json).\n"
    rows = "\n".join(f"| {m.name} | {m.value:.4g} | {m.setting} |" for m in metrics)
    return (
        "## Metrics\n\nAs `vaegan evaluate` measured them (eval.json, beside this card; "
        "vaegan's docs/EVALUATION.md says what each is).\n\n"
        f"| metric | value | evaluated on |\n|---|---|---|\n{rows}\n"
    )
