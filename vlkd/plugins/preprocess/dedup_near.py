"""``dedup_near``: drop near-duplicate images (bursts of the same photo) by perceptual hash.

Whether an image is a near duplicate depends on the other images, while preprocessing runs
one image at a time in worker processes. So this step works in two parts (the driver's
"collective step" protocol, see ``vlkd.images.preprocess_driver``):

- ``collect(image, record)`` runs in the worker, inside the per-image chain, on the image as
  it is at this point of the chain, and returns its hash (kept in the stage's ledger, so a
  resumed stage does not hash again);
- ``select(entries)`` runs once in the main process after every image is done: in input
  order, an image whose hash is within ``threshold`` bits of an image already kept is
  dropped with the reason naming the image it duplicates.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import Field

from vlkd.api import PluginOptions, Preprocessor

if TYPE_CHECKING:
    from PIL import Image

    from vlkd.api import ImageRecord


class DedupNearOptions(PluginOptions):
    hash: Literal["phash", "dhash", "average_hash", "whash"] = Field(
        default="phash", description="perceptual hash (imagehash)"
    )
    threshold: int = Field(
        default=4,
        ge=0,
        le=64,
        description="drop an image whose hash differs from a kept one in at most this many of the 64 bits",
    )


class DedupNear(Preprocessor):
    """Drop near-duplicate images by perceptual hash (first one in input order kept)."""

    Options = DedupNearOptions
    options: DedupNearOptions
    requires = ("imagehash",)
    extra = "images"

    def planned_size(self, size: tuple[int, int], header: Image.Image) -> tuple[int, int]:
        return size

    def apply(self, image: Image.Image, record: ImageRecord) -> Image.Image:
        return image

    def collect(self, image: Image.Image, record: ImageRecord) -> str:
        import imagehash

        return str(getattr(imagehash, self.options.hash)(image, hash_size=8))

    def select(self, entries: list[tuple[ImageRecord, str]]) -> dict[str, str]:
        """``{image id: reason}`` for every image to drop; ``entries`` are (record, hash) in input order."""
        import numpy as np

        drop: dict[str, str] = {}
        kept_hashes = np.zeros(len(entries), dtype=np.uint64)
        kept: list[ImageRecord] = []
        limit = self.options.threshold
        for record, text in entries:
            value = np.uint64(int(text, 16))
            if kept:
                distances = np.bitwise_count(kept_hashes[: len(kept)] ^ value)
                best = int(np.argmin(distances))
                if int(distances[best]) <= limit:
                    other = kept[best]
                    drop[record.id] = (
                        f"near duplicate: {_name(record)} looks like {_name(other)} "
                        f"({self.options.hash} distance {int(distances[best])} <= threshold {limit})"
                    )
                    continue
            kept_hashes[len(kept)] = value
            kept.append(record)
        return drop


def _name(record: ImageRecord) -> str:
    if record.sources:
        src = record.sources[0]
        return src.path + (f" page {src.page}" if src.page else "")
    return record.path or record.id
