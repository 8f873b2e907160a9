"""A trainer: "learns" each training question's answer (a lookup table) from a ``csv`` dataset.

It shows the trainer contract without a GPU: read the dataset card (``ctx.load("dataset")``),
write what was learnt into ``ctx.output("model")`` and describe it with a ``ModelCard`` for
evaluate and report (``train: {plugin: lookup}``).
"""

from __future__ import annotations

import csv
import json

from pydantic import Field

from vlkd.api import ModelCard, PluginOptions, StageError, StagePlugin, hookimpl


class LookupOptions(PluginOptions):
    base_model: str = Field("lookup-table", description="the name written in vlkd_model.json")


class LookupTrainer(StagePlugin):
    """Remembers the answer to every question of the train split."""

    Options = LookupOptions
    options: LookupOptions

    def run(self, ctx):
        card = ctx.load("dataset")
        if "train" not in card.splits:
            raise StageError(f"the dataset has no train split (it has: {', '.join(card.splits) or 'none'})")
        dataset_dir = ctx.input("dataset")
        with (dataset_dir / card.splits["train"]).open(encoding="utf-8", newline="") as fh:
            table = {row["question"]: row["answer"] for row in csv.DictReader(fh)}
        out = ctx.output("model")
        out.mkdir(parents=True, exist_ok=True)
        (out / "answers.json").write_text(json.dumps(table, ensure_ascii=False, indent=2), encoding="utf-8")
        ctx.save(
            "model", ModelCard(trainer="lookup", base_model=self.options.base_model, adapter="answers.json")
        )
        ctx.counts.ok = len(table)
        ctx.facts["questions"] = len(table)


@hookimpl
def vlkd_register_trainers(register):
    register("lookup", LookupTrainer)
