"""``student_agreement``: the student answers every pair first; what it already knows is flagged
``student_knows`` and, beyond ``keep_known`` per category, dropped before review.

The student is a real tiny Qwen2-VL, LoRA-tuned here (peft trainer) to answer "不存在" (not
present) to any question: on a set where half the pairs are negatives it already knows exactly
those, and gets the others (part numbers) wrong. The review queue shrinks by exactly that part.
"""

from __future__ import annotations

import json

import pytest

pytest.importorskip("peft")

from tests.plugins.train.conftest import write_dataset
from vlkd.plugins.review.web.store import ReviewStore
from vlkd.testing.verify import make_page, run_recipe, write_pairs

#: trains a tiny student and runs three recipes: minutes on 2 shared cores
pytestmark = [pytest.mark.slow, pytest.mark.timeout(3600)]

KNOWN_Q, UNKNOWN_Q = "Is a signature present?", "What is the part number?"


@pytest.fixture(scope="module")
def negative_student(vlkd_tiny_student, tmp_path_factory):
    """A tiny student tuned to say 不存在 to everything: its model directory."""
    from PIL import Image

    from vlkd.plugins.train.standalone import make_trainer, standalone_context

    root = tmp_path_factory.mktemp("negative")
    (root / "data" / "images").mkdir(parents=True)
    rows = []
    for i in range(16):
        Image.new("RGB", (56, 56), ((i * 37) % 256, 90, 200 - i * 9)).save(root / "data" / f"images/{i}.png")
        question = ("Which brand?", "What part is shown?", "Is there a crack?", KNOWN_Q)[i % 4]
        rows.append(
            {
                "messages": [
                    {"role": "user", "content": f"<image>{question}"},
                    {"role": "assistant", "content": "不存在"},
                ],
                "images": [f"images/{i}.png"],
            }
        )
    dataset = write_dataset(root / "data", {"train": rows})
    student = {
        "model": str(vlkd_tiny_student("qwen2_vl")),
        "image_min_pixels": 28 * 28,
        "image_max_pixels": 56 * 56,
        "cutoff_len": 256,
    }
    trainer = make_trainer(
        "peft",
        student,
        dataset=str(dataset),
        lora_target="all-linear",
        modules_to_save=["lm_head"],
        max_steps=30,
        per_device_train_batch_size=8,
        gradient_accumulation_steps=1,
        learning_rate=5e-3,
        warmup_ratio=0.0,
        gradient_checkpointing=False,
        save_steps=1000,
        report_to=[],
    )
    ctx = standalone_context(root / "run")
    trainer.run(ctx)
    return student, ctx.dir / "model"


def pages_and_pairs(tmp_path):
    """8 pages in two categories, each with one negative pair (known) and one part number (not)."""
    folder = tmp_path / "pages"
    lines = ["path,category"]
    rows = []
    for i in range(8):
        make_page(folder / f"p{i}.png", [f"Part P-10{i}"], size=(112, 56), font_size=14)
        lines.append(f"p{i}.png,{'brakes' if i < 4 else 'engine'}")
        rows += [(f"p{i}.png", KNOWN_Q, "不存在"), (f"p{i}.png", UNKNOWN_Q, f"P-10{i}")]
    (folder / "manifest.csv").write_text("\n".join(lines) + "\n")
    return folder / "manifest.csv", write_pairs(tmp_path / "pairs.csv", rows)


def run_with(tmp_path, name, student, model, keep_known):
    manifest, pairs = pages_and_pairs(tmp_path / name)
    return run_recipe(
        tmp_path / name,
        {
            "student": student,
            "ingest": {"plugin": "files", "manifest": str(manifest), "workers": 1},
            "teach": {"plugin": "annotations", "path": str(pairs)},
            "verify": [{"plugin": "student_agreement", "model": str(model), "keep_known": keep_known}],
            "review": {"plugin": "spreadsheet", "require_approval": True, "auto_approve": False},
        },
    )


def verified(run_dir):
    return [json.loads(line) for line in (run_dir / "verify" / "pairs.jsonl").read_text().splitlines()]


def test_student_first_flags_what_it_knows_and_keep_known_shrinks_the_queue(negative_student, tmp_path):
    student, model = negative_student

    manifest, run_dir = run_with(tmp_path, "all", student, model, 1.0)
    pairs = verified(run_dir)
    assert len(pairs) == 16
    for pair in pairs:
        record = pair["checks"]["student_agreement"]
        flags = {f["flag"] for f in pair["flags"]}
        if pair["question"] == KNOWN_Q:  # the student says 不存在, as the teacher did
            assert record == {"student_answer": "不存在", "agreement": 1.0} and flags == {"student_knows"}
        else:
            assert record["agreement"] < 0.8 and flags == {"student_wrong"}
    queue = manifest["stages"]["review"]["facts"]["status"]["pending"]
    assert queue == 16
    facts = manifest["stages"]["verify"]["facts"]["checks"]["student_agreement"]
    assert facts["student_knows"] == 8 and facts["known_per_category"] == {"brakes": 4, "engine": 4}
    knows = {p["id"] for p in pairs if {f["flag"] for f in p["flags"]} == {"student_knows"}}
    # review shows the student's answer and takes what it gets wrong first, on every page
    store = ReviewStore(run_dir)
    for n in store.queue({}):
        shown = store.image_json(n)["pairs"]
        assert [p["question"] for p in shown] == [UNKNOWN_Q, KNOWN_Q]
        assert shown[1]["student"] == {"answer": "不存在", "agreement": 1.0}

    # keep none of what the student knows: the queue shrinks by exactly those 8, pair for pair
    manifest, run_dir = run_with(tmp_path, "none", student, model, 0.0)
    assert manifest["stages"]["review"]["facts"]["status"]["pending"] == queue - len(knows)
    kept = {p["id"] for p in verified(run_dir)}
    assert kept == {p["id"] for p in pairs} - knows
    assert {p["question"] for p in verified(run_dir)} == {UNKNOWN_Q}
    assert manifest["stages"]["verify"]["facts"]["dropped"] == {"zero_delta": 8}
    store = ReviewStore(run_dir)
    assert {store.pair(i).id for i in range(len(store.pair_offsets))} == kept  # what the page queues

    # keep a quarter per category: one of each category's four
    manifest, run_dir = run_with(tmp_path, "quarter", student, model, 0.25)
    kept_known = [p for p in verified(run_dir) if p["question"] == KNOWN_Q]
    assert sorted(p["category"] for p in kept_known) == ["brakes", "engine"]
    assert manifest["stages"]["review"]["facts"]["status"]["pending"] == queue - 6
