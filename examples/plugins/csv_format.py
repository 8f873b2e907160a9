"""A format: the kept pairs as ``<split>.csv`` (image, question, answer) with a dataset card.

It reads the pairs and images by name (``ctx.load``) and describes its directory with a
``DatasetCard`` so that trainers find the files (``format: {plugin: csv}``).
"""

from __future__ import annotations

import csv
from collections import defaultdict

from pydantic import Field

from vlkd.api import DatasetCard, PluginOptions, StageError, StagePlugin, hookimpl, image_path


class CsvOptions(PluginOptions):
    delimiter: str = Field(",", min_length=1, max_length=1, description="the CSV field separator")


class CsvFormat(StagePlugin):
    """One CSV file per split: image path, question, answer."""

    Options = CsvOptions
    options: CsvOptions

    def run(self, ctx):
        images = {i.id: i for i in ctx.load("images")} if ctx.has_input("images") else {}
        rows = defaultdict(list)
        for pair in ctx.load("pairs"):
            if pair.review == "rejected" or pair.image_id not in images:
                continue
            path = image_path(ctx.run_dir, images[pair.image_id].path)
            rows[pair.split or "train"].append((str(path), pair.question, pair.answer))
        if not rows:
            raise StageError("no pairs to export; check the stages before format")
        out = ctx.output("dataset")
        out.mkdir(parents=True, exist_ok=True)
        for split, split_rows in rows.items():
            with (out / f"{split}.csv").open("w", newline="", encoding="utf-8") as fh:
                writer = csv.writer(fh, delimiter=self.options.delimiter)
                writer.writerow(["image", "question", "answer"])
                writer.writerows(split_rows)
        card = DatasetCard(
            format="csv",
            splits={split: f"{split}.csv" for split in rows},
            samples={split: len(r) for split, r in rows.items()},
            pairs=sum(len(r) for r in rows.values()),
            images=len({row[0] for r in rows.values() for row in r}),
        )
        ctx.save("dataset", card)
        ctx.counts.ok = card.pairs
        ctx.facts["splits"] = card.samples


@hookimpl
def vlkd_register_formats(register):
    register("csv", CsvFormat)
