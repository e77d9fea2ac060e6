#!/usr/bin/env bash
# run.sh regenerates everything in results/: the benchmarks (-count=6,
# summarised by benchstat; ratios by cmd/goals), the programs (parked memory,
# lateness, scale) and the contention experiment (table and SVG). It takes
# about 5 minutes on 2 cores. Run it on a quiet machine:
#
#	./run.sh            # everything
#	COUNT=10 ./run.sh   # more benchmark runs
#
# README.md quotes these files; copy the new numbers there after a run.
set -euo pipefail
cd "$(dirname "$0")"

export PATH="$(go env GOPATH)/bin:$PATH"
COUNT="${COUNT:-6}"
out=results
mkdir -p "$out"

if ! command -v benchstat >/dev/null; then
	go install golang.org/x/perf/cmd/benchstat@latest
fi

step() { printf '\n=== %s\n' "$*" >&2; }

step "machine"
{
	go version
	echo "rebound at $(git -C .. rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C .. diff --quiet HEAD -- . ':!bench' 2>/dev/null || echo ' + uncommitted changes')"
	uname -srm
	grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'
	echo "$(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo)"
} | tee "$out/machine.txt"

step "benchmarks, -count=$COUNT"
go test -run='^$' -bench=. -benchmem -count="$COUNT" -timeout=60m . | tee "$out/bench.txt"
for s in WrapperSuccess WrapperRetry FanOut; do
	benchstat -filter ".name:$s" "$out/bench.txt" >"$out/benchstat-$s.txt"
done
go run ./cmd/goals "$out/bench.txt" | tee "$out/goals.md"

step "parked memory (scenario 4)"
go run ./cmd/parked | tee "$out/parked.md"

step "lateness (scenario 5), medians of 6 runs"
go run ./cmd/lateness -runs 6 | tee "$out/lateness.md"

step "scale (scenario 6), medians of 3 runs"
go run ./cmd/scale -runs 3 | tee "$out/scale.md"

step "contention experiment"
REBOUND_CONTENTION=1 go test -count=1 -run '^TestContention$' -timeout 60m ./contention
cat "$out/contention.md"
step "key-rate experiment"; REBOUND_KEYRATE=1 go test -count=1 -run '^TestKeyRate$' -timeout 60m ./keyrate
step "HTTP scenario"; go run ./cmd/httpbench -runs 11 > "$out/http.md"
