"""``python -m vlkd.testing.fake_provider --help``: its options, the key it expects, and teach
sections that work against it as printed."""

import subprocess
import sys

import yaml

from vlkd.testing.extras import needs


def help_text() -> str:
    result = subprocess.run(
        [sys.executable, "-m", "vlkd.testing.fake_provider", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_help_documents_every_option_and_the_key():
    from vlkd.testing.fake_provider import DEFAULT_KEY

    text = help_text()
    for option, words in (
        ("--port", "a free one"),
        ("--latency", "seconds"),
        ("--rpm", "429"),
        ("--burst", "at once"),
        ("--api-key", DEFAULT_KEY),
    ):
        line = text[text.index(f"  {option} ") :].split("\n  -", 1)[0]
        assert words in " ".join(line.split()), (option, line)
    assert "401" in text and "GET /_stats" in text


@needs("openai", "anthropic")
def test_the_teach_sections_it_prints_answer_against_it(tmp_path):
    from vlkd.core.engine import Engine
    from vlkd.core.progress import Reporter
    from vlkd.core.recipe import load_recipe
    from vlkd.testing.fake_provider import FakeProvider
    from vlkd.testing.teach import make_images, teach_registry

    sections = [
        yaml.safe_load(line.split("teach:", 1)[1]) for line in help_text().splitlines() if "teach:" in line
    ]
    assert [s["plugin"] for s in sections] == ["openai", "anthropic"]
    make_images(tmp_path / "img", 1)
    with FakeProvider() as server:
        for teach in sections:
            teach["base_url"] = teach["base_url"].replace("http://127.0.0.1:PORT", server.url)
            path = tmp_path / f"{teach['plugin']}.yaml"
            ingest = {"plugin": "files", "inputs": str(tmp_path / "img")}
            path.write_text(yaml.safe_dump({"name": "t", "ingest": ingest, "teach": teach}), encoding="utf-8")
            run_dir = tmp_path / teach["plugin"]
            manifest = Engine(
                load_recipe(path, registry=teach_registry()), run_dir, reporter=Reporter(quiet=True)
            ).run()
            assert manifest["stages"]["teach"]["counts"]["ok"] == 1
