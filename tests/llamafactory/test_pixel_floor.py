"""Qwen3-VL's processor keeps a floor of 65,536 pixels, which LLaMA-Factory applies in training:
the student section is raised to it, `vlkd validate` says so, and the visual tokens vlkd records
for every image of the demo are LLaMA-Factory's own count."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from vlkd.llamafactory.families import template as lf_template
from vlkd.testing.cli import run_vlkd

ROOT = Path(__file__).resolve().parents[2]


def demo_recipe(tmp_path: Path, model: str) -> tuple[Path, dict]:
    """The demo's ingest and preprocess with another student (its own pixel limits kept)."""
    data = yaml.safe_load((ROOT / "recipes" / "demo.yaml").read_text(encoding="utf-8"))
    data["ingest"]["manifest"] = [str(ROOT / "recipes" / m) for m in data["ingest"]["manifest"]]
    data["student"]["model"] = model
    recipe = {k: data[k] for k in ("name", "student", "ingest", "preprocess")}
    path = tmp_path / "demo.yaml"
    path.write_text(yaml.safe_dump(recipe, allow_unicode=True), encoding="utf-8")
    return path, data


def test_validate_says_the_student_is_raised_to_its_processors_floor(tmp_path):
    path, data = demo_recipe(tmp_path, "tiny:qwen3_vl")
    assert data["student"]["image_min_pixels"] == 3136
    result = run_vlkd("validate", str(path))
    assert result.returncode == 0, result.stderr
    assert "student.image_min_pixels 3,136 is below the qwen3_vl processor's floor of 65,536 pixels" in (
        result.stderr
    )
    resolved = yaml.safe_load(run_vlkd("validate", str(path), "--resolved").stdout)
    assert resolved["student"]["image_min_pixels"] == 65536
    path, _ = demo_recipe(tmp_path, "tiny:qwen2_vl")  # at its floor already: nothing to say
    assert "floor" not in run_vlkd("validate", str(path)).stderr


@pytest.mark.slow
def test_the_record_is_llamafactorys_count_for_every_demo_image(tmp_path, vlkd_tiny_student):
    pytest.importorskip("llamafactory")
    from vlkd.core.artifacts import read_images
    from vlkd.core.engine import Engine
    from vlkd.core.progress import Reporter
    from vlkd.core.recipe import load_recipe
    from vlkd.testing.llamafactory import load_sft

    path, data = demo_recipe(tmp_path, "tiny:qwen3_vl")
    recipe = load_recipe(path)
    Engine(recipe, tmp_path / "run", reporter=Reporter(quiet=True)).run()
    records = list(read_images(tmp_path / "run" / "preprocess" / "images.jsonl"))
    assert len(records) == 248
    # one sample per image, given to LLaMA-Factory with the limits the recipe writes
    rows = [
        {
            "messages": [
                {"role": "user", "content": "<image>仪表盘上亮着的是哪个指示灯?"},
                {"role": "assistant", "content": "转向灯"},
            ],
            "images": [str(r.path)],
        }
        for r in records
    ]
    dataset = tmp_path / "data"
    dataset.mkdir()
    (dataset / "train.json").write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")
    columns = {"messages": "messages", "images": "images"}
    tags = {"role_tag": "role", "content_tag": "content", "user_tag": "user", "assistant_tag": "assistant"}
    info = {"t": {"file_name": "train.json", "formatting": "sharegpt", "columns": columns, "tags": tags}}
    (dataset / "dataset_info.json").write_text(json.dumps(info), encoding="utf-8")
    family = recipe.student.family
    module, tokenizer = load_sft(
        vlkd_tiny_student("qwen3_vl"),
        lf_template(family),
        dataset,
        tmp_path / "out",
        dataset="t",
        cutoff_len=4096,
        image_min_pixels=data["student"]["image_min_pixels"],
        image_max_pixels=data["student"]["image_max_pixels"],
    )
    examples = list(module["train_dataset"])
    assert len(examples) == len(records)
    pad = tokenizer.convert_tokens_to_ids(family.image_token)
    counted = [e["input_ids"].count(pad) for e in examples]
    recorded = [r.visual_tokens for r in records]
    wrong = [
        (Path(r.path).name, r.visual_tokens, n)
        for r, n in zip(records, counted, strict=True)
        if r.visual_tokens != n
    ]
    assert not wrong, f"{len(wrong)} of {len(records)} differ (image, recorded, LLaMA-Factory): {wrong[:5]}"
    assert recorded.count(64) >= 240  # the 224x224 photos: 256x256 after the floor, 8x8 blocks
