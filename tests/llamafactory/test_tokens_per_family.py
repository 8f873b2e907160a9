"""vlkd's token counts are LLaMA-Factory's own, for every family: its loader (template, mm plugin,
the family's tiny student's processor) gives each sample exactly the visual tokens and the total
length that vlkd.llamafactory.tokens predicts."""

from __future__ import annotations

import json

import pytest

from vlkd.llamafactory.families import image_tokens
from vlkd.llamafactory.families import template as lf_template

pytest.importorskip("llamafactory")

from vlkd.core.registry import load_registry
from vlkd.llamafactory.tokens import text_tokens

FAMILIES = {n: f for n, f in load_registry(autoload=False).families().items() if lf_template(f)}
SIZES = [(300, 200), (64, 900), (1000, 333), (40, 40)]
MIN_PIXELS, MAX_PIXELS = 56 * 56, 512 * 512


def write_dataset(root, sizes):
    from PIL import Image

    root.mkdir(parents=True)
    rows = []
    for i, (w, h) in enumerate(sizes):
        Image.new("RGB", (w, h), (i * 50 % 256, 90, 160)).save(root / f"{i}.png")
        messages = [
            {"role": "user", "content": f"<image>图中零件 {i} 是什么? What part is it?"},
            {"role": "assistant", "content": "刹车片 brake pad"},
        ]
        if i % 2:
            messages += [
                {"role": "user", "content": "拧紧力矩是多少?"},
                {"role": "assistant", "content": f"{100 + i} N·m"},
            ]
        rows.append({"messages": messages, "images": [f"{i}.png"]})
    (root / "train.json").write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")
    tags = {"role_tag": "role", "content_tag": "content", "user_tag": "user", "assistant_tag": "assistant"}
    info = {
        "t": {
            "file_name": "train.json",
            "formatting": "sharegpt",
            "columns": {"messages": "messages", "images": "images"},
            "tags": tags,
        }
    }
    (root / "dataset_info.json").write_text(json.dumps(info), encoding="utf-8")
    return rows


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_llamafactory_counts_what_vlkd_predicts(name, vlkd_tiny_student, tmp_path):
    from vlkd.testing.llamafactory import load_sft

    family = FAMILIES[name]
    rows = write_dataset(tmp_path / "data", SIZES)
    dataset, tokenizer = load_sft(
        vlkd_tiny_student(name),
        lf_template(family),
        tmp_path / "data",
        tmp_path / "out",
        dataset="t",
        cutoff_len=4096,
        image_min_pixels=MIN_PIXELS,
        image_max_pixels=MAX_PIXELS,
    )
    examples = list(dataset["train_dataset"])
    assert len(examples) == len(rows)
    pad = tokenizer.convert_tokens_to_ids(family.image_token)
    for (w, h), row, example in zip(SIZES, rows, examples, strict=True):
        visual = image_tokens(family, w, h, MIN_PIXELS, MAX_PIXELS)
        assert example["input_ids"].count(pad) == visual, (w, h)
        turns = [(m["role"], m["content"]) for m in row["messages"]]
        assert len(example["input_ids"]) == visual + text_tokens(family, turns, None, tokenizer), (w, h)
