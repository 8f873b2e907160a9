"""The ``transformers`` backend: the base student and the tuned one (adapter applied, not merged).

One model is loaded; the tuned answers come from ``PeftModel`` with the adapter active and
the base answers from the same model inside ``disable_adapter()``, so both see identical
weights, processor settings, prompts and greedy decoding.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from vlkd.answering.images import load_student_image
from vlkd.api import StageError

if TYPE_CHECKING:
    from vlkd.answering.items import EvalItem, ModelInfo


def pick_device(device: str) -> str:
    import torch

    if device != "auto":
        return device
    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def decode_answers(processor, new_tokens) -> list[str]:
    """The generated tokens as answers, by the rule vLLM's detokenizer follows
    (``answers.streamed_text``: a token that ends inside a character, cut by the token limit,
    is dropped), so that the openai backend on vLLM and this one agree on the same weights."""
    from vlkd.answering.answers import clean_answer, streamed_text

    tokenizer = processor.tokenizer

    def decode(ids: list[int]) -> str:
        return tokenizer.decode(ids, skip_special_tokens=True)

    return [clean_answer(streamed_text(decode, row)) for row in new_tokens.tolist()]


class LocalStudent:
    def __init__(
        self,
        model: ModelInfo,
        *,
        max_new_tokens: int,
        system_prompt: str | None,
        device: str = "auto",
        dtype: str = "auto",
    ):
        self.info = model
        self.max_new_tokens = max_new_tokens
        self.system_prompt = system_prompt
        self.device_name = device
        self.dtype_name = dtype
        self._model: Any = None
        self._processor: Any = None

    def _load(self) -> None:
        import torch
        from transformers import AutoModelForImageTextToText

        device = pick_device(self.device_name)
        dtype = {
            "auto": torch.bfloat16 if device == "cuda" and torch.cuda.is_bf16_supported() else torch.float32,
            "float32": torch.float32,
            "bfloat16": torch.bfloat16,
            "float16": torch.float16,
        }[self.dtype_name]
        try:
            self._processor = self.info.family.load_processor(
                self.info.base_model, self.info.min_pixels, self.info.max_pixels
            )
            model = AutoModelForImageTextToText.from_pretrained(self.info.base_model, dtype=dtype)
        except OSError as exc:
            raise StageError(
                f"cannot load the student '{self.info.base_model}' named by vlkd_model.json: {exc}"
            ) from None
        self._processor.tokenizer.padding_side = "left"  # batched generation continues on the right
        if self.info.adapter is not None:
            from vlkd.adapters import load_adapter

            model = load_adapter(model, self.info.adapter)
        self._model = model.to(device).eval()

    def generate(self, system: str, items: list[EvalItem]) -> list[str]:
        import contextlib

        import torch

        if self._model is None:
            self._load()
        if system == "tuned" and self.info.adapter is None:
            raise StageError("vlkd_model.json names no adapter: there is no tuned student to evaluate")
        images = [
            load_student_image(
                it.image, self.info.family, self.info.min_pixels, self.info.max_pixels, self.info.prescale
            )
            for it in items
        ]
        texts = [
            self._processor.apply_chat_template(
                self._messages(it.question), tokenize=False, add_generation_prompt=True
            )
            for it in items
        ]
        # as in training (peft_collator): images nested per sample (Gemma 3's processor needs it,
        # Qwen's takes both), and no second BOS (the chat template writes any BOS itself)
        inputs = self._processor(
            text=texts,
            images=[[image] for image in images],
            padding=True,
            return_tensors="pt",
            add_special_tokens=False,
        )
        inputs = inputs.to(self._model.device)
        use_base = system == "base" and self.info.adapter is not None
        with torch.inference_mode(), self._model.disable_adapter() if use_base else contextlib.nullcontext():
            out = self._model.generate(
                **inputs,
                max_new_tokens=self.max_new_tokens,
                do_sample=False,
                pad_token_id=self._processor.tokenizer.pad_token_id,
            )
        return decode_answers(self._processor, out[:, inputs["input_ids"].shape[1] :])

    def prompt_tokens(self, question: str) -> int:
        """Tokens of the prompt text for ``question`` (the image's tokens not counted)."""
        if self._processor is None:
            self._load()
        text = self._processor.apply_chat_template(
            self._messages(question), tokenize=False, add_generation_prompt=True
        )
        return len(self._processor.tokenizer(text, add_special_tokens=False)["input_ids"])

    def _messages(self, question: str) -> list[dict[str, Any]]:
        messages: list[dict[str, Any]] = []
        if self.system_prompt:
            messages.append({"role": "system", "content": self.system_prompt})
        messages.append({"role": "user", "content": [{"type": "image"}, {"type": "text", "text": question}]})
        return messages
