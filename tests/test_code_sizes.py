"""scripts/code_sizes.py: the largest files and functions, counted from the source (ast)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).parents[1] / "scripts" / "code_sizes.py"


def test_it_lists_the_largest_files_and_functions(tmp_path):
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    long_body = "\n".join(f"    x{i} = {i}" for i in range(70))
    (pkg / "big.py").write_text(f"class A:\n    def long(self):\n{long_body.replace('    ', '        ')}\n")
    (pkg / "small.py").write_text("def short():\n    return 1\n")
    out = subprocess.run(
        [sys.executable, str(SCRIPT), str(pkg), "--top", "2"], capture_output=True, text=True, check=True
    ).stdout
    lines = out.splitlines()
    assert lines[0] == "2 files, 74 lines; 1 functions over 60 lines"
    assert lines[2].split() == ["72", f"{pkg}/big.py"]
    assert lines[5].split() == ["71", f"{pkg}/big.py:2", "A.long"]
