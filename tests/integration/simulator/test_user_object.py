"""The user object of authorize and GET /g/user (issue 12 item 4), field for field as EEN's docs
(EENCloud/api-docs) show it: the Authorize example of `_api_aaa.md` / `_api_authentication.md`,
and the User Model of `_api_user.md` for GET /g/user."""

from __future__ import annotations

from typing import Any

import requests

from exporter.simulator import Simulator
from exporter.simulator.client import SimulatorControl
from tests.integration.conftest import MakeSimulator
from tests.integration.simulator.een import PASSWORD, TIMEOUT, USERNAME, authenticate, get, login

# Copied from the docs' example, in its order (the docs' `[...]` in camera_access aside).
DOCUMENTED_FIELDS = (
    "id",
    "user_id",
    "first_name",
    "last_name",
    "email",
    "owner_account_id",
    "active_account_id",
    "uid",
    "is_superuser",
    "is_account_superuser",
    "is_staff",
    "is_active",
    "is_pending",
    "is_master",
    "is_user_admin",
    "is_layout_admin",
    "is_edit_map",
    "is_live_video",
    "is_export_video",
    "is_recorded_video",
    "is_view_preview_video",
    "is_edit_admin_users",
    "is_edit_all_users",
    "is_edit_users",
    "is_edit_account",
    "is_device_admin",
    "is_edit_cameras",
    "is_edit_camera_on_off",
    "is_edit_camera_less_billing",
    "is_edit_ptz_stations",
    "is_edit_all_and_add",
    "is_edit_motion_areas",
    "is_edit_sharing",
    "is_ptz_live",
    "is_mobile_branded",
    "is_view_contract",
    "is_view_audit_trail",
    "is_two_factor_authentication_enabled",
    "user_authenticated_clients",
    "account_utc_offset",
    "account_work_days",
    "account_work_hours",
    "language",
    "inactive_session_timeout",
    "street",
    "city",
    "state",
    "country",
    "postal_code",
    "phone",
    "mobile_phone",
    "utc_offset",
    "timezone",
    "last_login",
    "alternate_email",
    "sms_phone",
    "json",
    "camera_access",
    "layouts",
    "is_notify_enable",
    "notify_period",
    "notify_rule",
    "is_branded",
    "active_brand_subdomain",
    "account_map_lines",
    "access_period",
    "user_log_level",
    "saved_filters",
    "temp_account_access",
    "is_terms_noncompliant",
    "is_system_notifications_disabled",
)
WHOLE_WEEK = [f"{day}-0000-2359" for day in range(7)]


def authorize(sim: Simulator) -> tuple[requests.Session, dict[str, Any]]:
    http = requests.Session()
    token = authenticate(sim, http)
    response = http.post(f"{sim.url}/g/aaa/authorize", json={"token": token}, timeout=TIMEOUT)
    assert response.status_code == 200, response.text
    user: dict[str, Any] = response.json()
    return http, user


def test_authorize_answers_every_documented_field(sim: Simulator) -> None:
    _, user = authorize(sim)
    assert len(DOCUMENTED_FIELDS) == 71
    assert tuple(user) == DOCUMENTED_FIELDS
    assert user["user_id"] == user["id"]


def test_get_user_is_the_user_model_without_user_id(sim: Simulator) -> None:
    http, authorized = authorize(sim)
    user = get(sim, http, "/g/user").json()
    # The User Model (_api_user.md) is the Authorize example without "the additional user_id
    # field, which is present during Authorize" (_api_aaa.md), and without is_edit_map.
    assert tuple(user) == tuple(f for f in DOCUMENTED_FIELDS if f not in ("user_id", "is_edit_map"))
    changing = {"last_login"}
    for name in user.keys() - changing:
        assert user[name] == authorized[name], name


def test_the_values_come_from_the_world(sim: Simulator) -> None:
    http, user = authorize(sim)
    with SimulatorControl(sim.url) as control:
        state = control.state()
    owner = next(a for a in state["accounts"] if a["id"] == state["user"]["owner_account_id"])
    sub_account = next(a for a in state["accounts"] if a["devices"])
    assert user["id"] == state["user"]["id"]
    assert user["email"] == USERNAME
    assert user["owner_account_id"] == user["active_account_id"] == owner["id"]
    assert user["is_master"] == 1  # the default world is a dealer with sub-accounts
    accounts = {row[0]: row for row in get(sim, http, "/g/account/list").json()}
    timezone = accounts[owner["id"]][19]["timezone"]
    assert user["timezone"] == timezone
    devices = get(sim, http, "/g/device/list").json()  # the dealer's own devices (none here)
    assert user["camera_access"] == [[row[1], "r"] for row in devices if row[3] == "camera"]
    assert user["utc_offset"] == user["account_utc_offset"]
    assert user["active_brand_subdomain"] == "c001"  # the session key's cluster prefix
    assert http.cookies["auth_key"].startswith("c001~")
    assert user["inactive_session_timeout"] == 15
    assert user["notify_period"] == user["access_period"] == WHOLE_WEEK
    assert user["is_two_factor_authentication_enabled"] == 0
    assert user["sms_phone"] is None
    # After switching, the session's active account follows; the owner does not.
    http.post(f"{sim.url}/g/aaa/switch_account", json={"account_id": sub_account["id"]},
              timeout=TIMEOUT).raise_for_status()  # fmt: skip
    switched = get(sim, http, "/g/user").json()
    assert switched["active_account_id"] == sub_account["id"]
    assert switched["owner_account_id"] == owner["id"]


def test_a_customer_user_sees_its_cameras(make_sim: MakeSimulator) -> None:
    from exporter.simulator import WorldSpec

    sim = make_sim(WorldSpec(accounts=0, bridges=1, cameras=3))
    http = login(sim)
    user = get(sim, http, "/g/user").json()
    devices = get(sim, http, "/g/device/list").json()
    cameras = [[row[1], "r"] for row in devices if row[3] == "camera"]
    assert len(cameras) == 3
    assert user["camera_access"] == cameras
    assert user["is_master"] == 0


def test_a_two_factor_user_says_so(make_sim: MakeSimulator) -> None:
    sim = make_sim(two_factor=True)
    response = requests.post(
        f"{sim.url}/g/aaa/authenticate",
        json={"username": USERNAME, "password": PASSWORD},
        timeout=TIMEOUT,
    )
    masked_sms = response.json()["two_factor_authentication_code"]["sms"]
    token = response.json()["token"]
    requests.post(f"{sim.url}/g/aaa/two_factor_authenticate",
                  json={"token": token, "two_factor_authentication_type": "sms"},
                  timeout=TIMEOUT).raise_for_status()  # fmt: skip
    with SimulatorControl(sim.url) as control:
        code = control.state()["two_factor_code"]
    user = requests.post(f"{sim.url}/g/aaa/authorize",
                         json={"token": token, "two_factor_authentication_code": code},
                         timeout=TIMEOUT).json()  # fmt: skip
    assert user["is_two_factor_authentication_enabled"] == 1
    assert user["sms_phone"].endswith(masked_sms[-3:])  # the number authenticate masked


def test_nothing_secret_in_it(make_sim: MakeSimulator) -> None:
    sim = make_sim(password="Pa55-word-never-shown", api_key="key-never-shown")
    http = requests.Session()
    http.headers["Authentication"] = "key-never-shown:"
    token = authenticate_with(sim, http, "Pa55-word-never-shown")
    response = http.post(f"{sim.url}/g/aaa/authorize", json={"token": token}, timeout=TIMEOUT)
    key = http.cookies["auth_key"]
    for text in (response.text, get(sim, http, "/g/user").text):
        for secret in ("Pa55-word-never-shown", "key-never-shown", key, token):
            assert secret not in text


def authenticate_with(sim: Simulator, http: requests.Session, password: str) -> str:
    response = http.post(
        f"{sim.url}/g/aaa/authenticate",
        json={"username": USERNAME, "password": password},
        timeout=TIMEOUT,
    )
    assert response.status_code == 200, response.text
    return str(response.json()["token"])
