"""``vlkd student tiny`` on a full disk: one line saying so, and no half-built folder left."""

import os
import shutil
import subprocess
import sys

import pytest

pytest.importorskip("transformers")


def _small_disk_prefix(mount_point) -> list[str]:
    """A command prefix that runs its command with a 300 kB tmpfs at ``mount_point``, in a mount
    namespace of its own (nothing to unmount afterwards; no root needed where user namespaces
    are allowed)."""
    unshare = shutil.which("unshare")
    if unshare is None:
        pytest.skip("no unshare here: a small disk cannot be made")
    probe = subprocess.run(
        [unshare, "-rm", "sh", "-c", f"mount -t tmpfs -o size=300k tmpfs {mount_point}"], capture_output=True
    )
    if probe.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {probe.stderr.decode(errors='replace').strip()}")
    return [unshare, "-rm", "sh", "-c", f'mount -t tmpfs -o size=300k tmpfs {mount_point} && exec "$@"', "sh"]


def test_a_full_disk_while_building_the_tiny_student_is_one_line(tmp_path):
    small = tmp_path / "small"
    small.mkdir()
    cmd = [
        *_small_disk_prefix(small),
        sys.executable,
        "-m",
        "vlkd",
        "student",
        "tiny",
        "qwen2_vl",
        str(small / "st"),
    ]
    env = {**os.environ, "VLKD_DISABLE_PLUGIN_AUTOLOAD": "1", "COLUMNS": "250"}
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert f"{small / 'st'}: cannot write the tiny student: No space left on device" in lines[0]
