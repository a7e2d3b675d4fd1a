"""``agentq agents [--types] [--json]``: the agent types, their task types, limits and input."""

from __future__ import annotations

from typing import Any

import click
from rich.table import Table

from workers.cli import common


@click.command()
@click.option("--types", "show_types", is_flag=True, help="List agent types and input fields.")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
def agents(show_types: bool, as_json: bool) -> None:
    """The agent types: task types, queue, limits and input fields (agent instances: later)."""
    from tasks.registry import AGENT_TYPES, load_agents

    specs = load_agents()
    rows: list[dict[str, Any]] = []
    for agent_type in AGENT_TYPES:
        spec = specs.get(agent_type)
        if spec is None:
            rows.append({"agent_type": agent_type, "available": False})
            continue
        schema = spec.input_model.model_json_schema()
        required = set(schema.get("required", []))
        rows.append(
            {
                "agent_type": agent_type,
                "available": True,
                "description": spec.description,
                "queue": agent_type,
                "task_types": list(spec.task_types),
                "soft_time_limit": spec.soft_time_limit,
                "time_limit": spec.time_limit,
                "max_retries": spec.max_retries,
                "input_fields": {
                    name: {
                        "type": prop.get("type") or "object",
                        "required": name in required,
                        "description": prop.get("description", ""),
                    }
                    for name, prop in schema.get("properties", {}).items()
                },
            }
        )
    if as_json:
        common.print_json(rows)
        return
    table = Table("agent type", "task types", "input fields (* required)", "limits (s)")
    for row in rows:
        if not row["available"]:
            table.add_row(row["agent_type"], "[dim]not available yet[/]", "", "")
            continue
        fields = ", ".join(
            f"{name}{'*' if f['required'] else ''}" for name, f in row["input_fields"].items()
        )
        table.add_row(
            row["agent_type"],
            ", ".join(row["task_types"]),
            fields if show_types else f"{len(row['input_fields'])} fields",
            f"{row['soft_time_limit']:g}/{row['time_limit']:g}",
        )
    common.console.print(table)
