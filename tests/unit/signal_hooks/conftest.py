"""The hooks' fixtures for every module here: a capturing sink with the hooks' state
reset, kombu's in-memory broker, environment changes re-read by the settings."""

from tests.support.signal_hooks import broker, settings_env, sink

__all__ = ["broker", "settings_env", "sink"]
