"""Credential health: the gauge, /readyz's reason and one log line per refusal and recovery."""

from __future__ import annotations

import logging

import pytest

from exporter.accounts.credentials import CredentialHealth
from exporter.state.selfmetrics import SelfMetrics
from exporter.state.store import StateStore


def test_a_refusal_is_shown_and_logged_once_until_accepted_again(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    metrics, store = SelfMetrics(), StateStore()
    health = CredentialHealth(metrics, store, "grant")
    health.accepted()  # nothing to recover from: silent
    health.refused("refresh token expired; log in again", "EEN refuses the grant", {"n": 1})
    health.refused("refresh token expired; log in again", "EEN refuses the grant", {"n": 2})
    assert metrics.registry.get_sample_value("een_credentials_refused") == 1
    assert store.login_problem() == "refresh token expired; log in again"
    health.accepted()
    health.accepted()
    assert metrics.registry.get_sample_value("een_credentials_refused") == 0
    assert store.login_problem() == ""
    assert [(r.levelname, r.getMessage(), r.__dict__.get("n")) for r in caplog.records] == [
        ("ERROR", "EEN refuses the grant", 1),
        ("DEBUG", "EEN refuses the grant", 2),
        ("INFO", "EEN accepts the grant again", None),
    ]
