"""Deployment files in deploy/: the Docker image, Compose, the systemd unit and nginx.

No Docker daemon is needed. The files are parsed and checked in Python; the real tools run when
they are installed (`docker compose config`, `systemd-analyze verify` and `security`,
`nginx -t`); and the exact commands that the image and the unit start are run here, outside
Docker, against a temporary data dir on a free loopback port: set the password, serve, pass the
health checks, stop on SIGTERM with exit code 0 within the stop timeouts.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pydantic import BaseModel

from grvtmm.api.app import SECURITY_HEADERS
from grvtmm.api.auth import CSRF_HEADER
from grvtmm.settings import Settings

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
DOCKERFILE = DEPLOY / "Dockerfile"
COMPOSE = DEPLOY / "compose.yaml"
UNIT = DEPLOY / "grvt-mm.service"
ENV_EXAMPLE = DEPLOY / "grvt-mm.env.example"
NGINX = DEPLOY / "nginx" / "grvt-mm.conf"
APP_SERVICE = "grvt-mm"
APP_PORT = 8080
PASSWORD = "deploy-operator-password-42"
GRVT_MM = Path(sys.executable).with_name("grvt-mm")


def _shutdown_bound_s() -> float:
    """The server's bounded shutdown (cancel + flatten), as configured by the env example."""
    default = float(Settings.model_fields["shutdown_timeout_s"].default)
    configured = env_file_values(ENV_EXAMPLE).get("GRVTMM_SHUTDOWN_TIMEOUT_S")
    return float(configured) if configured else default


# ---- parsers ---------------------------------------------------------------------------------
@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [args for kw, args in self.instructions if kw == keyword]

    def last(self, keyword: str) -> str | None:
        found = self.all(keyword)
        return found[-1] if found else None

    def env(self) -> dict[str, str]:
        values: dict[str, str] = {}
        for args in self.all("ENV"):
            for item in shlex.split(args):
                key, _, value = item.partition("=")
                values[key] = value
        return values


def parse_dockerfile(text: str) -> list[Stage]:
    """Stages with their instructions (comments dropped, continuation lines joined)."""
    logical: list[str] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    assert not pending, "the Dockerfile ends inside a continuation line"
    stages: list[Stage] = []
    for line in logical:
        keyword, _, args = line.partition(" ")
        keyword = keyword.upper()
        args = args.strip()
        if keyword == "FROM":
            parts = args.split()
            name = parts[2] if len(parts) == 3 and parts[1].upper() == "AS" else None
            stages.append(Stage(parts[0], name))
        else:
            assert stages, f"{keyword} before the first FROM"
            stages[-1].instructions.append((keyword, args))
    return stages


def exec_form(args: str) -> list[str]:
    value = json.loads(args)
    assert isinstance(value, list) and all(isinstance(v, str) for v in value), args
    return value


def env_file_values(path: Path, *, commented: bool = False) -> dict[str, str]:
    """KEY=value lines of an environment file; with `commented`, also the `# KEY=value` ones."""
    pattern = re.compile(r"^(#\s*)?([A-Z][A-Z0-9_]*)=(.*)$")
    values: dict[str, str] = {}
    for line in path.read_text().splitlines():
        match = pattern.match(line.strip())
        if match and (commented or not match.group(1)):
            value = match.group(3).strip()
            if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
                value = value[1:-1]  # systemd and Compose strip one level of outer quotes
            values[match.group(2)] = value
    return values


def parse_unit(text: str) -> dict[str, list[tuple[str, str]]]:
    """systemd unit: section → (key, value) in order (keys may repeat)."""
    sections: dict[str, list[tuple[str, str]]] = {}
    current: list[tuple[str, str]] | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], [])
            continue
        assert current is not None, f"setting outside a section: {line}"
        key, sep, value = line.partition("=")
        assert sep, f"not a key=value line: {line}"
        current.append((key.strip(), value.strip()))
    return sections


def unit_value(section: list[tuple[str, str]], key: str) -> str:
    values = [v for k, v in section if k == key]
    assert values, f"{key}= is not set"
    return values[-1]


_SPAN_UNITS = {
    "us": 1e-6, "ms": 1e-3, "s": 1.0, "sec": 1.0, "second": 1.0, "seconds": 1.0,
    "m": 60.0, "min": 60.0, "minute": 60.0, "minutes": 60.0, "h": 3600.0, "hr": 3600.0,
    "hour": 3600.0, "hours": 3600.0,
}  # fmt: skip


def duration_s(text: str | int | float, *, bare_unit: float = 1.0) -> float:
    """Compose (`1m30s`) or systemd (`90`, `1min 30s`) durations in seconds."""
    if isinstance(text, int | float):
        return float(text) * bare_unit
    text = text.strip()
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return float(text) * bare_unit
    parts = re.findall(r"(\d+(?:\.\d+)?)\s*([a-z]+)", text)
    assert parts and "".join(f"{n}{u}" for n, u in parts) == re.sub(r"\s+", "", text), text
    return sum(float(n) * _SPAN_UNITS[u] for n, u in parts)


@dataclass
class Directive:
    name: str
    args: list[str]
    block: list[Directive] | None = None

    def find(self, name: str) -> list[Directive]:
        return [d for d in self.block or [] if d.name == name]


def parse_nginx(text: str) -> list[Directive]:
    """nginx configuration syntax: directives, quoted strings, comments and blocks."""
    specials = {"{", "}", ";"}
    i = 0
    out: list[tuple[str, bool]] = []  # (token, is_word)
    while i < len(text):
        ch = text[i]
        if ch.isspace():
            i += 1
        elif ch == "#":
            while i < len(text) and text[i] != "\n":
                i += 1
        elif ch in specials:
            out.append((ch, False))
            i += 1
        elif ch in "\"'":
            end = text.index(ch, i + 1)
            out.append((text[i + 1 : end], True))
            i = end + 1
        else:
            start = i
            while i < len(text) and not text[i].isspace() and text[i] not in specials:
                i += 1
            out.append((text[start:i], True))

    def block(pos: int, closing: bool) -> tuple[list[Directive], int]:
        items: list[Directive] = []
        words: list[str] = []
        while pos < len(out):
            token, is_word = out[pos]
            pos += 1
            if is_word:
                words.append(token)
            elif token == ";":
                assert words, "empty directive"
                items.append(Directive(words[0], words[1:]))
                words = []
            elif token == "{":
                assert words, "block without a name"
                inner, pos = block(pos, True)
                items.append(Directive(words[0], words[1:], inner))
                words = []
            else:  # "}"
                assert closing and not words, "unbalanced '}' or a directive without ';'"
                return items, pos
        assert not closing and not words, "unterminated block or directive"
        return items, pos

    return block(0, False)[0]


# ---- the Dockerfile --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def stages() -> list[Stage]:
    return parse_dockerfile(DOCKERFILE.read_text())


def image_command(stages: list[Stage]) -> list[str]:
    final = stages[-1]
    entrypoint = final.last("ENTRYPOINT")
    cmd = final.last("CMD")
    assert entrypoint is not None and cmd is not None
    return exec_form(entrypoint) + exec_form(cmd)


def test_dockerfile_builds_the_dashboard_then_a_slim_python_image(stages: list[Stage]) -> None:
    names = [s.name for s in stages]
    assert len(stages) >= 2 and all(names), "multi-stage, every stage named"
    web = next(s for s in stages if s.base.startswith("node:20"))
    runs = " ".join(web.all("RUN"))
    assert "npm ci" in runs and "npm run build" in runs
    # vite writes the build into the package (web/vite.config.ts: ../src/grvtmm/static)
    assert "../src/grvtmm/static" in (REPO / "web" / "vite.config.ts").read_text()
    copies = [a for s in stages for a in s.all("COPY") if f"--from={web.name}" in a]
    assert copies and all("src/grvtmm/static" in a for a in copies)
    installs = [a for s in stages for a in s.all("RUN") if "pip install" in a]
    assert installs, "the package is pip-installed"
    assert not any(re.search(r"pip install[^&]*\s(-e|--editable)\b", a) for a in installs)
    final = stages[-1]
    assert final.base.startswith("python:3.11") and final.base.endswith("-slim")
    # the runtime gets the built virtual environment, first on PATH
    venv = final.env()["PATH"].split(":")[0].removesuffix("/bin")
    assert any(f"python -m venv {venv}" in a and f"{venv}/bin/pip install" in a for a in installs)
    assert any(a.startswith("--from=") and venv in a for a in final.all("COPY"))
    assert not any(s.base.startswith("node") for s in stages[-1:]), "no node in the runtime"


def test_dockerfile_runtime_is_non_root_with_a_data_volume_and_healthcheck(
    stages: list[Stage],
) -> None:
    final = stages[-1]
    user = final.last("USER")
    assert user is not None
    assert user.split(":")[0] not in ("root", "0")
    env = final.env()
    data_dir = env["GRVTMM_DATA_DIR"]
    volumes = [v for args in final.all("VOLUME") for v in exec_form(args)]
    assert volumes == [data_dir]
    assert final.last("EXPOSE") == str(APP_PORT) == env["GRVTMM_PORT"]
    assert final.last("STOPSIGNAL") == "SIGTERM"
    health = final.last("HEALTHCHECK")
    assert health is not None and "CMD" in health
    probe = exec_form(health.split("CMD", 1)[1].strip())
    assert probe[0] == "python" and "/healthz" in " ".join(probe), "slim has no curl"
    # a settings name the server really reads
    assert {"data_dir", "port", "log_json"} <= set(Settings.model_fields)
    command = image_command(stages)
    assert command[:2] == ["grvt-mm", "serve"]
    assert command[command.index("--host") + 1] == "0.0.0.0"


def test_dockerignore_keeps_the_build_context_to_sources() -> None:
    lines = [
        line.strip()
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert lines[0] == "**", "everything is excluded first, then the sources re-included"
    included = {line[1:].rstrip("/") for line in lines if line.startswith("!")}
    assert included == {"pyproject.toml", "README.md", "src", "web"}
    for needed in included:
        assert (REPO / needed).exists()
    assert "web/node_modules/" in lines and "src/grvtmm/static/" in lines


# ---- Compose ---------------------------------------------------------------------------------
# service keys of the Compose specification this file may use (a typo is not silently ignored)
COMPOSE_SERVICE_KEYS = {
    "build", "cap_add", "cap_drop", "command", "container_name", "depends_on", "deploy",
    "entrypoint", "env_file", "environment", "expose", "healthcheck", "image", "init", "labels",
    "logging", "mem_limit", "networks", "pids_limit", "ports", "profiles", "read_only", "restart",
    "security_opt", "shm_size", "stop_grace_period", "stop_signal", "tmpfs", "ulimits", "user",
    "volumes", "working_dir",
}  # fmt: skip
COMPOSE_TOP_KEYS = {"name", "services", "volumes", "networks", "secrets", "configs"}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    document = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(document, dict)
    return document


def _ports(service: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(host_ip, published, target) of every published port (short and long syntax)."""
    found = []
    for port in service.get("ports", []):
        if isinstance(port, dict):
            found.append((port.get("host_ip", ""), str(port["published"]), str(port["target"])))
        else:
            parts = str(port).split(":")
            assert len(parts) == 3, f"port {port!r} does not name the host address"
            found.append((parts[0], parts[1], parts[2].split("/")[0]))
    return found


def test_compose_uses_only_known_keys(compose: dict[str, Any]) -> None:
    assert set(compose) <= COMPOSE_TOP_KEYS
    for name, service in compose["services"].items():
        unknown = set(service) - COMPOSE_SERVICE_KEYS
        assert not unknown, f"{name}: unknown keys {unknown}"
    declared = set(compose.get("volumes", {}))
    for name, service in compose["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0] if isinstance(volume, str) else volume["source"]
            assert source in declared, f"{name}: volume {source} is not declared"


def test_compose_publishes_the_app_on_loopback_only(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert _ports(services[APP_SERVICE]) == [("127.0.0.1", str(APP_PORT), str(APP_PORT))]
    for name, service in services.items():
        for host_ip, _, _ in _ports(service):
            assert host_ip == "127.0.0.1", f"{name} publishes on {host_ip or 'all addresses'}"


def test_compose_app_service(compose: dict[str, Any], stages: list[Stage]) -> None:
    app = compose["services"][APP_SERVICE]
    build = app["build"]
    assert (COMPOSE.parent / build["context"] / build["dockerfile"]).resolve() == DOCKERFILE
    assert (
        app.get("command", exec_form(stages[-1].last("CMD") or "[]")) == image_command(stages)[1:]
    )
    assert app["restart"] == "unless-stopped"
    assert app["init"] is True, "PID 1 must forward SIGTERM and reap job processes"
    # the data dir is a named volume, at the path the server is told to use
    data_dir = app["environment"]["GRVTMM_DATA_DIR"]
    assert data_dir == stages[-1].env()["GRVTMM_DATA_DIR"]
    mounts = {v.split(":")[1]: v.split(":")[0] for v in app["volumes"]}
    assert mounts[data_dir] in compose["volumes"]
    # secrets come from an env file, never from the compose file itself
    env_files = app["env_file"] if isinstance(app["env_file"], list) else [app["env_file"]]
    paths = [e if isinstance(e, str) else e["path"] for e in env_files]
    assert [Path(p).name for p in paths] == ["grvt-mm.env"]
    assert ENV_EXAMPLE.is_file()
    assert not any("SECRET" in k or "PASSWORD" in k or "TOKEN" in k for k in app["environment"])


def test_compose_stop_outlasts_the_shutdown_bound(compose: dict[str, Any]) -> None:
    app = compose["services"][APP_SERVICE]
    assert app.get("stop_signal", "SIGTERM") == "SIGTERM"
    grace = duration_s(app["stop_grace_period"])
    assert grace >= 75
    assert grace >= _shutdown_bound_s() + 15, "the flatten must finish before Docker kills"


def test_compose_healthcheck_probes_healthz(compose: dict[str, Any]) -> None:
    check = compose["services"][APP_SERVICE]["healthcheck"]
    test = check["test"]
    assert test[0] == "CMD" and test[1] == "python"
    assert "/healthz" in test[-1]
    for key in ("interval", "timeout", "start_period"):
        assert duration_s(check[key]) > 0
    assert duration_s(check["timeout"]) < duration_s(check["interval"])
    assert check["retries"] >= 1


def test_compose_postgres_profile(compose: dict[str, Any]) -> None:
    services = compose["services"]
    pg = services["postgres"]
    assert pg["profiles"] == ["postgres"]
    assert pg["image"].startswith("postgres:16")
    assert any(v.endswith(":/var/lib/postgresql/data") for v in pg["volumes"])
    assert "ports" not in pg, "the database stays on the compose network"
    assert "POSTGRES_PASSWORD" not in pg.get("environment", {}), "the password lives in a file"
    dep = services[APP_SERVICE]["depends_on"]["postgres"]
    assert dep["required"] is False and dep["condition"] == "service_healthy"
    # the app is pointed at it with a real setting
    assert "database_url" in Settings.model_fields
    assert "GRVTMM_DATABASE_URL" in env_file_values(ENV_EXAMPLE, commented=True)
    assert "GRVTMM_DATABASE_URL=postgresql+psycopg://grvtmm:" in COMPOSE.read_text()
    assert "@postgres:5432/grvtmm" in COMPOSE.read_text()
    assert env_file_values(DEPLOY / "postgres.env.example") == {"POSTGRES_PASSWORD": ""}


def _compose_cli() -> list[str] | None:
    docker = shutil.which("docker")
    if docker:
        probe = subprocess.run(
            [docker, "compose", "version"], check=False, capture_output=True, text=True, timeout=30
        )
        if probe.returncode == 0:
            return [docker, "compose"]
    standalone = shutil.which("docker-compose")
    return [standalone] if standalone else None


def test_compose_config_validates_with_docker_compose(tmp_path: Path) -> None:
    cli = _compose_cli()
    if cli is None:
        pytest.skip(
            "neither `docker compose` (plugin) nor docker-compose is installed; the compose "
            "file's structure is checked by the other test_compose_* tests"
        )
    deploy = tmp_path / "deploy"
    shutil.copytree(DEPLOY, deploy)
    shutil.copy(ENV_EXAMPLE, deploy / "grvt-mm.env")
    for profile in ([], ["--profile", "postgres"]):
        result = subprocess.run(
            [*cli, "-f", str(deploy / "compose.yaml"), *profile, "config", "--quiet"],
            check=False,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr


# ---- the environment file --------------------------------------------------------------------
def _setting_exists(env_name: str) -> bool:
    path = env_name.removeprefix("GRVTMM_").lower().split("__")
    model: type[BaseModel] = Settings
    for i, part in enumerate(path):
        if part not in model.model_fields:
            return False
        annotation = model.model_fields[part].annotation
        if i < len(path) - 1:
            if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
                return False
            model = annotation
    return True


def test_env_example_names_real_settings_and_holds_no_secrets() -> None:
    values = env_file_values(ENV_EXAMPLE, commented=True)
    names = {k for k in values if k.startswith("GRVTMM_")}
    assert {"GRVTMM_SECRET_KEY", "GRVTMM_GRVT__API_KEY", "GRVTMM_GRVT__API_SECRET"} <= names
    unknown = sorted(n for n in names if not _setting_exists(n))
    assert not unknown, f"not settings the server reads: {unknown}"
    for name, value in values.items():
        if any(word in name for word in ("SECRET", "KEY", "TOKEN", "PASSWORD")):
            assert value == "", f"{name} must be left empty in the example"
    assert "GRVTMM_ADMIN_PASSWORD" not in env_file_values(ENV_EXAMPLE)
    # the documented generator really produces a key the server accepts
    command = next(
        line.strip().lstrip("#").strip()
        for line in ENV_EXAMPLE.read_text().splitlines()
        if "python3 -c" in line
    )
    argv = shlex.split(command)
    assert argv[:2] == ["python3", "-c"]
    key = subprocess.run(
        [sys.executable, "-c", argv[2]], capture_output=True, text=True, check=True, timeout=30
    ).stdout.strip()
    from grvtmm.store.secrets import resolve_key

    assert resolve_key(key, Path("/nonexistent")) == key.encode()


# ---- systemd ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def unit() -> dict[str, list[tuple[str, str]]]:
    return parse_unit(UNIT.read_text())


def test_systemd_unit_settings(unit: dict[str, list[tuple[str, str]]]) -> None:
    service = unit["Service"]
    value = lambda key: unit_value(service, key)  # noqa: E731
    assert value("User") not in ("root", "0") and value("Group")
    assert value("EnvironmentFile") == "/etc/grvt-mm/grvt-mm.env"
    argv = shlex.split(value("ExecStart"))
    assert argv[0].startswith("/") and argv[0].endswith("/bin/grvt-mm") and argv[1] == "serve"
    assert argv[argv.index("--host") + 1] == "127.0.0.1", "nginx is the public side"
    assert int(argv[argv.index("--port") + 1]) == APP_PORT
    data_dir = argv[argv.index("--data-dir") + 1]
    assert value("WorkingDirectory") == data_dir
    assert value("ReadWritePaths") == data_dir
    assert data_dir == "/var/lib/" + value("StateDirectory")
    assert value("Restart") == "on-failure" and duration_s(value("RestartSec")) > 0
    assert value("KillSignal") == "SIGTERM"
    assert value("KillMode") in ("mixed", "control-group")
    assert duration_s(value("TimeoutStopSec")) >= _shutdown_bound_s() + 15
    for key, expected in {
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "PrivateTmp": "yes",
        "ProtectHome": "yes",
        "CapabilityBoundingSet": "",
    }.items():
        assert value(key) == expected, key
    assert unit_value(unit["Install"], "WantedBy") == "multi-user.target"


def _runnable_unit(tmp_path: Path) -> Path:
    """The unit with ExecStart pointing at this checkout's venv (the path verify checks)."""
    text = UNIT.read_text()
    binary = shlex.split(unit_value(parse_unit(text)["Service"], "ExecStart"))[0]
    copy = tmp_path / UNIT.name
    copy.write_text(text.replace(binary, str(GRVT_MM)))
    return copy


def test_systemd_analyze_verify_and_security(tmp_path: Path) -> None:
    tool = shutil.which("systemd-analyze")
    if tool is None:
        pytest.skip("systemd-analyze is not installed; test_systemd_unit_settings checks the unit")
    copy = _runnable_unit(tmp_path)
    verify = subprocess.run(
        [tool, "verify", str(copy)],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    complaints = [
        line for line in (verify.stdout + verify.stderr).splitlines() if UNIT.name in line
    ]
    assert verify.returncode == 0 and not complaints, verify.stdout + verify.stderr
    # a typo is caught by the same check (it is not silently ignored by this test)
    broken = tmp_path / "broken" / UNIT.name
    broken.parent.mkdir()
    broken.write_text(copy.read_text().replace("RestartSec=", "RestartSecs="))
    typo = subprocess.run(
        [tool, "verify", str(broken)],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert "RestartSecs" in typo.stdout + typo.stderr
    security = subprocess.run(
        [tool, "security", "--offline=true", "--no-pager", str(copy)],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    match = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", security.stdout)
    assert match, security.stdout + security.stderr
    assert float(match.group(1)) <= 2.0, security.stdout


# ---- nginx -----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def nginx() -> list[Directive]:
    return parse_nginx(NGINX.read_text())


def _servers(conf: list[Directive]) -> dict[str, Directive]:
    found = {}
    for server in (d for d in conf if d.name == "server"):
        listens = {d.args[0] for d in server.find("listen")}
        key = "https" if any(listen.endswith("443") for listen in listens) else "http"
        assert key not in found
        found[key] = server
    return found


def _effective(name: str, location: Directive, server: Directive) -> list[Directive]:
    """nginx inheritance: array directives (add_header, proxy_set_header) come from the
    innermost level that has any, as do plain directives."""
    return location.find(name) or server.find(name)


def test_nginx_redirects_http_and_terminates_tls(nginx: list[Directive]) -> None:
    servers = _servers(nginx)
    plain, tls = servers["http"], servers["https"]
    for server in (plain, tls):
        names = [n for d in server.find("server_name") for n in d.args]
        assert names and all(n.endswith("example.com") for n in names), "placeholder host only"
    root = next(loc for loc in plain.find("location") if loc.args == ["/"])
    assert root.find("return")[0].args == ["301", "https://$host$request_uri"]
    acme = next(loc for loc in plain.find("location") if "acme-challenge" in loc.args[-1])
    assert acme.find("root")
    assert {d.args[0] for d in tls.find("listen")} == {"443", "[::]:443"}
    assert all("ssl" in d.args for d in tls.find("listen"))
    host = tls.find("server_name")[0].args[0]
    for directive, leaf in (
        ("ssl_certificate", "fullchain.pem"),
        ("ssl_certificate_key", "privkey.pem"),
    ):
        assert tls.find(directive)[0].args == [f"/etc/letsencrypt/live/{host}/{leaf}"]
    protocols = set(tls.find("ssl_protocols")[0].args)
    assert protocols <= {"TLSv1.2", "TLSv1.3"}


def test_nginx_proxies_to_the_app_with_forwarded_headers_and_websocket(
    nginx: list[Directive],
) -> None:
    tls = _servers(nginx)["https"]
    upstreams = {d.args[0]: d for d in nginx if d.name == "upstream"}
    maps = {d.args[1]: d for d in nginx if d.name == "map"}
    proxied = [loc for loc in tls.find("location") if loc.find("proxy_pass")]
    assert {tuple(loc.args) for loc in proxied} >= {("=", "/ws/stream"), ("/",)}
    for loc in proxied:
        target = loc.find("proxy_pass")[0].args[0]
        name = target.removeprefix("http://")
        backends = (
            [d.args[0] for d in upstreams[name].find("server")] if name in upstreams else [name]
        )
        assert backends == [f"127.0.0.1:{APP_PORT}"], loc.args
        headers = {d.args[0].lower(): d.args[1] for d in _effective("proxy_set_header", loc, tls)}
        assert headers["host"] == "$host"
        assert headers["x-forwarded-proto"] == "$scheme"
        assert headers["x-forwarded-for"] == "$remote_addr", "overwrite: no client-chosen entries"
        assert headers["upgrade"] == "$http_upgrade"
        mapping = maps[headers["connection"]]
        assert mapping.args[0] == "$http_upgrade"
        outputs = {d.name: d.args[0] for d in mapping.block or []}
        assert outputs["default"] == "upgrade", "a WebSocket handshake is upgraded"
        assert outputs[""] == "", "plain requests keep the upstream keepalive"
        assert _effective("proxy_http_version", loc, tls)[0].args == ["1.1"]
    stream = next(loc for loc in proxied if loc.args == ["=", "/ws/stream"])
    assert duration_s(stream.find("proxy_read_timeout")[0].args[0]) >= 300
    assert stream.find("proxy_buffering")[0].args == ["off"]
    metrics = next(loc for loc in tls.find("location") if loc.args == ["=", "/metrics"])
    assert not metrics.find("proxy_pass")


def test_nginx_security_headers_complement_the_apps(nginx: list[Directive]) -> None:
    tls = _servers(nginx)["https"]
    own = {d.args[0].lower() for d in tls.find("add_header")}
    assert "permissions-policy" in own
    # the app sends HSTS itself on requests that arrived over HTTPS (X-Forwarded-Proto)
    app_sends = {h.lower() for h in SECURITY_HEADERS} | {"strict-transport-security"}
    assert not own & app_sends, "the app already sends these"
    for loc in tls.find("location"):
        effective = {d.args[0].lower() for d in _effective("add_header", loc, tls)}
        assert effective == own, f"location {loc.args} drops the server's headers"
    assert tls.find("server_tokens")[0].args == ["off"]


def _self_signed(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "grvt-mm.example.com")])
    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=3650))
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "fullchain.pem", directory / "privkey.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def test_nginx_accepts_the_config(tmp_path: Path) -> None:
    # installed, or Debian's package unpacked into .cache/nginx (no service started)
    candidates = ("/usr/sbin/nginx", "/usr/local/sbin/nginx", REPO / ".cache/nginx/usr/sbin/nginx")
    binary = shutil.which("nginx") or next((str(p) for p in candidates if Path(p).is_file()), None)
    if binary is None:
        pytest.skip("nginx is not installed; the test_nginx_* tests check the config's structure")
    cert, key = _self_signed(tmp_path)
    site = NGINX.read_text()
    site = re.sub(r"/etc/letsencrypt/live/[^/]+/fullchain\.pem", str(cert), site)
    site = re.sub(r"/etc/letsencrypt/live/[^/]+/privkey\.pem", str(key), site)
    (tmp_path / "site.conf").write_text(site)
    temp_paths = "\n".join(
        f"    {kind}_temp_path {tmp_path / kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    main = tmp_path / "nginx.conf"
    main.write_text(
        f"pid {tmp_path / 'nginx.pid'};\nerror_log {tmp_path / 'error.log'};\nevents {{}}\n"
        f"http {{\n    access_log off;\n{temp_paths}\n    include {tmp_path / 'site.conf'};\n}}\n"
    )
    result = subprocess.run(
        [binary, "-t", "-p", str(tmp_path), "-e", str(tmp_path / "error.log"), "-c", str(main)],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0 and "test is successful" in result.stderr, result.stderr


# ---- README ----------------------------------------------------------------------------------
def test_readme_production_install_refers_to_real_files() -> None:
    readme = (REPO / "README.md").read_text()
    assert "## Production install" in readme
    section = readme.split("## Production install", 1)[1].split("\n## ", 1)[0]
    mentioned = set(re.findall(r"(?<![\w/.-])deploy/[\w./-]*\w", section))
    assert {
        "deploy/Dockerfile",
        "deploy/compose.yaml",
        "deploy/grvt-mm.service",
        "deploy/grvt-mm.env.example",
        "deploy/nginx/grvt-mm.conf",
    } <= mentioned
    for path in mentioned:
        target = REPO / path
        assert target.exists() or target.name in ("grvt-mm.env", "postgres.env"), path
    assert "set-password" in section and "GRVTMM_SECRET_KEY" in section


# ---- the commands the image and the unit run, outside Docker ---------------------------------
def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _with_option(argv: list[str], option: str, value: str) -> list[str]:
    if option in argv:
        argv = list(argv)
        argv[argv.index(option) + 1] = value
        return argv
    return [*argv, option, value]


@dataclass
class Deployed:
    """What a deployment starts: the command line, its environment and its probes."""

    argv: list[str]
    env: dict[str, str]
    healthchecks: list[list[str]]
    stop_timeout_s: float


def _docker_deployment(stages: list[Stage], compose: dict[str, Any]) -> Deployed:
    final = stages[-1]
    app = compose["services"][APP_SERVICE]
    # what the container sees: image ENV, then the env_file, then compose's environment
    env = {k: v for k, v in final.env().items() if k != "PATH"}
    env |= env_file_values(ENV_EXAMPLE)
    env |= {k: str(v) for k, v in app["environment"].items()}
    health = final.last("HEALTHCHECK") or ""
    checks = [exec_form(health.split("CMD", 1)[1].strip()), app["healthcheck"]["test"][1:]]
    return Deployed(image_command(stages), env, checks, duration_s(app["stop_grace_period"]))


def _systemd_deployment(unit: dict[str, list[tuple[str, str]]]) -> Deployed:
    service = unit["Service"]
    argv = shlex.split(unit_value(service, "ExecStart"))
    env = env_file_values(ENV_EXAMPLE)
    return Deployed(argv, env, [], duration_s(unit_value(service, "TimeoutStopSec")))


def _local(argv: list[str]) -> list[str]:
    """`python` and `grvt-mm` as installed in this checkout's virtual environment."""
    first = Path(argv[0]).name
    replacement = {"python": sys.executable, "grvt-mm": str(GRVT_MM)}[first]
    return [replacement, *argv[1:]]


async def _run(argv: list[str], env: dict[str, str], stdin: bytes = b"") -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        *argv,
        env=env,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        start_new_session=True,  # no controlling terminal: the password prompt reads stdin
    )
    with anyio.fail_after(60):
        out, _ = await proc.communicate(stdin)
    assert proc.returncode is not None
    return proc.returncode, out.decode(errors="replace")


@pytest.mark.anyio
@pytest.mark.parametrize("route", ["docker", "systemd"])
async def test_deployed_command_serves_and_stops_cleanly_on_sigterm(
    route: str,
    tmp_path: Path,
    stages: list[Stage],
    compose: dict[str, Any],
    unit: dict[str, list[tuple[str, str]]],
) -> None:
    assert GRVT_MM.is_file(), f"the console script is not installed: {GRVT_MM}"
    deployed = (
        _docker_deployment(stages, compose) if route == "docker" else _systemd_deployment(unit)
    )
    port = _free_port()
    data_dir = tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRVTMM_")}
    env |= deployed.env | {"GRVTMM_DATA_DIR": str(data_dir), "GRVTMM_PORT": str(port)}
    argv = _local(deployed.argv)
    if "--data-dir" in argv:
        argv = _with_option(argv, "--data-dir", str(data_dir))
    if "--port" in argv:
        argv = _with_option(argv, "--port", str(port))

    if route == "docker":
        # as shipped (--host 0.0.0.0) the server refuses to start without an operator password
        code, out = await _run(argv, env)
        assert code == 2 and "without an operator password" in out, out
    # the documented first step: `docker compose run --rm grvt-mm set-password` (the data dir
    # from the image's environment), or `grvt-mm set-password --data-dir ...` for the unit
    set_password = [argv[0], "set-password"]
    if route == "systemd":
        set_password += ["--data-dir", str(data_dir)]
    code, out = await _run(set_password, env, f"{PASSWORD}\n{PASSWORD}\n".encode())
    assert code == 0, out
    assert (data_dir / "admin_password.argon2").is_file()

    argv = _with_option(argv, "--host", "127.0.0.1")  # tests bind loopback only
    log_path = tmp_path / "serve.log"
    with log_path.open("wb") as log:
        proc = await asyncio.create_subprocess_exec(
            *argv, env=env, cwd=tmp_path, stdout=log, stderr=log, start_new_session=True
        )
    try:
        base = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient(base_url=base, timeout=10) as client:
            with anyio.fail_after(60):
                while True:
                    assert proc.returncode is None, log_path.read_text()
                    with contextlib.suppress(httpx.TransportError):
                        if (await client.get("/healthz")).status_code == 200:
                            break
                    await asyncio.sleep(0.1)
            login = await client.post(
                "/api/auth/login", json={"password": PASSWORD}, headers={CSRF_HEADER: "1"}
            )
            assert login.status_code == 200, login.text
        for check in deployed.healthchecks:
            code, out = await _run(_local(check), env)
            assert code == 0, out
        started = anyio.current_time()
        proc.send_signal(signal.SIGTERM)
        with anyio.fail_after(deployed.stop_timeout_s):
            code = await proc.wait()
        elapsed = anyio.current_time() - started
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    logs = log_path.read_text()
    assert code == 0, logs
    assert elapsed < deployed.stop_timeout_s
    assert PASSWORD not in logs
    records = [json.loads(line) for line in logs.splitlines() if line.strip()]  # JSON lines
    assert any("serve.ready" in json.dumps(record) for record in records)
    for check in deployed.healthchecks:  # the probes really fail once the server is gone
        code, _ = await _run(_local(check), env)
        assert code != 0
