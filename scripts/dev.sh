#!/usr/bin/env bash
# One entry point for a fresh machine: installs what the task needs, then runs it.
#   scripts/dev.sh build   build the site from inputs/ into site/
#   scripts/dev.sh test    run the linter and the whole test suite
#   scripts/dev.sh serve   live preview of the site
set -euo pipefail
cd "$(dirname "$0")/.."
task="${1:-build}"; shift || true

need_apt=()
command -v dot >/dev/null 2>&1 || need_apt+=(graphviz)
if [ "$task" = test ]; then
  command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
  command -v openssl >/dev/null 2>&1 || need_apt+=(openssl)
  command -v pdftoppm >/dev/null 2>&1 || need_apt+=(poppler-utils)
fi
[ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || need_apt+=(fonts-dejavu-core)
# Debian's python3 makes a virtual environment only with python3-venv (ensurepip).
if [ ! -x .venv/bin/python ]; then
  command -v python3 >/dev/null 2>&1 || need_apt+=(python3)
  python3 -c "import ensurepip, venv" >/dev/null 2>&1 || need_apt+=(python3-venv)
fi
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "== installing ${need_apt[*]} with apt-get"
  sudo_cmd=""; [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

if [ ! -x .venv/bin/python ]; then
  echo "== creating .venv"
  python3 -m venv .venv
fi
extra=""; [ "$task" = test ] && extra="[test]"
# Reinstall only when the project's metadata or the tested versions changed since the last
# install. constraints.txt pins every package to the version the suite last passed with.
stamp=".venv/.runbook-installed${extra}"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ constraints.txt -nt "$stamp" ]; then
  echo "== installing runbook${extra} into .venv (versions from constraints.txt)"
  # pip's own notices of an unusable index location are left out; a failed install stops
  # here with pip's messages, and leaves no stamp.
  log=".venv/pip-install.log"
  if ! .venv/bin/pip install -q --disable-pip-version-check -c constraints.txt \
      -e ".${extra}" > "$log" 2>&1; then
    grep -v "^WARNING: Location" "$log" >&2 || true
    echo "== installing runbook${extra} failed (pip's output above)" >&2
    exit 1
  fi
  grep -v "^WARNING: Location" "$log" || true
  touch "$stamp"
fi

case "$task" in
  build) exec .venv/bin/runbook build "$@" ;;
  serve) exec .venv/bin/runbook serve "$@" ;;
  test)
    .venv/bin/ruff check .
    .venv/bin/mypy
    # One worker more than cores: part of the suite waits (a browser settling, a build being
    # killed), and on 2 cores 3 workers keep both busy. Each test file stays on one worker,
    # so a module's fixtures are made once; the
    # files start in the order tests/conftest.py collects them (the longest first). Pass
    # -n 0 to run in this process.
    workers=$(( $(nproc 2>/dev/null || getconf _NPROCESSORS_ONLN 2>/dev/null || echo 1) + 1 ))
    exec .venv/bin/python -m pytest -q -n "$workers" --dist loadfile \
      --no-loadscope-reorder "$@" ;;
  *) echo "usage: scripts/dev.sh build|test|serve" >&2; exit 2 ;;
esac
