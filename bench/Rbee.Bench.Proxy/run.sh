#!/usr/bin/env bash
# The proxy benchmark: installs nginx from the Debian package when it is missing (never starting the system's nginx
# service; the benchmark runs its own nginx with its own configuration under a scratch folder), builds queen-rbee,
# rbee-hive, llm-worker-rbee and the benchmark in Release, and runs it. Arguments go to the program (--quick, ...).
# Needs root: the hive creates a cgroup root of its own.
set -euo pipefail
cd "$(dirname "$0")/../.."
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

install_nginx() {
    command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] && return 0
    echo "installing nginx (Debian package) for the benchmark's baseline" >&2
    # A package's post-install starts its service through invoke-rc.d unless policy-rc.d answers 101 ("forbidden").
    # Only where the machine has no policy of its own, and only for this install.
    local policy=/usr/sbin/policy-rc.d ours=""
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy" && ours=1
        trap 'rm -f /usr/sbin/policy-rc.d' EXIT
    fi
    local apt=(env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends)
    "${apt[@]}" nginx-light >/dev/null 2>&1 || "${apt[@]}" nginx >/dev/null 2>&1 \
        || { apt-get update -q >/dev/null && "${apt[@]}" nginx >/dev/null; }
    if [ -n "$ours" ]; then rm -f "$policy"; trap - EXIT; fi
    # On a systemd machine the package also enables the service for the next boot: we installed it, so undo that.
    if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then systemctl disable --now nginx >/dev/null 2>&1 || true; fi
}

install_nginx
dotnet build bench/Rbee.Bench.Proxy -c Release -nologo -v q -clp:ErrorsOnly
exec dotnet bench/Rbee.Bench.Proxy/bin/Release/net10.0/Rbee.Bench.Proxy.dll "$@"
