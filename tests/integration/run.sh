#!/usr/bin/env bash
# Runs the integration suite against the riacho binary ($RIACHO_BIN, default
# build/src/broker/riacho) or, with RIACHO_TEST_TARGET=kafka, against Apache
# Kafka 4.x (scripts/apache-kafka.sh). Expects scripts/install-test-deps.sh to
# have run (it creates tests/integration/.deps/). Extra arguments go to pytest,
# e.g. `tests/integration/run.sh -k kcat`. Exits with pytest's exit code.
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
py="$here/.deps/venv/bin/python"
if [[ ! -x "$py" ]]; then
    echo "run.sh: $py missing; run scripts/install-test-deps.sh first" >&2
    exit 2
fi
cd "$here"
exec "$py" -m pytest -q --timeout="${RIACHO_TEST_TIMEOUT:-120}" "$@"
