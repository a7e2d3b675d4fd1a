"""``python -m workers.cli``: the same as ``agentq``."""

from workers.cli import main

main()
