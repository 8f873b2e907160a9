"""The engine: plugin API, recipe loading, records, run directory, services and CLI support.

The core knows no vendor: every stage's work is done by plugins registered through
``vlkd.core.hookspecs``.
"""
