"""The demo one rung up the ladder, end to end, as the README runs it: `vlkd run recipes/demo.yaml`,
then `vlkd run recipes/examples/distill-demo.yaml` from the same folder.

The second run takes the demo's tuned student (runs/demo/train/model) as its logit teacher: it runs
the teacher once over the training samples into runs/distill-demo/cache/teacher_logits/, trains the
student with logit KD, evaluates it on the same test split, and its report compares the rungs (base,
SFT = the demo's run, + logit KD) per category. A re-run never runs the teacher again.

The student trains 4 steps here, not the recipe's 200 (``--set``, evaluating and saving every 2
steps, so every part of the training runs as in the README's run, twice): the figures are read from
the run, never asserted, and the demo's own test proves that its student learns.
"""

import json

from tests.e2e.conftest import ROOT, vlkd
from vlkd.testing import read_html

DISTILL = ROOT / "recipes" / "examples" / "distill-demo.yaml"
#: fewer steps than the recipe's 10 epochs (200 steps); the run directory remembers them for the re-run
STEPS = 4
SHORT = ("--set", f"train.max_steps={STEPS}", "--set", "train.eval_steps=2", "--set", "train.save_steps=2")


def test_distill_demo_runs_end_to_end_and_reports_the_ladder(demo_run):
    demo, _ = demo_run
    cwd = demo.parents[1]
    result = vlkd("run", str(DISTILL), *SHORT, cwd=cwd)
    assert result.returncode == 0, result.stderr[-4000:]
    run = cwd / "runs" / "distill-demo"
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["status"] == "done"
    facts = manifest["stages"]["train"]["facts"]
    # the teacher ran once over every train and val sample, before the student loaded
    assert facts["teacher_samples_computed"] > 0 and facts["teacher_samples_cached"] == 0
    assert (
        len(list((run / "cache" / "teacher_logits").rglob("*.safetensors")))
        == facts["teacher_samples_computed"]
    )
    job = json.loads((run / "train" / "peft_job.json").read_text())
    assert job["options"]["distill"]["method"] == "logit_kd"
    assert job["teacher"]["adapter"].endswith("runs/demo/train/model/adapter")

    rows = read_html((run / "report" / "report.html").read_text(encoding="utf-8")).tables["ladder"]
    overall = [r for r in rows[next(i for i, r in enumerate(rows) if r[0] == "Overall") :]]
    rungs = {r[1]: r for r in overall}
    assert list(rungs) == ["base student", "SFT", "+ logit KD"]
    for label, run_dir, system in (
        ("base student", demo, "base"),
        ("SFT", demo, "tuned"),
        ("+ logit KD", run, "tuned"),
    ):
        metrics = json.loads((run_dir / "evaluate" / "metrics.json").read_text())
        value = metrics["results"][system]["overall"]["exact_match"]["value"]
        assert rungs[label][3] == f"{value * 100:.1f}%", (label, rungs[label])
    assert rungs["+ logit KD"][5].startswith("[")  # its paired interval against SFT
    cost = {r[0]: r for r in read_html((run / "report" / "report.html").read_text()).tables["ladder-cost"]}
    assert cost["+ logit KD"][3].startswith(f"{facts['teacher_samples_computed']:,} run")

    assert facts["global_step"] == STEPS

    # the training again from scratch finds every teacher answer in the cache (evaluate and report
    # have nothing to show about that: the re-run stops after the training)
    again = vlkd("run", str(DISTILL), "--from", "train", "--to", "train", cwd=cwd)
    assert again.returncode == 0, again.stderr[-3000:]
    facts = json.loads((run / "manifest.json").read_text())["stages"]["train"]["facts"]
    assert facts["teacher_samples_computed"] == 0 and facts["teacher_samples_cached"] > 0
