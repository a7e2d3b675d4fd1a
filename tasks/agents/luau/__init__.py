"""Luau (Roblox) code generation and checking, shared by the Roblox and script agents."""
