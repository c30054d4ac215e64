"""The HTTP layer: routes, pages, the access middleware and problem details; it calls the
services in whistle/ and never the integrations above it."""
