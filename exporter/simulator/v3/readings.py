"""Where EEN's v3 OpenAPI files contradict themselves or leave a choice open, the simulator
plays each reading (issue 22), as v1's readings.py does for the v1 docs.

One `V3Readings` object per `V3Cloud`, changed in place at run time (PUT /_sim/v3/readings).
docs/simulator.md names the source of each reading.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any


class MasterType(enum.StrEnum):
    """The `type` /accounts reports for the login's own account when it sees others
    (user-and-accounts `AccountType`: distributor | reseller | endUserAccount)."""

    RESELLER = "reseller"
    DISTRIBUTOR = "distributor"


class BridgeIdReading(enum.StrEnum):
    """`bridgeId` of a camera without a bridge. devices `ApiCameraMain` lists `bridgeId` as
    required, its `BridgeId` schema (a non-nullable string) says it "will not be reported"
    for cameras connected directly to the cloud."""

    NULL = "null"  # present, JSON null: what `required` asks and EEN's own client reads
    ABSENT = "absent"  # left out, as the BridgeId description says


class PortReading(enum.StrEnum):
    """`httpsBaseUrl` with or without `port` (clientSettings, token and authorizationTokens
    answers). Every EEN client but one keeps only `hostname` (port 443)."""

    INCLUDED = "included"
    OMITTED = "omitted"


class SwitchBaseUrlReading(enum.StrEnum):
    """`httpsBaseUrl` in the /authorizationTokens answer. resellers-account-switching
    `AccessToken` defines the property `httpsBaseUrl` but its required list names
    `httpBaseUrl`, which it does not define; the reseller-account-switching guide's sample
    answer has no base URL at all."""

    INCLUDED = "included"  # the defined property, which EEN's SwitchAccount example reads
    OMITTED = "omitted"  # the guide's sample; the client keeps or asks clientSettings


class FilterTypeKey(enum.StrEnum):
    """The key of an event subscription filter's `types` items. events `EventTypeFilter`
    defines one property, `id`, but requires `type`. Both are accepted in requests."""

    ID = "id"  # the defined property, its example and every EEN client's request
    TYPE = "type"  # the required list


@dataclass
class V3Readings:
    master_type: MasterType = MasterType.RESELLER
    bridge_id: BridgeIdReading = BridgeIdReading.NULL
    base_url_port: PortReading = PortReading.INCLUDED
    switch_base_url: SwitchBaseUrlReading = SwitchBaseUrlReading.INCLUDED
    filter_type_key: FilterTypeKey = FilterTypeKey.ID

    def as_json(self) -> dict[str, Any]:
        return {
            "master_type": self.master_type.value,
            "bridge_id": self.bridge_id.value,
            "base_url_port": self.base_url_port.value,
            "switch_base_url": self.switch_base_url.value,
            "filter_type_key": self.filter_type_key.value,
        }

    def update(self, body: dict[str, Any]) -> None:
        """Apply a PUT body; ValueError names the first bad field, and nothing changes then."""
        fields: dict[str, type[enum.StrEnum]] = {
            "master_type": MasterType,
            "bridge_id": BridgeIdReading,
            "base_url_port": PortReading,
            "switch_base_url": SwitchBaseUrlReading,
            "filter_type_key": FilterTypeKey,
        }
        unknown = sorted(set(body) - set(fields))
        if unknown:
            raise ValueError(f"unknown reading {unknown[0]!r}")
        values: dict[str, enum.StrEnum] = {}
        for name, kind in fields.items():
            if name in body:
                try:
                    values[name] = kind(body[name])
                except ValueError:
                    choices = ", ".join(member.value for member in kind)
                    raise ValueError(f"{name} must be one of: {choices}") from None
        for name, value in values.items():
            setattr(self, name, value)
