"""The Anthropic adapter, OAuth tokens and model prices."""
