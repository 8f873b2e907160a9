"""The pairs' dicts are built without a model per pair: the same dicts, key for key, as the model's."""

from __future__ import annotations

import json

import pytest

from vlkd.core.records import Provenance, QARecord
from vlkd.teach.pairs import PairsOf, build_pairs, pair_dict
from vlkd.teach.parsing import HEADER_WORDS, _is_header


@pytest.mark.parametrize("category", [None, "invoice", "名片"])
@pytest.mark.parametrize("negative", [False, True])
@pytest.mark.parametrize("prompt_hash", [None, "abc123"])
def test_pair_dict_is_the_models_dump(category, negative, prompt_hash):
    prov = Provenance(plugin="openai", model="gpt-4o", prompt_hash=prompt_hash).model_dump(
        mode="json", exclude_none=True
    )
    image = PairsOf("img-1", category)
    for question, answer in [("What is the total?", "42"), ("  合计？ ", "不在图中"), ('q "x"', "a\nb")]:
        model = QARecord(
            id=QARecord.make_id(image.id, question),
            image_id=image.id,
            question=question,
            answer=answer,
            category=category,
            negative=negative,
            provenance=prov,
        ).model_dump(mode="json", exclude_none=True)
        got = pair_dict(image, question, answer, negative, prov)
        assert json.dumps(got) == json.dumps(model)  # same keys, same order, same values
        QARecord.model_validate(got)


def test_build_pairs_gives_each_pair_its_own_provenance_and_flags():
    prov = Provenance(plugin="openai", model="m")
    rows = [{"question": "a?", "answer": "1"}, {"question": "b?", "answer": "not in the image"}]
    out, _ = build_pairs(
        rows, PairsOf("i", None), negative_answer="not in the image", negative_ratio=None, provenance=prov
    )
    assert [p["negative"] for p in out] == [False, True]
    out[0]["provenance"]["model"] = "changed"
    out[0]["flags"].append("x")
    assert out[1]["provenance"]["model"] == "m" and out[1]["flags"] == []


def _is_header_reference(cells: list[str]) -> bool:  # what it was: every cell looked at
    import re

    words = [re.sub(r"[\s:：]+$", "", c.strip().lower()) for c in cells if c.strip()]
    return len(words) >= 2 and all(w in HEADER_WORDS for w in words)


@pytest.mark.parametrize(
    "cells",
    [
        ["Question", "Answer"],
        ["question:", " answer： "],
        ["question", "", "answer", ""],
        ["question"],
        ["", ""],
        ["What is it?", "answer"],
        ["question", "the total"],
        ["QUESTION ", "ANSWER\t"],
        [],
    ],
)
def test_is_header_as_before(cells):
    assert _is_header(cells) == _is_header_reference(cells)
