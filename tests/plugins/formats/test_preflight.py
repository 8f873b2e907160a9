import json

import pytest
from PIL import Image

from vlkd.core.errors import VlkdError
from vlkd.llamafactory import preflight
from vlkd.llamafactory.families import image_tokens as lf_image_tokens
from vlkd.llamafactory.tokens import estimate_text_tokens
from vlkd.students.qwen2_vl import Qwen2VL

QWEN2_VL = Qwen2VL()


def check_dataset(path, **kwargs):
    """The pre-flight check for a Qwen2-VL student at LLaMA-Factory's default pixel limits."""
    return preflight.check_dataset(path, family=QWEN2_VL, **kwargs)


def lf_visual_tokens(width, height):
    return lf_image_tokens(QWEN2_VL, width, height, 32 * 32, 768 * 768)


def sample(*turns, images=("a.png",)):
    roles = ["user", "assistant"] * len(turns)
    return {
        "messages": [
            {"role": r, "content": c} for r, c in zip(roles, [x for t in turns for x in t], strict=False)
        ],
        "images": list(images),
    }


@pytest.fixture
def dataset(tmp_path):
    """dataset(samples) -> directory with dataset_info.json and train.json (images a.png, b.png, bad.png)."""
    Image.new("RGB", (300, 200), "red").save(tmp_path / "a.png")
    Image.new("RGB", (56, 56), "blue").save(tmp_path / "b.png")
    (tmp_path / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n not really a png")

    def make(samples):
        (tmp_path / "train.json").write_text(json.dumps(samples, ensure_ascii=False))
        (tmp_path / "dataset_info.json").write_text(
            json.dumps(
                {
                    "vlkd_train": {
                        "file_name": "train.json",
                        "formatting": "sharegpt",
                        "columns": {"messages": "messages", "images": "images"},
                        "tags": {
                            "role_tag": "role",
                            "content_tag": "content",
                            "user_tag": "user",
                            "assistant_tag": "assistant",
                            "system_tag": "system",
                        },
                    }
                }
            )
        )
        return tmp_path

    return make


GOOD = sample(("<image>What part?", "The brake pad."), ("Which side?", "Left."))


def kinds(report):
    return [(p.index, p.kind) for p in report.problems]


def test_a_clean_dataset_passes(dataset):
    report = check_dataset(dataset([GOOD, GOOD]))
    assert report.ok and report.samples == 2 and report.problems == []


def test_each_bad_sample_is_reported_with_file_and_index(dataset):
    path = dataset(
        [
            GOOD,
            sample(("<image>Q<image>", "A")),  # 1: two tags, one image
            sample(("<image>Q", "It shows <image> here")),  # 2: tag in answer (+ count)
            {
                "messages": [{"role": "assistant", "content": "A"}, {"role": "user", "content": "<image>Q"}],
                "images": ["a.png"],
            },  # 3: roles
            sample(("<image>Q", "A"), images=("missing.png",)),  # 4: missing file
            sample(("<image>Q", "A"), images=("bad.png",)),  # 5: undecodable
        ]
    )
    report = check_dataset(path)
    assert not report.ok
    assert kinds(report) == [
        (1, "image_count"),
        (2, "image_in_answer"),
        (2, "image_count"),
        (3, "roles"),
        (4, "missing_image"),
        (5, "bad_image"),
    ]
    text = report.text()
    train = str(path / "train.json")
    assert f"{train}: sample [1]: image_count: 2 <image> tag(s) but 1 image(s)" in text
    assert f"{train}: sample [2]: image_in_answer: an answer contains the literal text <image>" in text
    assert f"{train}: sample [3]: roles: roles must alternate user/assistant" in text
    assert f"{train}: sample [4]: missing_image: image missing.png not found" in text
    assert f"{train}: sample [5]: bad_image: image {path / 'bad.png'} cannot be decoded" in text


def test_too_long_with_estimate_and_with_the_tokenizer(dataset, tiny_tokenizer):
    path = dataset([GOOD])
    visual = lf_visual_tokens(300, 200)
    assert visual == 77
    report = check_dataset(path, cutoff_len=visual + 5)
    assert kinds(report) == [(0, "too_long")]
    assert "> cutoff_len 82; LLaMA-Factory silently drops the turns past the limit" in report.text()
    assert "estimated on the high side" in report.text()
    crash = check_dataset(path, cutoff_len=50)
    assert "Image features and image tokens do not match" in crash.text()
    # exact counts: the tokenizer's total for this sample, then one token less is too long
    exact = check_dataset(path, cutoff_len=4096, tokenizer=tiny_tokenizer)
    assert exact.ok and not exact.estimated_tokens
    text = QWEN2_VL.render(
        [
            ("user", "<image>What part?"),
            ("assistant", "The brake pad."),
            ("user", "Which side?"),
            ("assistant", "Left."),
        ],
        None,
    )
    total = visual + len(tiny_tokenizer(text, add_special_tokens=False)["input_ids"])
    assert check_dataset(path, cutoff_len=total, tokenizer=tiny_tokenizer).ok
    assert not check_dataset(path, cutoff_len=total - 1, tokenizer=tiny_tokenizer).ok


def test_estimate_rules():
    # Qwen2 splits numbers into digits: one token each; CJK one each; ASCII words one per 3 letters
    assert estimate_text_tokens("20000") == 5
    assert estimate_text_tokens("刹车片") == 3
    assert estimate_text_tokens("brake pad") == 2 + 1
    assert estimate_text_tokens("a\n\nb") == 3
    assert estimate_text_tokens("±") == 2


def test_fix_repairs_what_it_can_and_keeps_the_original(dataset):
    path = dataset(
        [
            sample(("<image>Q<image>", "A")),
            sample(("<image>Q", "It shows <image> here")),
            {
                "messages": [
                    {"role": "assistant", "content": "stray"},
                    {"role": "user", "content": "<image>Q1"},
                    {"role": "user", "content": "Q2"},
                    {"role": "assistant", "content": "A"},
                ],
                "images": ["a.png"],
            },
            sample(("<image>Q", "A"), images=("missing.png",)),
            sample(
                *[
                    (f"{'<image>' if i == 0 else ''}Question {i} about the part?", f"Answer {i}.")
                    for i in range(6)
                ]
            ),
        ]
    )
    report = check_dataset(path, cutoff_len=140, fix=True)
    assert report.ok, report.text()
    assert all(p.fixed for p in report.problems)
    fixed = json.loads((path / "train.json").read_text())
    original = json.loads((path / "train.json.orig").read_text())
    assert len(original) == 5
    assert fixed[0]["messages"][0]["content"] == "<image>Q"
    assert fixed[1]["messages"][1]["content"] == "It shows [image] here"
    assert [m["content"] for m in fixed[2]["messages"]] == ["<image>Q1\nQ2", "A"]
    # the missing image's sample is gone; the 6-turn conversation became several that fit
    rest = fixed[3:]
    assert len(rest) > 1 and sum(len(s["messages"]) for s in rest) == 12
    assert all(s["messages"][0]["content"].startswith("<image>") and s["images"] == ["a.png"] for s in rest)
    again = check_dataset(path, cutoff_len=140)
    assert again.ok and again.problems == []


def test_media_dir_resolution_like_llamafactory(tmp_path, dataset):
    path = dataset([GOOD])
    media = tmp_path / "media"
    media.mkdir()
    (tmp_path / "train.json").write_text(
        json.dumps([sample(("<image>Q", "A"), images=("only_in_media.png",))])
    )
    Image.new("RGB", (64, 64)).save(media / "only_in_media.png")
    assert not check_dataset(path).ok
    assert check_dataset(path, media_dir=media).ok


def test_unreadable_inputs_are_named(tmp_path):
    with pytest.raises(VlkdError, match="no such file or directory"):
        check_dataset(tmp_path / "nope")
    (tmp_path / "x.json").write_text("{not json")
    with pytest.raises(VlkdError, match=r"x\.json:1:\d+: not valid JSON"):
        check_dataset(tmp_path / "x.json")
    (tmp_path / "vlkd_dataset.json").write_text(json.dumps({"format": "hf_datasets"}))
    with pytest.raises(VlkdError, match="a 'hf_datasets' dataset; check-dataset reads LLaMA-Factory"):
        check_dataset(tmp_path)
    (tmp_path / "vlkd_dataset.json").write_text(json.dumps({"splits": {"train": "train.json"}}))
    with pytest.raises(
        VlkdError, match=r"vlkd_dataset\.json: format: Field required; re-run the format stage"
    ):
        check_dataset(tmp_path)
