"""EEN's published Python v3 example functions, copied unchanged except for the auth host.

Source: EENCloud/VMS-Developer-Portal, `Agent Skills/een-api/01-authenticate.md` (commit
9c04f13, `authenticate`), `02-refresh-access-token.md` (9c04f13, `refresh_access_token`),
`03-list-cameras.md` (9c04f13, `list_cameras`) and `06-event-lifecycle.md` (4664b4b,
`subscribe_to_events`). The one change: the literal host `auth.eagleeyenetworks.com` became
`{EEN_AUTH_HOST}`, which the tests point at the simulator. Imports are merged and sorted.

That repository is under the MIT License:

    MIT License

    Copyright (c) 2024 Oscar Perez-Hernandez

    Permission is hereby granted, free of charge, to any person obtaining a copy
    of this software and associated documentation files (the "Software"), to deal
    in the Software without restriction, including without limitation the rights
    to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
    copies of the Software, and to permit persons to whom the Software is
    furnished to do so, subject to the following conditions:

    The above copyright notice and this permission notice shall be included in all
    copies or substantial portions of the Software.

    THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
    IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
    FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
    AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
    LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
    OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
    SOFTWARE.
"""
# mypy: disable-error-code="type-arg, no-untyped-def, no-any-return"
# ruff: noqa: UP035

import base64
from typing import Iterator

import requests

EEN_AUTH_HOST = "auth.eagleeyenetworks.com"


# -- 01-authenticate.md -------------------------------------------------------------------------


def authenticate(client_id: str, client_secret: str, code: str, redirect_uri: str) -> dict:
    credentials = base64.b64encode(f"{client_id}:{client_secret}".encode()).decode()

    response = requests.post(
        f"https://{EEN_AUTH_HOST}/oauth2/token",
        headers={
            "Authorization": f"Basic {credentials}",
            "Content-Type": "application/x-www-form-urlencoded",
            "Accept": "application/json",
        },
        data={
            "grant_type": "authorization_code",
            "scope": "vms.all",
            "code": code,
            "redirect_uri": redirect_uri,
        },
    )
    response.raise_for_status()
    return response.json()
    # Returns: { access_token, refresh_token, expires_in, httpsBaseUrl, ... }


# -- 02-refresh-access-token.md -----------------------------------------------------------------


def refresh_access_token(
    client_id: str,
    client_secret: str,
    refresh_token: str
) -> dict:  # fmt: skip
    credentials = base64.b64encode(f"{client_id}:{client_secret}".encode()).decode()

    response = requests.post(
        f"https://{EEN_AUTH_HOST}/oauth2/token",
        headers={
            "Authorization": f"Basic {credentials}",
            "Content-Type": "application/x-www-form-urlencoded",
            "Accept": "application/json",
        },
        data={
            "grant_type": "refresh_token",
            "scope": "vms.all",
            "refresh_token": refresh_token,
        },
    )
    response.raise_for_status()
    return response.json()
    # Returns new: { access_token, refresh_token, expires_in, httpsBaseUrl, ... }
    # Store the NEW refresh_token immediately — the old one is now invalid.


# -- 03-list-cameras.md ---------------------------------------------------------------------------


def list_cameras(
    access_token: str,
    base_url: str,
    page_size: int = 100,
    **filters
) -> Iterator[dict]:  # fmt: skip
    """Yields all cameras, handling pagination automatically."""
    params = {"pageSize": page_size, **filters}
    headers = {
        "Authorization": f"Bearer {access_token}",
        "Accept": "application/json",
    }

    while True:
        response = requests.get(
            f"https://{base_url}/api/v3.0/cameras",
            headers=headers,
            params=params,
        )
        response.raise_for_status()
        data = response.json()

        yield from data["results"]

        next_token = data.get("nextPageToken", "")
        if not next_token:
            break
        params["pageToken"] = next_token


# -- 06-event-lifecycle.md ------------------------------------------------------------------------


def subscribe_to_events(
    access_token: str,
    base_url: str,
    webhook_url: str,
    webhook_secret: str,
    camera_ids: list[str],
    event_types: list[str],
) -> dict:
    response = requests.post(
        f"https://{base_url}/api/v3.0/eventSubscriptions",
        headers={
            "Authorization": f"Bearer {access_token}",
            "Content-Type": "application/json",
            "Accept": "application/json",
        },
        json={
            "deliveryConfig": {
                "type": "webhook.v1",
                "url": webhook_url,
                "authorizationHeader": f"Bearer {webhook_secret}",
            },
            "filters": [
                {
                    "resourceType": "camera",
                    "resourceIds": camera_ids,
                    "types": event_types,
                }
            ],
        },
    )
    response.raise_for_status()
    return response.json()  # { id, deliveryConfig, filters, lifeCycle }
