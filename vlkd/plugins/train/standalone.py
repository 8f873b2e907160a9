"""Run a trainer outside a recipe: on a dataset directory, into a run directory of its own.

For benchmarks, notebooks and tests that exercise a trainer on a prepared dataset (the
``dataset:`` option) without the stages before it::

    from vlkd.plugins.train.standalone import make_trainer, standalone_context

    trainer = make_trainer("peft", student={"model": "tiny:qwen2_vl", "cutoff_len": 512},
                           dataset="runs/demo/format/dataset")
    trainer.run(standalone_context(Path("runs/scratch")))

``student`` is the recipe's ``student:`` section (a mapping, or just the model).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vlkd.api import StageContext, stage_context_outside_a_recipe


def trainer_classes() -> dict[str, type]:
    """name -> class, as this package's registration hook registers them."""
    import vlkd.plugins.train as module

    found: dict[str, type] = {}
    module.vlkd_register_trainers(register=found.__setitem__)
    return found


def make_trainer(name: str, student: dict[str, Any] | str, **options: Any):
    """A trainer plugin instance with validated options (``plugin`` filled in) for ``student``."""
    from vlkd.api import make_student

    cls = trainer_classes()[name]
    return cls(cls.Options.model_validate({"plugin": name, **options}), make_student(student))


def standalone_context(run_dir: Path, *, resumed: bool = False, reporter: Any = None) -> StageContext:
    """The StageContext the engine would give the train stage, for ``<run_dir>/train``: a recipe of
    that one stage (the trainer comes from :func:`make_trainer`)."""
    return stage_context_outside_a_recipe(run_dir, "train", resumed=resumed, reporter=reporter)
