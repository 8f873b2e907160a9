"""Built-in review plugins."""
