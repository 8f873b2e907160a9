"""Built-in train plugins."""
