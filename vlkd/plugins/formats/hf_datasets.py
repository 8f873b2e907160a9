"""Hugging Face ``datasets`` export: a ``DatasetDict`` (one split each) with an ``Image`` feature.

Rows are the LLaMA-Factory samples (``messages`` with the ``<image>`` tag, ``images`` as a
list of ``Image()``) plus ``image_id``, ``pair_ids`` and ``category`` so a row maps back to
the run. The image bytes are embedded, so ``save_to_disk`` (``dataset/hf/``) and the
parquet files (``dataset/parquet/<split>.parquet``) are self-contained.

``push_to_hub: owner/name`` uploads it (private unless ``private: false``) with the token
from the environment variable named by ``token_env`` (default ``HF_TOKEN``); the token never
enters the recipe, the manifest or the logs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field

from vlkd.api import PluginOptions, StageContext, StageError, VlkdError
from vlkd.plugins.formats.inputs import Conversation, ExportFormat, Grouping, write_descriptor
from vlkd.plugins.formats.llamafactory import sharegpt_sample


class HfDatasetsOptions(PluginOptions):
    grouping: Grouping = Field(
        "per_image", description="per_image: one conversation per image; per_pair: one per pair"
    )
    system: str | None = Field(None, description="System prompt written into every sample")
    parquet: bool = Field(True, description="Also write one parquet file per split")
    push_to_hub: str | None = Field(None, description="Hub dataset repo id (owner/name) to upload to")
    private: bool = Field(True, description="Create the Hub repo private")
    token_env: str = Field("HF_TOKEN", description="Environment variable holding the Hub token")


def build_dataset_dict(samples: dict[str, list[Conversation]], system: str | None = None):
    from datasets import Dataset, DatasetDict, Features, Image, Sequence, Value

    features = Features(
        {
            "messages": [{"role": Value("string"), "content": Value("string")}],
            "images": Sequence(Image()),
            "image_id": Value("string"),
            "pair_ids": Sequence(Value("string")),
            "category": Value("string"),
        }
    )
    blobs: dict[str, dict[str, Any]] = {}

    def image(s: Conversation) -> dict[str, Any]:
        found = blobs.get(s.image_id)
        if found is None:
            found = blobs[s.image_id] = {"bytes": s.image.read_bytes(), "path": s.image.name}
        return found

    def rows(items: list[Conversation]):
        for s in items:
            row = sharegpt_sample(s, "", system=system)
            yield {
                "messages": row["messages"],
                "images": [image(s)],
                "image_id": s.image_id,
                "pair_ids": s.pair_ids,
                "category": s.category,
            }

    return DatasetDict(
        {split: Dataset.from_list(list(rows(items)), features=features) for split, items in samples.items()}
    )


def export_hf_datasets(samples: dict[str, list[Conversation]], dataset_dir: Path, opts: HfDatasetsOptions):
    dataset_dict = build_dataset_dict(samples, opts.system)
    dataset_dir.mkdir(parents=True, exist_ok=True)
    dataset_dict.save_to_disk(str(dataset_dir / "hf"))
    files = {split: f"hf/{split}" for split in dataset_dict}
    if opts.parquet:
        (dataset_dir / "parquet").mkdir(exist_ok=True)
        for split, ds in dataset_dict.items():
            ds.to_parquet(str(dataset_dir / "parquet" / f"{split}.parquet"))
            files[split] = f"parquet/{split}.parquet"
    descriptor = write_descriptor(
        dataset_dir,
        "hf_datasets",
        files,
        samples,
        save_to_disk="hf",
        grouping=opts.grouping,
        system=opts.system,
    )
    return dataset_dict, descriptor


def push_dataset(dataset_dict, repo_id: str, *, private: bool, token: str) -> None:
    """The one call that leaves this machine (kept apart so everything before it is testable)."""
    dataset_dict.push_to_hub(repo_id, private=private, token=token)


class HfDatasetsFormat(ExportFormat):
    """Hugging Face datasets (save_to_disk + parquet, Image feature), optionally pushed to the Hub."""

    Options = HfDatasetsOptions
    requires = ("datasets",)
    extra = "hub"

    def run(self, ctx: StageContext) -> None:
        opts: HfDatasetsOptions = self.options  # type: ignore[assignment]
        self._token = None
        if opts.push_to_hub:  # a missing, unknown or read-only token fails before the work, not after
            from vlkd.plugins.formats.hub import check_write_token, hub_token

            try:
                self._token = hub_token(opts.token_env)
                check_write_token(self._token, opts.token_env)
            except VlkdError as exc:
                raise StageError(str(exc)) from None
        super().run(ctx)

    def export(self, samples: dict[str, list[Conversation]], dataset_dir: Path, ctx: StageContext) -> dict:
        opts: HfDatasetsOptions = self.options  # type: ignore[assignment]
        dataset_dict, descriptor = export_hf_datasets(samples, dataset_dir, opts)
        if opts.push_to_hub and self._token:
            ctx.info(
                f"pushing to https://huggingface.co/datasets/{opts.push_to_hub} "
                f"({'private' if opts.private else 'public'})"
            )
            push_dataset(dataset_dict, opts.push_to_hub, private=opts.private, token=self._token)
            ctx.facts["pushed_to"] = opts.push_to_hub
        return descriptor
