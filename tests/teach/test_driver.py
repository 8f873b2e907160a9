"""The teach driver with a third-party teacher: retries, cache, negatives and counts come free."""

import json
from pathlib import Path

import pytest

from vlkd.core.errors import StageError
from vlkd.core.hookspecs import hookimpl
from vlkd.teach import Teacher, TeachResponse, TransientError
from vlkd.testing.extras import needs


class FlakyTeacher(Teacher):
    """Fails twice per image with a transient error, then answers CSV."""

    calls: dict[str, int] = {}

    def prompt_pack(self):
        from vlkd.plugins.teach.prompts import automotive_pack

        return automotive_pack()

    def respond_sync(self, request):
        n = FlakyTeacher.calls[request.image.id] = FlakyTeacher.calls.get(request.image.id, 0) + 1
        if n <= 2:
            raise TransientError("try again", kind="5xx")
        return TeachResponse(
            text=f'```csv\n"Q for {request.image_name}?","A"\n"Missing?","不存在"\n```',
            input_tokens=10,
            output_tokens=5,
        )


class Plugin:
    @hookimpl
    def vlkd_register_teachers(self, register):
        register("flaky", FlakyTeacher)


def images(folder: Path, n: int) -> None:
    from PIL import Image

    folder.mkdir()
    for i in range(n):
        Image.new("RGB", (8, 8), (i, 0, 0)).save(folder / f"{i}.png")


def run(tmp_path, vlkd_registry, teach, ingest=None, **kw):
    from vlkd.core.engine import Engine
    from vlkd.core.progress import Reporter
    from vlkd.core.recipe import load_recipe

    path = tmp_path / "r.yaml"
    ingest = ingest or {"plugin": "files", "inputs": str(tmp_path / "img")}
    path.write_text(json.dumps({"name": "d", "ingest": ingest, "teach": teach}), encoding="utf-8")
    return Engine(
        load_recipe(path, registry=vlkd_registry(Plugin())),
        tmp_path / "run",
        reporter=Reporter(quiet=True),
        **kw,
    ).run()


def test_third_party_teacher_gets_retries_cache_and_counts(tmp_path, vlkd_registry):
    FlakyTeacher.calls = {}
    images(tmp_path / "img", 3)
    teach = {"plugin": "flaky", "retry_initial_delay": 0.001, "concurrency": 3}
    manifest = run(tmp_path, vlkd_registry, teach)
    entry = manifest["stages"]["teach"]
    assert entry["counts"]["ok"] == 3 and entry["facts"]["retries"] == {"5xx": 6}
    assert entry["facts"]["negatives"] == 3 and entry["usage"]["requests"] == 9
    assert sorted(FlakyTeacher.calls.values()) == [3, 3, 3]
    manifest = run(tmp_path, vlkd_registry, teach, fresh=True)
    assert sorted(FlakyTeacher.calls.values()) == [3, 3, 3]  # every answer came from the cache
    assert manifest["stages"]["teach"]["usage"]["cached"] == 3


def test_categories_choose_the_images_a_teacher_is_asked_about(tmp_path, vlkd_registry):
    FlakyTeacher.calls = {}
    images(tmp_path / "img", 3)
    manifest_csv = tmp_path / "img" / "manifest.csv"
    manifest_csv.write_text(
        "path,category\n0.png,manual_parsing\n1.png,warning_lights\n2.png,part_recognition\n",
        encoding="utf-8",
    )
    ingest = {"plugin": "files", "manifest": str(manifest_csv)}
    teach = {
        "plugin": "flaky",
        "retry_initial_delay": 0.001,
        "categories": ["manual_parsing", "part_recognition"],
    }
    entry = run(tmp_path, vlkd_registry, teach, ingest=ingest)["stages"]["teach"]
    assert entry["counts"]["ok"] == 2 and len(FlakyTeacher.calls) == 2  # the photo was never sent
    pairs = [
        json.loads(line) for line in (tmp_path / "run" / "teach" / "pairs.jsonl").read_text().splitlines()
    ]
    assert {p["category"] for p in pairs} == {"manual_parsing", "part_recognition"}
    teach["categories"] = None  # every image: only the one not taught yet is asked
    entry = run(tmp_path, vlkd_registry, teach, ingest=ingest)["stages"]["teach"]
    assert entry["counts"]["ok"] == 3 and sorted(FlakyTeacher.calls.values()) == [3, 3, 3]


def test_a_category_that_matches_no_image_fails_with_did_you_mean(tmp_path, vlkd_registry):
    FlakyTeacher.calls = {}
    images(tmp_path / "img", 2)
    manifest_csv = tmp_path / "img" / "manifest.csv"
    manifest_csv.write_text("path,category\n0.png,part_recognition\n1.png,manual_parsing\n", encoding="utf-8")
    ingest = {"plugin": "files", "manifest": str(manifest_csv)}
    teach = {"plugin": "flaky", "retry_initial_delay": 0.001, "categories": ["part_recogntion"]}
    with pytest.raises(StageError) as err:
        run(tmp_path, vlkd_registry, teach, ingest=ingest)
    message = str(err.value)
    assert "'part_recogntion' matches no image (did you mean 'part_recognition'?)" in message
    assert "manual_parsing, part_recognition" in message and "\n" not in message
    assert FlakyTeacher.calls == {}  # nothing was asked (or paid for)


def test_editing_a_prompt_file_reruns_the_stage(tmp_path, vlkd_registry):
    FlakyTeacher.calls = {}
    images(tmp_path / "img", 1)
    prompt = tmp_path / "p.txt"
    prompt.write_text("v1 ${output_instructions}", encoding="utf-8")
    teach = {"plugin": "flaky", "retry_initial_delay": 0.001, "prompt": {"system": str(prompt)}}
    run(tmp_path, vlkd_registry, teach)
    assert run(tmp_path, vlkd_registry, teach)["stages"]["teach"]["status"] == "done"
    assert sum(FlakyTeacher.calls.values()) == 3  # second run: up to date
    prompt.write_text("v2 ${output_instructions}", encoding="utf-8")
    run(tmp_path, vlkd_registry, teach)
    assert sum(FlakyTeacher.calls.values()) == 4  # new prompt, new question (asked once more)


@needs("openai")
def test_unreachable_server_stops_with_a_hint(tmp_path, vlkd_registry):
    import socket

    images(tmp_path / "img", 2)
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    teach = {
        "plugin": "openai",
        "base_url": f"http://127.0.0.1:{port}/v1",
        "api_key": "k" * 20,
        "max_retries": 1,
        "retry_initial_delay": 0.001,
    }
    with pytest.raises(
        StageError, match=r"cannot reach the teacher: connection to .* failed.*is the server running"
    ):
        run(tmp_path, vlkd_registry, teach)


class SlowStartTeacher(FlakyTeacher):
    """A teacher whose start (an SDK's import, say) lasts until the stage has prepared a request."""

    prepared: object = None
    overlapped: list[bool] = []

    async def start(self, ctx, images):
        import asyncio

        SlowStartTeacher.prepared = asyncio.Event()
        try:  # the old driver awaited start before preparing anything: this timed out
            await asyncio.wait_for(SlowStartTeacher.prepared.wait(), 10)
            SlowStartTeacher.overlapped.append(True)
        except TimeoutError:
            SlowStartTeacher.overlapped.append(False)

    def has_prompt_variables(self):
        # asked while a request is built (image read, prompt rendered), before any call
        if SlowStartTeacher.prepared is not None:
            SlowStartTeacher.prepared.set()
        return False

    def respond_sync(self, request):
        return TeachResponse(text='```csv\n"Q?","A"\n```', input_tokens=10, output_tokens=5)


def test_the_first_requests_are_prepared_while_the_teacher_starts(tmp_path, vlkd_registry):
    SlowStartTeacher.overlapped = []
    images(tmp_path / "img", 3)

    class SlowPlugin:
        @hookimpl
        def vlkd_register_teachers(self, register):
            register("slow_start", SlowStartTeacher)

    from vlkd.core.engine import Engine
    from vlkd.core.progress import Reporter
    from vlkd.core.recipe import load_recipe

    path = tmp_path / "r.yaml"
    recipe = {"name": "d", "ingest": {"plugin": "files", "inputs": str(tmp_path / "img")}}
    path.write_text(json.dumps({**recipe, "teach": {"plugin": "slow_start"}}), encoding="utf-8")
    manifest = Engine(
        load_recipe(path, registry=vlkd_registry(SlowPlugin())),
        tmp_path / "run",
        reporter=Reporter(quiet=True),
    ).run()
    entry = manifest["stages"]["teach"]
    assert SlowStartTeacher.overlapped == [True] and entry["counts"]["ok"] == 3
    facts = entry["facts"]
    assert 0 <= facts["first_request_s"] <= entry["wall_time_s"]
    assert 0 <= facts["first_request_cpu_s"] <= facts["first_request_process_cpu_s"]
