"""The simulated EEN world: accounts, bridges, cameras and their status bitmasks.

Everything here is plain data plus deterministic generation from a seed; no I/O.
"""

from __future__ import annotations

import enum
import random
import uuid
from dataclasses import dataclass, field

# The only brand cluster the simulator serves; session keys and the user's
# active_brand_subdomain both carry it, as on the real cloud (een-api.md §1.5).
CLUSTER = "c001"


class Bit(enum.IntFlag):
    """Status bitmask bits (een-api.md §5)."""

    DEPRECATED_ONLINE = 0x000001
    DEPRECATED_ATTACHED = 0x000002
    DEPRECATED_ON = 0x000004
    PREVIEWS = 0x000010
    LOCATED = 0x000020
    PASSWORD_NEEDED = 0x000100
    CAMERA_ERROR = 0x000800
    INVALID = 0x010000
    ON = 0x020000
    STREAMING = 0x040000
    RECORDING = 0x080000
    REGISTERED = 0x100000


class Status(enum.IntEnum):
    """Realistic status words the generator and churn use."""

    RECORDING = 0x1E0037  # 1966135: online and recording
    ONLINE = 0x160037  # 1441847: online, not recording (the docs' example value)
    OFFLINE = 0x120025  # registered and on, but not streaming
    PASSWORD_NEEDED = 0x120125  # registered and on, ONVIF password needed, not streaming
    INTERNET_OFFLINE = 0x020024  # on, but no cloud connection
    OFF = 0x000020  # switched off; legacy status suppresses the registered bit then
    BRIDGE_ONLINE = 0x120001  # 1179649: healthy bridge (bridges never stream)
    BRIDGE_OFFLINE = 0x020000  # bridge on, but no cloud connection


class DeviceType(enum.StrEnum):
    CAMERA = "camera"
    BRIDGE = "bridge"


@dataclass(frozen=True)
class WorldSpec:
    """What to generate: `accounts` sub-accounts under a dealer (0 = a plain customer)."""

    accounts: int = 3
    bridges: int = 2
    cameras: int = 10
    seed: int = 1

    def __post_init__(self) -> None:
        for name in ("accounts", "bridges", "cameras"):
            if getattr(self, name) < 0:
                raise ValueError(f"WorldSpec.{name} must be >= 0")


@dataclass(slots=True)
class Device:
    esn: str
    account_id: str
    name: str
    type: DeviceType
    status: int
    guid: str
    serial_number: str
    ip_address: str
    bridge_id: str | None = None  # cameras: the bridge they are attached to
    camera_esns: list[str] = field(default_factory=list)  # bridges: attached cameras
    loss: float = 0.0  # cameras: share of stream packets lost (stream statistics, CSSU)
    previews_frozen: bool = False  # cameras: no thumbnails (PRTH) while set
    # The last status that was neither 0 nor had the invalid bit: what the VMS shows, since
    # those two mean "no change" (een-api.md §5). None until the device had one.
    known_status: int | None = None


@dataclass(slots=True)
class Account:
    id: str
    name: str
    is_master: bool
    timezone: str
    utc_offset: int
    customer_id: str
    # Insertion-ordered set of ESNs (dict keys): O(1) delete, stable listing order.
    device_esns: dict[str, None] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class User:
    id: str
    email: str
    first_name: str
    last_name: str
    owner_account_id: str
    is_master: bool


@dataclass
class World:
    """All accounts and devices; `accounts` keeps the dealer (or customer) first."""

    user: User
    accounts: dict[str, Account]
    devices: dict[str, Device]
    rng: random.Random  # for ids/names of devices and accounts added later
    # Bumped on every add/delete so consumers can cache derived lists.
    generation: int = 0

    @property
    def owner(self) -> Account:
        return self.accounts[self.user.owner_account_id]

    def visible_account(self, account_id: str) -> Account | None:
        """The account if the user may switch into it (all accounts here are the user's)."""
        return self.accounts.get(account_id)

    def set_status(self, esn: str, status: int) -> bool:
        """Set a device's status word; True when it actually changed."""
        device = self.devices[esn]
        if device.status == status:
            return False
        device.status = status
        if is_known(status):
            device.known_status = status
        return True

    def add_account(self, name: str) -> Account:
        if not self.user.is_master:
            raise WorldError("a plain customer has no sub-accounts")
        account = _new_account(self, name, is_master=False)
        self.generation += 1
        return account

    def delete_account(self, account_id: str) -> list[str]:
        """Delete a sub-account and its devices; return the deleted ESNs."""
        if account_id == self.user.owner_account_id:
            raise WorldError("the user's own account cannot be deleted")
        account = self.accounts.pop(account_id)
        esns = list(account.device_esns)
        for esn in esns:
            del self.devices[esn]
        self.generation += 1
        return esns

    def add_device(
        self,
        account_id: str,
        device_type: DeviceType,
        name: str,
        bridge_id: str | None = None,
        status: int | None = None,
    ) -> Device:
        account = self.accounts.get(account_id)
        if account is None:
            raise WorldError(f"unknown account {account_id}")
        if bridge_id is not None:
            if device_type is DeviceType.BRIDGE:
                raise WorldError("a bridge cannot be attached to a bridge")
            bridge = self.devices.get(bridge_id)
            if bridge is None or bridge.type is not DeviceType.BRIDGE:
                raise WorldError(f"unknown bridge {bridge_id}")
            if bridge.account_id != account_id:
                raise WorldError(f"bridge {bridge_id} belongs to another account")
        if status is None:
            status = Status.RECORDING if device_type is DeviceType.CAMERA else Status.BRIDGE_ONLINE
        device = _new_device(self, account, device_type, name, int(status), bridge_id)
        self.generation += 1
        return device

    def move_camera(self, esn: str, account_id: str) -> None:
        """Transfer a camera to another account, detached from its bridge (which stays)."""
        device = self.devices[esn]
        account = self.accounts.get(account_id)
        if account is None:
            raise WorldError(f"unknown account {account_id}")
        if device.type is not DeviceType.CAMERA:
            raise WorldError(f"{esn} is a bridge; only cameras move between accounts")
        if device.account_id == account_id:
            return
        del self.accounts[device.account_id].device_esns[esn]
        if device.bridge_id is not None:
            self.devices[device.bridge_id].camera_esns.remove(esn)
            device.bridge_id = None
        device.account_id = account_id
        account.device_esns[esn] = None
        self.generation += 1

    def delete_device(self, esn: str) -> None:
        device = self.devices.pop(esn)
        del self.accounts[device.account_id].device_esns[esn]
        if device.bridge_id is not None:
            self.devices[device.bridge_id].camera_esns.remove(esn)
        for camera_esn in device.camera_esns:
            self.devices[camera_esn].bridge_id = None
        self.generation += 1


class WorldError(ValueError):
    """A change the world cannot make (unknown account, bad bridge, ...)."""


_CAMERA_NAMES = (
    "Lobby Entrance", "Loading Dock", "Parking Lot North", "Parking Lot South", "Reception",
    "Back Door", "Warehouse Aisle", "Front Gate", "Cash Register", "Server Room", "Stairwell",
    "Elevator Lobby", "Break Room", "Side Entrance", "Shipping Bay", "Rooftop", "Hallway East",
    "Hallway West", "Conference Room", "Main Entrance", "Garage Entrance", "Storage Room",
    "Playground", "Cafeteria", "Kitchen", "Drive-Thru", "Fuel Pumps", "Pharmacy Counter",
    "Bike Rack", "Mail Room", "Emergency Exit", "Perimeter Fence", "Gym", "Pool Deck",
    "Front Desk", "Vault", "ATM", "Dumpster Area", "Showroom", "Workshop",
)  # fmt: skip
_BRIDGE_SITES = ("Main Building", "Warehouse", "Annex", "Office", "Garage", "North Wing")
_PLACES = (
    "Riverside", "Northgate", "Summit", "Harbor", "Maple", "Cedar", "Lakeside", "Pinecrest",
    "Oakwood", "Silver Creek", "Granite", "Bayview", "Sunrise", "Westfield", "Eastbrook",
    "Highland", "Valley", "Redwood", "Brookside", "Meadow",
)  # fmt: skip
_TRADES = (
    "Dental", "Logistics", "Self Storage", "Auto Repair", "Elementary School", "Apartments",
    "Hardware", "Bakery", "Fitness", "Medical Center", "Church", "Library", "Marina", "Hotel",
    "Pharmacy", "Veterinary Clinic", "Car Wash", "Brewery", "Motors", "Credit Union",
)  # fmt: skip
_TIMEZONES = (
    ("US/Pacific", -25200),
    ("US/Mountain", -21600),
    ("US/Central", -18000),
    ("US/Eastern", -14400),
    ("Europe/Amsterdam", 7200),
)
DEALER_NAME = "Summit Security Integrators"
# Share of generated cameras in each state; the rest record normally.
_CAMERA_MIX = (
    (Status.ONLINE, 0.06),
    (Status.OFF, 0.03),
    (Status.INTERNET_OFFLINE, 0.03),
    (Status.PASSWORD_NEEDED, 0.02),
)


def build_world(spec: WorldSpec, username: str = "demo@example.com") -> World:
    """Generate the world for `spec`; the same spec always gives the same world."""
    rng = random.Random(spec.seed)
    dealer = spec.accounts > 0
    owner = Account(
        id=_account_id(rng, set()),
        name=DEALER_NAME if dealer else _account_names(rng, 1)[0],
        is_master=dealer,
        timezone="US/Central",
        utc_offset=-18000,
        customer_id="DEALER-0001" if dealer else "CUST-0001",
    )
    user = User(
        id=f"{rng.getrandbits(32):08x}",
        email=username,
        first_name="Demo",
        last_name="User",
        owner_account_id=owner.id,
        is_master=dealer,
    )
    world = World(user=user, accounts={owner.id: owner}, devices={}, rng=rng)
    customers = _account_names(rng, spec.accounts) if dealer else []
    for name in customers:
        _new_account(world, name, is_master=False)
    for account in list(world.accounts.values()):
        if account.is_master:
            continue  # the dealer owns no devices by default
        _populate(world, account, spec)
    return world


def _populate(world: World, account: Account, spec: WorldSpec) -> None:
    rng = world.rng
    sites = _numbered(_BRIDGE_SITES, spec.bridges, rng)
    bridges = [
        _new_device(world, account, DeviceType.BRIDGE, f"{site} Bridge", Status.BRIDGE_ONLINE)
        for site in sites
    ]
    for index, name in enumerate(_numbered(_CAMERA_NAMES, spec.cameras, rng)):
        bridge_id = bridges[index % len(bridges)].esn if bridges else None
        _new_device(world, account, DeviceType.CAMERA, name, _camera_status(rng), bridge_id)


def _camera_status(rng: random.Random) -> int:
    roll = rng.random()
    for status, share in _CAMERA_MIX:
        if roll < share:
            return int(status)
        roll -= share
    return int(Status.RECORDING)


def _numbered(names: tuple[str, ...], count: int, rng: random.Random) -> list[str]:
    """`count` names from `names` in shuffled order, numbered once the list runs out."""
    order = list(names)
    rng.shuffle(order)
    result = []
    for index in range(count):
        base = order[index % len(order)]
        round_ = index // len(order)
        result.append(base if round_ == 0 else f"{base} {round_ + 1}")
    return result


def _account_names(rng: random.Random, count: int) -> list[str]:
    combos = [f"{place} {trade}" for place in _PLACES for trade in _TRADES]
    return _numbered(tuple(combos), count, rng)


def _account_id(rng: random.Random, taken: set[str] | dict[str, Account]) -> str:
    while True:
        candidate = f"{rng.randrange(1_000, 100_000_000):08d}"
        if candidate not in taken:
            return candidate


def _new_account(world: World, name: str, *, is_master: bool) -> Account:
    rng = world.rng
    timezone, offset = rng.choice(_TIMEZONES)
    account = Account(
        id=_account_id(rng, world.accounts),
        name=name,
        is_master=is_master,
        timezone=timezone,
        utc_offset=offset,
        customer_id=f"CUST-{len(world.accounts):04d}",
    )
    world.accounts[account.id] = account
    return account


def _new_device(
    world: World,
    account: Account,
    device_type: DeviceType,
    name: str,
    status: int,
    bridge_id: str | None = None,
) -> Device:
    rng = world.rng
    esn = _esn(rng, world.devices)
    serial = (
        f"EEN-BR305-{rng.randrange(10_000, 100_000)}"
        if device_type is DeviceType.BRIDGE
        else f"{rng.randrange(10**16, 10**17)}"
    )
    device = Device(
        esn=esn,
        account_id=account.id,
        name=name,
        type=device_type,
        status=status,
        guid=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        serial_number=serial,
        ip_address=f"*10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}",
        bridge_id=bridge_id,
        known_status=status if is_known(status) else None,
    )
    world.devices[esn] = device
    account.device_esns[esn] = None
    if bridge_id is not None:
        world.devices[bridge_id].camera_esns.append(esn)
    return device


def _esn(rng: random.Random, taken: dict[str, Device]) -> str:
    # Real ESNs look like 1000f60d / 1002d096: a "10" prefix and six hex digits.
    while True:
        candidate = f"10{rng.getrandbits(24):06x}"
        if candidate not in taken:
            return candidate


def is_known(status: int) -> bool:
    """False for the values that mean "no change": 0 and anything with the invalid bit."""
    return status != 0 and not status & Bit.INVALID


def overall(status: int) -> str:
    """EEN's overall camera status label for a bitmask (een-api.md §5)."""
    if not status & Bit.ON:
        return "off"
    if not status & Bit.REGISTERED:
        return "internet_offline"
    if status & Bit.STREAMING:
        return "online"
    if status & Bit.PASSWORD_NEEDED:
        return "password_needed"
    return "offline"
