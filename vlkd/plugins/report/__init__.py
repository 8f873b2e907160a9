"""Built-in report plugins."""

from vlkd.api import hookimpl


@hookimpl
def vlkd_register_reporters(register):
    from vlkd.plugins.report.html_report import HtmlReport

    register("html", HtmlReport)
