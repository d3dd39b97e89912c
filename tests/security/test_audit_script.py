"""scripts/audit.sh decides correctly on the reports of pip-audit and npm audit (stood in for by
loopback-free fakes that print recorded report shapes): vulnerabilities fail, an unreachable
advisory service fails loudly, dev-only npm advisories warn."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "audit.sh"

FAKE_PIP_AUDIT = """\
import json, os, sys
args = sys.argv[1:]
with open(os.environ["FAKE_ARGS"], "w") as fh:
    json.dump(args, fh)
scenario = os.environ["FAKE_PIP"]
if scenario == "crash":
    print("requests.exceptions.ConnectionError: Failed to resolve 'pypi.org'", file=sys.stderr)
    sys.exit(1)
report = json.loads(scenario)
with open(args[args.index("--output") + 1], "w") as fh:
    json.dump(report, fh)
vulnerable = any(d.get("vulns") for d in report["dependencies"])
sys.exit(1 if vulnerable else 0)
"""

FAKE_NPM = """\
import os, sys
assert sys.argv[1:3] == ["audit", "--json"], sys.argv
print(os.environ["FAKE_NPM_PROD" if "--omit=dev" in sys.argv else "FAKE_NPM_ALL"])
sys.exit(0)
"""

CLEAN_PIP = {"dependencies": [{"name": "fastapi", "version": "0.165.0", "vulns": []}]}
SKIPPED_PIP = {
    "dependencies": [
        {
            "name": "fastapi",
            "skip_reason": "Dependency not found on PyPI and could not be audited: fastapi",
        },
        {"name": "uvicorn", "version": "0.54.0", "vulns": []},
    ]
}
VULNERABLE_PIP = {
    "dependencies": [
        {
            "name": "setuptools",
            "version": "65.5.0",
            "vulns": [
                {
                    "id": "PYSEC-2025-49",
                    "fix_versions": ["78.1.1"],
                    "aliases": ["CVE-2025-47273"],
                    "description": "path traversal",
                }
            ],
        }
    ]
}
NPM_UNREACHABLE = {
    "message": "405 Method Not Allowed - POST https://registry.npmjs.org/-/npm/v1/security/"
    "advisories/bulk",
    "statusCode": 405,
}


def npm_report(**counts: int) -> dict[str, Any]:
    levels = ("info", "low", "moderate", "high", "critical")
    vulnerabilities = {
        f"pkg-{level}": {
            "name": f"pkg-{level}",
            "severity": level,
            "range": "<1.2.3",
            "via": [{"title": f"a {level} problem", "url": "https://example.invalid/advisory"}],
            "fixAvailable": True,
        }
        for level in levels
        if counts.get(level)
    }
    totals = {level: counts.get(level, 0) for level in levels}
    return {
        "auditReportVersion": 2,
        "vulnerabilities": vulnerabilities,
        "metadata": {"vulnerabilities": {**totals, "total": sum(totals.values())}},
    }


def write_tool(path: Path, body: str) -> Path:
    path.write_text(f"#!{sys.executable}\n{body}")
    path.chmod(0o755)
    return path


def run_audit(
    tmp_path: Path,
    pip: Any,
    prod: dict[str, Any],
    everything: dict[str, Any] | None = None,
    **env: str,
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [str(SCRIPT)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={
            "PATH": os.environ["PATH"],
            "PIP_AUDIT": str(write_tool(tmp_path / "pip-audit", FAKE_PIP_AUDIT)),
            "NPM": str(write_tool(tmp_path / "npm", FAKE_NPM)),
            "AUDIT_PYTHON": sys.executable,
            "FAKE_ARGS": str(tmp_path / "args.json"),
            "FAKE_PIP": pip if isinstance(pip, str) else json.dumps(pip),
            "FAKE_NPM_PROD": json.dumps(prod),
            "FAKE_NPM_ALL": json.dumps(everything if everything is not None else prod),
            **env,
        },
    )
    result.stdout += result.stderr  # one transcript to search
    return result


def test_clean_reports_pass(tmp_path: Path) -> None:
    result = run_audit(tmp_path, CLEAN_PIP, npm_report(low=2, moderate=1))
    assert result.returncode == 0, result.stdout
    assert "1 packages audited, 0 known vulnerabilities" in result.stdout
    assert "MODERATE pkg-moderate <1.2.3: a moderate problem" in result.stdout
    assert "audit: no vulnerabilities to fix" in result.stdout
    args = json.loads((tmp_path / "args.json").read_text())
    assert "--skip-editable" in args and "--ignore-vuln" not in args


def test_python_vulnerability_fails_with_the_fix_version(tmp_path: Path) -> None:
    result = run_audit(tmp_path, VULNERABLE_PIP, npm_report())
    assert result.returncode == 1, result.stdout
    assert (
        "VULNERABLE setuptools 65.5.0: PYSEC-2025-49 (CVE-2025-47273); fixed in 78.1.1"
        in result.stdout
    )


def test_reviewed_python_findings_can_be_ignored_by_id(tmp_path: Path) -> None:
    run_audit(tmp_path, CLEAN_PIP, npm_report(), AUDIT_IGNORE_VULNS="PYSEC-1 GHSA-2")
    args = json.loads((tmp_path / "args.json").read_text())
    assert args[args.index("--ignore-vuln") + 1] == "PYSEC-1"
    assert args.count("--ignore-vuln") == 2 and "GHSA-2" in args


@pytest.mark.parametrize("pip", ["crash", SKIPPED_PIP], ids=["unreachable", "skipped"])
def test_unreachable_python_advisory_service_fails_loudly(tmp_path: Path, pip: Any) -> None:
    result = run_audit(tmp_path, pip, npm_report())
    assert result.returncode == 2, result.stdout
    assert "AUDIT DID NOT RUN" in result.stdout
    assert "nothing was proven" in result.stdout


def test_unreachable_npm_advisory_endpoint_fails_loudly(tmp_path: Path) -> None:
    result = run_audit(tmp_path, CLEAN_PIP, NPM_UNREACHABLE)
    assert result.returncode == 2, result.stdout
    assert "AUDIT DID NOT RUN (shipped npm packages)" in result.stdout
    assert "405 Method Not Allowed" in result.stdout


@pytest.mark.parametrize("level", ["high", "critical"])
def test_shipped_npm_package_with_high_or_critical_fails(tmp_path: Path, level: str) -> None:
    result = run_audit(tmp_path, CLEAN_PIP, npm_report(**{level: 1}))
    assert result.returncode == 1, result.stdout
    assert f"{level.upper()} pkg-{level}" in result.stdout


def test_dev_tool_advisories_warn_unless_asked_to_fail(tmp_path: Path) -> None:
    prod, everything = npm_report(), npm_report(high=1)
    result = run_audit(tmp_path, CLEAN_PIP, prod, everything)
    assert result.returncode == 0, result.stdout
    assert "WARNING: high/critical advisories in build-time npm tools" in result.stdout
    strict = run_audit(tmp_path, CLEAN_PIP, prod, everything, AUDIT_NPM_DEV="1")
    assert strict.returncode == 1, strict.stdout
