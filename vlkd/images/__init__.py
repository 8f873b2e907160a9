"""Image code: the helpers shared by the ingest and preprocess plugins, and the preprocess driver.

Light at import time: Pillow, pypdfium2 and numpy are imported inside the functions.

- :mod:`vlkd.images.decode`: open an image safely; every failure becomes ``SkipItem`` with a
  reason that names the file and the problem.
- :mod:`vlkd.images.files`: how the stages after ingest open an image file: pixels in a mode,
  its size, a thumbnail, a resized PNG for the teacher (all through ``decode``).
- :mod:`vlkd.images.color`: convert any Pillow mode (RGBA, P, CMYK, 16-bit, greyscale) to RGB.
- :mod:`vlkd.images.pdf`: page ranges and rasterising PDF pages with pypdfium2.
- :mod:`vlkd.images.preprocess_driver`: runs the ``preprocess`` stage (decode once, the steps
  in worker processes, encode once); the engine imports it only when that stage runs.
"""
