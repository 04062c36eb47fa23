"""Where v3 calls go for an EEN_URL (docs/een-api-v3.md §2)."""

from __future__ import annotations

import pytest

from exporter.v3.access import Hosts
from exporter.v3.api import V3Client


@pytest.mark.parametrize(
    "url",
    ["https://login.eagleeyenetworks.com", "https://auth.eagleeyenetworks.com/"],
)
def test_een_means_its_auth_host_and_the_api_host_een_names(url: str) -> None:
    hosts = Hosts.from_url(url)
    assert hosts.auth_url == "https://auth.eagleeyenetworks.com"
    client = V3Client()  # not called: the token answer named the host
    assert hosts.api(client, "t", "api.c013.eagleeyenetworks.com", 443) == (
        "https://api.c013.eagleeyenetworks.com/api/v3.0"
    )
    assert hosts.api(client, "t", "api.c013.eagleeyenetworks.com", 8443) == (
        "https://api.c013.eagleeyenetworks.com:8443/api/v3.0"
    )


def test_any_other_url_keeps_every_call_on_it() -> None:
    hosts = Hosts.from_url("http://127.0.0.1:9878/")
    assert hosts.auth_url == "http://127.0.0.1:9878"
    # Whatever host the token answer names.
    assert hosts.api(V3Client(), "t", "api.c013.eagleeyenetworks.com", 443) == (
        "http://127.0.0.1:9878/api/v3.0"
    )
