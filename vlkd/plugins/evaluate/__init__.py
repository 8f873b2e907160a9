"""Built-in evaluate plugins."""
