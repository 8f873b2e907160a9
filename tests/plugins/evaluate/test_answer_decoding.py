"""How generated tokens become an answer (``answers.streamed_text``), written from the rule:
the text of the longest prefix of the tokens whose text does not end in U+FFFD, as vLLM's
streaming detokenizer returns it; then surrounding whitespace stripped."""

import pytest

from vlkd.answering.answers import REPLACEMENT, clean_answer, streamed_text

# a byte-level vocabulary as BPE makes them: whole characters, character heads and tails
VOCAB = {
    1: "刹".encode(),  # e5 88 b9
    2: "车".encode(),
    3: "刹".encode()[:2],  # a head: the first two bytes of 刹
    4: "刹".encode()[2:],  # the tail that completes it
    5: "片".encode() + "刹".encode()[:1],  # a whole character and the first byte of the next
    6: "示".encode()[1:],  # the tail of a character whose head came before the answer
    7: b" ",
    8: "\ufffd".encode(),  # a real U+FFFD character (valid UTF-8: ef bf bd)
    9: b"\x80",  # never valid
    10: b"",  # a special token, skipped
}


def decode(ids):
    return b"".join(VOCAB[i] for i in ids).decode("utf-8", errors="replace")


@pytest.mark.parametrize(
    ("ids", "expected"),
    [
        ([1, 2], "刹车"),  # whole characters: the whole text
        ([], ""),
        ([2, 3], "车"),  # cut inside a character by the token limit: the head is dropped
        ([2, 3, 4], "车刹"),  # the tail came: the character is whole
        ([2, 5], "车"),  # a token ending inside a character is dropped whole, 片 with it
        ([2, 5, 3], "车"),  # the text ends in U+FFFD at every step back to 车
        ([6, 2], REPLACEMENT * 2 + "车"),  # a tail at the start decodes to U+FFFD and stays
        ([2, 9, 2], "车" + REPLACEMENT + "车"),  # a bad byte inside the text stays
        ([2, 9], "车"),  # ... and at the end it is held back like a head
        ([2, 8], "车"),  # a real U+FFFD at the end too: the text ends in U+FFFD
        ([3], ""),
        ([5, 10, 10], ""),  # special tokens after the cut (EOS, padding) change nothing
        ([2, 10, 3, 10], "车"),
        ([2, 7, 3], "车 "),  # the space before the cut stays; clean_answer strips it
    ],
)
def test_the_longest_prefix_whose_text_does_not_end_in_a_replacement_character(ids, expected):
    assert streamed_text(decode, ids) == expected


def test_decoding_rule_differs_from_dropping_trailing_replacement_characters():
    # the rule this replaces kept 片, which vLLM never returns
    assert decode([2, 5]).rstrip(REPLACEMENT) == "车片"
    assert streamed_text(decode, [2, 5]) == "车"


def test_streamed_text_is_a_prefix_of_the_decoded_text():
    for ids in ([1, 5, 6, 2, 9, 3], [6, 6, 5], [9, 9], [4, 1, 3, 4, 5]):
        text = streamed_text(decode, ids)
        assert decode(ids).startswith(text) and not text.endswith(REPLACEMENT)


def test_clean_answer_strips_whitespace_only():
    assert clean_answer("  35 N·m \n") == "35 N·m"
    assert clean_answer(None) == ""
    assert clean_answer(REPLACEMENT + "么") == REPLACEMENT + "么"


def test_the_transformers_backend_decodes_by_the_rule(tiny_student):
    """With the tiny student's own byte-level tokenizer: a last token that holds a whole
    character and the head of the next costs the whole token, as on vLLM."""
    torch = pytest.importorskip("torch")
    from transformers import AutoProcessor

    from vlkd.answering.local_backend import decode_answers

    processor = AutoProcessor.from_pretrained(tiny_student)
    tok = processor.tokenizer
    text_of = {i: tok.decode([i]) for i in range(tok.vocab_size)}
    whole = next(i for i, t in text_of.items() if len(t) == 1 and "\u4e00" <= t <= "\u9fff")
    mixed = next(i for i, t in text_of.items() if t.endswith(REPLACEMENT) and t.rstrip(REPLACEMENT).strip())
    tail = next(i for i, t in text_of.items() if t.startswith(REPLACEMENT) and t.strip(REPLACEMENT).strip())
    pad = tok.pad_token_id
    rows = torch.tensor([[whole, whole, mixed], [tail, whole, pad], [whole, mixed, pad]])
    assert decode_answers(processor, rows) == [
        text_of[whole] * 2,
        tok.decode([tail, whole]),  # begins with U+FFFD, kept
        text_of[whole],
    ]
    assert tok.decode([tail, whole]).startswith(REPLACEMENT)
