"""``distill: {method: logit_kd | on_policy, teacher: {server, model}}``: the teacher's top-k comes
from a server speaking vLLM's wire format (``vlkd.testing.logprob_server``, a real tiny teacher
behind it). logit_kd: into the same cache the local teacher fills, equal to it; a repeated training
calls no server. on_policy: the server scores the student's own samples. A server whose tokens
differ, or that cannot be reached, is one clear error before any training."""

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


def server_trainer(student, dataset, url, key_env=KEY_ENV, method="logit_kd", distill=None, **extra):
    options = {**FAST, "max_steps": 1, "lora_target": "all-linear", **extra}
    teacher = {"server": url, "model": SERVED, "api_key_env": key_env, "retries": 1}
    distill = {
        "method": method,
        "teacher": teacher,
        "alpha": 0.7,
        "top_k": 5,
        "teacher_batch_size": 2,
        **(distill or {}),
    }
    if method == "on_policy":
        distill.setdefault("max_new_tokens", 4)
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


@pytest.mark.parametrize("method", ["logit_kd", "on_policy"])
def test_a_server_that_tokenizes_otherwise_is_a_clear_error(
    tiny_student, tiny_teacher, make_dataset, tmp_path, method
):
    from vlkd.testing.logprob_server import LogprobServer

    def other_last_answer_token(ids):  # "...ANSWER<|im_end|>\n": the answer's last token another id
        return [*ids[:-3], ids[-3] + 1, *ids[-2:]]

    dataset = make_dataset(n_train=1, n_val=0)
    ctx = stage_context(tmp_path / "run")
    other = LogprobServer(tiny_teacher, served_name=SERVED, rewrite_ids=other_last_answer_token)
    with other, pytest.raises(StageError) as err:
        server_trainer(tiny_student, dataset, other.url, key_env=None, method=method).run(ctx)
    message = str(err.value)
    assert "tokenized the answer otherwise than the student" in message and "train.json" in message
    assert "server [" in message and "student [" in message and "\n" not in message
    assert not (ctx.dir / "output" / "trainer_log.jsonl").exists()  # no training started


@pytest.mark.parametrize("method", ["logit_kd", "on_policy"])
def test_an_unreachable_server_is_one_error_before_training(
    tiny_student, make_dataset, tmp_path, monkeypatch, method
):
    from vlkd.testing.vllm_server import free_port

    monkeypatch.setenv(KEY_ENV, "sekret")
    dataset = make_dataset(n_train=1, n_val=0)
    ctx = stage_context(tmp_path / "run")
    url = f"http://127.0.0.1:{free_port()}/v1"
    with pytest.raises(StageError) as err:
        server_trainer(tiny_student, dataset, url, method=method).run(ctx)
    message = str(err.value)
    assert message.startswith(f"distill.teacher.server: cannot reach {url}/models (after 2 tries)")
    assert "vllm serve" in message
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
    on_policy = DistillOptions.model_validate(
        {"method": "on_policy", "teacher": {"server": "http://h/v1", "model": SERVED}, "top_k": 8}
    )
    assert on_policy.as_trained()["top_k"] == 8  # the server's top-k is the divergence's support
    with pytest.raises(ValidationError, match="an option of method: logit_kd, not on_policy"):
        DistillOptions.model_validate({"method": "on_policy", "teacher": "/models/teacher", "top_k": 8})
    with pytest.raises(ValidationError, match="server"):
        DistillOptions.model_validate(
            {"method": "logit_kd", "teacher": {"server": "h:8000", "model": SERVED}}
        )


def test_a_server_still_loading_is_tried_again_then_named(tiny_teacher):
    from vlkd.plugins.train.teacher_server import LogprobClient, ServerTeacher
    from vlkd.testing.logprob_server import LogprobServer

    with LogprobServer(tiny_teacher, served_name=SERVED, fail_first=1) as loading:
        teacher = ServerTeacher(SERVED, loading.url, "qwen2_vl", retries=1)
        LogprobClient(teacher).check()  # 503, then the models
        assert loading.calls == 2
    with LogprobServer(tiny_teacher, served_name=SERVED, fail_first=2) as loading:
        teacher = ServerTeacher(SERVED, loading.url, "qwen2_vl", retries=1)
        with pytest.raises(StageError) as err:
            LogprobClient(teacher).check()
        assert loading.calls == 2
    assert str(err.value).startswith(f"the teacher server {loading.url}/models answered 503 (after 2 tries)")


def on_policy_log(ctx):
    rows = [json.loads(line) for line in (ctx.dir / "output" / "trainer_log.jsonl").read_text().splitlines()]
    return [r for r in rows if "loss" in r]


def test_on_policy_the_server_scores_the_students_samples(
    tiny_student, server, make_dataset, tmp_path, monkeypatch
):
    from tests.plugins.train.conftest import QUESTIONS

    monkeypatch.setenv(KEY_ENV, "sekret")
    dataset = make_dataset(n_train=4, n_val=0)
    ctx = stage_context(tmp_path / "run")
    server.answers.clear()
    distill = {"lmbda": 1.0, "alpha": 0.5, "beta": 0.5}
    server_trainer(tiny_student, dataset, server.url, method="on_policy", distill=distill, max_steps=2).run(
        ctx
    )
    assert ctx.facts["distill_method"] == "on_policy"
    assert ctx.facts["on_policy_batches"] == ctx.facts["scored_batches"] == 2
    rows = on_policy_log(ctx)
    assert [r["on_policy"] for r in rows] == [1.0, 1.0]
    for r in rows:  # the server's top-k divergence on the samples, mixed with CE on the reviewed answers
        assert r["kd_loss"] > 0 and abs(r["loss"] - (0.5 * r["kd_loss"] + 0.5 * r["ce_loss"])) < 1e-3
    reviewed = {answer for _, answer in QUESTIONS}
    probe, sampled = server.answers[0], server.answers[1:]
    assert probe in reviewed  # before training: the first reviewed answer, the tokenizer check
    assert len(sampled) == 2 * 2  # two steps of two samples, each scored once
    assert not reviewed & set(sampled)  # the student's own answers went out, not the reviewed ones
    # the rung's teacher cost for the report: the samples the server scored in the training
    assert ctx.facts["teacher_samples_computed"] == 4 and ctx.facts["teacher_samples_cached"] == 0
    assert ctx.facts["teacher_seconds"] >= 0
    card = json.loads((ctx.dir / "model" / "vlkd_model.json").read_text())
    assert card["distill"]["top_k"] == 5 and card["distill"]["teacher"]["model"] == SERVED


def test_on_policy_unsampled_batches_through_the_server_are_its_logit_kd(
    tiny_student, server, make_dataset, tmp_path, monkeypatch
):
    """lmbda 0: every batch keeps the reviewed answers and reads the server's top-k of them, as
    logit_kd from the same server does: the same losses, step by step."""
    monkeypatch.setenv(KEY_ENV, "sekret")
    dataset = make_dataset(n_train=4, n_val=0)
    same = {"alpha": 0.7, "beta": 0.5, "temperature": 2.0}
    on_policy = stage_context(tmp_path / "on_policy")
    distill = {"lmbda": 0.0, **same}
    server_trainer(tiny_student, dataset, server.url, method="on_policy", distill=distill, max_steps=2).run(
        on_policy
    )
    assert on_policy.facts["on_policy_batches"] == 0
    # the first pair was scored before training (the tokenizer check): read from the cache since
    assert on_policy.facts["teacher_samples_computed"] == 3 and on_policy.facts["teacher_samples_cached"] == 1
    logit_kd = stage_context(tmp_path / "logit_kd")
    server_trainer(tiny_student, dataset, server.url, distill=same, max_steps=2).run(logit_kd)
    ours, theirs = on_policy_log(on_policy), on_policy_log(logit_kd)
    assert [r["on_policy"] for r in ours] == [0.0, 0.0]
    for key in ("loss", "kd_loss", "ce_loss"):
        assert [r[key] for r in ours] == pytest.approx([r[key] for r in theirs], rel=1e-4)
