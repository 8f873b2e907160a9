"""Built-in report plugins."""
