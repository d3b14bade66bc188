"""`vaegan data info`: what a data set holds, as the loaders see it."""

from __future__ import annotations

from vaegan.data.dataset import Dataset


def shorten(names: tuple[str, ...], limit: int = 8) -> str:
    """The first `limit` names, comma-separated, with ", ..." when there are more."""
    return ", ".join(names[:limit]) + (", ..." if len(names) > limit else "")


def describe(name: str, splits: dict[str, Dataset], counts: dict[str, int]) -> str:
    """A plain-text summary: images per split (`counts`, unions of splits included), image
    shape, classes, attributes, and what the loader left out of the built `splits`."""
    first = next(iter(splits.values()))
    lines = [f"{name}", f"{'split':10s} {'images':>8s}"]
    lines += [f"{split:10s} {count:8d}" for split, count in counts.items()]
    h, w, c = first.images.shape[1:]
    lines.append(f"image:     {h}x{w}x{c} uint8")
    if first.class_names:
        lines.append(f"classes:   {len(first.class_names)} ({shorten(first.class_names)})")
    if first.attribute_names:
        lines.append(
            f"attributes: {len(first.attribute_names)} {first.attribute_kind} "
            f"({shorten(first.attribute_names)})"
        )
    for split, data in splits.items():
        lines += [f"note ({split}): {note}" for note in data.notes]
    return "\n".join(lines)
