#!/usr/bin/env bash
# The test command (README, .ci/run): installs test dependencies, builds in Release with warnings as errors,
# runs every test project, and ends with one summary line "Tests: N passed, N failed, N skipped".
set -uo pipefail
cd "$(dirname "$0")/.."
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
scripts/install-test-deps.sh || exit 1
dotnet build rbee.slnx -c Release -nologo -v q -clp:ErrorsOnly || { echo "build failed"; exit 1; }

log=$(mktemp)
status=0
# Unit tests first, all projects in parallel; then the real-process system tests alone, so their timing
# assertions (with 3x headroom) do not compete with the unit suites for the two cores.
dotnet test rbee.slnx -c Release --no-build -nologo --filter "Category!=System" 2>&1 | tee -a "$log" || status=1
dotnet test tests/Rbee.System.Tests -c Release --no-build -nologo 2>&1 | tee -a "$log" || status=1

passed=$(grep -Eo 'Passed: +[0-9]+' "$log" | awk '{s+=$2} END {print s+0}')
failed=$(grep -Eo 'Failed: +[0-9]+' "$log" | awk '{s+=$2} END {print s+0}')
skipped=$(grep -Eo 'Skipped: +[0-9]+' "$log" | awk '{s+=$2} END {print s+0}')
rm -f "$log"
echo "Tests: ${passed} passed, ${failed} failed, ${skipped} skipped"
exit $status
