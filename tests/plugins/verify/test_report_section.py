"""The report's checks section: negatives and flags per category, and the value of each flag."""

from __future__ import annotations

from types import SimpleNamespace

from vlkd.core.records import Flag, Provenance, QARecord
from vlkd.core.results import Manifest
from vlkd.metrics.check_value import check_value
from vlkd.plugins.report.document import _plugin_sections
from vlkd.plugins.report.render_md import render_markdown

VERIFY_FACTS = {
    "per_category": {
        "manual_parsing": {"pairs": 20, "negatives": 4, "negative_share": 0.2, "flagged": 5, "ungrounded": 5},
        "part_recognition": {"pairs": 10, "negatives": 1, "negative_share": 0.1, "flagged": 0},
    },
    "dropped": {"duplicate": 2},
}


def _checks_section(manifest: dict):
    """The sections the report gets through the vlkd_report_sections hook (the built-in verify's)."""
    return _plugin_sections(SimpleNamespace(manifest=Manifest.model_validate(manifest)))


def _pairs():
    flags = [Flag(check="ocr_grounding", flag="ungrounded")]
    ocr = Provenance(plugin="ocr")
    pair = {"image_id": "img", "question": "q", "answer": "a", "provenance": ocr}
    return [
        QARecord(id="1", review="edited", category="manual_parsing", flags=flags, **pair),
        QARecord(id="2", review="approved", category="manual_parsing", flags=flags, **pair),
        QARecord(id="3", review="approved", category="part_recognition", **pair),
    ]


def test_the_section_shows_negative_shares_flags_and_their_value():
    manifest = {
        "stages": {
            "verify": {"facts": VERIFY_FACTS},
            "review": {"facts": {"verify_value": check_value(_pairs())}},
        }
    }
    md = render_markdown("r", _checks_section(manifest))
    assert "## Checks and negatives" in md
    assert "| manual_parsing | 20 | 20.0% | 25.0% | 5 |" in md
    assert "| part_recognition | 10 | 10.0% | 0.0% | 0 |" in md
    assert "Dropped by the checks: 2 duplicate." in md
    assert "the teacher's accuracy is 66.7%" in md
    assert "| all | ungrounded | 2 | 1 | 50.0% | 100.0% |" in md
    assert "| manual_parsing | ungrounded | 2 | 1 | 50.0% | 100.0% |" in md


def test_no_verify_stage_no_section():
    assert _checks_section({"stages": {}}) == []


def test_auto_approval_only_says_precision_waits_for_experts():
    manifest = {
        "stages": {
            "verify": {"facts": VERIFY_FACTS},
            "review": {
                "facts": {"verify_value": check_value([_pairs()[0].model_copy(update={"review": "pending"})])}
            },
        }
    }
    md = render_markdown("r", _checks_section(manifest))
    assert "No expert decisions yet" in md and "What the flags were worth" not in md


def test_the_section_says_what_the_student_already_knew_and_what_dropping_it_saved():
    facts = {
        "pairs_in": 10,
        "per_category": {
            "brakes": {
                "pairs": 4,
                "negatives": 2,
                "negative_share": 0.5,
                "flagged": 4,
                "student_knows": 2,
                "student_wrong": 2,
                "zero_delta": 1,
            },
            "engine": {
                "pairs": 6,
                "negatives": 0,
                "negative_share": 0.0,
                "flagged": 6,
                "student_knows": 3,
                "student_wrong": 3,
                "zero_delta": 3,
            },
        },
        "dropped": {"zero_delta": 4},
        "checks": {
            "student_agreement": {
                "student": "tiny",
                "student_knows": 5,
                "student_wrong": 5,
                "zero_delta_dropped": 4,
            }
        },
    }
    teach = {"usage": {"requests": 5, "input_tokens": 9000, "output_tokens": 1000}}  # 1,000 per pair
    md = render_markdown("r", _checks_section({"stages": {"teach": teach, "verify": {"facts": facts}}}))
    assert "it already knew 5 of 10 pairs (50" in md and "keep_known dropped 4 of them" in md
    assert "| category | pairs | student knows | zero-delta share |" in md
    # category, pairs, student knows, zero-delta share, dropped (= expert decisions), teacher tokens
    assert "| brakes | 4 | 2 | 50.0% | 1 | 1,000 |" in md
    assert "| engine | 6 | 3 | 50.0% | 3 | 3,000 |" in md
    assert "| all | 10 | 5 | 50.0% | 4 | 4,000 |" in md


def test_without_the_teachers_tokens_the_savings_say_so():
    facts = {
        "per_category": {"brakes": {"pairs": 2, "flagged": 2, "student_knows": 2, "zero_delta": 2}},
        "checks": {"student_agreement": {"student": "tiny", "student_knows": 2, "zero_delta_dropped": 2}},
    }
    md = render_markdown("r", _checks_section({"stages": {"verify": {"facts": facts}}}))
    assert "| brakes | 2 | 2 | 100.0% | 2 | – |" in md
