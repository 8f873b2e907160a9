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
        from llamafactory.data import get_dataset, get_template_and_fix_tokenizer
        from llamafactory.hparams import get_train_args
        from llamafactory.model import load_tokenizer

        args = dict(
            model_name_or_path=str(tiny_student),
            stage="sft",
            do_train=True,
            finetuning_type="lora",
            template="qwen2_vl",
            dataset=train,
            dataset_dir=str(dataset_dir),
            cutoff_len=cutoff_len,
            output_dir=str(tmp_path / "lf_out"),
            overwrite_cache=True,
            report_to="none",
            use_cpu=True,
            bf16=False,
            fp16=False,
            per_device_train_batch_size=1,
            **more,
        )
        if eval:
            args["eval_dataset"] = eval
        model_args, data_args, training_args, _, _ = get_train_args(args)
        tokenizer_module = load_tokenizer(model_args)
        template = get_template_and_fix_tokenizer(tokenizer_module["tokenizer"], data_args)
        module = get_dataset(template, model_args, data_args, training_args, stage="sft", **tokenizer_module)
        return module, tokenizer_module["tokenizer"]

    return load
