"""On-policy distillation's loss and sampled batches equal TRL's, run in TRL's own environment.

The divergence over the whole vocabulary (:func:`full_divergence`) against TRL 1.16's
``GKDTrainer.generalized_jsd_loss`` (GKD: ``lmbda``, ``beta``) and ``DistillationTrainer``'s
``_chunked_divergence_loss`` (its on-policy loss, temperature on both sides), within 1e-5; and the
tokens a sampled answer contributes (up to and including the first end token) against
``GKDTrainer.generate_on_policy_outputs`` on the same generated ids.
"""

from __future__ import annotations

import os

import pytest

from vlkd.plugins.train.distill_loss import full_divergence
from vlkd.plugins.train.on_policy import answer_starts, completion_mask, prompts, sampled_batch
from vlkd.testing.trl_env import run_in_trl, trl_python

torch = pytest.importorskip("torch")

B, L, H, V = 3, 9, 16, 64
EOS = 7

needs_trl = pytest.mark.skipif(
    trl_python() is None and os.environ.get("CI") != "true",
    reason="no TRL environment: bash scripts/make_trl_env.sh (VLKD_TRL_PYTHON)",
)

TRL_SCRIPT = """
import json, sys, torch, trl
from trl.experimental.gkd import GKDTrainer
from trl.trainer.distillation_trainer import _chunked_divergence_loss
t = torch.load(sys.argv[1])
out = {"trl": trl.__version__}
s_logits, t_logits = t["h_s"] @ t["w_s"].T, t["h_t"] @ t["w_t"].T
mask = (t["labels"][:, 1:] != -100)
for beta in (0.0, 0.5, 1.0):
    for temperature in (1.0, 2.0):
        gkd = GKDTrainer.generalized_jsd_loss(s_logits[:, :-1], t_logits[:, :-1], labels=t["labels"][:, 1:],
                                              beta=beta, temperature=temperature)
        chunked, _, _ = _chunked_divergence_loss(t["h_s"][:, :-1], t["h_t"][:, :-1], t["w_s"], t["w_t"],
                                                 mask.long(), beta, temperature=temperature)
        out[f"{beta}/{temperature}"] = [gkd.item(), chunked.item()]

class Generated:
    def generate(self, **kw):
        class Out:
            sequences = t["sequences"]
        return Out()

class Config:
    eos_token_id = t["eos"]
ids, attention, labels = GKDTrainer.generate_on_policy_outputs(
    Generated(), {"prompts": t["prompt_ids"], "prompt_attention_mask": t["prompt_mask"]}, Config())
out["sampled"] = {"attention_mask": attention.tolist(), "labels": labels.tolist()}
print(json.dumps(out))
"""


def tensors():
    g = torch.Generator().manual_seed(11)
    labels = torch.randint(0, V, (B, L), generator=g)
    labels[0, :4] = -100  # prompt, then answer tokens
    labels[1, :2] = -100
    labels[1, 7:] = -100  # right padding
    labels[2, :6] = -100
    t = {
        "h_s": torch.randn(B, L, H, generator=g, dtype=torch.float64),
        "h_t": torch.randn(B, L, H, generator=g, dtype=torch.float64) * 2,
        "w_s": torch.randn(V, H, generator=g, dtype=torch.float64),
        "w_t": torch.randn(V, H, generator=g, dtype=torch.float64),
        "labels": labels,
    }
    # a generated batch: left-padded prompts of width 4, completions with an end token or none
    t["prompt_ids"] = torch.tensor([[0, 0, 5, 6], [1, 2, 3, 4], [0, 9, 9, 9]])
    t["prompt_mask"] = torch.tensor([[0, 0, 1, 1], [1, 1, 1, 1], [0, 1, 1, 1]])
    completions = torch.tensor([[11, EOS, 3, 3], [12, 13, 14, 15], [EOS, 2, EOS, 2]])
    t["sequences"] = torch.cat([t["prompt_ids"], completions], dim=1)
    t["eos"] = [EOS, 99]
    return t


@needs_trl
def test_full_vocabulary_loss_and_sampled_tokens_equal_trls(tmp_path):
    t = tensors()
    torch.save(t, tmp_path / "tensors.pt")
    theirs = run_in_trl(TRL_SCRIPT, str(tmp_path / "tensors.pt"))
    assert int(theirs.pop("trl").split(".")[0]) >= 1
    sampled = theirs.pop("sampled")
    student, teacher = t["h_s"] @ t["w_s"].T, t["h_t"] @ t["w_t"].T
    for key, (gkd, chunked) in theirs.items():
        beta, temperature = map(float, key.split("/"))
        ours = full_divergence(student, teacher, t["labels"], beta=beta, temperature=temperature).item()
        assert abs(ours - gkd) < 1e-5, (key, ours, gkd)
        assert abs(ours - chunked) < 1e-5, (key, ours, chunked)
        assert gkd > 0  # the distributions differ: zero would prove nothing

    prompt = {"input_ids": t["prompt_ids"], "attention_mask": t["prompt_mask"]}
    batch = sampled_batch(prompt, t["sequences"], {}, t["eos"])
    assert batch["attention_mask"].tolist() == sampled["attention_mask"]
    assert batch["labels"].tolist() == sampled["labels"]


def test_prompts_are_cut_before_the_last_answer_and_left_padded():
    ids = torch.tensor([[1, 2, 3, 4, 5, 6, 0, 0], [1, 2, 3, 4, 5, 6, 7, 8]])
    attention = torch.tensor([[1, 1, 1, 1, 1, 1, 0, 0], [1] * 8])
    labels = torch.tensor(
        [[-100, -100, -100, 4, 5, -100, -100, -100], [-100, 2, 3, -100, -100, -100, 7, 8]]
    )  # row 1: two answers; the prompt of the last one holds the first
    assert answer_starts(labels) == [3, 6]
    cut = prompts({"input_ids": ids, "attention_mask": attention, "labels": labels, "mm_token_type_ids": ids})
    assert cut["input_ids"].tolist() == [[0, 0, 0, 1, 2, 3], [1, 2, 3, 4, 5, 6]]
    assert cut["attention_mask"].tolist() == [[0, 0, 0, 1, 1, 1], [1] * 6]
    assert cut["mm_token_type_ids"].tolist() == cut["input_ids"].tolist()


def test_completion_without_an_end_token_counts_every_token():
    completion = torch.tensor([[4, 4, 4], [4, 7, 4]])
    assert completion_mask(completion, [7]).tolist() == [[1, 1, 1], [1, 1, 0]]
