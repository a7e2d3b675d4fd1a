"""Agent handlers, one module per agent family. Importing this package registers them."""

from tasks.agents import content, quiz  # noqa: F401
