"""The HTTP service: API, channel adapters, web chat. Nothing imports this package."""
