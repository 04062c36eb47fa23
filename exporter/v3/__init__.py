"""The exporter's API v3 side (docs/een-api-v3.md): OAuth tokens and the `login` subcommand.

Nothing here touches the v1 transport (`exporter.een`).
"""
