"""evaluate and report as stages of a real run: the engine, the recipe, the manifest, resume.

ingest (files) -> teach (annotations: existing pairs) -> split -> evaluate (openai backend on
the fake provider, no train stage) -> report (html); then ``vlkd report`` rewrites the same
report from the files alone.
"""

import csv
import json
from html.parser import HTMLParser

import pytest

from vlkd.core.engine import Engine
from vlkd.core.progress import Reporter

pytest.importorskip("openai")


class Headline(HTMLParser):
    def __init__(self):
        super().__init__()
        self.rows, self.inside = [], False

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self.inside = dict(attrs).get("id") == "headline"
        elif tag == "tr" and self.inside:
            self.rows.append([])

    def handle_endtag(self, tag):
        if tag == "table":
            self.inside = False

    def handle_data(self, data):
        if self.inside and self.rows and data.strip():
            self.rows[-1].append(data.strip())


def _headline(path):
    parser = Headline()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser.rows


def test_evaluate_and_report_stages_in_a_run(tmp_path, vlkd_images, vlkd_registry, vlkd_recipe, monkeypatch):
    from vlkd.testing.fake_provider import FakeProvider

    images = vlkd_images(n=8, size=(96, 64))
    answers = {}
    with (tmp_path / "pairs.csv").open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["image", "question", "answer"])
        for i, path in enumerate(images):
            for q, a in (
                ("零件名称？", f"零件{i}"),
                ("拧紧力矩？", f"{20 + i} N·m"),
                ("机油容量？", "不存在"),
            ):
                writer.writerow([path.name, q, a])
                answers[(q, i)] = a

    def student(image, req):
        text = next(p["text"] for p in req["messages"][-1]["content"] if p["type"] == "text")
        if req["model"] == "base":
            return "不存在"
        return {"零件名称？": "零件", "拧紧力矩？": "25 N·m", "机油容量？": "不存在"}[text]

    with FakeProvider(answer=student, api_key=None) as server:
        monkeypatch.setenv("OPENAI_API_KEY", "unused")
        recipe = vlkd_recipe(
            {
                "name": "evalrun",
                "student": {"model": "Qwen/Qwen2-VL-2B-Instruct", "family": "qwen2_vl"},  # served, not loaded
                "ingest": {"plugin": "files", "inputs": [str(images[0].parent)]},
                "teach": {"plugin": "annotations", "path": str(tmp_path / "pairs.csv")},
                "split": {"plugin": "by_image", "train": 0.5, "val": 0.0, "test": 0.5},
                "evaluate": {
                    "plugin": "student",
                    "backend": "openai",
                    "base_url": server.openai_url,
                    "base_model_name": "base",
                    "tuned_model_name": "tuned",
                    "bootstrap_samples": 100,
                },
                "report": {"plugin": "html"},
            },
            vlkd_registry(),
        )
        run_dir = tmp_path / "runs" / "evalrun"
        manifest = Engine(recipe, run_dir, reporter=Reporter(quiet=True)).run()
        calls = sum(server.requests.values())
    assert {s: e["status"] for s, e in manifest["stages"].items()} == dict.fromkeys(
        manifest["stages"], "done"
    )
    metrics = json.loads((run_dir / "evaluate" / "metrics.json").read_text())
    n = metrics["items"]
    assert n > 0 and calls == 2 * n
    assert metrics["notes"] and "no review stage" in metrics["notes"][0]  # no honest teacher row
    # the always-不存在 base student: exact match is the share of negatives (1 in 3 questions)
    assert metrics["results"]["base"]["overall"]["exact_match"]["value"] == pytest.approx(1 / 3, abs=1e-6)

    report_dir = run_dir / "report"  # the stage's own folder, not report/report
    rows = _headline(report_dir / "report.html")
    overall = next(r for r in rows if r[0] == "Overall")
    for column, system in ((1, "base"), (2, "tuned")):
        assert (
            overall[column] == f"{metrics['results'][system]['overall']['exact_match']['value'] * 100:.1f}%"
        )
    assert manifest["stages"]["report"]["facts"]["report"] == "report/report.html"
    # the report names what was asked: the server and the model names it answered under
    text = (report_dir / "report.html").read_text(encoding="utf-8")
    assert f"Asked of the OpenAI-compatible server at <code>{server.openai_url}</code>" in text
    assert "base = model <code>base</code> (the server answered as <code>base</code>)" in text

    # a re-run skips both stages; `vlkd report` rewrites the same table from the files alone
    again = Engine(recipe, run_dir, reporter=Reporter(quiet=True)).run()
    assert again["stages"]["evaluate"]["finished"] == manifest["stages"]["evaluate"]["finished"]
    from vlkd.cli import main

    main(["report", str(run_dir), "--out", str(tmp_path / "again")])
    assert _headline(tmp_path / "again" / "report.html") == rows


def test_a_teacher_only_run_reports_its_data(tmp_path, vlkd_images, vlkd_registry, vlkd_recipe, capsys):
    """ingest -> teach (annotations) -> report, no evaluation: a report of the data, from the stage
    and again from `vlkd report`."""
    images = vlkd_images(n=4, size=(96, 64))
    with (tmp_path / "pairs.csv").open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["image", "question", "answer"])
        for i, path in enumerate(images):
            writer.writerow([path.name, "零件名称？", f"零件{i}"])
            writer.writerow([path.name, "机油容量？", "不存在"])
    recipe = vlkd_recipe(
        {
            "name": "dataonly",
            "ingest": {"plugin": "files", "inputs": [str(images[0].parent)]},
            "teach": {"plugin": "annotations", "path": str(tmp_path / "pairs.csv")},
            "report": {"plugin": "html"},
        },
        vlkd_registry(),
    )
    run_dir = tmp_path / "runs" / "dataonly"
    manifest = Engine(recipe, run_dir, reporter=Reporter(quiet=True)).run()
    assert manifest["stages"]["report"]["status"] == "done"
    assert manifest["stages"]["report"]["facts"] == {"report": "report/report.html", "evaluated": False}
    text = (run_dir / "report" / "report.html").read_text(encoding="utf-8")
    assert "This run made 8 question/answer pairs about 4 images (4 of them" in text.replace("&#x27;", "'")
    assert 'id="by-category"' not in text and 'id="data-examples"' in text
    assert text.count("open full size") >= 2  # example pairs with their images
    from vlkd.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["report", str(run_dir), "--out", str(tmp_path / "again")])
        raise SystemExit(0)
    assert exc.value.code == 0
    from vlkd.testing import read_html

    again = read_html((tmp_path / "again" / "report.html").read_text(encoding="utf-8"))
    assert again.tables["dataset"] == read_html(text).tables["dataset"]
