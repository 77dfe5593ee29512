#!/usr/bin/env bash
# Builds rbee's release artefacts: artifacts/release/<rid>/ holds queen-rbee, rbee-hive and rbee as Native AOT single
# files (no .NET needed on the machine that runs them; a daemon starts in tens of milliseconds) and llm-worker-rbee as a
# self-contained single file (JIT kept: its kernels pick their instructions on the CPU they run on), plus BUILD (each
# program: how it was built, from which commit, when). `rbee hive install --host` copies rbee-hive and llm-worker-rbee from here.
#
#   scripts/publish.sh                          # linux-x64 and linux-arm64, all four programs
#   scripts/publish.sh --rid linux-x64          # one architecture
#   scripts/publish.sh --programs rbee-hive,llm-worker-rbee --rid linux-x64   # what a hive needs (rbee hive install)
#   scripts/publish.sh --force                  # rebuild even what is up to date
#
# A program is up to date when no file of its projects' sources (or the repository's build props) is newer than it:
# then it is left as it is, so running this again costs a second.
# Native AOT compiles for the architecture of the machine it runs on. For the other one it needs a cross toolchain
# (clang, lld and that architecture's sysroot), which a stock Debian machine lacks: there those three programs are
# published self-contained single files instead (they run the same, they start as a JIT-compiled .NET program does),
# and BUILD says so. One publish at a time per checkout (a lock), so two installs never build over each other.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

rids=(linux-x64 linux-arm64)
programs=(queen-rbee rbee-hive rbee llm-worker-rbee)
force=
while [[ $# -gt 0 ]]; do
  case $1 in
    --force) force=1; shift ;;
    --rid) IFS=, read -ra rids <<<"$2"; shift 2 ;;
    --programs) IFS=, read -ra programs <<<"$2"; shift 2 ;;
    -h|--help) sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "publish.sh: unknown argument $1 (see scripts/publish.sh --help)" >&2; exit 2 ;;
  esac
done

project() {
  case $1 in
    queen-rbee) echo src/Rbee.Queen/Rbee.Queen.csproj ;;
    rbee-hive) echo src/Rbee.Hive/Rbee.Hive.csproj ;;
    rbee) echo src/Rbee.Keeper/Rbee.Keeper.csproj ;;
    llm-worker-rbee) echo src/Rbee.Worker/Rbee.Worker.csproj ;;
    *) echo "publish.sh: no program named $1 (queen-rbee, rbee-hive, rbee, llm-worker-rbee)" >&2; exit 2 ;;
  esac
}

# The source folders each program is built from (its project and the projects it references).
sources() {
  case $1 in
    queen-rbee) echo src/Rbee.Queen src/Rbee.Contracts src/Rbee.Hosting src/Rbee.Platform src/Rbee.Models ;;
    rbee-hive) echo src/Rbee.Hive src/Rbee.Contracts src/Rbee.Hosting src/Rbee.Platform src/Rbee.Models ;;
    rbee) echo src/Rbee.Keeper src/Rbee.Contracts src/Rbee.Platform ;;
    llm-worker-rbee) echo src/Rbee.Worker src/Rbee.Contracts src/Rbee.Platform src/Rbee.Models ;;
  esac
}
up_to_date() { # program, its artefact
  [[ -z $force && -x $2 ]] || return 1
  local newer
  # shellcheck disable=SC2046
  newer=$(find $(sources "$1") Directory.Build.props Directory.Packages.props scripts/publish.sh -type f -newer "$2" \
    -not -path '*/bin/*' -not -path '*/obj/*' -print -quit)
  [[ -z $newer ]]
}

case $(uname -m) in x86_64) host_rid=linux-x64 ;; aarch64) host_rid=linux-arm64 ;; *) host_rid=unknown ;; esac
# Native AOT links with clang or gcc; Debian names clang by its version.
if ! command -v clang >/dev/null && ! command -v gcc >/dev/null; then
  echo "publish.sh: Native AOT needs a C toolchain to link: apt-get install -y clang (or gcc)" >&2; exit 1
fi
linker=()
if ! command -v clang >/dev/null; then
  cc=$(compgen -c clang- | grep -E '^clang-[0-9]+$' | sort -V | tail -1 || true)
  [[ -n $cc ]] && linker=(-p:CppCompilerAndLinker="$cc")
fi

mkdir -p artifacts
exec 9>artifacts/.publish.lock
flock -w 1800 9 || { echo "publish.sh: another publish holds artifacts/.publish.lock" >&2; exit 1; }

commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
dirty=$(git status --porcelain --untracked-files=no 2>/dev/null | grep -q . && echo " (with uncommitted changes)" || true)
for rid in "${rids[@]}"; do
  out=$root/artifacts/release/$rid
  mkdir -p "$out"
  built=()
  for p in "${programs[@]}"; do
    proj=$(project "$p")
    if up_to_date "$p" "$out/$p"; then echo "$rid/$p: up to date"; continue; fi
    # Intermediate output beside the release, not in bin/Release: the development build there stays what it was.
    # NuGetAudit off: the vulnerability check belongs to the build and the tests, and it needs nuget.org on every
    # restore; with it on, a publish from a warm package cache failed whenever the registry did not answer.
    common=(-c Release -r "$rid" -nologo -v q -clp:ErrorsOnly -o "$out/.publish/$p" -p:OutputPath="$root/artifacts/build/$rid/$p/" -p:DebugType=none -p:DebugSymbols=false -p:NuGetAudit=false)
    if [[ $p == llm-worker-rbee ]]; then
      kind="self-contained single file (JIT)"
      dotnet publish "$proj" "${common[@]}" --self-contained -p:PublishSingleFile=true -p:PublishAot=false \
        -p:IncludeNativeLibrariesForSelfExtract=true
    elif [[ $rid == "$host_rid" ]]; then
      kind="Native AOT"
      dotnet publish "$proj" "${common[@]}" -p:PublishAot=true -p:StripSymbols=true "${linker[@]}"
    else
      kind="self-contained single file (JIT; Native AOT for $rid needs a cross toolchain this machine lacks)"
      dotnet publish "$proj" "${common[@]}" --self-contained -p:PublishSingleFile=true -p:PublishAot=false \
        -p:IncludeNativeLibrariesForSelfExtract=true
    fi
    [[ -x $out/.publish/$p/$p ]] || { echo "publish.sh: dotnet publish made no $p for $rid" >&2; exit 1; }
    mv -f "$out/.publish/$p/$p" "$out/$p" && touch "$out/$p"   # its time is the publish: newer than the build it came from
    built+=("$(printf '%s\t%s\t%s%s\t%s' "$p" "$kind" "$commit" "$dirty" "$(date -u +%Y-%m-%dT%H:%M:%SZ)")")
    echo "$rid/$p: $kind, $(( $(stat -c %s "$out/$p") / 1048576 )) MiB"
  done
  rm -rf "$out/.publish"
  # BUILD: one line per program (name, kind, commit, time); those not built now keep their line.
  { if ((${#built[@]})); then printf '%s\n' "${built[@]}"; fi
    if [[ -f $out/BUILD ]]; then awk -F'\t' 'NR == FNR { now[$1] = 1; next } !($1 in now)' <(printf '%s\n' "${built[@]}" | cut -f1) "$out/BUILD"; fi; } \
    | sort >"$out/BUILD.new" && mv -f "$out/BUILD.new" "$out/BUILD"
done
echo "release artefacts in artifacts/release/"
