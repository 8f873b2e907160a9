"""Built-in formats plugins."""

from vlkd.api import hookimpl


@hookimpl
def vlkd_register_formats(register):
    from vlkd.plugins.formats.hf_datasets import HfDatasetsFormat
    from vlkd.plugins.formats.llamafactory import LlamaFactoryFormat
    from vlkd.plugins.formats.messages_jsonl import MessagesJsonlFormat

    register("llamafactory", LlamaFactoryFormat)
    register("hf_datasets", HfDatasetsFormat)
    register("messages_jsonl", MessagesJsonlFormat)
