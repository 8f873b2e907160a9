"""The anthropic teacher through the official SDK against the local Messages-API server."""

import pytest

from vlkd.core.errors import StageError
from vlkd.testing.teach import image_hashes, ledger, read_pairs


def section(provider, **kw):
    return {
        "plugin": "anthropic",
        "model": "claude-sonnet-4-6",
        "base_url": provider.anthropic_url,
        "api_key": provider.api_key,
        "retry_initial_delay": 0.01,
        **kw,
    }


def test_pairs_image_blocks_and_system(provider, images, run_teach):
    folder = images(2)
    manifest, rd = run_teach(folder, section(provider, temperature=0.3, max_tokens=300))
    assert len(read_pairs(rd)) == 6
    body = provider.bodies[0]
    block = body["messages"][0]["content"][0]
    assert block["type"] == "image" and block["source"]["type"] == "base64"
    assert block["source"]["media_type"] == "image/png"
    assert body["system"].startswith("# 角色") and body["temperature"] == 0.3 and body["max_tokens"] == 300
    usage = manifest["stages"]["teach"]["usage"]
    assert usage["requests"] == 2 and usage["input_tokens"] > 0 and usage["cost_usd"] > 0


def test_json_mode_through_tool_use(provider, images, run_teach):
    _, rd = run_teach(images(2), section(provider, output="json"))
    body = provider.bodies[0]
    assert body["tool_choice"] == {"type": "tool", "name": "record_pairs"}
    assert body["tools"][0]["input_schema"]["required"] == ["pairs"]
    pairs = read_pairs(rd)
    assert len(pairs) == 6 and sum(p["negative"] for p in pairs) == 2


def test_overloaded_529_and_429_retried(provider, images, run_teach):
    folder = images(3)
    h = list(image_hashes(folder).values())
    provider.image_faults.update({h[0]: ["529", "529"], h[1]: ["429:0.02"], h[2]: ["drop"]})
    manifest, rd = run_teach(folder, section(provider))
    assert [e["status"] for e in ledger(rd)] == ["ok"] * 3
    assert manifest["stages"]["teach"]["facts"]["retries"] == {"5xx": 2, "429": 1, "connection": 1}


def test_bad_key(provider, images, run_teach):
    with pytest.raises(StageError, match=r"401 .*set ANTHROPIC_API_KEY"):
        run_teach(images(1), section(provider, api_key="nope-nope-nope"))
