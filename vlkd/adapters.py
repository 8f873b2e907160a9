"""PEFT adapters, a service shared by train, evaluate and export: made and loaded the same way.

PEFT 0.18 warns "Model has `tie_word_embeddings=True` and a tied layer is part of the adapter"
for every model whose class *can* tie its lm_head to the embeddings, whenever the adapter holds
the lm_head (``modules_to_save: [lm_head]``, as the demo trains), also when the model's config
unties them. The warning is kept where it is true (a tied model) and left out where it is not.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any


def ties_embeddings(model: Any) -> bool:
    """Whether the model's lm_head really shares the embedding weights (its config says so)."""
    config = model.config
    text = config.get_text_config() if hasattr(config, "get_text_config") else config
    return bool(getattr(config, "tie_word_embeddings", False) or getattr(text, "tie_word_embeddings", False))


@contextlib.contextmanager
def no_false_tie_warning(model: Any) -> Iterator[None]:
    """PEFT calls on ``model`` inside this block do not warn about ties the model does not have."""
    with warnings.catch_warnings():
        if not ties_embeddings(model):
            warnings.filterwarnings("ignore", "Model has `tie_word_embeddings=True`", UserWarning)
        yield


def load_adapter(model: Any, adapter: str | Path) -> Any:
    """``PeftModel.from_pretrained(model, adapter)``, without the false tie warning."""
    from peft import PeftModel

    with no_false_tie_warning(model):
        return PeftModel.from_pretrained(model, str(adapter))


def vllm_lora_refusal(adapter: str | Path) -> str | None:
    """Why vLLM (0.32) cannot serve ``adapter`` as a LoRA module, or ``None`` when it can.

    vLLM takes LoRA matrices only: an adapter that also trains whole modules (``modules_to_save``,
    e.g. the ``lm_head`` the demo trains) stops the server when it loads the adapter ("vLLM only
    supports modules_to_save being either None or ["classifier", "score"] for classification
    models"). Such a tuned student is served as merged weights (``vlkd export --merged``).
    """
    import json

    path = Path(adapter) / "adapter_config.json"
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    saved = [m for m in config.get("modules_to_save") or [] if m not in ("classifier", "score")]
    if saved:
        return f"it trains {', '.join(saved)} whole (modules_to_save), and vLLM serves LoRA matrices only"
    return None
