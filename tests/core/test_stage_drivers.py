"""One ``StageDriver`` protocol: every stage kind's driver has the same shape, and costs nothing
until a stage of its kind runs."""

from __future__ import annotations

import subprocess
import sys

from vlkd.core.options import Options
from vlkd.core.stages import KINDS_BY_NAME, STAGE_KINDS, StageDriver


def test_every_kind_has_a_driver_of_the_one_shape():
    for kind in STAGE_KINDS:
        assert isinstance(kind.driver, StageDriver), kind.name
        settings = kind.driver.settings()
        assert (settings is not None) == kind.multi, kind.name  # a list of plugins has stage-level settings
        assert settings is None or issubclass(settings, Options)
    assert not KINDS_BY_NAME["preprocess"].driver.estimates
    assert KINDS_BY_NAME["teach"].driver.estimates and KINDS_BY_NAME["verify"].driver.estimates


def test_knowing_the_stages_imports_no_driver_machinery():
    code = (
        "import sys, vlkd.core.stages as s\n"
        "[k.driver for k in s.STAGE_KINDS]\n"
        "print(sorted(m for m in ('vlkd.teach.run', 'vlkd.teach.estimate', 'vlkd.verify.driver',"
        " 'vlkd.images.preprocess_driver', 'vlkd.core.drivers') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
