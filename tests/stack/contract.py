"""The exporter's metric contract (issue 3) as the rules and dashboards may use it."""

from __future__ import annotations

# Metrics labelled with account_id: dashboards must filter them by the account variable.
ACCOUNT_METRICS = frozenset(
    {
        "een_camera_online",
        "een_camera_on",
        "een_camera_streaming",
        "een_camera_recording",
        "een_camera_status",
        "een_camera_last_update_timestamp_seconds",
        "een_camera_info",
        "een_bridge_online",
        "een_bridge_info",
        "een_account_info",
        "een_stream_up",
        "een_stream_connects_total",
        "een_stream_disconnects_total",
        "een_stream_messages_total",
        "een_stream_last_message_timestamp_seconds",
        "een_exporter_account_shard",
        # The account's availability objective (EEN_AVAILABILITY_OBJECTIVE[S]).
        "een_account_availability_objective",
        # From poll-stream events (EEN_EVENTS; pre-initialised for the default codes).
        "een_camera_events_total",
        "een_camera_last_event_timestamp_seconds",
        "een_camera_stream_packets_expected_total",
        "een_camera_stream_packets_received_total",
        "een_bridge_boots_total",
        "een_bridge_restarts_total",
        "een_bridge_cloud_disconnects_total",
    }
)

# Metrics without account_id: the exporter's own, the process's and Prometheus's `up`.
GLOBAL_METRICS = frozenset(
    {
        "een_api_requests_total",
        "een_api_request_failures_total",
        "een_login_failures_total",
        "een_credentials_refused",
        "een_exporter_unexpected_errors_total",
        "een_exporter_build_info",
        "een_exporter_shard_info",
        "een_exporter_accounts_monitored",
        "process_cpu_seconds_total",
        "process_resident_memory_bytes",
        "process_virtual_memory_bytes",
        "process_start_time_seconds",
        "process_open_fds",
        "process_max_fds",
        "up",
    }
)

METRICS = ACCOUNT_METRICS | GLOBAL_METRICS

CAMERA_STATUSES = ("online", "offline", "internet_offline", "password_needed", "off")
