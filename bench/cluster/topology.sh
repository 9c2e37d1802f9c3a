# Sourced by bench/run, bench/python/run and bench/node/run for --cluster: a throwaway Redis Cluster
# (xr-topology --cluster: 3 masters with a replica each, on loopback ports), or the one --url names.
#   cluster_start DIR   starts it (the env file goes into DIR), sets cluster_url=redis+cluster://...
#   cluster_stop        stops it (EOF on xr-topology's stdin); the callers' EXIT traps call it
# xr-topology comes from build-bench/ (bench/run --cluster builds it), else build/ (scripts/test).
cluster_pid= cluster_in= cluster_url=

cluster_tool() {
  local t
  for t in "$root/build-bench/bench/harness/xr-topology" "$root/build/tests/harness/xr-topology"; do
    if [ -x "$t" ]; then echo "$t"; return 0; fi
  done
  return 1
}

cluster_start() {
  local dir=$1 tool ready
  tool=$(cluster_tool) || {
    echo "no xr-topology in build-bench/ or build/: run bench/run --cluster (it builds one) or scripts/test" >&2
    exit 1
  }
  coproc CLUSTER { exec "$tool" --cluster --env "$dir/topology.env"; }
  cluster_pid=$CLUSTER_PID cluster_in=${CLUSTER[1]}
  read -r -t 120 ready <&"${CLUSTER[0]}" && [ "$ready" = ready ] ||
    { echo "xr-topology --cluster did not start" >&2; exit 1; }
  cluster_url="redis+cluster://$(sed -n 's/^XR_TEST_CLUSTER_NODES=//p' "$dir/topology.env")"
}

cluster_stop() {
  if [ -n "$cluster_in" ]; then eval "exec $cluster_in>&-" 2>/dev/null || true; fi
  if [ -n "$cluster_pid" ]; then wait "$cluster_pid" 2>/dev/null || true; fi
  cluster_pid= cluster_in=
}
