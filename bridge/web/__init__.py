"""The HTTP endpoint the bridge serves (one-click unsubscribe)."""
