"""Image helpers shared by the ingest and preprocess plugins.

Light at import time: Pillow, pypdfium2 and numpy are imported inside the functions.

- :mod:`vlkd.images.decode`: open an image safely; every failure becomes ``SkipItem`` with a
  reason that names the file and the problem.
- :mod:`vlkd.images.color`: convert any Pillow mode (RGBA, P, CMYK, 16-bit, greyscale) to RGB.
- :mod:`vlkd.images.pdf`: page ranges and rasterising PDF pages with pypdfium2.
"""
