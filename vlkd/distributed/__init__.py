"""Running vlkd past one machine: the Ray executor and the Ray Data LLM teacher (the ``ray`` extra)."""
