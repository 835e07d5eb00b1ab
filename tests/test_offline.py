"""The test suite's own guards: no test reaches the network (see tests/conftest.py)."""

from __future__ import annotations

import os
import socket

import pytest
from pytest_socket import SocketConnectBlockedError


@pytest.mark.filterwarnings("ignore:A test tried to use socket")  # pytest-socket's report of the attempt
def test_a_connection_beyond_loopback_fails_the_test():
    with pytest.raises(SocketConnectBlockedError):
        socket.create_connection(("192.0.2.1", 443), timeout=1)  # TEST-NET-1: reserved, never routed


def test_loopback_connections_are_allowed():
    with socket.create_server(("127.0.0.1", 0)) as server:
        socket.create_connection(("localhost", server.getsockname()[1]), timeout=1).close()


def test_hugging_face_libraries_are_offline():
    assert {os.environ[name] for name in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE")} == {"1"}
