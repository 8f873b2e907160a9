"""A student answers questions about images: the support library of the evaluate stage and of the
``student_agreement`` check (the student answers first).

- :mod:`~vlkd.answering.items`: the questions to answer (``EvalItem``) and the model to answer them
  (``ModelInfo``, read from a train stage's ``vlkd_model.json``);
- :mod:`~vlkd.answering.local_backend`: the student with transformers (+ its LoRA adapter);
  :mod:`~vlkd.answering.openai_backend`: a student served behind any OpenAI-compatible server (vLLM);
  :mod:`~vlkd.answering.ray_llm_backend`: the same requests through Ray Data LLM (its HTTP
  processor, or vLLM engines on a Ray cluster, the tuned student as a LoRA adapter);
- :mod:`~vlkd.answering.images`, :mod:`~vlkd.answering.answers`, :mod:`~vlkd.answering.batching`:
  the student's image sizing, answer cleaning and batches;
- :mod:`~vlkd.answering.backends`: which libraries each backend needs, checked before it loads.
"""
