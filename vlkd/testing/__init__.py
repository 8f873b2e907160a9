"""Test support for vlkd and for plugin authors; nothing here imports a heavy library.

- ``fixtures``: the pytest fixtures (``vlkd_registry``, ``vlkd_recipe``, ``vlkd_run_dir``,
  ``vlkd_images``, ``vlkd_plugin_manager``, ``vlkd_tiny_student``, ``vlkd_ray_cluster``), loaded into every test session that has vlkd
  installed through the ``pytest11`` entry point (this package);
- ``images``: generated test images, odd and broken ones included, and ``run_image_stages``;
- ``fake_provider``: a local OpenAI/Anthropic-compatible HTTP server for teacher tests
  (``python -m vlkd.testing.fake_provider``);
- ``fake_run``: a run directory whose ingest and teach stages are done, seeded with records;
- ``teach``: a small recipe and registry for teach-stage tests, and readers of their outputs;
- ``fixture_plugins``: stage plugins that exercise the engine (``VLKD_PLUGINS=vlkd.testing.fixture_plugins``);
- ``verify``: pages with known text and pairs about them, for verify-check tests;
- ``extras``: ``needs("openai")`` skips a test, naming the install command, without an extra;
- ``html``: ``read_html`` for report pages;
- ``cli``: ``run_vlkd`` (the command line in a subprocess), ``run_printed`` (a command vlkd
  printed, run as printed), ``edit_sheet`` (a reviewer's edit of a review CSV).
"""

from vlkd.testing.html import HtmlPage, read_html

try:
    import pytest  # noqa: F401
except ImportError:  # used without pytest (the fake provider as a server): no fixtures
    pass
else:
    from vlkd.testing.fixtures import (
        vlkd_images,
        vlkd_plugin_manager,
        vlkd_ray_cluster,
        vlkd_recipe,
        vlkd_registry,
        vlkd_run_dir,
        vlkd_tiny_student,
    )

__all__ = [
    "HtmlPage",
    "read_html",
    "vlkd_images",
    "vlkd_plugin_manager",
    "vlkd_ray_cluster",
    "vlkd_recipe",
    "vlkd_registry",
    "vlkd_run_dir",
    "vlkd_tiny_student",
]
