"""What vlkd knows about LLaMA-Factory (0.9.5): its sharegpt samples and tags, the rules a
dataset must follow so that it neither stops nor silently drops samples, how many tokens a
sample costs, and the ``check-dataset`` command.

- :mod:`vlkd.llamafactory.sample`: the one :class:`Sample` type, ``DEFAULT_TAGS``, reading
  ``dataset_info.json`` entries;
- :mod:`vlkd.llamafactory.images`: LLaMA-Factory's own image pre-scaling;
- :mod:`vlkd.llamafactory.tokens`: visual and text tokens of a sample (through the student family);
- :mod:`vlkd.llamafactory.rules`: the pre-flight rules, one function each;
- :mod:`vlkd.llamafactory.preflight`: ``check_dataset`` (find, and with ``fix`` repair);
- :mod:`vlkd.llamafactory.command`: ``vlkd check-dataset``.

Family-specific knowledge (templates, image placeholders, block sizes) is not here: it is
asked of the student family (:mod:`vlkd.students`).
"""
