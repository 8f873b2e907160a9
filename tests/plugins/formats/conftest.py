import pytest

from vlkd.testing.fake_run import fake_run  # noqa: F401 - the fixture


@pytest.fixture(scope="session")
def tiny_student(vlkd_tiny_student):
    """The tiny offline Qwen2-VL student, built once per test session."""
    return vlkd_tiny_student("qwen2_vl")


@pytest.fixture(scope="session")
def tiny_tokenizer(tiny_student):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(tiny_student))


@pytest.fixture
def lf_load(tiny_student, tmp_path):
    """lf_load(dataset_dir, train="vlkd_train", eval=None, cutoff_len=1024, **more) -> (dataset module, tokenizer).

    LLaMA-Factory's own argument parsing, tokenizer/template loading and get_dataset.
    """

    def load(dataset_dir, train="vlkd_train", eval=None, cutoff_len=1024, **more):
        from vlkd.testing.llamafactory import load_sft

        if eval:
            more["eval_dataset"] = eval
        return load_sft(
            tiny_student,
            "qwen2_vl",
            dataset_dir,
            tmp_path / "lf_out",
            dataset=train,
            cutoff_len=cutoff_len,
            **more,
        )

    return load
