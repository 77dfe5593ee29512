#!/usr/bin/env bash
# Installs, once and idempotently, what the tests need beyond the .NET SDK. Safe to run on every test run.
set -euo pipefail
need=()
command -v python3 >/dev/null 2>&1 || need+=(python3)
command -v curl >/dev/null 2>&1 || need+=(curl)
command -v ip >/dev/null 2>&1 || need+=(iproute2)
# The multi-host test bed runs a real sshd in each host's network namespace, and rbee talks to it with ssh.
[[ -x /usr/sbin/sshd ]] || need+=(openssh-server)
command -v ssh >/dev/null 2>&1 || need+=(openssh-client)
# scripts/publish.sh (run by the remote-hive tests, whose hosts get the release programs) links Native AOT with a C
# toolchain and zlib.
command -v clang >/dev/null 2>&1 || command -v gcc >/dev/null 2>&1 || need+=(clang)
[[ -f /usr/include/zlib.h ]] || need+=(zlib1g-dev)
# The dashboard's browser tests drive Debian's chromium through Playwright (no browser download).
[[ -x /usr/bin/chromium ]] || need+=(chromium)
if ((${#need[@]})); then
  if [[ $(id -u) != 0 ]]; then
    echo "install-test-deps: missing ${need[*]}; run as root or install them: apt-get install ${need[*]}" >&2
    exit 1
  fi
  echo "install-test-deps: installing ${need[*]}"
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
