"""Gradient checkpointing only where a gradient flows: frozen layers fed no gradient run plainly.

With reentrant checkpointing (what the peft trainer uses, as LLaMA-Factory does) PyTorch
warns "None of the inputs have requires_grad=True. Gradients will be None" for every
checkpointed layer whose inputs need no gradient. In a LoRA run that is the frozen vision
tower of Qwen3-VL and Qwen3.5 (their vision models name no input embedding, so
``enable_input_require_grads`` does not reach them): it holds no trainable weight, nothing
flows back through it, and the warning is harmless (measured: every LoRA weight of the
language model gets a non-zero gradient, with and without the warning). It is not harmless
in a layer that *does* hold trainable weights: those would silently get no gradient.

So this wraps the checkpoint function of each layer without trainable parameters: when none
of its tensor inputs needs a gradient it runs the layer directly (no autograd graph is built
either way, so nothing changes but the warning and a useless recomputation); otherwise it
checkpoints as before. Layers with trainable weights keep the warning, where it means a bug.
"""

from __future__ import annotations

from typing import Any


def checkpoint_only_where_gradients_flow(model: Any) -> int:
    """Wrap the checkpoint function of ``model``'s frozen checkpointed layers; return how many."""
    import torch

    wrapped = 0
    for module in model.modules():
        checkpoint = getattr(module, "_gradient_checkpointing_func", None)
        if not getattr(module, "gradient_checkpointing", False) or checkpoint is None:
            continue
        if getattr(checkpoint, "vlkd_frozen_layer", False):
            wrapped += 1  # already wrapped (training resumed in the same process)
            continue
        if any(p.requires_grad for p in module.parameters()):
            continue

        def run(function, *args, _checkpoint=checkpoint, **kwargs):
            if any(isinstance(a, torch.Tensor) and a.requires_grad for a in args):
                return _checkpoint(function, *args, **kwargs)
            return function(*args, **kwargs)

        run.vlkd_frozen_layer = True  # type: ignore[attr-defined]
        module._gradient_checkpointing_func = run
        wrapped += 1
    return wrapped


def frozen_layers_callback():
    """A TrainerCallback applying :func:`checkpoint_only_where_gradients_flow` once the Trainer
    has enabled checkpointing (it does so in ``train()``, just before ``on_train_begin``)."""
    from transformers import TrainerCallback

    class FrozenLayersRunPlainly(TrainerCallback):
        def on_train_begin(self, args, state, control, model=None, **kwargs):
            if args.gradient_checkpointing and model is not None:
                checkpoint_only_where_gradients_flow(model)

    return FrozenLayersRunPlainly()
