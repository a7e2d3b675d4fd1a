"""The bytes that make :mod:`tests.support.handoff_fault` fail a job's hand-off.

Kept apart so that a test can name them without importing the fault, which patches
Celery's asynpool in whatever process imports it (only the worker should).
"""

MARKER = b"agentq-test-fail-the-hand-off"
