"""The poll-stream event codes the exporter knows (een-api.md §7): defined here, once.

The state side (store, exposition) counts and renders them; the v1 transport (een.events)
parses and subscribes to them. Neither spells a code itself.
"""

from __future__ import annotations

# The codes that carry more than a count, and those with a bridge metric of their own.
STREAM_STATS = "CSSU"  # a camera's packets expected and received over an interval
BRIDGE_BOOT = "BBOO"
BRIDGE_RESTART = "ABRT"
CLOUD_CONNECT = "CCLC"
CLOUD_DISCONNECT = "CCLD"  # with how long the bridge was without its cloud connection

# Camera events: what each code says (een-api.md §7, plus the preview events of the same
# table in EEN's docs). Account-level (AEDC...) and deprecated codes are left out.
CAMERA_CODES = {
    "RCON": "camera online (registered)",
    "RCOF": "camera offline",
    "RCHB": "heartbeat while registered",
    "CONN": "camera turned on",
    "COFF": "camera turned off",
    "CSAU": "camera started streaming to its bridge",
    "CSDU": "camera stopped streaming to its bridge",
    STREAM_STATS: "stream statistics: packets expected and received per interval",
    "VRES": "video recording started",
    "VREE": "video recording ended",
    "VRKF": "recording key frame",
    "EAES": "always-record event started",
    "EAEE": "always-record event ended",
    "ESES": "user-requested stream started",
    "ESEE": "user-requested stream ended",
    "CECF": "bridge found the camera",
    "CECL": "camera lost after being found",
    "CCCF": "bridge failed to reach the camera",
    "COBC": "camera forced to restart",
    "PRTH": "preview thumbnail",
    "PRFR": "preview frame recorded",
}
# Bridge events, each counted by its own bridge metric.
BRIDGE_CODES = {
    BRIDGE_BOOT: "bridge booted",
    BRIDGE_RESTART: "bridge process restarted",
    CLOUD_CONNECT: "bridge connected to the cloud",
    CLOUD_DISCONNECT: "bridge lost its cloud connection",
}
CODES = CAMERA_CODES | BRIDGE_CODES
# Subscribed unless EEN_EVENTS says otherwise: stream statistics (loss), bridge boots,
# restarts and cloud disconnects: about one event a minute per camera. Thumbnails (PRTH,
# frozen pictures) come every few seconds per camera: at 50,000 cameras they alone cost more
# than half a core (docs/performance.md), so they are asked for, not given. The status
# bitmask already carries what RCON/RCOF, CSAU/CSDU and VRES/VREE would say. CSSU feeds the
# packet counters; its own per-code series are off unless EEN_CSSU_EVENT_SERIES (issue 21).
DEFAULT = (STREAM_STATS, BRIDGE_BOOT, BRIDGE_RESTART, CLOUD_DISCONNECT)
