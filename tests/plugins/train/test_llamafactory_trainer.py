"""The llamafactory trainer: LLaMA-Factory's own CLI trains the tiny student from what vlkd writes."""

from __future__ import annotations

import json
import shutil

import pytest
import yaml

from tests.plugins.train.conftest import FAST, make_trainer, stage_context
from vlkd.core.errors import StageError
from vlkd.plugins.train.hardware import Hardware

needs_llamafactory = pytest.mark.skipif(
    shutil.which("llamafactory-cli") is None, reason='needs pip install "vlkd[llamafactory]"'
)
GPU = Hardware(cuda=True, bf16_supported=True, tf32_supported=True)


@pytest.fixture(scope="module")
def bf16_student(tiny_student, tmp_path_factory):
    """The tiny student saved as the released checkpoints are: bf16 weights, config.json saying so."""
    import torch
    from transformers import AutoModelForImageTextToText

    out = tmp_path_factory.mktemp("bf16") / "tiny-bf16"
    shutil.copytree(tiny_student, out)
    model = AutoModelForImageTextToText.from_pretrained(tiny_student, dtype=torch.bfloat16)
    model.save_pretrained(out)
    assert json.loads((out / "config.json").read_text())["dtype"] == "bfloat16"
    return out


@needs_llamafactory
def test_trains_tiny_student_loss_falls_adapter_loads_and_generates(bf16_student, make_dataset, tmp_path):
    import torch

    from tests.plugins.train.test_peft_trainer import load_and_generate, losses

    dataset = make_dataset(n_train=8, n_val=2)
    trainer = make_trainer(
        "llamafactory", student=str(bf16_student), dataset=str(dataset), **{**FAST, "learning_rate": 2e-2}
    )
    ctx = stage_context(tmp_path / "run")
    trainer.run(ctx)
    if not torch.cuda.is_available():  # on a CPU, LLaMA-Factory loaded the bf16 checkpoint in fp32
        output = (ctx.dir / "llamafactory.log").read_text()
        assert "Will use dtype=torch.float32" in output and "dtype=torch.bfloat16" not in output

    log = ctx.dir / "output" / "trainer_log.jsonl"
    loss = losses(log)
    assert len(loss) == 6 and sum(loss[-2:]) / 2 < sum(loss[:2]) / 2, loss
    assert any("eval_loss" in json.loads(line) for line in log.read_text().splitlines())
    card = json.loads((ctx.dir / "model" / "vlkd_model.json").read_text())
    assert card["trainer"] == "llamafactory" and card["base_model"] == str(bf16_student)
    # relative to the card, so that the run directory can move
    assert (ctx.dir / "model" / card["log"]).resolve() == log.resolve() and card["cutoff_len"] == 256
    adapter = ctx.dir / "model" / "adapter"
    assert (adapter / "adapter_model.safetensors").is_file()
    assert not (adapter / "trainer_state.json").exists()  # the adapter, not LLaMA-Factory's state
    assert ctx.facts["loss"] == loss[-1]
    # the student's path, not the fp32 view LLaMA-Factory trained on
    assert json.loads((adapter / "adapter_config.json").read_text())["base_model_name_or_path"] == str(
        bf16_student
    )
    model = load_and_generate(bf16_student, adapter)
    # LLaMA-Factory's lora_target: all adapts every linear layer of the language model only
    names = [n for n, _ in model.named_modules() if n.endswith("lora_A")]
    assert any("gate_proj" in n for n in names) and not any(".visual." in n for n in names)


def generated(trainer, tmp_path, hardware=GPU, resumed=False):
    ctx = stage_context(tmp_path / "run", resumed=resumed)
    plan = trainer.prepare(ctx, hardware=hardware)
    path = trainer.write_inputs(plan, ctx.dir / "llamafactory")
    return yaml.safe_load(path.read_text()), json.loads((path.parent / "dataset_info.json").read_text()), plan


@needs_llamafactory
def test_generated_config_from_the_recipe(tiny_student, make_dataset, tmp_path):
    dataset = make_dataset()
    trainer = make_trainer(
        "llamafactory",
        student=str(tiny_student),
        dataset=str(dataset),
        lora_target=["q_proj", "v_proj"],
        modules_to_save=["lm_head"],
        cutoff_len=1024,
        image_max_pixels=512 * 512,
        args={"max_samples": 500, "lr_scheduler_type": "linear"},
    )
    cfg, info, plan = generated(trainer, tmp_path)
    assert cfg["stage"] == "sft" and cfg["template"] == "qwen2_vl" and cfg["finetuning_type"] == "lora"
    assert cfg["lora_target"] == "q_proj,v_proj" and cfg["additional_target"] == "lm_head"
    assert (cfg["lora_rank"], cfg["lora_alpha"], cfg["lora_dropout"]) == (8, 16, 0.05)
    assert (
        cfg["loraplus_lr_ratio"] == 16.0
        and cfg["image_max_pixels"] == 512 * 512
        and cfg["cutoff_len"] == 1024
    )
    # the seed's training_config values
    assert (cfg["per_device_train_batch_size"], cfg["gradient_accumulation_steps"], cfg["learning_rate"]) == (
        2,
        4,
        5e-5,
    )
    assert (cfg["warmup_ratio"], cfg["save_steps"], cfg["max_grad_norm"], cfg["num_train_epochs"]) == (
        0.1,
        1000,
        1.0,
        3,
    )
    # args pass through, and win
    assert cfg["max_samples"] == 500 and cfg["lr_scheduler_type"] == "linear"
    # precision and kernels from the hardware
    assert (
        cfg["bf16"] is True
        and cfg["fp16"] is False
        and cfg["tf32"] is True
        and cfg["use_liger_kernel"] is True
    )
    assert "use_cpu" not in cfg
    # the dataset LLaMA-Factory reads
    assert cfg["dataset"] == "vlkd_train" and cfg["eval_dataset"] == "vlkd_val"
    assert set(info) == {"vlkd_train", "vlkd_val"}
    assert info["vlkd_train"]["file_name"] == str(dataset / "train.json")
    assert info["vlkd_train"]["columns"] == {"messages": "messages", "images": "images"}
    assert cfg["media_dir"] == str(dataset) and cfg["output_dir"] == str(plan.output_dir)


@needs_llamafactory
def test_on_cpu_no_liger_kernel_and_fp32(tiny_student, make_dataset, tmp_path):
    trainer = make_trainer("llamafactory", student=str(tiny_student), dataset=str(make_dataset()))
    cfg, _, _ = generated(trainer, tmp_path, hardware=Hardware(cuda=False))
    assert "use_liger_kernel" not in cfg and "tf32" not in cfg
    assert cfg["bf16"] is False and cfg["fp16"] is False and cfg["use_cpu"] is True


@needs_llamafactory
def test_on_cpu_llamafactory_gets_an_fp32_view_of_a_bf16_student(
    bf16_student, tiny_student, make_dataset, tmp_path
):
    dataset = str(make_dataset())
    cpu = Hardware(cuda=False)
    cfg, _, _ = generated(
        make_trainer("llamafactory", student=str(bf16_student), dataset=dataset), tmp_path, cpu
    )
    view = tmp_path / "run" / "train" / "llamafactory" / "student-fp32"
    assert cfg["model_name_or_path"] == str(view)
    config = json.loads((view / "config.json").read_text())
    assert config["dtype"] == "float32"
    sections = [config, *(v for v in config.values() if isinstance(v, dict))]
    assert all(s.get(k, "float32") == "float32" for s in sections for k in ("dtype", "torch_dtype"))
    assert json.loads((bf16_student / "config.json").read_text())["dtype"] == "bfloat16"  # left as it was
    files = {p.name for p in bf16_student.iterdir()}
    assert {p.name for p in view.iterdir()} == files
    weights = view / "model.safetensors"
    assert weights.is_symlink() and weights.resolve() == (bf16_student / "model.safetensors").resolve()
    # on a GPU, LLaMA-Factory's bf16/fp16 apply to the student as it is; an fp32 student needs no view
    gpu_cfg, _, _ = generated(
        make_trainer("llamafactory", student=str(bf16_student), dataset=dataset), tmp_path
    )
    assert gpu_cfg["model_name_or_path"] == str(bf16_student)
    fp32_cfg, _, _ = generated(
        make_trainer("llamafactory", student=str(tiny_student), dataset=dataset), tmp_path, cpu
    )
    assert fp32_cfg["model_name_or_path"] == str(tiny_student)


def test_fp32_view_of_a_config_in_the_older_torch_dtype_spelling(tmp_path):
    from vlkd.plugins.train.llamafactory_trainer import fp32_student

    student = tmp_path / "student"
    student.mkdir()
    legacy = {"torch_dtype": "bfloat16", "vision_config": {"torch_dtype": "bfloat16"}, "text_config": {}}
    (student / "config.json").write_text(json.dumps(legacy))
    (student / "model.safetensors").write_bytes(b"weights")
    view = fp32_student(str(student), tmp_path / "view")
    config = json.loads((tmp_path / "view" / "config.json").read_text())
    assert (
        view == str(tmp_path / "view")
        and (tmp_path / "view" / "model.safetensors").read_bytes() == b"weights"
    )
    assert config == {
        "torch_dtype": "float32",
        "vision_config": {"torch_dtype": "float32"},
        "text_config": {},
        "dtype": "float32",
    }
    assert fp32_student(view, tmp_path / "again") == view  # already fp32: no view of a view


@needs_llamafactory
def test_on_cpu_a_hub_student_that_cannot_be_fetched_is_one_error(make_dataset, tmp_path, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    trainer = make_trainer(
        "llamafactory", student="nobody/no-such-vl", family="qwen2_vl", dataset=str(make_dataset())
    )
    with pytest.raises(StageError) as info:
        generated(trainer, tmp_path, Hardware(cuda=False))
    message = str(info.value)
    assert message.startswith("student.model: nobody/no-such-vl is not downloaded and could not be fetched")
    assert "LocalEntryNotFoundError" in message and "hf download nobody/no-such-vl" in message


@needs_llamafactory
def test_resume_points_llamafactory_at_the_last_checkpoint(tiny_student, make_dataset, tmp_path):
    trainer = make_trainer("llamafactory", student=str(tiny_student), dataset=str(make_dataset()))
    for step in (3, 6, 9):
        (tmp_path / "run" / "train" / "output" / f"checkpoint-{step}").mkdir(parents=True)
        if step != 9:  # checkpoint-9 was cut off while being written
            (tmp_path / "run" / "train" / "output" / f"checkpoint-{step}" / "trainer_state.json").write_text(
                "{}"
            )
    cfg, _, _ = generated(trainer, tmp_path, resumed=True)
    assert cfg["resume_from_checkpoint"] == str(tmp_path / "run" / "train" / "output" / "checkpoint-6")
    assert cfg["overwrite_output_dir"] is False


def test_distributed_environment_uses_force_torchrun(tmp_path, monkeypatch):
    monkeypatch.delenv("FORCE_TORCHRUN", raising=False)
    trainer = make_trainer(
        "llamafactory",
        distributed={
            "nproc_per_node": 4,
            "nnodes": 2,
            "node_rank": 1,
            "master_addr": "10.1.2.3",
            "master_port": 29600,
        },
    )
    env = trainer.environment()
    assert {
        k: env[k]
        for k in ("FORCE_TORCHRUN", "NNODES", "NODE_RANK", "NPROC_PER_NODE", "MASTER_ADDR", "MASTER_PORT")
    } == {
        "FORCE_TORCHRUN": "1",
        "NNODES": "2",
        "NODE_RANK": "1",
        "NPROC_PER_NODE": "4",
        "MASTER_ADDR": "10.1.2.3",
        "MASTER_PORT": "29600",
    }
    single = make_trainer("llamafactory").environment()
    assert "FORCE_TORCHRUN" not in single and "NPROC_PER_NODE" not in single
    cmd = make_trainer("llamafactory", executable="/opt/lf/bin/llamafactory-cli").command(
        tmp_path / "train.yaml"
    )
    assert cmd == ["/opt/lf/bin/llamafactory-cli", "train", str(tmp_path / "train.yaml")]


@needs_llamafactory
def test_failure_shows_llamafactorys_error_and_the_config(tiny_student, make_dataset, tmp_path):
    trainer = make_trainer(
        "llamafactory", student=str(tiny_student), dataset=str(make_dataset()), args={"lora_rnak": 16}, **FAST
    )
    ctx = stage_context(tmp_path / "run")
    with pytest.raises(StageError) as info:
        trainer.run(ctx)
    message = str(info.value)
    assert "llamafactory-cli train failed" in message
    assert "lora_rnak" in message and "ValueError" in message  # LLaMA-Factory's own words
    assert f"generated config: {ctx.dir / 'llamafactory' / 'train.yaml'}" in message
    assert f"full output: {ctx.dir / 'llamafactory.log'}" in message


@pytest.mark.slow
@needs_llamafactory
def test_merge_through_llamafactory_export(tiny_student, make_dataset, tmp_path):
    from transformers import AutoModelForImageTextToText, AutoProcessor

    trainer = make_trainer(
        "llamafactory",
        student=str(tiny_student),
        dataset=str(make_dataset(n_val=0)),
        merge=True,
        **{**FAST, "max_steps": 2},
    )
    ctx = stage_context(tmp_path / "run")
    trainer.run(ctx)
    merged = ctx.dir / "model" / "merged"
    assert json.loads((ctx.dir / "model" / "vlkd_model.json").read_text())["merged"] == "merged"
    model = AutoModelForImageTextToText.from_pretrained(merged)
    AutoProcessor.from_pretrained(merged)
    assert not [n for n, _ in model.named_modules() if "lora" in n]
