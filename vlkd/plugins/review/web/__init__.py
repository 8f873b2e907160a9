"""The review page: ``vlkd review serve RUN_DIR`` (Starlette on uvicorn, plain JavaScript).

- :mod:`.store`: the run's pairs as the page sees them, compact in memory, decisions logged;
- :mod:`.security`: token, CSRF and host checks, security headers;
- :mod:`.app`: the routes; :mod:`.page`: the HTML; ``static/``: the script and the style sheet;
- :mod:`.server`: binding the socket and running uvicorn.
"""
