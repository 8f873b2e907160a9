"""Built-in teach plugins: openai, anthropic, ocr (offline), annotations (import existing pairs)."""

from vlkd.api import hookimpl


@hookimpl
def vlkd_register_teachers(register):
    from vlkd.plugins.teach.annotations_teacher import AnnotationsTeacher
    from vlkd.plugins.teach.anthropic_teacher import AnthropicTeacher
    from vlkd.plugins.teach.ocr_teacher import OCRTeacher
    from vlkd.plugins.teach.openai_teacher import OpenAITeacher

    register("openai", OpenAITeacher)
    register("anthropic", AnthropicTeacher)
    register("ocr", OCRTeacher)
    register("annotations", AnnotationsTeacher)
