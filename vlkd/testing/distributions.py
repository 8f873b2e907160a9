"""A throwaway installed distribution with ``vlkd`` entry points, for tests of plugin loading.

``install_distribution(site, "acme-vlkd", "1.2", {"acme_vlkd.py": SOURCE}, {"acme": "acme_vlkd"})``
writes what an installer writes into a ``site-packages`` folder: the modules and a
``acme_vlkd-1.2.dist-info`` with ``METADATA``, ``entry_points.txt`` and ``RECORD``. Put ``site`` on
``PYTHONPATH`` (a subprocess) and ``importlib.metadata`` finds it like any installed package.
"""

from __future__ import annotations

import os
from pathlib import Path


def install_distribution(
    site: str | os.PathLike[str],
    project: str,
    version: str,
    files: dict[str, str],
    entry_points: dict[str, str],
) -> Path:
    """Install ``project`` ``version`` into ``site``; ``files`` maps module paths to source and
    ``entry_points`` maps a ``vlkd`` entry-point name to its module. Returns ``site``."""
    site = Path(site)
    site.mkdir(parents=True, exist_ok=True)
    for rel, text in files.items():
        (site / rel).parent.mkdir(parents=True, exist_ok=True)
        (site / rel).write_text(text, encoding="utf-8")
    info = site / f"{project.replace('-', '_')}-{version}.dist-info"
    info.mkdir(exist_ok=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {project}\nVersion: {version}\n", "utf-8")
    points = "".join(f"{name} = {target}\n" for name, target in entry_points.items())
    (info / "entry_points.txt").write_text(f"[vlkd]\n{points}", encoding="utf-8")
    (info / "INSTALLER").write_text("vlkd.testing\n", encoding="utf-8")
    record = [*files, *(f"{info.name}/{n}" for n in ("METADATA", "entry_points.txt", "INSTALLER", "RECORD"))]
    (info / "RECORD").write_text("".join(f"{r},,\n" for r in record), encoding="utf-8")
    return site
