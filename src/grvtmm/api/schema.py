"""Print the API's OpenAPI schema as JSON without starting a server (for the typed web client).

Usage: `python -m grvtmm.api.schema [OUT.json]` — writes to stdout when no path is given.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

from grvtmm import __version__
from grvtmm.api.app import create_app
from grvtmm.api.deps import Services


def openapi_schema() -> dict[str, Any]:
    """The schema of `create_app`; routes never run, so the services are a stand-in."""
    # The schema depends only on the route declarations and the version; building a node,
    # a venue and a store just to read it would need a data dir and a market.
    services = cast(Services, SimpleNamespace(version=__version__))
    return create_app(services).openapi()


def render() -> str:
    """The schema as stable, diff-friendly JSON text (sorted keys, trailing newline)."""
    return json.dumps(openapi_schema(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main(argv: list[str]) -> int:
    text = render()
    if len(argv) > 1:
        Path(argv[1]).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
