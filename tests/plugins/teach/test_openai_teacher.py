"""The openai teacher through the official SDK against a local server speaking the wire format."""

import json

import pytest

from vlkd.core.errors import RunInterrupted, StageError
from vlkd.testing.teach import image_hashes, ledger, read_pairs, section


def test_pairs_and_the_request_sent(provider, images, run_teach):
    folder = images(3)
    manifest, rd = run_teach(
        folder,
        section(
            provider,
            detail="high",
            temperature=0.2,
            max_tokens=512,
            extra={"top_p": 0.9, "repetition_penalty": 1.05},
        ),
    )
    pairs = read_pairs(rd)
    assert len(pairs) == 9 and {p["image_id"] for p in pairs} == set(image_hashes(folder).values())
    torque = [p for p in pairs if p["question"] == "图中的拧紧力矩是多少?"]
    assert {p["answer"] for p in torque} == {
        "25 N·m, 分两次拧紧"
    }  # the comma the seed's split(',') breaks on
    negatives = [p for p in pairs if p["negative"]]
    assert len(negatives) == 3 and all(p["answer"] == "不存在" for p in negatives)
    assert pairs[0]["provenance"]["plugin"] == "openai" and pairs[0]["provenance"]["model"] == "gpt-4o"
    body = provider.bodies[0]
    assert body["messages"][0]["role"] == "system" and body["messages"][0]["content"].startswith("# 角色")
    image_part = body["messages"][1]["content"][-1]
    assert image_part["image_url"]["url"].startswith("data:image/png;base64,")
    assert image_part["image_url"]["detail"] == "high"
    assert (body["temperature"], body["max_tokens"], body["top_p"], body["repetition_penalty"]) == (
        0.2,
        512,
        0.9,
        1.05,
    )
    teach = manifest["stages"]["teach"]
    assert teach["counts"]["ok"] == 3 and teach["usage"]["requests"] == 3 and teach["usage"]["cost_usd"] > 0
    assert teach["facts"]["negatives"] == 3 and teach["facts"]["pairs_per_image"]["max"] == 3


@pytest.mark.parametrize("backend", ["aiohttp", "httpx"])
def test_every_fault_retried_or_recorded_and_no_image_twice(provider, images, run_teach, backend):
    folder = images(6)
    h = list(image_hashes(folder).values())
    provider.hang = 6.0
    provider.image_faults.update(
        {
            h[0]: ["429:0.05", "500"],
            h[1]: ["503", "timeout"],
            h[2]: ["drop", "drop"],
            h[3]: ["malformed"],  # unparsable once: asked again, then fine
            h[4]: ["malformed", "malformed", "malformed"],  # never parsable: failed, raw text kept
        }
    )
    manifest, rd = run_teach(
        folder, section(provider, timeout=2.0, parse_retries=2, concurrency=4, http_backend=backend)
    )
    entries = ledger(rd)
    assert sorted(e["key"] for e in entries) == sorted(h)  # each image exactly once
    status = {e["key"]: e["status"] for e in entries}
    assert [status[k] for k in h] == ["ok", "ok", "ok", "ok", "failed", "ok"]
    failed = next(e for e in entries if e["status"] == "failed")
    assert failed["reason"].startswith("unparsable answer after 3 tries")
    assert failed["raw"] == "抱歉,我无法以CSV格式回答。"
    failures = [json.loads(x) for x in (rd / "teach" / "failures.jsonl").read_text().splitlines()]
    assert failures[0]["raw"] == "抱歉,我无法以CSV格式回答。"
    assert [provider.requests[k] for k in h] == [3, 3, 3, 2, 3, 1]
    assert manifest["stages"]["teach"]["facts"]["retries"] == {
        "429": 1,
        "5xx": 2,
        "timeout": 1,
        "connection": 2,
    }
    assert {p["image_id"] for p in read_pairs(rd)} == set(h) - {h[4]}


def test_gives_up_after_max_retries(provider, images, run_teach):
    folder = images(1)
    provider.faults = ["500"] * 10
    _, rd = run_teach(folder, section(provider, max_retries=2, max_failed_share=1))
    (entry,) = ledger(rd)
    assert entry["status"] == "failed" and entry["reason"].startswith(
        "gave up after 3 tries: 500 server error"
    )
    assert sum(provider.requests.values()) == 3


def test_401_stops_at_once_with_a_clear_message_and_no_key(provider, images, run_teach):
    folder = images(4)
    with pytest.raises(StageError) as err:
        run_teach(folder, section(provider, api_key="sk-wrong-key-0000000000"))
    msg = str(err.value)
    assert "401" in msg and "bad or missing API key: set OPENAI_API_KEY" in msg
    assert "sk-wrong-key-0000000000" not in msg
    assert sum(provider.requests.values()) <= 4  # no retries of a 401


def test_unknown_model_404(provider, images, run_teach):
    provider.models = {"gpt-4o"}
    with pytest.raises(StageError, match="unknown model 'gpt-4q' or wrong base_url"):
        run_teach(images(2), section(provider, model="gpt-4q"))


def test_400_refused_stops(provider, images, run_teach):
    provider.faults = ["400"]
    with pytest.raises(StageError, match=r"400 .*injected 400 .*refused the request"):
        run_teach(images(1), section(provider))


def test_missing_key_without_base_url(images, run_teach, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(StageError, match="has no API key: set OPENAI_API_KEY"):
        run_teach(images(1), {"plugin": "openai"})


def test_cache_means_never_paying_twice(provider, images, run_teach):
    folder = images(4)
    run_teach(folder, section(provider))
    assert sum(provider.requests.values()) == 4
    manifest, rd = run_teach(folder, section(provider), fresh=True)  # stage redone, cache kept
    assert sum(provider.requests.values()) == 4
    assert manifest["stages"]["teach"]["usage"]["cached"] == 4 and len(read_pairs(rd)) == 12
    run_teach(folder, section(provider), fresh=True, no_cache=True)
    assert sum(provider.requests.values()) == 8
    # a change of generation parameters is a new question
    run_teach(folder, section(provider, temperature=0.0))
    assert sum(provider.requests.values()) == 12


def test_key_never_written_anywhere(provider, images, run_teach, monkeypatch, tmp_path):
    monkeypatch.setenv("MY_TEACHER_KEY", provider.api_key)
    monkeypatch.setenv("MY_GATEWAY_KEY", "gw-secret-4242-4242")
    provider.faults = ["500", "429:0.01"]
    teach = section(provider, headers={"api-key": "${env:MY_GATEWAY_KEY}"})  # Azure-style header key
    teach["api_key"] = "${env:MY_TEACHER_KEY}"
    _, rd = run_teach(images(3), teach)
    for secret in (provider.api_key.encode(), b"gw-secret-4242-4242"):
        for path in rd.rglob("*"):
            if path.is_file():
                assert secret not in path.read_bytes(), path
    manifest = (rd / "manifest.json").read_text()
    assert "MY_TEACHER_KEY" not in manifest or provider.api_key not in manifest


def test_key_from_the_usual_variable(provider, images, run_teach, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", provider.api_key)
    teach = section(provider)
    del teach["api_key"]
    manifest, _ = run_teach(images(1), teach)
    assert manifest["stages"]["teach"]["counts"]["ok"] == 1


def test_max_cost_stops_before_the_budget_and_resumes(provider, images, run_teach):
    folder = images(6)
    # a made-up price: each call's worst case (max_tokens 100) is about $0.10-0.13
    teach = section(
        provider,
        max_tokens=100,
        concurrency=1,
        prices={"gpt-4o": {"input": 100, "output": 100}},
        max_cost=0.3,
    )
    with pytest.raises(RunInterrupted, match=r"teach.max_cost \$0.3000 reached .*images not taught yet"):
        run_teach(folder, teach)
    rd = folder.parent / "run"
    manifest = json.loads((rd / "manifest.json").read_text())
    spent = manifest["stages"]["teach"]["usage"]["cost_usd"]
    assert 0 < spent <= 0.3 and manifest["stages"]["teach"]["status"] == "interrupted"
    done = [e["key"] for e in ledger(rd)]
    assert 1 <= len(done) < 6
    before = dict(provider.requests)
    manifest, rd = run_teach(folder, {**teach, "max_cost": 100.0})
    assert manifest["stages"]["teach"]["counts"]["ok"] == 6
    assert all(provider.requests[k] == before[k] for k in done)  # finished images not asked again


def test_json_mode_uses_response_format(provider, images, run_teach):
    provider.faults = ["malformed"]  # "{not json" once: asked again
    _, rd = run_teach(images(2), section(provider, output="json", concurrency=1))
    assert sorted(provider.requests.values()) == [1, 2]
    fmt = provider.bodies[0]["response_format"]
    assert fmt["type"] == "json_schema" and fmt["json_schema"]["schema"]["required"] == ["pairs"]
    assert "JSON" in provider.bodies[0]["messages"][0]["content"]
    assert len(read_pairs(rd)) == 6


def test_client_rpm_keeps_under_the_server_limit(provider, images, run_teach):
    # the server allows two at once and one more per 25 ms; we send one per 100 ms (room for jitter)
    provider.rpm, provider.burst, provider._tokens = 2400, 2, 2
    manifest, _ = run_teach(images(8), section(provider, rpm=600, concurrency=8))
    assert provider.statuses[429] == 0 and manifest["stages"]["teach"]["counts"]["ok"] == 8


def test_server_rate_limit_429s_lose_nothing(provider, images, run_teach):
    provider.rpm, provider.burst, provider._tokens = 3000, 2, 2
    manifest, rd = run_teach(images(12), section(provider, concurrency=12))
    assert provider.statuses[429] > 0
    assert manifest["stages"]["teach"]["counts"]["ok"] == 12 and len(ledger(rd)) == 12


def test_on_error_fail_stops(provider, images, run_teach):
    provider.faults = ["malformed"] * 3
    with pytest.raises(StageError, match=r"stage 'teach' stopped at image .*unparsable answer"):
        run_teach(images(1), section(provider, on_error="fail"))


def test_dry_run_prints_calls_tokens_and_cost(provider, images, tmp_path, capsys):
    import io

    from rich.console import Console

    from vlkd.core.engine import Engine
    from vlkd.core.progress import Reporter
    from vlkd.core.recipe import load_recipe
    from vlkd.testing.teach import recipe_yaml, teach_registry

    folder = images(3)
    path = tmp_path / "r.yaml"
    path.write_text(recipe_yaml(folder, section(provider)), encoding="utf-8")
    out = io.StringIO()
    reporter = Reporter(console=Console(file=out, width=200))
    Engine(
        load_recipe(path, registry=teach_registry()), tmp_path / "run", dry_run=True, reporter=reporter
    ).run()
    text = out.getvalue()
    # a new run directory: ingest runs in a scratch directory, the teacher's calls are counted
    assert "gpt-4o: 3 images: 0 done, 0 cached, 3 calls to make" in text and not provider.requests
    assert not (tmp_path / "run").exists()
    Engine(
        load_recipe(path, registry=teach_registry()), tmp_path / "run", reporter=Reporter(quiet=True)
    ).run()
    assert sum(provider.requests.values()) == 3
    out.truncate(0)
    Engine(
        load_recipe(path, registry=teach_registry()),
        tmp_path / "run",
        dry_run=True,
        reporter=reporter,
        from_stage="teach",
    ).run()
    text = out.getvalue()
    assert "3 images: 3 done" in text or "3 cached, 0 calls" in text
    assert sum(provider.requests.values()) == 3


def test_ocr_context_adds_the_text_read_from_the_image(provider, tmp_path, run_teach, monkeypatch):
    from PIL import Image, ImageDraw, ImageFont

    folder = tmp_path / "doc"
    folder.mkdir()
    img = Image.new("RGB", (520, 120), "white")
    ImageDraw.Draw(img).text(
        (20, 40),
        "Part No.: 90915-YZZD2",
        fill="black",
        font=ImageFont.truetype("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", 28),
    )
    img.save(folder / "label.png")
    run_teach(folder, section(provider, ocr_context=True))
    user_text = provider.bodies[0]["messages"][1]["content"][0]["text"]
    assert user_text.startswith("以下是OCR") and "90915-YZZD2" in user_text.replace(" ", "")
    # a redone stage takes the OCR text and the answer from the cache: no OCR, no request
    import vlkd.ocr as engine

    monkeypatch.setattr(engine, "ocr_text", None)  # a call would fail the image
    manifest, _ = run_teach(folder, section(provider, ocr_context=True), fresh=True)
    assert manifest["stages"]["teach"]["usage"]["cached"] == 1 and sum(provider.requests.values()) == 1


@pytest.mark.parametrize("plugin", ["openai", "anthropic"])
def test_answer_cut_off_by_max_tokens_loses_only_its_last_row(provider, images, run_teach, plugin):
    provider.faults = ["truncated"]
    teach = (
        section(provider)
        if plugin == "openai"
        else {
            "plugin": "anthropic",
            "model": "claude-sonnet-4-6",
            "base_url": provider.anthropic_url,
            "api_key": provider.api_key,
        }
    )
    _, rd = run_teach(images(1), teach)
    assert [(p["question"], p["answer"]) for p in read_pairs(rd)] == [("图中的零件编号是什么?", "P-1")]
    (entry,) = ledger(rd)
    assert entry["dropped"][0]["reason"] == "cut off by max_tokens"


def test_max_cost_needs_a_price(provider, images, run_teach):
    with pytest.raises(
        StageError, match=r"max_cost is set but model 'my-vlm' has no price; add it: teach.prices"
    ):
        run_teach(images(1), section(provider, model="my-vlm", max_cost=1.0))
    assert sum(provider.requests.values()) == 0


def test_bad_service_options_point_at_the_recipe_line(provider, images, tmp_path):
    from vlkd.core.errors import RecipeError
    from vlkd.core.recipe import load_recipe
    from vlkd.testing.teach import teach_registry

    path = tmp_path / "r.yaml"
    path.write_text(
        f"name: t\ningest:\n  plugin: files\n  inputs: {images(1)}\nteach:\n  plugin: openai\n"
        f"  concurrency: 0\n  output: xml\n  temprature: 0.5\n",
        encoding="utf-8",
    )
    with pytest.raises(RecipeError) as err:
        load_recipe(path, registry=teach_registry())
    msg = str(err.value)
    assert "r.yaml:7:3: teach.concurrency: Input should be greater than or equal to 1" in msg
    assert "r.yaml:8:3: teach.output: Input should be 'csv' or 'json'" in msg
    assert "teach.temprature: unknown key 'temprature' (did you mean 'temperature'?)" in msg
