"""Built-in split plugins."""
