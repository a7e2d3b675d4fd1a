"""The broker side of a worker: poison messages are set aside, never fatal."""
