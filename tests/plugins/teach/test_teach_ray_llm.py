"""teach mode: ray_llm. Through Ray Data LLM's HTTP processor on a local Ray cluster against the
fake provider: the same requests, parsing and cache as online mode, and the canary that proves the
teacher saw the images. The vLLM-engine processor's configuration is built and checked here (it
needs GPUs to run)."""

import base64
import hashlib
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from vlkd.testing.teach import image_hashes, ledger, read_pairs, section

pytestmark = pytest.mark.timeout(1800)


def _sees_images(provider, run_dir):
    """The fake provider answers the canary's question from the canary's image, as a model that
    sees it would: it knows the canary images of the run's chunks by their bytes, nothing else."""
    from vlkd.distributed.ray_llm import CANARY_QUESTION, canary_number, canary_png

    def answer(image: str, req: dict):
        if CANARY_QUESTION not in str(req.get("messages", "")):
            return None
        chunks = (run_dir / "cache" / "teach" / "batch").glob("*.jsonl")
        numbers = [canary_number(p.name.removesuffix(".jsonl")) for p in chunks]
        known = {hashlib.sha256(canary_png(n)).hexdigest(): n for n in numbers}
        return known.get(image, "I see no image")

    provider.answer = answer


def _ray_llm(provider, **kw):
    return section(provider, mode="ray_llm", batch_poll_interval=0.05, ray_llm={"batch_size": 4}, **kw)


@pytest.fixture
def on_cluster(vlkd_ray_cluster, monkeypatch):
    import ray

    monkeypatch.setenv("RAY_ADDRESS", vlkd_ray_cluster.address)
    yield vlkd_ray_cluster
    ray.shutdown()


def _image_of(body: bytes) -> str:
    """The SHA-256 of the image a chat request carries."""
    for msg in json.loads(body)["messages"]:
        for part in msg["content"] if isinstance(msg["content"], list) else ():
            if part["type"] == "image_url":
                return hashlib.sha256(base64.b64decode(part["image_url"]["url"].split(",", 1)[1])).hexdigest()
    raise AssertionError("no image in the request")


def _no_system_prompt(tmp_path) -> dict:
    """No system message: every message's content is then a list of parts, which Ray Data keeps
    as Arrow structs (with a string content it pickles the column)."""
    empty = tmp_path / "no_system.txt"
    empty.write_text("", encoding="utf-8")
    return {"prompt": {"system": str(empty)}}


def test_ray_llm_teaches_through_ray_data_with_the_online_requests_and_cache(
    provider, images, run_teach, on_cluster, tmp_path
):
    folder = images(5)
    _sees_images(provider, folder.parent / "run")
    provider.keep_raw = True
    prompt = _no_system_prompt(tmp_path)
    manifest, rd = run_teach(folder, _ray_llm(provider, **prompt))
    teach = manifest["stages"]["teach"]
    assert teach["status"] == "done" and teach["counts"]["ok"] == 5
    pairs = read_pairs(rd)
    assert len(pairs) == 15  # the fake provider's three pairs per image, parsed as online
    hashes = image_hashes(folder)
    assert all(provider.requests[h] == 1 for h in hashes.values())  # each image asked once
    assert sum(provider.requests.values()) == 5 + 1  # and one canary for the one chunk
    through_ray = {_image_of(raw): raw for raw in provider.raw_bodies}
    # the same answers online (the run started over, its cache kept): nothing asked again
    online, _ = run_teach(folder, section(provider, **prompt), fresh=True)
    assert online["stages"]["teach"]["usage"]["cached"] == 5
    assert sum(provider.requests.values()) == 6
    assert read_pairs(rd) == pairs
    # online in a run of its own asks the server the very bytes Ray Data LLM sent for each image
    provider.raw_bodies.clear()
    run_teach(folder, section(provider, **prompt), run_dir=tmp_path / "online")
    asked_online = {_image_of(raw): raw for raw in provider.raw_bodies}
    assert set(asked_online) == set(hashes.values())
    for h, raw in asked_online.items():
        assert b'"text":null' not in through_ray[h] and b'"image_url":null' not in through_ray[h]
        assert through_ray[h] == raw


def _kill_mid_chunk(provider, folder, tmp_path):
    """A ray_llm run whose driver is killed (SIGKILL) while the chunk's last image hangs at the
    teacher, once at least two answers and the canary's are in the chunk's ``.parts``: (run dir,
    recipe, the images whose answers were kept)."""
    from vlkd.testing.teach import recipe_yaml

    rd = tmp_path / "run"
    _sees_images(provider, rd)
    hashes = image_hashes(folder)
    provider.image_faults[hashes["img_004.png"]] = ["timeout:300"]  # the chunk's last: it hangs
    teach = _ray_llm(provider)
    teach["ray_llm"] = {"batch_size": 1}
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(recipe_yaml(folder, teach), encoding="utf-8")
    proc = subprocess.Popen(
        [sys.executable, "-m", "vlkd", "run", str(recipe), "--run-dir", str(rd), "-q"],
        stdout=subprocess.DEVNULL,
        stderr=(tmp_path / "stderr.txt").open("wb"),
        start_new_session=True,
    )
    try:
        received = _wait_for_answers(rd / "cache" / "teach" / "batch", proc, tmp_path / "stderr.txt")
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
    provider.image_faults.clear()
    chunk = next(p for p in (rd / "cache" / "teach" / "batch").glob("*.jsonl") if p.name.count(".") == 1)
    image_of = {
        json.loads(line)["custom_id"]: _image_of(json.dumps(json.loads(line)["body"]).encode())
        for line in chunk.read_text(encoding="utf-8").splitlines()
    }
    kept = {image_of[k] for k in received if k in image_of}
    assert len(kept) >= 2
    return rd, recipe, kept


def test_a_ray_llm_run_killed_mid_chunk_asks_again_only_what_it_had_not_received(
    provider, images, on_cluster, tmp_path
):
    """The answers that had come are kept, and the next run asks only for the others."""
    folder = images(5)
    rd, recipe, kept = _kill_mid_chunk(provider, folder, tmp_path)
    # the next run (this process, the same recipe): the stage finishes, and no image whose answer
    # had come was asked again
    from vlkd.core.engine import Engine
    from vlkd.core.progress import Reporter
    from vlkd.core.recipe import load_recipe
    from vlkd.testing.teach import teach_registry

    manifest = Engine(
        load_recipe(recipe, [], registry=teach_registry()), rd, reporter=Reporter(quiet=True)
    ).run()
    assert manifest["stages"]["teach"]["counts"]["ok"] == 5
    assert len(read_pairs(rd)) == 15
    assert {h: provider.requests[h] for h in kept} == dict.fromkeys(kept, 1)
    assert all(provider.requests[h] >= 1 for h in image_hashes(folder).values())


def test_online_after_a_killed_ray_llm_run_takes_its_answers_and_asks_the_rest(
    provider, images, run_teach, on_cluster, tmp_path
):
    """Switched to mode: online after a ray_llm run killed mid-chunk: the answers in the chunk's
    .parts are taken (each received image asked once overall), the others asked online; a later
    batch run sends the chunk to nobody again."""
    folder = images(5)
    rd, _, kept = _kill_mid_chunk(provider, folder, tmp_path)
    hashes = image_hashes(folder)
    before = {h: provider.requests[h] for h in hashes.values()}
    manifest, _ = run_teach(folder, section(provider), run_dir=rd)
    teach = manifest["stages"]["teach"]
    assert teach["counts"]["ok"] == 5 and len(read_pairs(rd)) == 15
    assert teach["usage"]["cached"] == len(kept)
    assert {h: provider.requests[h] for h in kept} == dict.fromkeys(kept, 1)
    # the others: once more each, online
    assert {h: provider.requests[h] - before[h] for h in hashes.values() if h not in kept} == {
        h: 1 for h in hashes.values() if h not in kept
    }
    batch = rd / "cache" / "teach" / "batch"
    assert not list(batch.glob("*.parts")) and not list(batch.glob("*.canary.jsonl"))
    asked = sum(provider.requests.values())
    # taught again from scratch in ray_llm mode (the answers in the cache): no request at all
    manifest, _ = run_teach(folder, _ray_llm(provider), run_dir=rd, fresh=True)
    assert manifest["stages"]["teach"]["counts"]["ok"] == 5
    assert sum(provider.requests.values()) == asked


def _wait_for_answers(folder, proc, stderr, at_least: int = 2) -> set[str]:
    """The ids of the answers the chunk's block files hold, once they hold the canary's and
    ``at_least`` others."""
    from vlkd.distributed.ray_llm import CANARY_ID, received_ids

    end = time.monotonic() + 600  # a guard, not a timing assertion
    while time.monotonic() < end:
        assert proc.poll() is None, stderr.read_text(errors="replace")[-3000:]
        for parts in folder.glob("*.parts"):
            ids = received_ids(parts)
            if CANARY_ID in ids and len(ids - {CANARY_ID}) >= at_least:
                return ids - {CANARY_ID}
        time.sleep(0.2)
    raise AssertionError("no block of answers reached the chunk's .parts folder")


def test_a_teacher_that_never_sees_the_images_fails_the_chunk(provider, images, run_teach, on_cluster):
    from vlkd.core.errors import VlkdError

    folder = images(3)
    provider.answer = lambda image, req: "12345" if "number" in str(req.get("messages", "")) else None
    with pytest.raises(VlkdError, match="did not read the canary image") as exc:
        run_teach(folder, _ray_llm(provider))
    assert "ray#56125" in str(exc.value)
    # no answer of the chunk was kept: nothing in the ledger, nothing in the response cache
    assert not [e for e in ledger(folder.parent / "run") if e["status"] == "ok"]
    manifest, _ = run_teach(folder, section(provider))  # online now: every image is asked
    assert manifest["stages"]["teach"]["usage"].get("cached", 0) == 0


def test_the_vllm_engine_processor_config_follows_the_recipe():
    pytest.importorskip("ray")
    from vlkd.distributed.options import RayLLMOptions
    from vlkd.distributed.ray_llm import vllm_answer, vllm_processor_config, vllm_row

    opts = RayLLMOptions(
        engine="vllm",
        replicas=3,
        batch_size=32,
        tensor_parallel_size=4,
        max_model_len=8192,
        accelerator_type="H100",
    )
    config = vllm_processor_config("Qwen/Qwen2.5-VL-72B-Instruct", opts)
    assert config.model_source == "Qwen/Qwen2.5-VL-72B-Instruct"
    assert config.concurrency == 3 and config.batch_size == 32 and config.accelerator_type == "H100"
    assert config.engine_kwargs["tensor_parallel_size"] == 4
    assert config.engine_kwargs["max_model_len"] == 8192
    assert config.engine_kwargs["limit_mm_per_prompt"] == {"image": 1}
    # Ray 2.58's name for the stage that reads images out of the messages
    assert config.prepare_multimodal_stage["enabled"] is True
    body = {
        "model": "m",
        "messages": [
            {"role": "system", "content": "sys"},
            {
                "role": "user",
                "content": [{"type": "image_url", "image_url": {"url": "data:image/png;base64,AA"}}],
            },
        ],
        "max_tokens": 100,
        "temperature": 0.0,
        "response_format": {"type": "json_schema", "json_schema": {"schema": {"type": "object"}}},
    }
    row = vllm_row(body)
    assert json.loads(row["messages"]) == body["messages"]  # the same prompt, system message and image
    assert row["model"] == "m"  # the engines' own model: no LoRA request
    assert row["sampling_params"] == {
        "max_tokens": 100,
        "temperature": 0.0,
        "structured_outputs": {"json": '{"type":"object"}'},
    }
    out = vllm_answer(
        {
            "custom_id": "a",
            "generated_text": "x",
            "num_input_tokens": 7,
            "num_generated_tokens": 100,
            "max_tokens": 100,
        },
        "m",
    )
    assert out["choices"][0]["finish_reason"] == "length" and out["usage"]["total_tokens"] == 107


def test_ray_llm_options_are_only_where_they_apply():
    """The openai teacher has mode: ray_llm and its options; the anthropic teacher neither."""
    from vlkd.core.registry import load_registry
    from vlkd.core.schema import recipe_json_schema

    defs = recipe_json_schema(load_registry(autoload=False))["$defs"]
    openai = defs["OpenaiOpenAIOptions"]["properties"]
    anthropic = defs["AnthropicAnthropicOptions"]["properties"]
    assert "ray_llm" in openai and "ray_llm" in openai["mode"]["enum"]
    assert "ray_llm" not in anthropic and "ray_llm" not in anthropic["mode"]["enum"]


def test_the_gpus_a_recipe_asks_a_cluster_for():
    from vlkd.distributed.options import RayLLMOptions
    from vlkd.plugins.evaluate.student import StudentEvalOptions, StudentEvaluator

    assert RayLLMOptions(engine="http", replicas=4).gpus_needed("teach") is None
    n, why = RayLLMOptions(engine="vllm", replicas=3, tensor_parallel_size=2).gpus_needed("teach")
    assert n == 6 and why.startswith("teach.ray_llm: 3 vLLM engine(s)")
    for device, wanted in [("auto", None), ("cpu", None), ("cuda:1", 1.0)]:
        plugin = StudentEvaluator(StudentEvalOptions(plugin="student", device=device))
        assert (plugin.cluster_gpus() or (None,))[0] == wanted


def test_a_block_whose_writing_never_finished_is_asked_again(tmp_path):
    from vlkd.distributed.ray_llm import missing_lines, received_ids

    parts = tmp_path / "c.parts"
    parts.mkdir()
    (parts / "1.jsonl").write_text('{"custom_id":"a","response":{}}\n', encoding="utf-8")
    (parts / "2.jsonl.tmp").write_text('{"custom_id":"b","respo', encoding="utf-8")  # killed mid-write
    assert received_ids(parts) == {"a"}
    # a block of answers as a worker writes it, whichever form Ray hands it in
    import pandas as pd
    import pyarrow as pa

    from vlkd.distributed.ray_llm import keep_block

    answer = json.dumps({"choices": []})
    keep_block(pd.DataFrame({"custom_id": ["d"], "answer": [answer]}), str(parts))
    keep_block(pa.table({"custom_id": ["e"], "answer": [answer]}), str(parts))
    keep_block(pd.DataFrame(), str(parts))
    assert received_ids(parts) == {"a", "d", "e"}
    chunk = tmp_path / "c.jsonl"
    chunk.write_text(
        "".join(json.dumps({"custom_id": k, "body": {}}) + "\n" for k in "abc"), encoding="utf-8"
    )
    rest = tmp_path / "c.rest.jsonl"
    assert missing_lines(chunk, {"a"}, rest) == 2
    assert [json.loads(x)["custom_id"] for x in rest.read_text(encoding="utf-8").splitlines()] == ["b", "c"]


def test_the_http_payload_is_posted_as_the_request_text():
    """Ray 2.60 posts ``json.dumps(payload)`` (``data=``), Ray 2.58 the payload itself (``json=``):
    either way the server gets the request's own text, as the OpenAI SDK writes it online."""
    from vlkd.distributed.ray_llm import _body_text, http_payload

    body = {"model": "m", "messages": [{"role": "user", "content": [{"type": "text", "text": "零件?"}]}]}
    online = json.dumps(body, ensure_ascii=False, separators=(",", ":"), allow_nan=False)  # openai's
    payload = http_payload(body)
    assert _body_text(None, json.dumps(payload)) == online
    assert _body_text(payload, None) == online
    assert _body_text(None, json.dumps(body)) is None  # any other payload goes as Ray sends it


def test_a_failed_ray_data_run_is_named_by_its_cause():
    from vlkd.distributed.ray_llm import task_error

    text = (
        "ray::Map(_postprocess)->MapBatches(keep_block)() (pid=1, ip=127.0.0.1)\n"
        '  File "x.py", line 3, in keep_block\n'
        "AttributeError: 'DataFrame' object has no attribute 'num_rows'\n"
        "ray.exceptions.UserCodeException: UDF failed to process a data block.\n"
        "To change retry attempts, configure DataContext\n"
    )
    assert task_error(RuntimeError(text)) == "AttributeError: 'DataFrame' object has no attribute 'num_rows'"
    assert task_error(RuntimeError("lost\nthe node died")) == "the node died"


def test_the_vllm_rows_cross_arrow_whole_and_the_first_stage_reads_their_text():
    """ray#56435: message parts kept as Arrow structs come back with each other's keys set to null.
    The vLLM processor's rows carry the messages as JSON text, which its first stage reads back."""
    pytest.importorskip("ray")
    import pyarrow as pa
    from ray.llm._internal.batch.processor.base import Processor
    from ray.llm._internal.batch.stages import ChatTemplateStage, PrepareMultimodalStage
    from ray.llm._internal.batch.stages.prepare_multimodal_stage import PrepareMultimodalUDF

    from vlkd.distributed.options import RayLLMOptions
    from vlkd.distributed.ray_llm import (
        _vllm_pre,
        carry_messages_as_text,
        decode_messages,
        vllm_processor_config,
    )

    parts = [
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AA"}},
        {"type": "text", "text": "零件?"},
    ]
    body = {"model": "m", "messages": [{"role": "user", "content": parts}], "max_tokens": 9}
    row = _vllm_pre({"text": json.dumps({"custom_id": "k", "body": body})})
    # as a processor's stages get it: the row under its data column, through an Arrow table
    back = pa.Table.from_pylist([{"__data": row}]).to_pylist()[0]["__data"]
    assert decode_messages([back])[0]["messages"] == body["messages"]
    as_structs = pa.Table.from_pylist([{"__data": {"messages": body["messages"]}}]).to_pylist()
    assert as_structs[0]["__data"]["messages"][0]["content"][0]["text"] is None  # the pitfall
    # the processor built from the recipe's configuration: its multimodal stage reads the text
    config = vllm_processor_config("m", RayLLMOptions(engine="vllm"))
    stages = [PrepareMultimodalStage(), ChatTemplateStage()]
    processor = Processor(config, stages)
    carry_messages_as_text(processor)
    first = processor.get_stage_by_name("PrepareMultimodalStage").fn
    assert issubclass(first, PrepareMultimodalUDF) and first is not PrepareMultimodalUDF
    assert first.udf is not PrepareMultimodalUDF.udf
    assert processor.get_stage_by_name("ChatTemplateStage").fn is ChatTemplateStage().fn
    carry_messages_as_text(processor)  # twice: wrapped once
    assert processor.get_stage_by_name("PrepareMultimodalStage").fn is first
