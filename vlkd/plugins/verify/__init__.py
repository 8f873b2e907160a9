"""Built-in ``verify`` checks: ocr_grounding (offline OCR), second_teacher, duplicates.

Each check flags doubtful pairs for the experts (``QARecord.flags``); none changes a pair.
See ``vlkd.core.verify`` for the check API and ``vlkd.core.verify_driver`` for the stage.
"""

from vlkd.api import hookimpl


@hookimpl
def vlkd_register_verifiers(register):
    from vlkd.plugins.verify.duplicates import Duplicates
    from vlkd.plugins.verify.ocr_grounding import OCRGrounding
    from vlkd.plugins.verify.second_teacher import SecondTeacher

    register("ocr_grounding", OCRGrounding)
    register("second_teacher", SecondTeacher)
    register("duplicates", Duplicates)


@hookimpl
def vlkd_report_sections(manifest, add):
    from vlkd.plugins.verify.report_section import add_sections

    add_sections(manifest, add)
