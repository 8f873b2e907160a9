"""Built-in ``verify`` checks: ocr_grounding (offline OCR), second_teacher, duplicates,
student_agreement (the student answers first).

Each check flags doubtful pairs for the experts (``QARecord.flags``); none changes a pair.
See ``vlkd.core.verify`` for the check API and ``vlkd.verify.driver`` for the stage.
"""

from vlkd.api import hookimpl


@hookimpl
def vlkd_register_verifiers(register):
    from vlkd.plugins.verify.duplicates import Duplicates
    from vlkd.plugins.verify.ocr_grounding import OCRGrounding
    from vlkd.plugins.verify.second_teacher import SecondTeacher
    from vlkd.plugins.verify.student_agreement import StudentAgreement

    register("ocr_grounding", OCRGrounding)
    register("second_teacher", SecondTeacher)
    register("duplicates", Duplicates)
    register("student_agreement", StudentAgreement)


@hookimpl
def vlkd_report_sections(manifest, add):
    from vlkd.plugins.verify.report_section import add_sections

    add_sections(manifest, add)
