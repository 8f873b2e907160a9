"""Built-in review plugins."""

from vlkd.api import hookimpl


@hookimpl
def vlkd_register_reviewers(register):
    from vlkd.plugins.review.spreadsheet import SpreadsheetReview

    register("spreadsheet", SpreadsheetReview)


@hookimpl
def vlkd_report_sections(manifest, add):
    from vlkd.plugins.review.report_section import add_sections

    add_sections(manifest, add)
