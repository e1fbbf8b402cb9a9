"""The vending server under attack and faults (issue 10): each test reproduces one attack or
injected fault against the real app under uvicorn on loopback, minting from the emulator."""

from __future__ import annotations

import logging

import grpc
import httpx
import pytest

from tests.serving import BEARER, serve
from tvmcli.emulator import Emulator, Faults

AUTH = {"Authorization": f"Bearer {BEARER}"}


def assert_error(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code


# -- Momento statuses without a mapping (item 10) ---------------------------------------------

REFUSALS = ["NOT_FOUND", "ALREADY_EXISTS", "FAILED_PRECONDITION", "OUT_OF_RANGE", "UNIMPLEMENTED"]
TRANSIENT = ["UNKNOWN", "ABORTED", "DATA_LOSS", "CANCELLED"]


@pytest.mark.parametrize("status", REFUSALS + TRANSIENT)
def test_every_momento_status_is_a_json_error_never_a_500(
    status: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    faults = Faults(fail_rate=1.0, fail_status=grpc.StatusCode[status])
    with Emulator(rate_limit=0, faults=faults) as emulator, serve(emulator, timeout=1) as server:
        response = httpx.get(server.url + "/token", headers=AUTH, timeout=10)
    if status in REFUSALS:
        assert_error(response, 502, "momento_error")
    else:
        assert_error(response, 503, "momento_unavailable")
        assert int(response.headers["retry-after"]) >= 1
    assert "Traceback" not in caplog.text
    assert "internal error" not in caplog.text


def test_an_unmapped_status_exits_5_from_the_cli_library_too() -> None:
    from tvmcli.credential_format import Kind
    from tvmcli.credentials import ApiKey
    from tvmcli.errors import ExitCode, MomentoError, TvmError
    from tvmcli.minting import mint_once
    from tvmcli.roles import Role
    from tvmcli.statements import Statement

    faults = Faults(fail_rate=1.0, fail_status=grpc.StatusCode.UNIMPLEMENTED)
    with Emulator(rate_limit=0, faults=faults) as emulator:
        key = ApiKey(emulator.issue_api_key(), emulator.endpoint, "test", Kind.V2_API_KEY)
        with pytest.raises(TvmError) as caught:
            mint_once(key, (Statement(Role.READ_ONLY, "c"),), 60, timeout=1)
    assert isinstance(caught.value, MomentoError)
    assert caught.value.exit_code is ExitCode.UNAVAILABLE
    assert "UNIMPLEMENTED" in caught.value.message
