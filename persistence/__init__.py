"""Persistence: the schema, the lifecycle rule, the store interface and its backends.

This package imports nothing from ``workers`` or ``tasks``: settings are injected.
"""
