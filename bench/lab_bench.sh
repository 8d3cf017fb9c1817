# Shared start of the caracal-lab benchmarks (sourced): messages prefixed with the benchmark's
# name, and the checks every one of them makes before creating anything.
#   BENCH_NAME=policy_packet; source "$(dirname "$0")/lab_bench.sh"
#   bench_require TOOL... -- BINARY...   (tools on PATH; binaries of BUILD_DIR, executable)

die() { echo "$BENCH_NAME: $*" >&2; exit 1; }
say() { echo "$BENCH_NAME: $*" >&2; }

bench_require() {
  [ "$(id -u)" -eq 0 ] || die "needs root (network namespaces)"
  while [ $# -gt 0 ] && [ "$1" != -- ]; do
    command -v "$1" >/dev/null || die "$1 is not installed"
    shift
  done
  [ $# -gt 0 ] && shift
  local b
  for b in "$@"; do
    [ -x "$b" ] || die "$b is missing: ninja -C $BUILD_DIR $(basename "$b")"
  done
}
