"""The verify stage: its place, its hook, flags that never change a pair, bad checks."""

from __future__ import annotations

import json

from vlkd.core.hookspecs import hookimpl
from vlkd.core.stages import STAGE_NAMES
from vlkd.core.verify import Verifier
from vlkd.testing.verify import flags_of, make_page, pairs_of, write_pairs


def test_verify_runs_between_teach_and_review():
    at = STAGE_NAMES.index("verify")
    assert STAGE_NAMES[at - 1 : at + 2] == ("teach", "verify", "review")


class Meddler(Verifier):
    """Flags every pair and tries to change it (the driver must not let it)."""

    flags = ("seen",)

    def check(self, image, pairs, found):
        for pair in pairs:
            pair.answer = "CHANGED"
            pair.question = "CHANGED?"
            found.flag(pair, "seen", f"looked at {image.width}x{image.height}")
            found.record(pair, looked=True)


class Broken(Verifier):
    """Raises on one image."""

    def check(self, image, pairs, found):
        if "p1" in image.path:
            raise RuntimeError("no good")


class ThirdParty:
    @hookimpl
    def vlkd_register_verifiers(self, register):
        register("meddler", Meddler)
        register("broken", Broken)


def _registry():
    from vlkd.core.registry import Registry, get_plugin_manager

    pm = get_plugin_manager(autoload=False)
    pm.register(ThirdParty(), name="third_party")
    return Registry(pm)


def _run(tmp_path, verify):
    from vlkd.core.engine import Engine
    from vlkd.core.progress import Reporter
    from vlkd.core.recipe import load_recipe

    folder = tmp_path / "pages"
    for i in range(3):
        make_page(folder / f"p{i}.png", [f"Page {i}"])
    csv = write_pairs(tmp_path / "pairs.csv", [(f"p{i}.png", f"Q{i}?", f"A{i}") for i in range(3)])
    recipe = {
        "name": "v",
        "ingest": {"plugin": "files", "inputs": str(folder), "workers": 1},
        "teach": {"plugin": "annotations", "path": str(csv)},
        "verify": verify,
    }
    path = tmp_path / "r.yaml"
    path.write_text(json.dumps(recipe))
    engine = Engine(load_recipe(path, registry=_registry()), tmp_path / "run", reporter=Reporter(quiet=True))
    return engine.run(), tmp_path / "run"


def test_hook_vlkd_register_verifiers(tmp_path):
    """A third-party check registered through the hook runs in the stage; its changes to a pair are ignored."""
    registry = _registry()
    assert {"meddler", "broken", "duplicates"} <= set(registry.names("verify"))
    assert registry.get("verify", "meddler").distribution == "third_party"
    manifest, rd = _run(tmp_path, [{"plugin": "meddler"}])
    pairs = pairs_of(rd)
    assert [(p["question"], p["answer"]) for p in pairs] == [(f"Q{i}?", f"A{i}") for i in range(3)]
    assert all(flags_of(p) == {"seen"} for p in pairs)
    assert all(p["checks"] == {"meddler": {"looked": True}} for p in pairs)
    assert manifest["stages"]["verify"]["status"] == "done"


def test_a_check_that_raises_flags_that_image_unverifiable_and_the_stage_goes_on(tmp_path):
    _, rd = _run(tmp_path, [{"plugin": "broken"}, {"plugin": "meddler"}])
    pairs = {p["answer"]: p for p in pairs_of(rd)}
    assert len(pairs) == 3
    assert flags_of(pairs["A1"]) == {"unverifiable", "seen"}
    (flag,) = [f for f in pairs["A1"]["flags"] if f["flag"] == "unverifiable"]
    assert flag["check"] == "broken" and "RuntimeError: no good" in flag["reason"]
    assert flags_of(pairs["A0"]) == {"seen"}
    notes = [json.loads(line) for line in (rd / "verify" / "notes.jsonl").read_text().splitlines()]
    assert len(notes) == 1 and "no good" in notes[0]["notes"][0]


def test_a_pair_whose_image_is_unknown_is_flagged_once_and_kept(tmp_path):
    from vlkd.core.engine import Engine
    from vlkd.core.progress import Reporter
    from vlkd.core.recipe import load_recipe

    _run(tmp_path, [{"plugin": "meddler"}])
    taught = tmp_path / "run" / "teach" / "pairs.jsonl"
    stray = {**json.loads(taught.read_text().splitlines()[0]), "id": "stray", "image_id": "f" * 64}
    taught.write_text(taught.read_text() + json.dumps(stray) + "\n")  # a person edited the file
    recipe = load_recipe(tmp_path / "r.yaml", registry=_registry())
    Engine(recipe, tmp_path / "run", reporter=Reporter(quiet=True), from_stage="verify").run()
    pairs = {p["id"]: p for p in pairs_of(tmp_path / "run")}
    assert len(pairs) == 4
    assert [f["flag"] for f in pairs["stray"]["flags"]] == ["unverifiable"]
    assert "not among the images" in pairs["stray"]["flags"][0]["reason"]


def test_each_item_sent_to_a_worker_carries_only_its_image_pairs(tmp_path, monkeypatch):
    """What a Ray task of verify carries: the checks and its own image's pairs, never the run's."""
    cloudpickle = __import__("pytest").importorskip("cloudpickle")
    import vlkd.core.engine
    from vlkd.core.executor import LocalExecutor

    sent: list[bytes] = []

    class Sending(LocalExecutor):
        """As the Ray executor sends them: the work once, each item with its task (then run here)."""

        def map(self, job, todo):
            todo = list(todo)
            if job.ctx.name == "verify":
                work = cloudpickle.dumps(job.work)
                sent.extend(work + cloudpickle.dumps(item) for _, item in todo)
            return super().map(job, todo)

    monkeypatch.setattr(vlkd.core.engine, "make_executor", lambda options: Sending())
    _run(tmp_path, [{"plugin": "meddler"}, {"plugin": "duplicates"}])
    assert len(sent) == 3
    for payload in sent:  # one image's question in each, the other two nowhere
        assert sum(f"Q{i}?".encode() in payload for i in range(3)) == 1
