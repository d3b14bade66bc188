"""Small data sets written in the exact layouts in which the real ones are distributed.

Every image is real JPEG or PNG bytes; .mat files are MATLAB v5 as SVHN's; text files follow the
official column layouts. Images carry a visible mark of their class or attribute, so models and
evaluators have something to learn.
"""

from __future__ import annotations

import io
import tarfile
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image

# Line 2 of list_attr_celeba.txt.
CELEBA_HEADER = (
    "5_o_Clock_Shadow Arched_Eyebrows Attractive Bags_Under_Eyes Bald Bangs Big_Lips Big_Nose "
    "Black_Hair Blond_Hair Blurry Brown_Hair Bushy_Eyebrows Chubby Double_Chin Eyeglasses Goatee "
    "Gray_Hair Heavy_Makeup High_Cheekbones Male Mouth_Slightly_Open Mustache Narrow_Eyes "
    "No_Beard Oval_Face Pale_Skin Pointy_Nose Receding_Hairline Rosy_Cheeks Sideburns Smiling "
    "Straight_Hair Wavy_Hair Wearing_Earrings Wearing_Hat Wearing_Lipstick Wearing_Necklace "
    "Wearing_Necktie Young"
)
CELEBA_ATTRIBUTES = tuple(CELEBA_HEADER.split(" "))
LFW_ATTRIBUTES = (
    "Male",
    "Asian",
    "White",
    "Black",
    "Baby",
    "Child",
    "Youth",
    "Middle Aged",
    "Senior",
    "Black Hair",
    "Blond Hair",
    "Brown Hair",
    "Bald",
    "No Eyewear",
    "Eyeglasses",
    "Sunglasses",
    "Mustache",
    "Smiling",
    "Frowning",
    "Chubby",
    "Blurry",
    "Harsh Lighting",
    "Flash",
    "Soft Lighting",
    "Outdoor",
    "Curly Hair",
    "Wavy Hair",
    "Straight Hair",
    "Receding Hairline",
    "Bangs",
    "Sideburns",
    "Fully Visible Forehead",
    "Partially Visible Forehead",
    "Obstructed Forehead",
    "Bushy Eyebrows",
    "Arched Eyebrows",
    "Narrow Eyes",
    "Eyes Open",
    "Big Nose",
    "Pointy Nose",
    "Big Lips",
    "Mouth Closed",
    "Mouth Slightly Open",
    "Mouth Wide Open",
    "Teeth Not Visible",
    "No Beard",
    "Goatee",
    "Round Jaw",
    "Double Chin",
    "Wearing Hat",
    "Oval Face",
    "Square Face",
    "Round Face",
    "Color Photo",
    "Posed Photo",
    "Attractive Man",
    "Attractive Woman",
    "Indian",
    "Gray Hair",
    "Bags Under Eyes",
    "Heavy Makeup",
    "Rosy Cheeks",
    "Shiny Skin",
    "Pale Skin",
    "5 o' Clock Shadow",
    "Strong Nose-Mouth Lines",
    "Wearing Lipstick",
    "Flushed Face",
    "High Cheekbones",
    "Brown Eyes",
    "Wearing Earrings",
    "Wearing Necktie",
    "Wearing Necklace",
)
LFW_PEOPLE = {
    "Aaron_Eckhart": 1,
    "Abel_Pacheco": 4,
    "Ai_Sugiyama": 2,
    "Bill_Gates": 3,
    "Carla_Del_Ponte": 2,
    "Dalai_Lama": 1,
    "Eva_Mendes": 2,
    "Zico": 1,
}


def encode(image: np.ndarray, fmt: str = "JPEG") -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image.squeeze()).save(buffer, format=fmt, quality=95)
    return buffer.getvalue()


def face(rng: np.random.Generator, height: int, width: int, bright: bool) -> np.ndarray:
    """Noise with a large centred disc, bright or dark: a stand-in for a face."""
    image = rng.integers(0, 60, (height, width, 3)).astype(np.uint8)
    rows, cols = np.ogrid[:height, :width]
    disc = (rows - height / 2) ** 2 + (cols - width / 2) ** 2 < (min(height, width) / 4) ** 2
    image[disc] = (230, 200, 170) if bright else (90, 60, 40)
    return image


def write_celeba(
    root: Path, n: int = 12, *, as_zip: bool = False, seed: int = 0
) -> tuple[Path, np.ndarray]:
    """img_align_celeba/ (or .zip) of 218x178 JPEGs, list_attr_celeba.txt and
    list_eval_partition.txt; images i % 4 == 2 are val, i % 4 == 3 test. Returns the
    attributes as written (-1/1); attribute "Male" (index 20) is the bright disc."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    names = [f"{i + 1:06d}.jpg" for i in range(n)]
    attributes = rng.choice([-1, 1], (n, 40))
    blobs = {
        name: encode(face(rng, 218, 178, attributes[i, 20] > 0)) for i, name in enumerate(names)
    }
    if as_zip:
        with zipfile.ZipFile(root / "img_align_celeba.zip", "w") as archive:
            archive.writestr("img_align_celeba/", "")
            for name, blob in blobs.items():
                archive.writestr(f"img_align_celeba/{name}", blob)
    else:
        (root / "img_align_celeba").mkdir()
        for name, blob in blobs.items():
            (root / "img_align_celeba" / name).write_bytes(blob)
    # As distributed: values right-aligned in columns of width 3 ("  1", " -1").
    rows = [
        name + "".join(f"{v:3d}" for v in values)
        for name, values in zip(names, attributes, strict=True)
    ]
    text = f"{n}\n" + CELEBA_HEADER + " \n" + "\n".join(rows) + "\n"
    (root / "list_attr_celeba.txt").write_text(text)
    splits = [0 if i % 4 < 2 else i % 4 - 1 for i in range(n)]
    (root / "list_eval_partition.txt").write_text(
        "".join(f"{name} {s}\n" for name, s in zip(names, splits, strict=True))
    )
    return root, attributes


def lfw_rows(people: dict[str, int], seed: int = 0) -> dict[tuple[str, int], np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        (person, k): rng.normal(0, 1.5, len(LFW_ATTRIBUTES)).round(5)
        for person, count in people.items()
        for k in range(1, count + 1)
    }


def write_lfw(
    root: Path,
    *,
    people: dict[str, int] = LFW_PEOPLE,
    folder: str = "lfw",
    as_tgz: bool = False,
    without_row: tuple[tuple[str, int], ...] = (),
    seed: int = 0,
) -> tuple[Path, dict[tuple[str, int], np.ndarray]]:
    """lfw/Person_Name/Person_Name_0001.jpg (250x250 JPEGs; or lfw.tgz) and lfw_attributes.txt
    (tab-separated, comment line, '#'-header, `Person Name<TAB>N<TAB>scores`). "Male" (the
    first score) > 0 is drawn as the bright disc. Returns the rows written."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    rows = lfw_rows(people, seed)
    files = {
        f"{folder}/{person}/{person}_{k:04d}.jpg": encode(face(rng, 250, 250, scores[0] > 0))
        for (person, k), scores in rows.items()
    }
    if as_tgz:
        with tarfile.open(root / f"{folder}.tgz", "w:gz") as archive:
            for name, blob in files.items():
                info = tarfile.TarInfo(name)
                info.size = len(blob)
                archive.addfile(info, io.BytesIO(blob))
    else:
        for name, blob in files.items():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).write_bytes(blob)
    lines = [
        "# \tlfw_attributes.txt: attribute scores of Kumar et al. (test fixture)",
        "#\tperson\timagenum\t" + "\t".join(LFW_ATTRIBUTES),
    ]
    for (person, k), scores in rows.items():
        if (person, k) not in without_row:
            values = "\t".join(f"{v:.5f}" for v in scores)
            lines.append(f"{person.replace('_', ' ')}\t{k}\t{values}")
    (root / "lfw_attributes.txt").write_text("\n".join(lines) + "\n")
    return root, {k: v for k, v in rows.items() if k not in without_row}


def write_svhn(root: Path, sizes: dict[str, int] | None = None, seed: int = 0) -> Path:
    """{train,test,extra}_32x32.mat as MATLAB v5: X uint8 (32, 32, 3, N), y (N, 1) in 1..10."""
    from scipy.io import savemat

    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    for split, n in (sizes or {"train": 20, "test": 8, "extra": 6}).items():
        y = rng.integers(1, 11, (n, 1)).astype(np.uint8)
        x = rng.integers(0, 60, (32, 32, 3, n)).astype(np.uint8)
        for i, label in enumerate(y[:, 0]):
            x[3 * (label - 1) : 3 * (label - 1) + 4, 8:24, :, i] = 250  # a bar per digit
        savemat(root / f"{split}_32x32.mat", {"X": x, "y": y})
    return root


def write_folder(
    root: Path, classes: dict[str, int] | None = None, *, sizes=((40, 30),), fmt: str = "PNG"
) -> Path:
    """CLASS/img_NNN.png per class (no classes: images directly in root), cycling through
    `sizes` (height, width); class k is a bright square at its own place."""
    rng = np.random.default_rng(0)
    for k, (name, count) in enumerate((classes or {"": 10}).items()):
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(count):
            height, width = sizes[i % len(sizes)]
            image = rng.integers(0, 60, (height, width, 3)).astype(np.uint8)
            image[4 * k : 4 * k + 8, 2:10] = 250
            suffix = "png" if fmt == "PNG" else "jpg"
            (root / name / f"img_{i:03d}.{suffix}").write_bytes(encode(image, fmt))
    return root
