"""What both EEN transports (v1's poll-stream WebSocket, v3's REST and SSE) share."""
