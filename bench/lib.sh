# Shared helpers of the benchmarks (sourced after test/lib.sh).
#
# Every figure a benchmark prints is a ratio against a baseline measured in
# the same run: configurations are interleaved within each round, and the
# report gives the median and the min-max over the rounds.

# now_ns: wall clock in nanoseconds
now_ns() {
	date +%s%N
}

# time_ms CMD...: run CMD (output discarded), print its wall clock in ms
# (three decimals); a failing CMD fails the benchmark
time_ms() {
	local start end
	start=$(now_ns)
	if ! "$@" >/dev/null 2>"${BENCH_ERR:-/dev/null}"; then
		echo "FAILED: $*" >&2
		[ -n "${BENCH_ERR:-}" ] && head -20 "$BENCH_ERR" >&2
		exit 1
	fi
	end=$(now_ns)
	awk -v s="$start" -v e="$end" 'BEGIN { printf "%.3f\n", (e - s) / 1e6 }'
}

# stats: numbers on stdin -> "median min max"
stats() {
	sort -g | awk '{ v[NR] = $1 } END {
		if (NR == 0) { print "nan nan nan"; exit }
		m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
		print m, v[1], v[NR]
	}'
}

# fmt_stats "median min max" [decimals] -> "median [min-max]"
fmt_stats() {
	local d=${2:-1}
	echo "$1" | awk -v d="$d" '{ printf "%.*f [%.*f-%.*f]", d, $1, d, $2, d, $3 }'
}

# bench_cluster_start [port]: a throwaway cluster with default durability
# (fsync on); the benchmarks build and install the extension first when
# run as root (as test/run.sh does)
bench_cluster_start() {
	if [ "$(id -u)" = 0 ]; then
		ensure_packages "$@"
		build_and_install
	fi
	CLUSTER_FSYNC=on
	cluster_start ${PORT:-}
	echo "== server $(psql -X -At -d postgres -c 'SHOW server_version'), fsync=$(psql -X -At -d postgres -c 'SHOW fsync'), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
}
