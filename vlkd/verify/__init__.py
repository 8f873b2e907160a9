"""The ``verify`` stage's machinery: the driver that runs the recipe's checks over every image.

The check plugin API itself (``Verifier``, ``Findings``) is part of the engine's plugin API
(:mod:`vlkd.core.verify`, exported from :mod:`vlkd.api`).
"""
