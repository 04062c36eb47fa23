import pytest

from exporter.state.status import CameraStatus, decode_bridge, decode_camera, overall_status


@pytest.mark.parametrize(
    ("bitmask", "online", "on", "streaming", "recording", "status"),
    [
        # The sample values of een-api.md §5.
        (1441847, True, True, True, False, CameraStatus.ONLINE),  # 0x160037
        (1441831, True, True, True, False, CameraStatus.ONLINE),  # 0x160027
        (1441855, True, True, True, False, CameraStatus.ONLINE),  # 0x16003F, legacy bit 3 only
        (0x1E0037, True, True, True, True, CameraStatus.ONLINE),  # recording
        (0x100025, True, False, False, False, CameraStatus.OFF),  # on bit clear
        (0x0E0037, False, True, True, True, CameraStatus.INTERNET_OFFLINE),  # not registered
        (0x120120, True, True, False, False, CameraStatus.PASSWORD_NEEDED),  # bit 8, no streaming
        (0x120020, True, True, False, False, CameraStatus.OFFLINE),
    ],
)
def test_camera_decoding(
    bitmask: int, online: bool, on: bool, streaming: bool, recording: bool, status: CameraStatus
) -> None:
    state = decode_camera(bitmask)
    assert state is not None
    assert (state.online, state.on, state.streaming, state.recording) == (
        online,
        on,
        streaming,
        recording,
    )
    assert state.status is status


def test_off_wins_over_everything_else() -> None:
    # Registered, streaming and recording bits set but the camera is switched off.
    assert overall_status(0x1C0000) is CameraStatus.OFF


@pytest.mark.parametrize("bitmask", [0, 0x010000, 0x1F0037])
def test_no_information_keeps_previous_state(bitmask: int) -> None:
    assert decode_camera(bitmask) is None
    assert decode_bridge(bitmask) is None


def test_bridge_decoding() -> None:
    assert decode_bridge(1179649) is True  # 0x120001, the documented healthy bridge
    assert decode_bridge(0x020001) is False  # on but not registered
