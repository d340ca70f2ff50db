#!/bin/sh
# Runs inside the sandbox (see `make test`): builds the test image, then runs the integration tests against the
# real geard binary, one test at a time, then the README's curl walkthrough and schemathesis against the OpenAPI
# document.
set -eu
cd "$(dirname "$0")/../.."
contrib/sandbox/prepare-image.sh
export GEAR_INTEGRATION=1
export GEARD_BIN="$PWD/.build/debug/geard" GEAR_BIN="$PWD/.build/debug/gear"
swift test --skip-build --no-parallel --filter "${GEAR_TEST_FILTER:-IntegrationTests}"
if [ -z "${GEAR_TEST_FILTER:-}" ]; then
    contrib/sandbox/readme-walkthrough.sh
    contrib/sandbox/api-fuzz.sh
fi
