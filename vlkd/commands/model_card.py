"""The model card (``README.md``) of a tuned student pushed to the Hub: the base model, the data
it was tuned on and how it did on the held-out split, from the run's own files."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def model_card(run_dir: Path, info: Any, repo_id: str, *, merged: bool) -> str:
    from vlkd.core.artifacts import DatasetCard
    from vlkd.core.rundir import RunDir

    rd = RunDir(run_dir)
    manifest = rd.read_manifest() or {}
    recipe = (manifest.get("recipe") or {}).get("name", run_dir.name)
    student = ((manifest.get("recipe") or {}).get("resolved") or {}).get("student") or {}
    base = str(student.get("model") or info.base_model)
    on_hub = bool(_HUB_ID.match(base)) and not Path(base).exists()
    front = ["---"]
    if on_hub:
        front.append(f"base_model: {base}")
    front += [
        f"library_name: {'transformers' if merged else 'peft'}",
        "pipeline_tag: image-text-to-text",
        f"tags: [vlkd, vision-language, knowledge-distillation, {info.family.name}]",
        "---",
    ]
    what = "Full weights with a LoRA adapter merged in" if merged else "A LoRA adapter"
    lines = [
        f"# {repo_id.split('/', 1)[1]}",
        "",
        f"{what} for **{base}** (family `{info.family.name}`), tuned by vlkd (vision-language "
        f"knowledge distillation) from recipe `{recipe}` with the `{info.trainer}` trainer.",
        "",
        "## Data",
        "",
    ]
    dataset_dir = rd.artifact("dataset", written=True)
    if dataset_dir is not None and DatasetCard.exists(dataset_dir):
        card = DatasetCard.read(dataset_dir)
        splits = ", ".join(f"{k} {v}" for k, v in card.samples.items())
        lines.append(
            f"{card.pairs} question/answer pairs about {card.images} images, written by the run's teacher "
            f"and reviewed by its experts; {card.format} samples per split: {splits or 'none'}."
        )
    else:
        lines.append("The run holds no dataset card (vlkd_dataset.json).")
    lines += ["", "## Evaluation", ""]
    lines += _evaluation(rd.artifact("metrics", written=True))
    use = (
        f'AutoModelForImageTextToText.from_pretrained("{repo_id}")'
        if merged
        else f'PeftModel.from_pretrained(AutoModelForImageTextToText.from_pretrained("{base}"), "{repo_id}")'
    )
    lines += ["", "## Use", "", "```python", use, "```", ""]
    return "\n".join(front + lines)


def _evaluation(path: Path | None) -> list[str]:
    if path is None or not path.is_file():
        return ["Not evaluated: the run has no evaluate stage's metrics.json."]
    metrics = json.loads(path.read_text(encoding="utf-8"))
    systems = [s for s in metrics.get("systems", []) if s in metrics.get("results", {})]
    names = [m["name"] for m in metrics.get("metrics", []) if m["name"] in ("exact_match", "anls")]
    labels = {m["name"]: m["label"] for m in metrics.get("metrics", [])}
    out = [
        f"On the run's held-out `{metrics.get('split', 'test')}` split ({metrics.get('items', '?')} questions), "
        "base and tuned student, greedy answers:",
        "",
        "| group | " + " | ".join(f"{s}: {labels[n]}" for s in systems for n in names) + " |",
        "|---|" + "---|" * (len(systems) * len(names)),
    ]
    groups = ["overall", *metrics.get("categories", [])]
    for group in groups:
        cells = []
        for s in systems:
            result = metrics["results"][s]
            values = result["overall"] if group == "overall" else result.get("categories", {}).get(group, {})
            for n in names:
                value = (values.get(n) or {}).get("value")
                cells.append("–" if value is None else f"{value * 100:.1f}%")
        n_items = (
            metrics["results"][systems[0]]["overall"]
            if group == "overall"
            else metrics["results"][systems[0]].get("categories", {}).get(group, {})
        ).get("n", "")
        out.append(f"| {group} (n={n_items}) | " + " | ".join(cells) + " |")
    return out
