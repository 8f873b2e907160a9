"""Built-in ingestors."""
