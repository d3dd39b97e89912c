"""`python -m grvtmm.api.schema`: the OpenAPI schema without a running server."""

from __future__ import annotations

import json
from pathlib import Path

from grvtmm.api import schema


def test_schema_names_every_route_the_dashboard_calls() -> None:
    document = json.loads(schema.render())
    paths = document["paths"]
    for path in (
        "/api/auth/login",
        "/api/status",
        "/api/engine/{action}",
        "/api/config/strategy",
        "/api/config/strategy/schema",
        "/api/config/exchange",
        "/api/config/secrets/status",
        "/api/config/telegram",
        "/api/monitor/summary",
        "/api/monitor/series",
        "/api/monitor/fills",
    ):
        assert path in paths, path
    assert "StrategyConfig" in document["components"]["schemas"]


def test_render_is_stable_text_and_main_writes_the_file(tmp_path: Path) -> None:
    first = schema.render()
    assert first == schema.render()
    assert first.endswith("\n")
    out = tmp_path / "openapi.json"
    assert schema.main(["schema", str(out)]) == 0
    assert out.read_text(encoding="utf-8") == first
