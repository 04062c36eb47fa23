"""Transport: the EEN v1 REST API and the poll-stream WebSocket."""
