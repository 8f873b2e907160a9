"""The documentation cannot drift: the site builds in strict mode (a broken link, a missing page or
an anchor that does not exist fails), its reference pages are generated from the code, every
recipe it shows validates, and every command it shows exists with the options shown."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from vlkd.core.errors import RecipeError
from vlkd.core.recipe import build_recipe
from vlkd.core.recipe_source import load_recipe_source
from vlkd.core.registry import Registry, get_plugin_manager, load_registry
from vlkd.core.stages import STAGE_KINDS, STAGE_NAMES
from vlkd.testing.cli import command_tree, leaf_commands

ROOT = Path(__file__).resolve().parents[2]
PAGES = sorted([ROOT / "README.md", ROOT / "README.zh-CN.md", *(ROOT / "docs").rglob("*.md")])
CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
QUIET_MKDOCS = {"NO_MKDOCS_2_WARNING": "1", "DISABLE_MKDOCS_2_WARNING": "true"}


def blocks(language: str):
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        for match in re.finditer(rf"^ *```{language}\n(.*?)^ *```", text, re.S | re.M):
            line = text[: match.start()].count("\n") + 1
            yield page, line, _dedent(match.group(1))


def _dedent(block: str) -> str:
    lines = block.split("\n")
    indent = min((len(x) - len(x.lstrip()) for x in lines if x.strip()), default=0)
    return "\n".join(x[indent:] for x in lines)


def where(page: Path, line: int) -> str:
    return f"{page.relative_to(ROOT)}:{line}"


# -- the site -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    try:
        import material  # noqa: F401
        import mkdocs  # noqa: F401
        import mkdocs_gen_files  # noqa: F401
    except ImportError:
        if CI:
            pytest.fail('CI=true and the docs extra is missing: pip install -e ".[docs]"', pytrace=False)
        pytest.skip('the docs extra is missing: pip install -e ".[docs]"')
    out = tmp_path_factory.mktemp("site")
    env = {**os.environ, **QUIET_MKDOCS, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return out


def test_the_site_builds_in_strict_mode_with_every_page(site):
    for page in (ROOT / "docs").rglob("*.md"):
        built = site / page.relative_to(ROOT / "docs").with_suffix(".html")
        assert built.is_file(), f"{page.relative_to(ROOT)} was not built"


def test_the_option_reference_has_every_plugin_and_option(site):
    text = (site / "reference" / "options.html").read_text(encoding="utf-8")
    registry = load_registry(autoload=False)
    for info in registry.all():
        assert f"{info.kind.name}: <code>{info.name}</code>" in text, info.name
        for name in info.cls.Options.model_fields:
            if name != "plugin":
                assert f"<code>{name}</code>" in text, f"{info.kind.name}:{info.name}.{name}"


def test_the_command_reference_has_every_command(site):
    text = (site / "reference" / "cli.html").read_text(encoding="utf-8")
    for command in leaf_commands():
        assert f"vlkd {command}" in text, command


def test_the_api_reference_has_every_public_name(site):
    from vlkd import api

    text = (site / "reference" / "api.html").read_text(encoding="utf-8")
    for name in api.__all__:
        assert f'id="{name.lower()}"' in text or f"<code>{name}</code>" in text, name


# -- what the pages show ----------------------------------------------------------------------


def _recipe_blocks():
    for page, line, block in blocks("yaml"):
        data = yaml.safe_load(block)
        if isinstance(data, dict) and (set(data) & {*STAGE_NAMES, "student", "extends"}):
            yield pytest.param(page, block, id=where(page, line))


@pytest.fixture(scope="module")
def registry():
    return Registry(get_plugin_manager(autoload=False))


@pytest.mark.parametrize(("page", "block"), list(_recipe_blocks()))
def test_every_recipe_shown_in_the_docs_validates(page, block, registry, tmp_path, monkeypatch):
    """A whole recipe (it names a base, or its own name) is resolved like `vlkd validate`, from where
    its first comment line says it lives (`# recipes/brands/byd.yaml`; else the repository's root);
    a fragment's sections are validated by their plugins' options.
    Example data paths (data/byd/manifest.csv) need not exist here; anything else is a docs bug."""
    for var in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "VLLM_API_KEY"):
        monkeypatch.setenv(var, "unused")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "no-downloads"))
    data = yaml.safe_load(block)
    if "extends" in data or "name" in data:
        bases = data.get("extends", [])
        bases = [bases] if isinstance(bases, str) else bases
        named = re.match(r"# ([\w./-]+\.ya?ml)\s*$", block.split("\n", 1)[0])
        home = (ROOT / named.group(1)).parent if named else ROOT
        data["extends"] = [str((home / base).resolve()) for base in bases]
        recipe = tmp_path / "recipe.yaml"
        recipe.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
        try:
            build_recipe(load_recipe_source(recipe, ()), registry)
        except RecipeError as exc:
            real = [x for x in str(exc).splitlines() if x.strip() and "no such file or directory" not in x]
            assert not real, "\n".join(real)
        return
    from pydantic import ValidationError

    from vlkd.core.student import StudentOptions

    for key, section in data.items():
        if key == "student":
            StudentOptions.model_validate(section if isinstance(section, dict) else {"model": section})
            continue
        if key not in STAGE_NAMES:
            continue
        steps = section["steps"] if isinstance(section, dict) and "steps" in section else section
        for step in steps if isinstance(steps, list) else [steps]:
            options = registry.get(key, step["plugin"]).cls.Options
            try:
                options.model_validate(step)
            except ValidationError as exc:
                real = [e for e in exc.errors() if "no such file or directory" not in e["msg"]]
                assert not real, real


def _command_lines():
    for page, line, block in blocks("bash"):
        for offset, text in enumerate(block.split("\n")):
            text = text.split(" #", 1)[0].strip()
            for part in re.split(r"&&|\|\||;|\|", text):
                part = part.strip()
                if part.startswith("vlkd "):
                    yield pytest.param(part, id=f"{where(page, line + 1 + offset)}")


@pytest.mark.parametrize("command", list(_command_lines()))
def test_every_command_shown_in_the_docs_exists_with_its_options(command, monkeypatch):
    monkeypatch.delenv("VLKD_PLUGINS", raising=False)
    words = shlex.split(command)[1:]
    cmd = command_tree()
    path = ["vlkd"]
    while getattr(cmd, "commands", None) and words and not words[0].startswith("-"):
        assert words[0] in cmd.commands, f"`{' '.join(path)}` has no command '{words[0]}': {command}"
        cmd = cmd.commands[words.pop(0)]
        path.append(cmd.name)
    known = {opt for param in cmd.params for opt in (*param.opts, *param.secondary_opts)}
    known |= {"--help", "-h", "--version"}
    for word in words:
        if word.startswith("-") and not re.fullmatch(r"-\d.*", word):
            assert word.split("=", 1)[0] in known, f"`{' '.join(path)}` has no option {word}: {command}"


def test_the_readme_starts_with_the_two_commands_ci_runs():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    first = re.search(r"```bash\n(.*?)```", readme, re.S).group(1)
    commands = [x for x in first.split("\n") if x.strip() and not x.startswith("#")]
    assert commands == [
        'pip install -e ".[demo]" && vlkd run recipes/demo.yaml',
        'pip install -e ".[dev]" -e ./examples/vlkd-example-plugin && pytest',
    ]
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert '"${install[@]}" -e ".[dev]" -e ./examples/vlkd-example-plugin' in ci
    assert re.search(r"^python -m pytest\b", ci, re.M)


def test_the_readme_stays_short_and_has_a_chinese_twin():
    assert (ROOT / "README.md").stat().st_size < 15_000
    zh = (ROOT / "README.zh-CN.md").read_text(encoding="utf-8")
    assert 'pip install -e ".[demo]" && vlkd run recipes/demo.yaml' in zh
    assert "README.zh-CN.md" in (ROOT / "README.md").read_text(encoding="utf-8")


def test_every_markdown_link_in_the_readmes_points_at_a_file():
    for readme in (ROOT / "README.md", ROOT / "README.zh-CN.md"):
        for target in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", readme.read_text(encoding="utf-8")):
            if "://" in target:
                continue
            assert (ROOT / target).exists(), f"{readme.name} links to {target}, which does not exist"


def test_every_stage_has_a_page():
    for kind in STAGE_KINDS:
        pages = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "docs" / "stages").glob("*.md"))
        pages += (ROOT / "docs" / "how-to" / "teachers.md").read_text(encoding="utf-8")
        assert re.search(rf"^#+ .*\b{kind.name}\b", pages, re.M), kind.name


def test_the_screenshot_script_takes_every_screenshot_the_docs_show(tmp_path):
    """docs/screenshots.py regenerates the review page's pictures from a real page in Chromium."""
    import shutil

    from vlkd.testing.fake_run import FakeRun, make_images, make_pairs

    if not shutil.which("chromium"):
        if CI:
            pytest.fail("CI=true and chromium is missing", pytrace=False)
        pytest.skip("chromium is missing")
    pytest.importorskip("playwright")
    images = make_images(tmp_path / "images", 2, size=(640, 420))
    run = FakeRun(
        tmp_path,
        {"review": {"plugin": "spreadsheet", "require_approval": True}},
        images,
        make_pairs(images, 2),
    )
    assert run.run()["status"] == "waiting"
    out = tmp_path / "shots"
    result = subprocess.run(
        [sys.executable, str(ROOT / "docs" / "screenshots.py"), str(run.run_dir), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    shown = set()
    for page in PAGES:
        shown |= set(re.findall(r"images/([\w-]+\.png)", page.read_text(encoding="utf-8")))
    made = {p.name for p in out.glob("*.png")}
    assert shown and shown <= made, f"the docs show {shown - made}, which the script does not make"
    from PIL import Image

    for path in out.glob("*.png"):
        with Image.open(path) as image:
            assert image.width in (1280, 390)
            extrema = image.convert("L").getextrema()
            assert extrema[1] - extrema[0] > 100, f"{path.name} is blank"
