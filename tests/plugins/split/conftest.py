import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent.parent / "formats"))

from vlkd_fake_run import fake_run  # noqa: F401
