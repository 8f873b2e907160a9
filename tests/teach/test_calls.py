"""One call's reservation: the money held and the journal line, given back in one place whatever
ends the call, and left alone by a cancellation (the request may be charged)."""

from __future__ import annotations

import asyncio

import pytest

from vlkd.core.jsonl import read_jsonl
from vlkd.teach.cache import ResponseCache
from vlkd.teach.calls import ItemFailed, Reservation
from vlkd.teach.journal import CallJournal
from vlkd.teach.limits import Budget, BudgetReached
from vlkd.teach.teacher import FatalError, TeachResponse, TransientError


def journal(tmp_path):
    return CallJournal(ResponseCache(tmp_path / "cache"), tmp_path / "stage")


def lines(j: CallJournal) -> list[dict]:
    j.close()
    return list(read_jsonl(j.path))


@pytest.mark.parametrize(
    ("error", "maybe_spent"),
    [
        (TransientError("slow", kind="timeout"), True),
        (TransientError("busy", kind="5xx"), False),
        (FatalError("bad key", kind="timeout"), False),
        (ItemFailed("too large"), False),
        (ValueError("a bug"), False),
    ],
)
def test_an_error_gives_the_money_back_and_tells_the_journal(tmp_path, error, maybe_spent):
    budget, j = Budget(1.0), journal(tmp_path)
    with pytest.raises(type(error)), Reservation(budget, 0.25, j, "k", "img"):
        assert budget.reserved == 0.25
        raise error
    assert budget.reserved == 0 and budget.spent == 0
    sent, done = lines(j)
    assert sent["sent"] == done["done"] and sent["worst_usd"] == 0.25
    assert done.get("maybe_spent", False) is maybe_spent


def test_an_answer_is_journalled_and_spent(tmp_path):
    budget, j = Budget(1.0), journal(tmp_path)
    with Reservation(budget, 0.25, j, "k", "img") as held:
        held.answered(TeachResponse(text="q,a"), 0.1)
    assert budget.reserved == 0 and budget.spent == pytest.approx(0.1)
    assert lines(j)[1]["response"]["text"] == "q,a"


def test_an_error_after_the_answer_spends_once(tmp_path):
    budget = Budget(1.0)
    with pytest.raises(RuntimeError), Reservation(budget, 0.25, None, "k", "img") as held:
        held.answered(TeachResponse(), 0.1)
        raise RuntimeError("after")
    assert budget.reserved == pytest.approx(0) and budget.spent == pytest.approx(0.1)


def test_a_cancelled_call_stays_reserved_and_unanswered(tmp_path):
    budget, j = Budget(1.0), journal(tmp_path)
    with pytest.raises(asyncio.CancelledError), Reservation(budget, 0.25, j, "k", "img"):
        raise asyncio.CancelledError
    assert budget.reserved == 0.25
    assert len(lines(j)) == 1  # sent, never done: the replay counts it possibly spent
    j.recover()
    assert [e["worst_usd"] for e in j.unanswered()] == [0.25]


def test_a_call_over_the_budget_is_neither_reserved_nor_journalled(tmp_path):
    budget, j = Budget(0.2), journal(tmp_path)
    with pytest.raises(BudgetReached), Reservation(budget, 0.25, j, "k", "img"):
        pass
    assert budget.reserved == 0 and not j.path.exists()
