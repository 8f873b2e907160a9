"""The logit-distillation loss on answer tokens: a generalised JSD against the teacher's top-k.

The teacher's distribution at each answer token is cached as its ``top_k`` token ids and their
log-probabilities (over the whole vocabulary, at temperature 1). The student's logits are read at
the same ids, both sides are divided by the temperature and renormalised over those ``k`` tokens
(``log_softmax`` over the ``k`` columns; for the teacher this equals its own logits at that
temperature restricted to its top-k, since a log-probability differs from the logit by a constant
per token), and compared with the generalised Jensen-Shannon divergence of TRL's
``DistillationTrainer`` (``trl/trainer/distillation_trainer.py``, ``_chunk``): ``beta`` 0 is the
forward KL(teacher || student), 1 the reverse KL(student || teacher), in between the JSD with
mixture ``beta * teacher + (1 - beta) * student``. Reduced as TRL reduces without
``num_items_in_batch``: the mean over answer tokens. With ``top_k`` equal to the vocabulary this
is TRL's loss exactly (``tests/plugins/train/test_distill_loss.py`` checks both against TRL's own
function within 1e-5).

The training loss mixes it with cross-entropy on the reviewed answers:
``alpha * divergence + (1 - alpha) * cross_entropy``.

On-policy distillation from a teacher server scores the student's samples the same way: the
server's top-k ``prompt_logprobs`` at each sampled token, :func:`batch_topk_divergence` (the
divergence over the teacher's top-k support, the student's logits gathered at those ids, both
renormalised there: ms-swift's ``--gkd_logits_topk`` with a teacher server; TRL's
``ServerDistillationTrainer`` computes the same for ``beta`` 0 without its tail bucket, which the
test checks within 1e-5).

On-policy distillation from the teacher's weights has its logits themselves (it runs beside the student):
:func:`full_divergence` is the same divergence over the whole vocabulary at the labelled positions,
TRL's ``GKDTrainer.generalized_jsd_loss`` (``reduction="batchmean"``) with the temperature that
``DistillationTrainer`` applies to both sides (the test checks it against both within 1e-5).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch


def generalized_jsd(student_log_probs: torch.Tensor, teacher_log_probs: torch.Tensor, beta: float):
    """Per-row divergence (summed over the last dimension) between two log-distributions."""
    import torch
    import torch.nn.functional as F

    if beta == 0.0:
        div = F.kl_div(student_log_probs, teacher_log_probs, reduction="none", log_target=True)
    elif beta == 1.0:
        div = F.kl_div(teacher_log_probs, student_log_probs, reduction="none", log_target=True)
    else:
        b = torch.tensor(beta, dtype=student_log_probs.dtype, device=student_log_probs.device)
        mixture = torch.logsumexp(
            torch.stack([student_log_probs + torch.log1p(-b), teacher_log_probs + torch.log(b)]), dim=0
        )
        kl_teacher = F.kl_div(mixture, teacher_log_probs, reduction="none", log_target=True)
        kl_student = F.kl_div(mixture, student_log_probs, reduction="none", log_target=True)
        div = b * kl_teacher + (1 - b) * kl_student
    return div.sum(dim=-1)


def topk_divergence(
    student_logits: torch.Tensor,
    teacher_ids: torch.Tensor,
    teacher_log_probs: torch.Tensor,
    *,
    beta: float,
    temperature: float,
) -> torch.Tensor:
    """Mean divergence over answer tokens.

    ``student_logits``: ``(N, V)`` at the N answer positions; ``teacher_ids`` and
    ``teacher_log_probs``: ``(N, k)``, the teacher's top-k there.
    """
    import torch.nn.functional as F

    student = student_logits.float().gather(-1, teacher_ids.long()) / temperature
    teacher = teacher_log_probs.float() / temperature
    div = generalized_jsd(F.log_softmax(student, dim=-1), F.log_softmax(teacher, dim=-1), beta)
    return div.sum() / max(div.numel(), 1)


def answer_positions(labels: torch.Tensor) -> torch.Tensor:
    """``(B, L-1)`` mask of the shifted positions whose next token is an answer token."""
    return labels[:, 1:] != -100


def answer_cross_entropy(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy of the next-token predictions on the labelled (answer) tokens."""
    import torch.nn.functional as F

    mask = answer_positions(labels)
    return F.cross_entropy(logits[:, :-1][mask].float(), labels[:, 1:][mask], reduction="mean")


def full_divergence(
    student_logits: torch.Tensor,
    teacher_logits: torch.Tensor,
    labels: torch.Tensor,
    *,
    beta: float,
    temperature: float,
) -> torch.Tensor:
    """Mean divergence over the labelled tokens, on the whole vocabulary: ``(B, L, V)`` logits of
    both models on the same sequences, ``labels`` ``(B, L)`` with ``-100`` off the scored tokens."""
    import torch.nn.functional as F

    mask = answer_positions(labels)
    student = student_logits[:, :-1][mask].float() / temperature
    teacher = teacher_logits[:, :-1][mask].to(student.device).float() / temperature
    div = generalized_jsd(F.log_softmax(student, dim=-1), F.log_softmax(teacher, dim=-1), beta)
    return div.sum() / max(div.numel(), 1)


def distill_loss(
    logits: torch.Tensor,
    labels: torch.Tensor,
    teacher_ids: torch.Tensor,
    teacher_log_probs: torch.Tensor,
    teacher_counts: torch.Tensor,
    *,
    alpha: float,
    beta: float,
    temperature: float,
) -> tuple[torch.Tensor, dict[str, float]]:
    """The training loss of one batch and its parts (for the log).

    ``logits`` ``(B, L, V)``, ``labels`` ``(B, L)`` (``-100`` off the answers), the teacher's
    cached top-k per answer token ``(B, A, k)`` with ``teacher_counts[b]`` valid rows each.
    """
    ce = answer_cross_entropy(logits, labels)
    kd = batch_topk_divergence(
        logits, labels, teacher_ids, teacher_log_probs, teacher_counts, beta=beta, temperature=temperature
    )
    loss = alpha * kd + (1 - alpha) * ce
    return loss, {"kd_loss": float(kd.detach()), "ce_loss": float(ce.detach())}


def batch_topk_divergence(
    logits: torch.Tensor,
    labels: torch.Tensor,
    teacher_ids: torch.Tensor,
    teacher_log_probs: torch.Tensor,
    teacher_counts: torch.Tensor,
    *,
    beta: float,
    temperature: float,
) -> torch.Tensor:
    """:func:`topk_divergence` over a batch's answer tokens, in order, row by row: ``logits``
    ``(B, L, V)``, ``labels`` ``(B, L)``, the teacher's top-k ``(B, A, k)`` with
    ``teacher_counts[b]`` valid rows each (the first answer tokens of row ``b``)."""
    import torch

    mask = answer_positions(labels)
    counts = mask.sum(dim=1).to(teacher_counts.device)
    if torch.any(counts > teacher_counts):
        raise ValueError(
            f"the teacher's cache holds fewer answer tokens than the batch ({teacher_counts.tolist()} < "
            f"{counts.tolist()}): the cache does not match these samples"
        )
    keep = torch.arange(teacher_ids.shape[1], device=counts.device)[None, :] < counts[:, None]
    student = logits[:, :-1][mask]
    return topk_divergence(
        student,
        teacher_ids[keep].to(student.device),
        teacher_log_probs[keep].to(student.device),
        beta=beta,
        temperature=temperature,
    )
