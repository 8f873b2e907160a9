"""Built-in review plugins."""

from vlkd.api import hookimpl


@hookimpl
def vlkd_register_reviewers(register):
    from vlkd.plugins.review.spreadsheet import SpreadsheetReview

    register("spreadsheet", SpreadsheetReview)
