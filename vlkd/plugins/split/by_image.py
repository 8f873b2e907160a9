"""Train/val/test split by image, stable under additions.

Every pair of an image lands in the same split, so no image is seen in training and then
again in evaluation. An image's split is a pure function of the seed and the image id (a
SHA-256 hash mapped to [0, 1) and compared with the cumulative fractions): adding images
later never moves an existing image to another split, and the same seed always gives the
same split on any machine.

Stratification: the thresholds are applied within each category independently of the
others, so every category is split in the given fractions in expectation (not exactly:
an exact per-category cut would depend on which other images exist, and so would move
images when new ones arrive). The stage reports per-category counts in the manifest and
warns about a category that has no image in test, whatever its size (the evaluate stage
cannot score it, and the report lists it as not evaluated), and about one of 3 or more
images with none in val.
"""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict

from pydantic import Field, model_validator

from vlkd.api import PluginOptions, QARecord, StageContext, StageError, StagePlugin, read_pairs

SPLITS = ("train", "val", "test")


class ByImageOptions(PluginOptions):
    train: float = Field(0.8, ge=0, le=1, description="Fraction of images in train")
    val: float = Field(0.1, ge=0, le=1, description="Fraction of images in val")
    test: float = Field(0.1, ge=0, le=1, description="Fraction of images in test")
    seed: int = Field(0, description="Changes every assignment; keep it fixed for a stable split")

    @model_validator(mode="after")
    def _sum_to_one(self):
        total = self.train + self.val + self.test
        if abs(total - 1.0) > 1e-6:
            raise ValueError(f"train + val + test must be 1, got {total:g}")
        return self


def image_fraction(seed: int, image_id: str) -> float:
    """A uniform number in [0, 1) that depends on the seed and the image id only."""
    digest = hashlib.sha256(f"vlkd-split\x00{seed}\x00{image_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def assign_split(seed: int, image_id: str, train: float, val: float) -> str:
    u = image_fraction(seed, image_id)
    if u < train:
        return "train"
    if u < train + val:
        return "val"
    return "test"


class ByImageSplit(StagePlugin):
    """Train/val/test by image, seeded and stable when images are added."""

    Options = ByImageOptions

    def run(self, ctx: StageContext) -> None:
        opts: ByImageOptions = self.options  # type: ignore[assignment]
        source = ctx.input("pairs")
        pairs = read_pairs(source)
        by_image: dict[str, list[QARecord]] = defaultdict(list)
        for i, pair in enumerate(pairs):
            if not pair.image_id:
                raise StageError(f"{source}: pair {i + 1} has no image_id; it cannot be split by image")
            by_image[pair.image_id].append(pair)
        per_category: dict[str, Counter] = defaultdict(Counter)
        images_per_split: Counter = Counter()
        for image_id, image_pairs in by_image.items():
            split = assign_split(opts.seed, image_id, opts.train, opts.val)
            images_per_split[split] += 1
            category = Counter(p.category or "uncategorised" for p in image_pairs).most_common(1)[0][0]
            per_category[category][split] += 1
            for pair in image_pairs:
                pair.split = split  # type: ignore[assignment]
        ctx.save("pairs", pairs)
        pair_counts = Counter(p.split for p in pairs)
        ctx.counts.ok = len(pairs)
        ctx.facts.update(
            {
                "images": {s: images_per_split.get(s, 0) for s in SPLITS},
                "pairs": {s: pair_counts.get(s, 0) for s in SPLITS},
                "images_per_category": {
                    c: {s: n.get(s, 0) for s in SPLITS} for c, n in sorted(per_category.items())
                },
            }
        )
        without_test = [c for c, n in sorted(per_category.items()) if opts.test > 0 and not n.get("test")]
        if without_test:
            ctx.facts["categories_without_test"] = without_test
        for category, n in sorted(per_category.items()):
            images = sum(n.values())
            if category in without_test:  # whatever its size: its score would silently be missing
                ctx.warn(
                    f"category '{category}' has {images} image{'s' if images != 1 else ''} and none in test; "
                    f"it will not be evaluated (more images fix this; the split stays stable)"
                )
            if opts.val > 0 and not n.get("val") and images >= 3:
                ctx.warn(
                    f"category '{category}' has {images} images and none in val; "
                    f"its val score will be missing (more images fix this; the split stays stable)"
                )
        ctx.info(f"{len(by_image)} images: " + ", ".join(f"{s} {images_per_split.get(s, 0)}" for s in SPLITS))
