"""Built-in preprocess plugins."""
