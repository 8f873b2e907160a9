"""``vlkd.api`` is the one door for plugin authors, and walking through it is cheap."""

import subprocess
import sys

import pytest

import vlkd
import vlkd.api
from vlkd.core import hookspecs


def test_every_public_name_resolves_to_the_core_object():
    from vlkd.core.plugin import Preprocessor
    from vlkd.core.records import Flag
    from vlkd.teach import Teacher

    for name in vlkd.api.__all__:
        assert getattr(vlkd.api, name) is not None, name
    assert vlkd.api.Preprocessor is Preprocessor
    assert vlkd.api.Teacher is Teacher
    assert vlkd.api.Flag is Flag
    assert set(dir(vlkd.api)) >= set(vlkd.api.__all__)


def test_vlkd_hookimpl_is_the_hook_marker():
    assert vlkd.hookimpl is hookspecs.hookimpl is vlkd.api.hookimpl


def test_an_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match=r"vlkd\.api' has no attribute 'Nope'"):
        vlkd.api.Nope  # noqa: B018
    with pytest.raises(AttributeError, match="'vlkd' has no attribute 'nope'"):
        vlkd.nope  # noqa: B018


def test_importing_the_api_loads_no_pydantic_and_using_it_no_heavy_library():
    code = (
        "import sys\n"
        "from vlkd.api import hookimpl\n"
        "print('pydantic' in sys.modules)\n"
        "import vlkd.api as api\n"
        "[getattr(api, n) for n in api.__all__]\n"
        "heavy = {'torch', 'transformers', 'peft', 'datasets', 'openai', 'anthropic', 'llamafactory',\n"
        "         'rapidocr_onnxruntime', 'onnxruntime', 'numpy', 'PIL', 'ray'}\n"
        "print(sorted(heavy & {m.split('.')[0] for m in sys.modules}))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[:2] == ["False", "[]"]


def test_the_example_plugin_and_the_docs_example_import_only_vlkd_api():
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    example = root / "examples" / "vlkd-example-plugin" / "vlkd_example_plugin" / "__init__.py"
    readme = (root / "docs" / "how-to" / "write-a-plugin.md").read_text(encoding="utf-8")
    plugin_block = next(b for b in re.findall(r"```python\n(.*?)```", readme, re.S) if "hookimpl" in b)
    for text in (example.read_text(encoding="utf-8"), plugin_block):
        imported = set(re.findall(r"^(?:from|import) (vlkd[\w.]*)", text, re.M))
        assert imported == {"vlkd.api"}, imported
