"""What vlkd knows about LLaMA-Factory (0.9.5): its sharegpt samples and tags, the rules a
dataset must follow so that it neither stops nor silently drops samples, how many tokens a
sample costs, and the ``check-dataset`` command.

- :mod:`vlkd.llamafactory.sample`: the one :class:`Sample` type, ``DEFAULT_TAGS``, reading
  ``dataset_info.json`` entries;
- :mod:`vlkd.llamafactory.families`: the one table of what LLaMA-Factory uses for each student
  family (its template, its multimodal plugin's image rule), and the image sizes and visual
  tokens that follow;
- :mod:`vlkd.llamafactory.images`: LLaMA-Factory's own base image pre-scaling;
- :mod:`vlkd.llamafactory.tokens`: visual and text tokens of a sample (through the student family);
- :mod:`vlkd.llamafactory.preflight`: the pre-flight rules and ``check_dataset`` (find, and with ``fix`` repair);
- :mod:`vlkd.llamafactory.command`: ``vlkd check-dataset``.

What a model family is (its processor's resize rule, block size, image placeholder, chat
format) is not here: it is asked of the student family (:mod:`vlkd.students`), which in turn
knows nothing of LLaMA-Factory.
"""
