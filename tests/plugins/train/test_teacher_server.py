"""``distill: {method: logit_kd, teacher: {server, model}}``: the teacher's top-k comes from a server
speaking vLLM's wire format (``vlkd.testing.logprob_server``, a real tiny teacher behind it) into
the same cache the local teacher fills, equal to it; a repeated training calls no server; a server
whose tokens differ, or that cannot be reached, is one clear error before any training."""

from __future__ import annotations

import json
import shutil

import pytest

pytest.importorskip("peft")

from tests.plugins.train.conftest import FAST, make_trainer, stage_context
from vlkd.api import StageError

SERVED = "Qwen/Qwen2-VL-72B-Instruct"  # the tiny teacher served under its hub name, as --served-model-name
KEY_ENV = "VLKD_TEST_TEACHER_KEY"


@pytest.fixture(scope="module")
def tiny_teacher(tmp_path_factory):
    from vlkd.students.qwen2_vl import Qwen2VL

    return Qwen2VL().build_tiny(tmp_path_factory.mktemp("teacher") / "tiny-qwen2_vl-x2", scale=2)


@pytest.fixture(scope="module")
def server(tiny_teacher):
    from vlkd.testing.logprob_server import LogprobServer

    limits = {"min_pixels": FAST["image_min_pixels"], "max_pixels": FAST["image_max_pixels"]}
    with LogprobServer(tiny_teacher, served_name=SERVED, mm_processor_kwargs=limits, api_key="sekret") as s:
        yield s


def server_trainer(student, dataset, url, key_env=KEY_ENV, **extra):
    options = {**FAST, "max_steps": 1, "lora_target": "all-linear", **extra}
    teacher = {"server": url, "model": SERVED, "api_key_env": key_env}
    distill = {"method": "logit_kd", "teacher": teacher, "alpha": 0.7, "top_k": 5, "teacher_batch_size": 2}
    return make_trainer("peft", student=str(student), dataset=str(dataset), distill=distill, **options)


def test_the_server_fills_the_cache_the_local_teacher_would(
    tiny_student, tiny_teacher, server, make_dataset, tmp_path, monkeypatch
):
    from vlkd.plugins.train.dataset import load_dataset_dir
    from vlkd.plugins.train.teacher import resolve_teacher
    from vlkd.plugins.train.teacher_cache import cache_for, fill

    monkeypatch.setenv(KEY_ENV, "sekret")
    dataset = make_dataset(n_train=2, n_val=1)
    run = tmp_path / "run"
    ctx = stage_context(run)
    before = server.calls
    server_trainer(tiny_student, dataset, server.url).run(ctx)
    assert ctx.facts["teacher_samples_computed"] == 3 and ctx.facts["teacher_samples_cached"] == 0
    assert server.calls - before == 1 + 3  # the models check, then one request per sample
    log = [json.loads(line) for line in (ctx.dir / "output" / "trainer_log.jsonl").read_text().splitlines()]
    assert any(r.get("kd_loss", 0) > 0 for r in log)  # the training read the server's entries

    # the local teacher on the same samples, into a cache of its own
    job = json.loads((ctx.dir / "peft_job.json").read_text())
    local = resolve_teacher(str(tiny_teacher))
    local_job = {**job, "cache_dir": str(tmp_path / "local"), "teacher": {"fingerprint": local.fingerprint()}}
    samples = [s for split in load_dataset_dir(dataset).splits.values() for s in split]
    fill(local_job, samples, local)
    served, computed = cache_for(job), cache_for(local_job)
    for sample in samples:
        (ids, lp), (local_ids, local_lp) = served.load(sample), computed.load(sample)
        assert ids.shape == local_ids.shape and ids.shape[1] == 5
        assert ids.tolist() == local_ids.tolist()
        assert (lp - local_lp).abs().max() < 1e-4

    # the same training again: every entry from the cache, not one call to the server
    shutil.rmtree(ctx.dir)
    calls = server.calls
    again = stage_context(run)
    server_trainer(tiny_student, dataset, server.url).run(again)
    assert again.facts["teacher_samples_computed"] == 0 and again.facts["teacher_samples_cached"] == 3
    assert server.calls == calls


def test_a_server_that_tokenizes_otherwise_is_a_clear_error(
    tiny_student, tiny_teacher, make_dataset, tmp_path
):
    from vlkd.testing.logprob_server import LogprobServer

    def other_last_answer_token(ids):  # "...ANSWER<|im_end|>\n": the answer's last token another id
        return [*ids[:-3], ids[-3] + 1, *ids[-2:]]

    dataset = make_dataset(n_train=1, n_val=0)
    ctx = stage_context(tmp_path / "run")
    other = LogprobServer(tiny_teacher, served_name=SERVED, rewrite_ids=other_last_answer_token)
    with other, pytest.raises(StageError) as err:
        server_trainer(tiny_student, dataset, other.url, key_env=None).run(ctx)
    message = str(err.value)
    assert "tokenized the answer otherwise than the student" in message and "train.json" in message
    assert "server [" in message and "student [" in message and "\n" not in message
    assert not (ctx.dir / "output" / "trainer_log.jsonl").exists()  # no training started


def test_an_unreachable_server_is_one_error_before_training(
    tiny_student, make_dataset, tmp_path, monkeypatch
):
    from vlkd.testing.vllm_server import free_port

    monkeypatch.setenv(KEY_ENV, "sekret")
    dataset = make_dataset(n_train=1, n_val=0)
    ctx = stage_context(tmp_path / "run")
    url = f"http://127.0.0.1:{free_port()}/v1"
    with pytest.raises(StageError) as err:
        server_trainer(tiny_student, dataset, url).run(ctx)
    message = str(err.value)
    assert (
        message.startswith(f"distill.teacher.server: cannot reach {url}/models") and "vllm serve" in message
    )
    assert not (ctx.dir / "output" / "trainer_log.jsonl").exists()


def test_the_recipe_names_a_server_of_the_students_family_for_logit_kd(tiny_student):
    from pydantic import ValidationError

    from vlkd.api import make_student
    from vlkd.plugins.train.distill_options import DistillOptions
    from vlkd.plugins.train.teacher import check_teacher

    ok = DistillOptions.model_validate(
        {"method": "logit_kd", "teacher": {"server": "http://127.0.0.1:8000/v1", "model": SERVED}}
    )
    assert ok.teacher.model == SERVED and "server" in ok.as_trained()["teacher"]
    student = make_student({"model": "tiny:qwen2_vl"})
    assert check_teacher(ok.teacher, student, str(tiny_student)) is None
    other = ok.teacher.model_copy(update={"model": "Qwen/Qwen2.5-VL-72B-Instruct"})
    reason = check_teacher(other, student, str(tiny_student), not_here_yet=True)
    assert reason and "qwen2_5_vl" in reason and "Qwen2-VL (72B -> 2B/7B)" in reason
    with pytest.raises(ValidationError, match="a teacher server serves method: logit_kd"):
        DistillOptions.model_validate(
            {"method": "on_policy", "teacher": {"server": "http://h/v1", "model": SERVED}}
        )
    with pytest.raises(ValidationError, match="server"):
        DistillOptions.model_validate(
            {"method": "logit_kd", "teacher": {"server": "h:8000", "model": SERVED}}
        )
