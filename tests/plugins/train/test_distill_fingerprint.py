"""Options under ``train.distill`` that only change how the training runs (the teacher server's
address, key variable and timeout, requests in flight) leave the train stage's fingerprint as it
was: a finished training stays done. One that changes what it learns re-runs it."""

from __future__ import annotations

import pytest

from vlkd.core.engine import Engine
from vlkd.core.progress import Reporter
from vlkd.core.recipe import load_recipe

RECIPE = """name: kd
student:
  model: tiny:qwen2_vl
train:
  plugin: peft
  dataset: {dataset}
  distill:
    method: {method}
    teacher:
      server: http://127.0.0.1:8000/v1
      model: Qwen/Qwen2-VL-72B-Instruct
    alpha: 0.5
"""


def train_fingerprint(tmp_path, method, *overrides):
    (tmp_path / "dataset").mkdir(exist_ok=True)
    path = tmp_path / "kd.yaml"
    path.write_text(RECIPE.format(dataset=tmp_path / "dataset", method=method))
    recipe = load_recipe(path, [f"train.distill.{o}" for o in overrides])
    engine = Engine(recipe, tmp_path / "run", reporter=Reporter(quiet=True))
    return engine, engine._instantiate()[1]


@pytest.mark.parametrize("method", ["logit_kd", "on_policy"])
def test_run_only_distill_options_keep_the_training_done(tmp_path, method):
    engine, before = train_fingerprint(tmp_path, method)
    done = {"stages": {"train": {"status": "done", "fingerprint": before["train"]}}}
    run_only = [
        "teacher.server=http://10.0.0.5:8000/v1",
        "teacher.timeout=30",
        "teacher.api_key_env=TEACHER_KEY",
        "teacher.retries=0",
        "teacher_batch_size=3",
    ]
    for option in run_only:
        _, after = train_fingerprint(tmp_path, method, option)
        assert after == before, option
        assert engine.plan(done, after) == {"train": "skip"}, option
    real = ["alpha=0.7", "top_k=5", "teacher.model=Qwen/Qwen2-VL-7B-Instruct", "beta=0.5"]
    real += ["lmbda=0.2", "max_new_tokens=16"] if method == "on_policy" else []
    for option in real:
        _, after = train_fingerprint(tmp_path, method, option)
        assert after["train"] != before["train"], option
        assert engine.plan(done, after) == {"train": "run"}, option
