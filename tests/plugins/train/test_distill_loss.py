"""vlkd's logit-distillation loss equals TRL's generalised JSD on the same tensors (within 1e-5).

TRL (>= 1.10, ``DistillationTrainer``) runs in an environment of its own
(``scripts/make_trl_env.sh``); its ``_chunked_divergence_loss`` is called there in a
subprocess on tensors saved by this test, and compared with ``vlkd.plugins.train.distill_loss``:
on the full vocabulary (top_k = vocabulary: TRL's loss itself), and on each position's teacher
top-k (TRL's loss over the k gathered logits, which is what a top-k cache can hold).
"""

from __future__ import annotations

import os

import pytest

from vlkd.plugins.train.distill_loss import distill_loss, topk_divergence
from vlkd.testing.trl_env import run_in_trl, trl_python

torch = pytest.importorskip("torch")

N, H, V, K = 37, 16, 96, 7

TRL_SCRIPT = """
import json, sys, torch, trl
from trl.trainer.distillation_trainer import _chunked_divergence_loss
t = torch.load(sys.argv[1])
out = {"trl": trl.__version__}
for beta in (0.0, 0.5, 1.0):
    for temperature in (1.0, 2.0):
        full, _, _ = _chunked_divergence_loss(t["h_s"], t["h_t"], t["w_s"], t["w_t"], t["mask"], beta,
                                              temperature=temperature)
        eye = torch.eye(t["s_topk"].shape[1], dtype=torch.float64)
        topk, _, _ = _chunked_divergence_loss(t["s_topk"], t["t_topk"], eye, eye, t["mask"], beta,
                                              temperature=temperature)
        out[f"{beta}/{temperature}"] = [full.item(), topk.item()]
print(json.dumps(out))
"""


def tensors():
    g = torch.Generator().manual_seed(7)
    t = {
        "h_s": torch.randn(N, H, generator=g, dtype=torch.float64),
        "h_t": torch.randn(N, H, generator=g, dtype=torch.float64) * 2,
        "w_s": torch.randn(V, H, generator=g, dtype=torch.float64),
        "w_t": torch.randn(V, H, generator=g, dtype=torch.float64),
        "mask": torch.ones(N, dtype=torch.long),
    }
    student_logits, teacher_logits = t["h_s"] @ t["w_s"].T, t["h_t"] @ t["w_t"].T
    teacher_log_probs = torch.log_softmax(teacher_logits, dim=-1)  # what the cache holds
    top = teacher_log_probs.topk(K, dim=-1)
    t["s_topk"] = student_logits.gather(-1, top.indices)
    t["t_topk"] = top.values
    return t, student_logits, teacher_log_probs, top


@pytest.mark.skipif(
    trl_python() is None and os.environ.get("CI") != "true",
    reason="no TRL environment: bash scripts/make_trl_env.sh (VLKD_TRL_PYTHON)",
)
def test_loss_equals_trls_generalised_jsd(tmp_path):
    t, student_logits, teacher_log_probs, top = tensors()
    torch.save(t, tmp_path / "tensors.pt")
    theirs = run_in_trl(TRL_SCRIPT, str(tmp_path / "tensors.pt"))
    assert int(theirs.pop("trl").split(".")[0]) >= 1
    everything = teacher_log_probs.topk(V, dim=-1)
    for key, (trl_full, trl_topk) in theirs.items():
        beta, temperature = map(float, key.split("/"))
        ours_full = topk_divergence(
            student_logits, everything.indices, everything.values, beta=beta, temperature=temperature
        )
        ours_topk = topk_divergence(
            student_logits, top.indices, top.values, beta=beta, temperature=temperature
        )
        assert abs(ours_full.item() - trl_full) < 1e-5, (key, ours_full.item(), trl_full)
        assert abs(ours_topk.item() - trl_topk) < 1e-5, (key, ours_topk.item(), trl_topk)
        assert trl_full > 0 and trl_topk > 0  # the tensors differ: a loss of zero would prove nothing


def test_batch_loss_reads_only_answer_tokens_in_order():
    """Batch layout: answer tokens found through the labels, row by row, against the teacher's rows."""
    g = torch.Generator().manual_seed(3)
    logits = torch.randn(2, 6, V, generator=g)
    labels = torch.full((2, 6), -100)
    labels[0, 3:5] = torch.tensor([5, 9])  # two answer tokens: predicted at positions 2 and 3
    labels[1, 2:5] = torch.tensor([1, 2, 3])  # three: positions 1, 2, 3
    teacher_log_probs = torch.log_softmax(torch.randn(2, 4, V, generator=g), dim=-1)
    top = teacher_log_probs.topk(K, dim=-1)
    counts = torch.tensor([2, 3])
    loss, parts = distill_loss(
        logits, labels, top.indices, top.values, counts, alpha=1.0, beta=0.0, temperature=1.0
    )
    rows = [(0, 2, 0), (0, 3, 1), (1, 1, 0), (1, 2, 1), (1, 3, 2)]  # (row, student position, teacher row)
    by_hand = sum(
        topk_divergence(
            logits[b, p][None], top.indices[b, j][None], top.values[b, j][None], beta=0.0, temperature=1.0
        )
        for b, p, j in rows
    ) / len(rows)
    assert abs(loss.item() - by_hand.item()) < 1e-6
    ce = torch.nn.functional.cross_entropy(
        torch.stack([logits[b, p] for b, p, _ in rows]), torch.tensor([5, 9, 1, 2, 3])
    )
    assert abs(parts["ce_loss"] - ce.item()) < 1e-6
    mixed, _ = distill_loss(
        logits, labels, top.indices, top.values, counts, alpha=0.25, beta=0.0, temperature=1.0
    )
    assert abs(mixed.item() - (0.25 * by_hand.item() + 0.75 * ce.item())) < 1e-5


def test_cache_shorter_than_the_answers_is_an_error():
    logits = torch.randn(1, 5, V)
    labels = torch.tensor([[-100, -100, 4, 5, 6]])
    top = torch.log_softmax(torch.randn(1, 2, V), dim=-1).topk(K, dim=-1)
    with pytest.raises(ValueError, match="does not match"):
        distill_loss(
            logits, labels, top.indices, top.values, torch.tensor([2]), alpha=0.5, beta=0.0, temperature=1.0
        )


TRL_SERVER_SCRIPT = """
import json, sys, torch, trl
from trl.experimental.server_distillation.server_distillation_trainer import ServerDistillationTrainer
t = torch.load(sys.argv[1])
trainer = ServerDistillationTrainer.__new__(ServerDistillationTrainer)
trainer.loss_add_tail = False  # the divergence renormalised over the teacher's top-k, no tail bucket
out = {"trl": trl.__version__}
for temperature in (1.0, 2.0):
    teacher = torch.log_softmax(t["teacher_logits"] / temperature, dim=-1).topk(t["k"], dim=-1)
    loss = trainer._compute_server_forward_kl_loss(
        {"topk_logprobs": teacher.values, "topk_token_ids": teacher.indices},
        torch.log_softmax(t["student_logits"][:, :-1] / temperature, dim=-1),
        t["labels"][:, 1:],
    )
    out[str(temperature)] = loss.item()
print(json.dumps(out))
"""


def server_tensors():
    """A batch as on_policy from a teacher server sees it: student logits ``(B, L, V)``, labels on
    the sampled tokens, and the teacher's top-k log-probabilities (temperature 1) at those tokens."""
    g = torch.Generator().manual_seed(5)
    B, L = 3, 8
    student_logits = torch.randn(B, L, V, generator=g, dtype=torch.float64)
    teacher_logits = torch.randn(B, L - 1, V, generator=g, dtype=torch.float64) * 2
    labels = torch.full((B, L), -100)
    labels[0, 3:7] = 1  # answers of 4, 2 and 5 tokens; row 1 right-padded
    labels[1, 2:4] = 2
    labels[2, 3:8] = 3
    top = torch.log_softmax(teacher_logits, dim=-1).topk(K, dim=-1)
    mask = labels[:, 1:] != -100
    counts = mask.sum(dim=1)
    ids = torch.zeros(B, int(counts.max()), K, dtype=torch.long)
    log_probs = torch.zeros(B, int(counts.max()), K, dtype=torch.float64)
    for b in range(B):  # the rows the server's answer_entries give: the answer tokens, in order
        ids[b, : counts[b]] = top.indices[b][mask[b]]
        log_probs[b, : counts[b]] = top.values[b][mask[b]]
    return student_logits, teacher_logits, labels, (ids, log_probs, counts)


@pytest.mark.skipif(
    trl_python() is None and os.environ.get("CI") != "true",
    reason="no TRL environment: bash scripts/make_trl_env.sh (VLKD_TRL_PYTHON)",
)
def test_server_top_k_loss_equals_trls_server_distillation(tmp_path):
    """beta 0: TRL's ServerDistillationTrainer (forward KL on the teacher server's top-k, without
    its tail bucket) computes what vlkd's on_policy from a server does, within 1e-5."""
    from vlkd.plugins.train.distill_loss import batch_topk_divergence

    student_logits, teacher_logits, labels, teacher = server_tensors()
    torch.save(
        {"student_logits": student_logits, "teacher_logits": teacher_logits, "labels": labels, "k": K},
        tmp_path / "tensors.pt",
    )
    theirs = run_in_trl(TRL_SERVER_SCRIPT, str(tmp_path / "tensors.pt"))
    assert int(theirs.pop("trl").split(".")[0]) >= 1
    for temperature, trl_loss in theirs.items():
        ours = batch_topk_divergence(
            student_logits, labels, *teacher, beta=0.0, temperature=float(temperature)
        ).item()
        assert abs(ours - trl_loss) < 1e-5, (temperature, ours, trl_loss)
        assert trl_loss > 0


@pytest.mark.parametrize("beta", [0.0, 0.5, 1.0])
@pytest.mark.parametrize("temperature", [1.0, 2.0])
def test_server_top_k_loss_by_hand(beta, temperature):
    """Every beta (TRL's server form has beta 0 only): the divergence at each sampled token, over
    the teacher's top-k ids, of the two distributions renormalised there, computed with plain
    Python floats one position at a time, and averaged over the tokens."""
    import math

    from vlkd.plugins.train.distill_loss import batch_topk_divergence

    student_logits, _, labels, (ids, log_probs, counts) = server_tensors()
    total, n = 0.0, 0
    for b in range(labels.shape[0]):
        positions = [p for p in range(labels.shape[1] - 1) if labels[b, p + 1] != -100]
        for j, p in enumerate(positions):
            s = [student_logits[b, p, i].item() / temperature for i in ids[b, j].tolist()]
            t = [lp / temperature for lp in log_probs[b, j].tolist()]
            s_z, t_z = math.log(sum(map(math.exp, s))), math.log(sum(map(math.exp, t)))
            ps = [math.exp(x - s_z) for x in s]
            pt = [math.exp(x - t_z) for x in t]
            mix = [beta * a + (1 - beta) * c for a, c in zip(pt, ps, strict=True)]

            def kl(p, q):
                return sum(a * math.log(a / c) for a, c in zip(p, q, strict=True) if a > 0)

            if beta == 0.0:
                total += kl(pt, ps)
            elif beta == 1.0:
                total += kl(ps, pt)
            else:
                total += beta * kl(pt, mix) + (1 - beta) * kl(ps, mix)
            n += 1
    assert n == int(counts.sum()) == 11
    ours = batch_topk_divergence(
        student_logits, labels, ids, log_probs, counts, beta=beta, temperature=temperature
    ).item()
    assert abs(ours - total / n) < 1e-6 and ours > 0
