"""Built-in ingestors."""

from vlkd.api import hookimpl


@hookimpl
def vlkd_register_ingestors(register):
    from vlkd.plugins.ingest.files import FilesIngestor

    register("files", FilesIngestor)
