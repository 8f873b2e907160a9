"""Faults found by hostile testing: each one stored, failed per image, or redacted, never a crash."""

import base64
import io
import json

import pytest
from rich.console import Console

from vlkd.core.errors import StageError
from vlkd.testing.teach import image_hashes, ledger, read_pairs, recipe_yaml, section, teach_registry


def run_visible(tmp_path, folder, teach, **kw):
    """A run whose console output is captured (not quiet: the per-image notes are printed)."""
    from vlkd.core.engine import Engine
    from vlkd.core.progress import Reporter
    from vlkd.core.recipe import load_recipe

    path = tmp_path / "recipe.yaml"
    path.write_text(recipe_yaml(folder, teach), encoding="utf-8")
    out = io.StringIO()
    reporter = Reporter(console=Console(file=out, width=200, highlight=False))
    engine = Engine(load_recipe(path, registry=teach_registry()), tmp_path / "run", reporter=reporter, **kw)
    return engine.run(), out.getvalue()


@pytest.mark.parametrize("plugin", ["openai", "anthropic"])
def test_a_lone_surrogate_is_stored_and_never_asked_again(provider, images, run_teach, plugin):
    provider.answer = lambda image, req: '"图中的图标是什么?","\ud83d 警告灯"\n"有签名吗?","不存在"'
    folder = images(2)
    manifest, rd = run_teach(folder, section(provider, plugin))
    assert manifest["stages"]["teach"]["counts"]["ok"] == 2
    answers = {p["answer"] for p in read_pairs(rd)}
    assert "\ufffd 警告灯" in answers
    # a re-done stage reads every answer back from the cache: nothing is paid twice
    manifest, _ = run_teach(folder, section(provider, plugin), fresh=True)
    assert sum(provider.requests.values()) == 2
    assert manifest["stages"]["teach"]["usage"]["cached"] == 2


def test_markup_in_a_server_error_is_printed_literally(tmp_path, provider, images):
    folder = images(2)
    bad = image_hashes(folder)["img_000.png"]
    provider.image_faults[bad] = ["500::[/] [bold red]boom[/]"] * 3
    manifest, out = run_visible(tmp_path, folder, section(provider, max_retries=2, max_failed_share=1))
    assert manifest["stages"]["teach"]["counts"] == {
        "ok": 1,
        "skipped": 0,
        "failed": 1,
        "problems": manifest["stages"]["teach"]["counts"]["problems"],
    }
    assert "[/] [bold red]boom[/]" in out


def test_absurd_provider_usage_is_rejected_with_a_note(provider, images, run_teach):
    provider.faults = ["absurd_usage"]
    manifest, _ = run_teach(images(1), section(provider))
    teach = manifest["stages"]["teach"]
    assert teach["counts"]["ok"] == 1
    assert 0 < teach["usage"]["input_tokens"] < 100_000 and teach["usage"]["output_tokens"] > 0
    assert teach["usage"]["cost_usd"] < 1.0  # not the $2,500,000 that 1e12 tokens would cost
    assert teach["facts"]["usage_rejected"]["answers"] == 1
    assert "1000000000000" in teach["facts"]["usage_rejected"]["first"]


@pytest.mark.parametrize("plugin", ["openai", "anthropic"])
def test_a_json_answer_cut_off_is_asked_again_with_a_larger_limit(provider, images, run_teach, plugin):
    provider.faults = ["truncated"]
    _, rd = run_teach(images(1), section(provider, plugin, output="json", max_tokens=300))
    assert [b["max_tokens"] for b in provider.bodies] == [300, 600]
    assert len(read_pairs(rd)) == 3


def test_an_answer_always_cut_off_is_recorded_as_cut_off(provider, images, run_teach):
    provider.faults = ["truncated"] * 5
    _, rd = run_teach(
        images(1), section(provider, output="json", max_tokens=300, parse_retries=3, max_failed_share=1)
    )
    # bounded: twice the limit per try, never more than four times the configured limit
    assert [b["max_tokens"] for b in provider.bodies] == [300, 600, 1200, 1200]
    (entry,) = ledger(rd)
    assert entry["status"] == "failed" and entry["reason"].startswith("answer cut off at max_tokens 1200")


CONTEXT = (
    "400::This model's maximum context length is 4096 tokens. However, you requested 5123 tokens "
    "(3075 in the messages, 2048 in the completion). Please reduce the length of the messages or completion."
)


def test_a_prompt_over_the_context_fails_that_image_only(provider, images, run_teach):
    folder = images(3)
    big = image_hashes(folder)["img_001.png"]
    provider.image_faults[big] = [CONTEXT]
    manifest, rd = run_teach(folder, section(provider, max_failed_share=1))
    status = {e["key"]: e for e in ledger(rd)}
    assert manifest["stages"]["teach"]["counts"]["ok"] == 2
    assert status[big]["status"] == "failed" and "maximum context length" in status[big]["reason"]
    assert provider.requests[big] == 1  # not retried: it cannot succeed


def test_a_prompt_over_the_context_stops_the_stage_with_on_error_fail(provider, images, run_teach):
    folder = images(3)
    provider.image_faults[image_hashes(folder)["img_001.png"]] = [CONTEXT]
    with pytest.raises(StageError, match=r"stopped at image .*img_001\.png.*maximum context length"):
        run_teach(folder, section(provider, on_error="fail", concurrency=1))


@pytest.mark.parametrize("backend", ["httpx", "aiohttp"])
def test_secrets_in_base_url_and_query_never_reach_the_run_dir(provider, images, tmp_path, backend):
    url = provider.openai_url.replace("http://", "http://alice:sk-url-SECRET-123@")
    # a proxy's basic auth (the URL's user:password) replaces the bearer key: the server takes
    # nothing else (aiohttp refused such a URL: "Cannot combine AUTHORIZATION header with ...")
    provider.api_key = "Basic " + base64.b64encode(b"alice:sk-url-SECRET-123").decode()
    folder = images(2)
    echo = "500::echo http://alice:sk-url-SECRET-123@host sk-query-SECRET-789"
    provider.image_faults[image_hashes(folder)["img_000.png"]] = [echo, echo]
    query = {"api-version": "2024-06-01", "token": "sk-query-SECRET-789"}
    teach = section(
        provider, base_url=url, query=query, max_retries=1, http_backend=backend, max_failed_share=1
    )
    manifest, out = run_visible(tmp_path, folder, {**teach, "api_key": "sk-test-0123456789abcdef"})
    rd = tmp_path / "run"
    assert manifest["stages"]["teach"]["counts"]["ok"] == 1
    (failed,) = [e for e in ledger(rd) if e["status"] == "failed"]
    assert "echo http://alice:***@host ***" in failed["reason"]
    written = b"".join(p.read_bytes() for p in rd.rglob("*") if p.is_file())
    for secret in (b"sk-url-SECRET-123", b"sk-query-SECRET-789", provider.api_key[6:].encode()):
        assert secret not in written
        assert secret.decode() not in out
    assert "alice:***@host" in "".join(out.split())  # the failure is printed, redacted
    resolved = json.loads((rd / "manifest.json").read_text())["recipe"]["resolved"]["teach"]
    assert resolved["base_url"].startswith("http://alice:***@127.0.0.1")
    assert resolved["query"] == {"api-version": "2024-06-01", "token": "***"}


def test_redact_url():
    from vlkd.teach.options import redact_url, url_secrets

    url = "https://bob:pa55word@gw.example.com:8443/v1?api-version=2024-06-01&key=AIzaSECRET"
    assert redact_url(url) == "https://bob:***@gw.example.com:8443/v1?api-version=2024-06-01&key=***"
    assert url_secrets(url) == ["pa55word", "AIzaSECRET", base64.b64encode(b"bob:pa55word").decode()]
    assert redact_url("http://localhost:8000/v1") == "http://localhost:8000/v1"


def test_a_log_gets_plain_progress_lines_with_spend_tokens_retries_and_429s(
    tmp_path, provider, images, monkeypatch
):
    monkeypatch.setenv("VLKD_PROGRESS_SECONDS", "0")
    provider.faults = ["429:0.01", "500"]
    _, out = run_visible(tmp_path, images(3), section(provider, concurrency=1))
    lines = [x for x in out.splitlines() if x.startswith("teach: ")]
    assert lines[-1].startswith("teach: 3/3 (100%)")
    assert "$0.0" in lines[-1] and " tokens" in lines[-1]
    assert "2 retries" in lines[-1] and "1× 429" in lines[-1]
