"""Fixtures for tests against real OpenSSH servers (see :mod:`tests.remote.sshd`)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .sshd import (
    HarnessConfig,
    HarnessError,
    HarnessUnavailable,
    SshHarness,
    availability,
    provision,
    sweep_stale,
)

_HERE = Path(__file__).parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if _HERE in item.path.parents:
            item.add_marker(pytest.mark.remote)


@pytest.fixture(scope="session")
def ssh_hosts() -> Iterator[SshHarness]:
    """Two real sshd hosts (h1, h2), each in its own network namespace with its own user and HOME.

    Without root or iproute2 this falls back to one host (h1) on 127.0.0.1 as the current user; tests
    that need more use the ``netns_hosts`` fixture. Skips with the reason when no sshd can be run at all.
    """
    layout, reason = availability()
    if layout is None:
        pytest.skip(f"real OpenSSH hosts unavailable: {reason}")
    sweep_stale()
    try:
        harness = provision(HarnessConfig(hosts=2 if layout == "netns" else 1))
    except HarnessUnavailable as exc:
        pytest.skip(f"real OpenSSH hosts unavailable: {exc}")
    except HarnessError as exc:
        pytest.fail(f"could not provision the OpenSSH test hosts: {exc}", pytrace=False)
    try:
        yield harness
    finally:
        harness.teardown()


@pytest.fixture
def hosts(ssh_hosts: SshHarness) -> Iterator[SshHarness]:
    """The session's hosts, put back to their provisioned state after the test."""
    yield ssh_hosts
    ssh_hosts.reset()


@pytest.fixture
def netns_hosts(hosts: SshHarness) -> SshHarness:
    """Like ``hosts``, for tests that need two hosts or cutting a host's network."""
    if hosts.mode != "netns":
        pytest.skip("needs per-host network namespaces (root and iproute2); this run has one loopback host")
    return hosts
