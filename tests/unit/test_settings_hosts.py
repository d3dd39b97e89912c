"""Which Host names the server answers to (the DNS-rebinding defence) for each bind/setting."""

from __future__ import annotations

import pytest

from grvtmm.settings import LOOPBACK_HOSTS, Settings, answered_hosts


@pytest.mark.parametrize(
    ("host", "allowed", "expected"),
    [
        ("127.0.0.1", [], LOOPBACK_HOSTS),
        ("localhost", [], LOOPBACK_HOSTS),
        ("::1", [], LOOPBACK_HOSTS),
        ("127.0.0.1", ["Grvt-MM.example.com "], (*LOOPBACK_HOSTS, "grvt-mm.example.com")),
        ("192.168.1.20", [], (*LOOPBACK_HOSTS, "192.168.1.20")),
        ("fd00::20", [], (*LOOPBACK_HOSTS, "[fd00::20]")),
        ("0.0.0.0", [], ()),  # any name reaches it; the password guards it
        ("::", [], ()),
        ("0.0.0.0", ["bot.example.org"], (*LOOPBACK_HOSTS, "bot.example.org")),
        ("127.0.0.1", ["*"], ()),
    ],
)
def test_answered_hosts(host: str, allowed: list[str], expected: tuple[str, ...]) -> None:
    assert answered_hosts(Settings(host=host, allowed_hosts=allowed)) == expected


def test_allowed_hosts_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRVTMM_ALLOWED_HOSTS", '["grvt-mm.example.com"]')
    assert Settings().allowed_hosts == ["grvt-mm.example.com"]
