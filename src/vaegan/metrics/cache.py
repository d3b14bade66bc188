"""Features of real images, cached on disk: computed once per (extractor, images), then reloaded.

The key hashes the extractor's identity (its weights' SHA-256 and preprocessing) and the images:
the fingerprint of the cached data set they come from (keyed like the data cache), or else their
bytes. Any change to either misses the cache. A file that cannot be read back whole, or holds the
wrong number of rows, is recomputed and replaced, never trusted.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
from safetensors import SafetensorError
from safetensors.torch import load_file
from torch import Tensor

from vaegan.files import atomic_save_tensors


def cached_features(
    cache_dir: Path | None,
    extractor_id: str,
    images: np.ndarray,
    compute: Callable[[], Tensor],
    images_id: str | None = None,
) -> Tensor:
    """`compute()` for these images and this extractor, or its cached result.

    images_id: names the images (e.g. a cached data set's fingerprint and a slice), which spares
    hashing their bytes.
    """
    if cache_dir is None:
        return compute()
    digest = hashlib.sha256(f"{extractor_id}|{images.shape}|{images.dtype}|{images_id}|".encode())
    if images_id is None:
        digest.update(np.ascontiguousarray(images).data)
    file = Path(cache_dir) / "features" / f"{digest.hexdigest()}.safetensors"
    if file.is_file():
        try:
            features = load_file(file)["features"]
            if len(features) == len(images):
                return features
        except (SafetensorError, OSError, KeyError):
            pass  # corrupt or partial: recompute below
    features = compute()
    file.parent.mkdir(parents=True, exist_ok=True)
    atomic_save_tensors({"features": features}, file)
    return features
