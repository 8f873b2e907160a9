"""Built-in teach plugins."""
