"""Built-in train plugins: ``peft`` (in-process) and ``llamafactory`` (``llamafactory-cli train``)."""

from vlkd.api import hookimpl


@hookimpl
def vlkd_register_trainers(register):
    from vlkd.plugins.train.llamafactory_trainer import LlamaFactoryTrainer
    from vlkd.plugins.train.peft_trainer import PeftTrainer

    register("peft", PeftTrainer)
    register("llamafactory", LlamaFactoryTrainer)
