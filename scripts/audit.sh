#!/usr/bin/env bash
# Dependency audit: known vulnerabilities in the Python packages installed in .venv (pip-audit)
# and in the dashboard's npm packages (npm audit, from web/package-lock.json). Prints the report.
#
# Exit status: 0 = nothing to fix; 1 = vulnerabilities to fix; 2 = the audit could not run
# (advisory service unreachable, packages it could not look up). A missing database never
# passes silently.
#
# What fails:
# * Python: every finding. pip-audit reports no severity, so there is no "high only" filter;
#   a finding reviewed and accepted is ignored by id with AUDIT_IGNORE_VULNS="ID ID ...".
# * npm: high and critical advisories in the packages that ship, i.e. `dependencies` (React,
#   the chart library), which Vite bundles into the JavaScript served to the browser.
#   `devDependencies` (Vite, Vitest, TypeScript, jsdom, Playwright) run only on the machine that
#   builds and tests the dashboard and never reach the server or the browser: their advisories
#   are printed as a warning, and fail the audit too with AUDIT_NPM_DEV=1.
#
# Needs network access to the advisory services: pypi.org (pip-audit's default service) and the
# npm registry's audit endpoint. Overrides: PIP_AUDIT, AUDIT_PYTHON, NPM.
set -uo pipefail
cd "$(dirname "$0")/.."

PIP_AUDIT=${PIP_AUDIT:-.venv/bin/pip-audit}
AUDIT_PYTHON=${AUDIT_PYTHON:-.venv/bin/python}
NPM=${NPM:-npm}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

for tool in "$PIP_AUDIT" "$AUDIT_PYTHON"; do
  if ! command -v "$tool" >/dev/null; then
    echo "audit: $tool not found (run make setup)" >&2
    exit 2
  fi
done

echo "== Python packages in the project environment (pip-audit) =="
ignore=()
for id in ${AUDIT_IGNORE_VULNS:-}; do ignore+=(--ignore-vuln "$id"); done
"$PIP_AUDIT" --progress-spinner off --skip-editable --format json --output "$tmp/pip.json" \
  ${ignore[@]+"${ignore[@]}"} 2>"$tmp/pip.err"
"$AUDIT_PYTHON" - "$tmp/pip.json" "$tmp/pip.err" <<'PY'
import json
import sys
from pathlib import Path

report, errors = Path(sys.argv[1]), Path(sys.argv[2])
try:
    deps = json.loads(report.read_text())["dependencies"]
except (OSError, ValueError, KeyError):
    tail = errors.read_text(errors="replace").strip().splitlines()[-5:]
    print("\n".join(tail), file=sys.stderr)
    print(
        "AUDIT DID NOT RUN: pip-audit could not query its vulnerability service "
        "(https://pypi.org/pypi/<name>/<version>/json); check network access",
        file=sys.stderr,
    )
    sys.exit(2)
skipped = [d for d in deps if "skip_reason" in d]
audited = [d for d in deps if "skip_reason" not in d]
found = [(d, v) for d in audited for v in d["vulns"]]
for dep, vuln in found:
    fixes = ", ".join(vuln["fix_versions"]) or "no fix released"
    aliases = ", ".join(vuln.get("aliases", []))
    print(f"VULNERABLE {dep['name']} {dep['version']}: {vuln['id']} ({aliases}); fixed in {fixes}")
if skipped:
    for dep in skipped[:5]:
        print(f"NOT AUDITED {dep['name']}: {dep['skip_reason']}", file=sys.stderr)
    print(
        f"AUDIT DID NOT RUN: {len(skipped)} of {len(deps)} packages could not be looked up "
        "(vulnerability service unreachable or answering without data)",
        file=sys.stderr,
    )
    sys.exit(2)
print(f"{len(audited)} packages audited, {len(found)} known vulnerabilities")
sys.exit(1 if found else 0)
PY
python_status=$?

npm_audit() {  # $1: label, $2: json file, rest: npm audit options
  local label=$1 out=$2
  shift 2
  (cd web && "$NPM" audit --json "$@") >"$out" 2>"$tmp/npm.err"
  "$AUDIT_PYTHON" - "$out" "$tmp/npm.err" "$label" <<'PY'
import json
import sys
from pathlib import Path

report, errors, label = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
try:
    data = json.loads(report.read_text())
except (OSError, ValueError):
    data = {}
if "error" in data or "metadata" not in data:
    error = data.get("error") or {}
    reason = data.get("message") or error.get("summary") or error.get("code") or "no report"
    print("\n".join(errors.read_text(errors="replace").strip().splitlines()[-5:]), file=sys.stderr)
    print(
        f"AUDIT DID NOT RUN ({label}): npm audit could not query the registry's advisory "
        f"endpoint: {reason}",
        file=sys.stderr,
    )
    sys.exit(2)
for name, vuln in sorted(data.get("vulnerabilities", {}).items()):
    titles = sorted({v["title"] for v in vuln.get("via", []) if isinstance(v, dict)})
    fix = vuln.get("fixAvailable")
    fix_text = "fix available" if fix else "no fix available"
    if isinstance(fix, dict):
        fix_text = f"fix: {fix.get('name')}@{fix.get('version')}"
    print(
        f"{vuln['severity'].upper()} {name} {vuln.get('range', '')}: "
        f"{'; '.join(titles) or 'via ' + ', '.join(map(str, vuln.get('via', [])))} ({fix_text})"
    )
counts = data["metadata"]["vulnerabilities"]
print(f"{label}: " + ", ".join(f"{k} {counts.get(k, 0)}" for k in ("critical", "high", "moderate", "low")))
sys.exit(1 if counts.get("high", 0) + counts.get("critical", 0) else 0)
PY
}

echo
echo "== Dashboard packages that ship (npm audit --omit=dev) =="
npm_audit "shipped npm packages" "$tmp/npm-prod.json" --omit=dev
npm_status=$?

echo
echo "== Dashboard build and test tools (npm audit, devDependencies included) =="
npm_audit "all npm packages" "$tmp/npm-all.json" --include=dev
dev_status=$?
if [ "$dev_status" = 1 ] && [ "${AUDIT_NPM_DEV:-0}" != 1 ]; then
  echo "WARNING: high/critical advisories in build-time npm tools (not shipped); update them"
  dev_status=0
fi

echo
status=0
for s in $python_status $npm_status $dev_status; do
  if [ "$s" = 2 ]; then
    status=2
  elif [ "$s" != 0 ] && [ "$status" = 0 ]; then
    status=1
  fi
done
case $status in
  0) echo "audit: no vulnerabilities to fix" ;;
  1) echo "audit: FAILED — vulnerabilities to fix (see above)" ;;
  *) echo "audit: FAILED — the audit could not run completely (see above); nothing was proven" ;;
esac
exit $status
