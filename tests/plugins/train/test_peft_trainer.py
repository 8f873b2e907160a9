"""The peft trainer trains the real tiny Qwen2-VL on CPU; its labels, resume, merge and launch."""

from __future__ import annotations

import json
import shutil

import pytest

pytest.importorskip("peft")

from tests.plugins.train.conftest import FAST, make_trainer, stage_context


def losses(log_path):
    return [r["loss"] for r in map(json.loads, log_path.read_text().splitlines()) if "loss" in r]


def load_and_generate(base, adapter):
    from peft import PeftModel
    from PIL import Image
    from transformers import AutoModelForImageTextToText, AutoProcessor

    processor = AutoProcessor.from_pretrained(base)
    model = PeftModel.from_pretrained(AutoModelForImageTextToText.from_pretrained(base), adapter)
    messages = [
        {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "What part is shown?"}]}
    ]
    text = processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    batch = processor(text=[text], images=[Image.new("RGB", (56, 56), "blue")], return_tensors="pt")
    out = model.generate(**batch, max_new_tokens=4, do_sample=False)
    assert out.shape[1] > batch["input_ids"].shape[1]
    return model


def test_trains_tiny_student_loss_falls_adapter_loads_and_generates(tiny_student, make_dataset, tmp_path):
    dataset = make_dataset(n_train=8, n_val=2)
    trainer = make_trainer(
        "peft",
        student=str(tiny_student),
        dataset=str(dataset),
        lora_target="all-linear",
        **{**FAST, "learning_rate": 2e-2, "report_to": ["tensorboard"]},
    )
    ctx = stage_context(tmp_path / "run")
    trainer.run(ctx)

    model_dir = ctx.dir / "model"
    card = json.loads((model_dir / "vlkd_model.json").read_text())
    assert card == {
        "trainer": "peft",
        "base_model": str(tiny_student),
        "family": "qwen2_vl",
        "adapter": "adapter",
        "template": "qwen2_vl",
        "image_min_pixels": 28 * 28,
        "image_max_pixels": 56 * 56,
        "cutoff_len": 256,
        "log": "../output/trainer_log.jsonl",  # relative to the card: the run directory can move
    }
    records = [
        json.loads(line) for line in (ctx.dir / "output" / "trainer_log.jsonl").read_text().splitlines()
    ]
    assert {"current_steps", "total_steps", "loss"} <= set(records[0])
    assert any("eval_loss" in r for r in records)  # evaluated on the val split
    loss = losses(ctx.dir / "output" / "trainer_log.jsonl")
    assert len(loss) == 6
    assert sum(loss[-2:]) / 2 < sum(loss[:2]) / 2, loss
    assert (ctx.dir / "output" / "checkpoint-3").is_dir() and (ctx.dir / "output" / "checkpoint-6").is_dir()
    assert list((ctx.dir / "output" / "runs").rglob("events.out.tfevents.*"))  # TensorBoard
    assert ctx.facts["global_step"] == 6 and ctx.facts["precision"] == "fp32"

    model = load_and_generate(tiny_student, model_dir / "adapter")
    lora_modules = [n for n, _ in model.named_modules() if n.endswith("lora_A")]
    assert lora_modules and not [n for n in lora_modules if ".visual." in n]  # vision tower stays frozen
    assert any("gate_proj" in n for n in lora_modules)  # all-linear reaches the MLP too


def test_labels_cover_only_assistant_turns(tiny_student, tmp_path):
    from PIL import Image
    from transformers import AutoProcessor

    from vlkd.llamafactory.sample import Sample
    from vlkd.plugins.train.peft_collator import IGNORE_INDEX, ChatCollator
    from vlkd.students.qwen2_vl import Qwen2VL

    family = Qwen2VL()
    processor = AutoProcessor.from_pretrained(tiny_student)
    family.set_pixel_limits(processor, 28 * 28, 56 * 56)
    image = tmp_path / "big.png"
    Image.new("RGB", (224, 224), "green").save(image)
    sample = Sample(
        messages=[
            {"role": "system", "content": "You are a mechanic."},
            {"role": "user", "content": "<image>What part is shown?"},
            {"role": "assistant", "content": "brake pad"},
            {"role": "user", "content": "图中有火花塞吗?"},
            {"role": "assistant", "content": "不存在"},
        ],
        images=[image],
        where="test: sample 0",
    )
    collator = ChatCollator(processor, family, cutoff_len=512)
    batch = collator([sample, sample])
    labels = batch["labels"][0]
    kept = labels[labels != IGNORE_INDEX].tolist()
    assert processor.tokenizer.decode(kept) == "brake pad<|im_end|>不存在<|im_end|>"
    # max_pixels 56x56 -> the 224x224 image is resized to 2x2 visual tokens
    image_pad = processor.tokenizer.convert_tokens_to_ids("<|image_pad|>")
    assert int((batch["input_ids"][0] == image_pad).sum()) == 4
    assert batch["image_grid_thw"].tolist() == [[1, 4, 4], [1, 4, 4]]


def test_interrupted_after_a_checkpoint_resumes_from_it(tiny_student, make_dataset, tmp_path):
    from tests.plugins.train.conftest import ctrl_c_at

    dataset = make_dataset(n_train=8, n_val=0)
    options = dict(student=str(tiny_student), dataset=str(dataset), **FAST)
    ctx = stage_context(tmp_path / "run")
    ctx.run.reporter = ctrl_c_at(4)  # when step 4 is logged: checkpoint-3 exists by then
    with pytest.raises(KeyboardInterrupt):
        make_trainer("peft", **options).run(ctx)
    output = ctx.dir / "output"
    assert (output / "checkpoint-3").is_dir() and not (ctx.dir / "model" / "adapter").exists()

    resumed = stage_context(tmp_path / "run", resumed=True)
    make_trainer("peft", **options).run(resumed)
    assert resumed.facts["resumed_from"] == str(output / "checkpoint-3")
    assert resumed.facts["global_step"] == 6
    rows = list(map(json.loads, (output / "trainer_log.jsonl").read_text().splitlines()))
    steps = [r["current_steps"] for r in rows if "loss" in r]  # the last line is the run's summary
    assert steps == [1, 2, 3, 4, 5, 6]  # continued at step 4, not 1, and step 4 logged once
    assert (resumed.dir / "model" / "adapter" / "adapter_config.json").is_file()


def test_loraplus_modules_to_save_and_merge(tiny_student, make_dataset, tmp_path):
    from transformers import AutoModelForImageTextToText

    dataset = make_dataset(n_train=4, n_val=0)
    trainer = make_trainer(
        "peft",
        student=str(tiny_student),
        dataset=str(dataset),
        loraplus_lr_ratio=16.0,
        modules_to_save=["lm_head"],
        merge=True,
        gradient_checkpointing=False,
        **{**FAST, "max_steps": 2},
    )
    ctx = stage_context(tmp_path / "run")
    trainer.run(ctx)
    model_dir = ctx.dir / "model"
    adapter_config = json.loads((model_dir / "adapter" / "adapter_config.json").read_text())
    assert adapter_config["modules_to_save"] == ["lm_head"] and adapter_config["r"] == 8
    assert adapter_config["lora_alpha"] == 16 and adapter_config["lora_dropout"] == 0.05
    assert json.loads((model_dir / "vlkd_model.json").read_text())["merged"] == "merged"
    merged = AutoModelForImageTextToText.from_pretrained(model_dir / "merged")
    assert not [n for n, _ in merged.named_modules() if "lora" in n]


def test_seed_defaults():
    from vlkd.plugins.train.peft_trainer import PeftTrainer

    o = PeftTrainer.Options(plugin="peft")
    assert (o.lora_rank, o.lora_alpha, o.lora_dropout) == (8, 16, 0.05)
    assert o.lora_target is None  # the student family's, for Qwen2-VL the seed's four:
    assert make_trainer("peft").lora_target == ["q_proj", "k_proj", "v_proj", "o_proj"]
    assert (o.num_train_epochs, o.per_device_train_batch_size, o.gradient_accumulation_steps) == (3, 4, 8)
    assert (o.learning_rate, o.lr_scheduler_type, o.max_grad_norm, o.warmup_ratio) == (
        2e-4,
        "cosine",
        0.3,
        0.03,
    )
    assert (o.eval_steps, o.save_steps, o.logging_steps, o.save_total_limit) == (500, 500, 10, 3)
    assert o.optim == "adamw_torch_fused" and o.report_to == ["tensorboard"]


def test_distributed_launch_command_and_job(tiny_student, make_dataset, tmp_path):
    import sys

    dataset = make_dataset(n_train=2, n_val=0)
    deepspeed = tmp_path / "ds_z2.json"
    deepspeed.write_text(json.dumps({"zero_optimization": {"stage": 2}}))
    trainer = make_trainer(
        "peft",
        student=str(tiny_student),
        dataset=str(dataset),
        deepspeed=str(deepspeed),
        distributed={
            "nproc_per_node": 8,
            "nnodes": 2,
            "node_rank": 1,
            "master_addr": "10.0.0.1",
            "master_port": 29501,
        },
    )
    assert trainer.command("/run/train/peft_job.json") == [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nnodes",
        "2",
        "--node_rank",
        "1",
        "--nproc_per_node",
        "8",
        "--master_addr",
        "10.0.0.1",
        "--master_port",
        "29501",
        "-m",
        "vlkd.plugins.train.peft_worker",
        "/run/train/peft_job.json",
    ]
    plan = trainer.prepare(stage_context(tmp_path / "run"))
    job = trainer.job(plan)
    assert job["options"]["deepspeed"] == str(deepspeed)
    assert job["student"] == str(tiny_student) and job["dataset"] == str(dataset)
    json.dumps(job)  # every rank reads it from a file


def test_tiny_student_is_built_into_the_run_directory(make_dataset, tmp_path):
    pytest.importorskip("transformers")
    dataset = make_dataset(n_train=2, n_val=0)
    trainer = make_trainer("peft", student="tiny-qwen2-vl", dataset=str(dataset))
    plan = trainer.prepare(stage_context(tmp_path / "run"))
    assert plan.student == str(tmp_path / "run" / "students" / "tiny-qwen2_vl")
    assert (tmp_path / "run" / "students" / "tiny-qwen2_vl" / "config.json").is_file()
    shutil.rmtree(tmp_path / "run")


def test_both_trainers_are_registered_with_their_extras():
    from vlkd.plugins.train.standalone import trainer_classes

    classes = trainer_classes()
    assert set(classes) == {"peft", "llamafactory"}
    assert classes["peft"].extra == "train" and "peft" in classes["peft"].requires
    assert classes["llamafactory"].extra == "llamafactory"


def test_two_processes_through_torchrun_on_cpu(tiny_student, make_dataset, tmp_path):
    import socket

    with socket.socket() as s:  # a free port on 127.0.0.1 for the rendezvous
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    dataset = make_dataset(n_train=8, n_val=0)
    trainer = make_trainer(
        "peft",
        student=str(tiny_student),
        dataset=str(dataset),
        distributed={"nproc_per_node": 2, "master_port": port},
        **{**FAST, "max_steps": 2},
    )
    ctx = stage_context(tmp_path / "run")
    trainer.run(ctx)
    assert ctx.facts["global_step"] == 2
    assert (ctx.dir / "model" / "adapter" / "adapter_model.safetensors").is_file()
    assert json.loads((ctx.dir / "peft_job.json").read_text())["student"] == str(tiny_student)
    records = (ctx.dir / "output" / "trainer_log.jsonl").read_text().splitlines()
    assert len([r for r in records if '"loss"' in r]) == 2  # rank 0 alone writes the log


def test_error_excerpt_puts_the_workers_errors_before_the_launchers(tmp_path):
    from vlkd.plugins.train.launch import error_excerpt

    log = tmp_path / "out.log"
    log.write_text(
        "loading\n[rank1]: Traceback (most recent call last):\n[rank1]:   File x\n"
        "[rank1]: RuntimeError: Expected to mark a variable ready only once\n"
        "Traceback (most recent call last):\n  File torchrun\n"
        "torch.distributed.elastic.multiprocessing.errors.ChildFailedError:\n  rank 1 failed\n"
    )
    lines = error_excerpt(log).splitlines()
    assert lines[0].strip() == "[rank1]: RuntimeError: Expected to mark a variable ready only once"
    assert lines[1].strip() == "Traceback (most recent call last):" and "ChildFailedError" in lines[3]
