#!/usr/bin/env bash
# The long fault soak (docs/OPERATIONS.md, "The soak"): many kill -9 cycles of a daemon under
# writes, then rounds of the partition, restart, disk, clock and flapping tests. Release mode.
#   tests/soak.sh [CYCLES] [ROUNDS]     defaults: 500 crash cycles, 10 rounds
set -euo pipefail
cd "$(dirname "$0")/.."
cycles=${1:-500}
rounds=${2:-10}
export CARGO_INCREMENTAL=0
cargo build --release --locked -p csx-cli -p csx-tests --tests
echo "== $cycles kill -9 cycles"
CSX_CRASH_CYCLES=$cycles cargo test --release --locked -p csx-tests --test faults_processes -- \
  --nocapture a_daemon_killed_at_random_moments 2>&1 | grep -E "FIGURE|panicked|test result"
for r in $(seq 1 "$rounds"); do
  echo "== round $r of $rounds"
  cargo test --release --locked -p csx-tests --test faults --test flapping -- --nocapture 2>&1 \
    | grep -E "FIGURE|panicked|test result"
done
