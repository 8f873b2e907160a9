"""The ``openai`` backend: any OpenAI-compatible server, e.g. vLLM serving the base student
with the LoRA adapter (``vllm serve BASE --enable-lora --lora-modules tuned=ADAPTER``).

The base and tuned students are two model names on the server. Images are prepared as in
training and sent inline as PNG data URLs; decoding is greedy (temperature 0).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from vlkd.core.errors import StageError
from vlkd.plugins.evaluate.images import data_url, load_student_image

if TYPE_CHECKING:
    from vlkd.plugins.evaluate.items import EvalItem, ModelInfo


class OpenAIStudent:
    def __init__(
        self,
        model: ModelInfo,
        *,
        base_url: str | None,
        api_key: str | None,
        api_key_env: str,
        model_names: dict[str, str],
        max_new_tokens: int,
        system_prompt: str | None,
        timeout: float,
    ):
        self.info = model
        self.base_url = base_url
        self.api_key = api_key or os.environ.get(api_key_env) or "EMPTY"  # vLLM accepts any key
        self.model_names = model_names
        self.max_new_tokens = max_new_tokens
        self.system_prompt = system_prompt
        self.timeout = timeout
        self._client: Any = None

    def _client_(self):
        if self._client is None:
            import openai

            self._client = openai.OpenAI(
                base_url=self.base_url, api_key=self.api_key, timeout=self.timeout, max_retries=2
            )
        return self._client

    def generate(self, system: str, items: list[EvalItem]) -> list[str]:
        return [self.answer(system, it) for it in items]

    def answer(self, system: str, item: EvalItem) -> str:
        import openai

        name = self.model_names.get(system)
        if not name:
            raise StageError(
                f"evaluate: no model name for the {system} student; set evaluate.{system}_model_name"
            )
        image = load_student_image(item.image, self.info.min_pixels, self.info.max_pixels)
        messages: list[dict[str, Any]] = []
        if self.system_prompt:
            messages.append({"role": "system", "content": self.system_prompt})
        messages.append(
            {
                "role": "user",
                "content": [
                    {"type": "image_url", "image_url": {"url": data_url(image)}},
                    {"type": "text", "text": item.question},
                ],
            }
        )
        try:
            resp = self._client_().chat.completions.create(
                model=name, messages=messages, temperature=0, max_tokens=self.max_new_tokens
            )
        except openai.NotFoundError as exc:
            raise StageError(
                f"the server at {self.base_url} has no model '{name}' ({exc.message}); "
                f"check evaluate.{system}_model_name"
            ) from None
        except openai.APIConnectionError:
            raise StageError(
                f"cannot reach the OpenAI-compatible server at {self.base_url}; "
                f"start it or fix evaluate.base_url"
            ) from None
        return (resp.choices[0].message.content or "").strip()
