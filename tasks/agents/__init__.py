"""Agent handlers, one module per agent family. Importing this package registers them."""

from tasks.agents import (  # noqa: F401
    code_review,
    content,
    quiz,
    roblox_analytics,
    roblox_assets,
    roblox_testing,
    scripts,
    terrain,
)
