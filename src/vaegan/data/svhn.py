"""SVHN (cropped digits) as distributed: train_32x32.mat, test_32x32.mat, extra_32x32.mat.

Each is a MATLAB v5 file holding X, uint8 (32, 32, 3, N), and y, (N, 1) with label 10 for the
digit 0 (http://ufldl.stanford.edu/housenumbers/).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vaegan.data.dataset import Dataset
from vaegan.data.transform import LoadOptions, preprocess_array
from vaegan.errors import DataError

SPLITS = ("train", "test", "extra")
CLASSES = tuple(str(d) for d in range(10))


def svhn_file(root: Path, split: str) -> Path:
    """ROOT/SPLIT_32x32.mat; DataError if it is missing."""
    path = root / f"{split}_32x32.mat"
    if not path.is_file():
        raise DataError(f"{path}: file not found (SVHN's cropped digits, *_32x32.mat)")
    return path


def read_svhn_mat(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(images uint8 (N, 32, 32, 3), labels int64 (N,) with 10 mapped to 0)."""
    from scipy.io import loadmat  # late: only SVHN needs SciPy

    try:
        mat = loadmat(path, variable_names=("X", "y"))
    except Exception as err:  # SciPy raises ValueError, MatReadError, OSError, ... on bad files
        problem = f"{type(err).__name__}: {err}"
        raise DataError(f"{path}: not a readable MATLAB file ({problem})") from None
    missing = [k for k in ("X", "y") if k not in mat]
    if missing:
        raise DataError(f"{path}: has no variable '{missing[0]}' (SVHN files hold X and y)")
    x, y = mat["X"], mat["y"]
    if x.ndim != 4 or x.shape[:3] != (32, 32, 3) or x.dtype != np.uint8:
        raise DataError(f"{path}: X must be uint8 (32, 32, 3, N), got {x.dtype} {x.shape}")
    n = x.shape[3]
    if y.shape not in ((n, 1), (n,)):
        raise DataError(f"{path}: y must be ({n}, 1) to match X's {n} images, got {y.shape}")
    labels = y.reshape(n).astype(np.int64)
    if n and (labels.min() < 1 or labels.max() > 10):
        raise DataError(f"{path}: labels must lie in 1..10 (10 is the digit 0)")
    return np.ascontiguousarray(x.transpose(3, 0, 1, 2)), labels % 10


def load_svhn(root: Path, split: str, options: LoadOptions, progress: bool = True) -> Dataset:
    """The split's 32x32 digits with labels 0-9 (the file's 10 read as 0), never cropped; channels
    and size converted as `options` say."""
    path = svhn_file(root, split)
    images, labels = read_svhn_mat(path)
    images = preprocess_array(images, options, None, str(path))  # square already: no crop
    return Dataset(name="svhn", images=images, labels=labels, class_names=CLASSES)
