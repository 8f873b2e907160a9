"""``distill: {method: on_policy}`` trains the tiny student on its own samples, scored token by token
by a larger tiny teacher of its family loaded beside it; resumable; bad options are one-line errors."""

from __future__ import annotations

import json
import math

import pytest

pytest.importorskip("peft")

from tests.plugins.train.conftest import FAST, make_trainer, stage_context
from tests.plugins.train.test_distill_validate import VOCAB, checkpoint, validate
from vlkd.plugins.train.on_policy import is_on_policy


@pytest.fixture(scope="module")
def tiny_teacher(tmp_path_factory):
    from vlkd.students.qwen2_vl import Qwen2VL

    return Qwen2VL().build_tiny(tmp_path_factory.mktemp("teacher") / "tiny-qwen2_vl-x2", scale=2)


OPTIONS = {**FAST, "lora_target": "all-linear", "modules_to_save": ["lm_head"]}


def on_policy(student, dataset, teacher, distill=None, **extra):
    distill = {"method": "on_policy", "teacher": str(teacher), "max_new_tokens": 4, **(distill or {})}
    options = {**OPTIONS, **extra}
    return make_trainer("peft", student=str(student), dataset=str(dataset), distill=distill, **options)


def log_lines(ctx):
    path = ctx.dir / "output" / "trainer_log.jsonl"
    return [r for r in map(json.loads, path.read_text().splitlines()) if "loss" in r]


def test_the_student_samples_and_the_teacher_scores(tiny_student, tiny_teacher, make_dataset, tmp_path):
    dataset = make_dataset(n_train=4, n_val=0)
    ctx = stage_context(tmp_path / "run")
    distill = {"lmbda": 1.0, "alpha": 0.5, "beta": 0.5, "temperature": 1.0}
    on_policy(tiny_student, dataset, tiny_teacher, distill, max_steps=3).run(ctx)
    assert ctx.facts["distill_method"] == "on_policy"
    assert ctx.facts["on_policy_batches"] == ctx.facts["scored_batches"] == 3
    rows = log_lines(ctx)
    assert [r["current_steps"] for r in rows] == [1, 2, 3]
    for r in rows:  # every batch sampled; the loss mixes the teacher's divergence with the answers' CE
        assert r["on_policy"] == 1.0 and all(math.isfinite(r[k]) for k in ("loss", "kd_loss", "ce_loss"))
        assert r["kd_loss"] > 0 and abs(r["loss"] - (0.5 * r["kd_loss"] + 0.5 * r["ce_loss"])) < 1e-3
    card = json.loads((ctx.dir / "model" / "vlkd_model.json").read_text())
    assert card["distill"] == {
        "method": "on_policy",
        "teacher": str(tiny_teacher),
        "alpha": 0.5,
        "temperature": 1.0,
        "beta": 0.5,
        "lmbda": 1.0,
        "max_new_tokens": 4,
    }
    assert not (tmp_path / "run" / "cache" / "teacher_logits").exists()  # nothing cached: it scores samples


def test_batches_not_sampled_are_logit_kd_on_the_whole_vocabulary(
    tiny_student, tiny_teacher, make_dataset, tmp_path
):
    """lmbda 0: every batch keeps the reviewed answers; the teacher scoring them beside the student
    gives the loss that logit_kd gives from a cache of the teacher's whole distribution."""
    from transformers import AutoConfig

    vocab = AutoConfig.from_pretrained(tiny_student).text_config.vocab_size
    dataset = make_dataset(n_train=4, n_val=0)
    same = {"alpha": 0.7, "beta": 0.5, "temperature": 2.0}
    ctx = stage_context(tmp_path / "on_policy")
    on_policy(tiny_student, dataset, tiny_teacher, {"lmbda": 0.0, **same}, max_steps=2).run(ctx)
    assert ctx.facts["on_policy_batches"] == 0
    kd = stage_context(tmp_path / "logit_kd")
    distill = {"method": "logit_kd", "teacher": str(tiny_teacher), "top_k": vocab, **same}
    options = {**OPTIONS, "max_steps": 2}
    make_trainer("peft", student=str(tiny_student), dataset=str(dataset), distill=distill, **options).run(kd)
    ours, theirs = log_lines(ctx), log_lines(kd)
    assert [r["on_policy"] for r in ours] == [0.0, 0.0]
    for key in ("loss", "kd_loss", "ce_loss"):
        assert [r[key] for r in ours] == pytest.approx([r[key] for r in theirs], rel=1e-4)


def test_interrupted_on_policy_training_resumes_and_draws_as_before(
    tiny_student, tiny_teacher, make_dataset, tmp_path
):
    from tests.plugins.train.conftest import ctrl_c_at

    dataset = make_dataset(n_train=4, n_val=0)
    extra = {"max_steps": 4, "save_steps": 2, "seed": 5}
    ctx = stage_context(tmp_path / "run")
    ctx.run.reporter = ctrl_c_at(3)  # when step 3 is logged: checkpoint-2 exists by then
    with pytest.raises(KeyboardInterrupt):
        on_policy(tiny_student, dataset, tiny_teacher, {"lmbda": 0.5}, **extra).run(ctx)
    output = ctx.dir / "output"
    assert (output / "checkpoint-2").is_dir() and not (ctx.dir / "model" / "adapter").exists()

    resumed = stage_context(tmp_path / "run", resumed=True)
    on_policy(tiny_student, dataset, tiny_teacher, {"lmbda": 0.5}, **extra).run(resumed)
    assert resumed.facts["resumed_from"] == str(output / "checkpoint-2") and resumed.facts["global_step"] == 4
    rows = log_lines(resumed)
    assert [r["current_steps"] for r in rows] == [1, 2, 3, 4]
    # each step sampled or not as the uninterrupted training would have: drawn from its place
    drawn = [float(is_on_policy(0.5, 5, step, 0)) for step in range(4)]
    assert [r["on_policy"] for r in rows] == drawn and 0.0 < sum(drawn) < 4  # both kinds happen
    card = json.loads((resumed.dir / "model" / "vlkd_model.json").read_text())
    assert card["distill"]["method"] == "on_policy"


RECIPE = """name: kd
student:
  model: {student}
train:
  plugin: peft
  dataset: {dataset}
  distill:
    method: on_policy
    teacher: {teacher}
    {option}
"""


@pytest.mark.parametrize(
    ("option", "said"),
    [
        ("lmbda: 1.5", "train.distill.lmbda: Input should be less than or equal to 1"),
        ("max_new_tokens: 0", "train.distill.max_new_tokens: Input should be greater than or equal to 1"),
        ("temperature: 0", "train.distill.temperature: Input should be greater than or equal to 0.01"),
        ("top_k: 5", "train.distill.top_k: an option of method: logit_kd, not on_policy"),
    ],
)
def test_a_bad_option_is_one_line_naming_it(tmp_path, option, said):
    student = checkpoint(tmp_path / "student", "qwen2_vl", VOCAB)
    teacher = checkpoint(tmp_path / "teacher", "qwen2_vl", VOCAB)
    recipe = RECIPE.replace("{option}", option)
    result = validate(tmp_path, student, teacher, recipe=recipe)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert said in result.stderr and "kd.yaml:" in result.stderr, result.stderr
    assert len([line for line in result.stderr.splitlines() if "kd.yaml:" in line]) == 1


def test_lmbda_is_no_option_of_logit_kd(tmp_path):
    student = checkpoint(tmp_path / "student", "qwen2_vl", VOCAB)
    teacher = checkpoint(tmp_path / "teacher", "qwen2_vl", VOCAB)
    recipe = RECIPE.replace("on_policy", "logit_kd").replace("{option}", "lmbda: 0.5")
    result = validate(tmp_path, student, teacher, recipe=recipe)
    assert (
        result.returncode == 2
        and "train.distill.lmbda: an option of method: on_policy, not logit_kd" in result.stderr
    )


def test_teacher_and_student_that_do_not_fit_together_stop_before_loading(
    tiny_student, tiny_teacher, monkeypatch
):
    from vlkd.api import StageError
    from vlkd.plugins.train import memory

    n_teacher, n_student = memory.parameter_count(tiny_teacher), memory.parameter_count(tiny_student)
    from transformers import AutoModelForImageTextToText

    assert n_student == sum(
        p.numel() for p in AutoModelForImageTextToText.from_pretrained(tiny_student).parameters()
    )
    need = (n_teacher + n_student) * 4
    monkeypatch.setattr(memory, "free_memory", lambda cuda, per_rank: need - 1)
    with pytest.raises(StageError, match=r"in memory together; this machine's RAM has .* free.*logit_kd"):
        memory.check_side_by_side(str(tiny_teacher), str(tiny_student), "fp32", cuda=False, per_rank=False)
    monkeypatch.setattr(memory, "free_memory", lambda cuda, per_rank: int(need / 0.9))
    warning = memory.check_side_by_side(
        str(tiny_teacher), str(tiny_student), "fp32", cuda=False, per_rank=False
    )
    assert warning and "may run out of memory" in warning
    monkeypatch.setattr(memory, "free_memory", lambda cuda, per_rank: need * 10)
    assert (
        memory.check_side_by_side(str(tiny_teacher), str(tiny_student), "fp32", cuda=False, per_rank=False)
        is None
    )


def student_and_batch(tiny_student, make_dataset):
    """The tiny student (eval), a collated batch of two reviewed samples, the sampling settings."""
    from transformers import AutoModelForImageTextToText

    from vlkd.api import family_of
    from vlkd.plugins.train.dataset import load_dataset_dir
    from vlkd.plugins.train.on_policy import generation_config
    from vlkd.plugins.train.peft_collator import ChatCollator

    family = family_of(str(tiny_student), "qwen2_vl")
    processor = family.load_processor(str(tiny_student), 28 * 28, 56 * 56)
    samples = load_dataset_dir(make_dataset(n_train=2, n_val=0)).splits["train"]
    reviewed = ChatCollator(processor, family, 256)(samples)
    model = AutoModelForImageTextToText.from_pretrained(tiny_student).eval()
    config = generation_config(model, processor.tokenizer, family.turn_end, 5, 1.0, family.image_token)
    return model, reviewed, config


def test_the_student_never_samples_an_image_token(tiny_student, make_dataset):
    """A sampled image placeholder has no image features: scoring the sample would fail (a random
    tiny student sampled one in a benchmark). A student that prefers them still samples text."""
    import torch

    from vlkd.plugins.train.on_policy import prompts, sample

    model, reviewed, config = student_and_batch(tiny_student, make_dataset)
    media = [model.config.image_token_id, model.config.video_token_id, model.config.vision_start_token_id]
    head = model.lm_head
    biased = torch.nn.Linear(head.in_features, head.out_features, bias=True)
    with torch.no_grad():
        biased.weight.copy_(head.weight)
        biased.bias.zero_()
        biased.bias[media] = 1e3  # the student would sample nothing else
    model.lm_head = biased
    sampled = sample(model, reviewed, config, None)
    completion = sampled["input_ids"][:, prompts(reviewed)["input_ids"].shape[1] :]
    assert completion.numel() and not torch.isin(completion, torch.tensor(media)).any()
    with torch.no_grad():
        model(**{k: v for k, v in sampled.items() if k != "labels"})  # the sample can be scored


def test_samples_and_reviewed_answers_in_one_forward_pass_give_each_its_own_logits(
    tiny_student, make_dataset
):
    """An on-policy batch with alpha < 1 reads the student's samples and the reviewed answers in one
    forward pass (DDP allows one per backward): each row's logits are those of its own batch."""
    import torch

    from vlkd.plugins.train.on_policy import sample, stack

    model, reviewed, config = student_and_batch(tiny_student, make_dataset)
    torch.manual_seed(0)
    sampled = sample(model, reviewed, config, None)
    assert (sampled["labels"] != -100).any()  # the student's tokens are scored

    def logits(batch):
        with torch.no_grad():
            return model(**{k: v for k, v in batch.items() if k != "labels"}).logits

    both = logits(stack(sampled, reviewed))
    rows, width = sampled["input_ids"].shape
    mask = sampled["attention_mask"].bool()
    assert torch.allclose(both[:rows, :width][mask], logits(sampled)[mask], atol=1e-4)
    mask = reviewed["attention_mask"].bool()
    assert torch.allclose(both[rows:, : mask.shape[1]][mask], logits(reviewed)[mask], atol=1e-4)
