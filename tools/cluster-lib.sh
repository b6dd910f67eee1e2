# Shared by tools/cluster-test and tools/cluster-bench: a 3-node Corosync cluster on this
# machine (../shared/CLUSTER.md's recipe): a bridge in namespace <run>sw, namespaces
# <run>n1..n3 with 10.77.0.N, a corosync per node with a private /run, and a clustered
# heraldd per node. Source it with $bin set (heraldd and herald); `start_cluster` brings
# everything up; the EXIT trap tears it down (also on failure).
run=hc$$
work=$(mktemp -d "${TMPDIR:-/tmp}/herald-cluster.XXXXXX")
pids=()
declare -A corosync_pid heraldd_pid

log() { printf '%s: %s\n' "$(basename "$0")" "$*" >&2; }
fail() {
  log "FAILED: $*"
  for n in 1 2 3; do
    if [ -f "$work/n$n/heraldd.log" ]; then
      echo "--- n$n heraldd.log (last 30 lines)" >&2
      tail -30 "$work/n$n/heraldd.log" >&2
    fi
  done
  exit 1
}

cleanup() {
  set +e
  for n in 1 2 3; do
    [ -n "${heraldd_pid[$n]:-}" ] && kill -TERM "${heraldd_pid[$n]}" 2>/dev/null
  done
  sleep 0.5
  for n in 1 2 3; do
    [ -n "${heraldd_pid[$n]:-}" ] && kill -KILL "${heraldd_pid[$n]}" 2>/dev/null
    [ -n "${corosync_pid[$n]:-}" ] && kill -TERM "${corosync_pid[$n]}" 2>/dev/null
  done
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  sleep 1
  for n in 1 2 3; do
    [ -n "${corosync_pid[$n]:-}" ] && kill -KILL "${corosync_pid[$n]}" 2>/dev/null
    ip netns del "${run}n$n" 2>/dev/null
  done
  ip netns del "${run}sw" 2>/dev/null
  rm -f /dev/shm/qb-*-"$run"* 2>/dev/null
  if [ "${keep:-no}" = yes ]; then log "work folder kept: $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

# --- network: a bridge in namespace sw, one namespace per node ------------------------
setup_network() {
ip netns add "${run}sw"
ip netns exec "${run}sw" ip link add br0 type bridge
ip netns exec "${run}sw" ip link set br0 up
for n in 1 2 3; do
  ns="${run}n$n"
  ip netns add "$ns"
  ip link add "${run}v$n" type veth peer name "${run}p$n"
  ip link set "${run}v$n" netns "$ns"
  ip link set "${run}p$n" netns "${run}sw"
  ip netns exec "$ns" ip link set "${run}v$n" name eth0
  ip netns exec "$ns" ip addr add "10.77.0.$n/24" dev eth0
  ip netns exec "$ns" ip link set eth0 up
  ip netns exec "$ns" ip link set lo up
  ip netns exec "${run}sw" ip link set "${run}p$n" master br0
  ip netns exec "${run}sw" ip link set "${run}p$n" up
done
}

# --- corosync on each node ------------------------------------------------------------
write_conf() {
  local n=$1 dir=$work/n$1
  mkdir -p "$dir/run" "$dir/state" "$dir/data"
  cat > "$dir/corosync.conf" <<EOF
totem {
  version: 2
  cluster_name: $run
  transport: knet
  crypto_cipher: none
  crypto_hash: none
  token: 1000
}
nodelist {
  node {
    name: n1
    nodeid: 1
    ring0_addr: 10.77.0.1
  }
  node {
    name: n2
    nodeid: 2
    ring0_addr: 10.77.0.2
  }
  node {
    name: n3
    nodeid: 3
    ring0_addr: 10.77.0.3
  }
}
quorum {
  provider: corosync_votequorum
}
logging {
  to_logfile: yes
  logfile: $dir/corosync.log
  to_stderr: no
  to_syslog: no
  timestamp: hires
}
system {
  state_dir: $dir/state
  sched_rr: no
}
EOF
}

start_corosync() {
  local n=$1 dir=$work/n$1
  ip netns exec "${run}n$n" unshare -m --propagation private \
    sh -c "mount --bind '$dir/run' /run && exec corosync -f -c '$dir/corosync.conf'" \
    > "$dir/corosync.out" 2>&1 &
  corosync_pid[$n]=$!
}

start_heraldd() {
  local n=$1 dir=$work/n$1
  shift
  ip netns exec "${run}n$n" "$bin/heraldd" --data-dir "$dir/data" --socket "$dir/heraldd.sock" \
    --cluster corosync --cluster-group "$run" --interface-poll 0 "$@" >> "$dir/heraldd.log" 2>&1 &
  heraldd_pid[$n]=$!
}

# Waits until node N's cluster.json says ready (and its socket answers).
wait_ready() {
  local n=$1 deadline=$((SECONDS + ${2:-60}))
  while [ $SECONDS -lt $deadline ]; do
    if grep -q '"ready" : true' "$work/n$n/data/cluster.json" 2>/dev/null && [ -S "$work/n$n/heraldd.sock" ]; then
      return 0
    fi
    sleep 0.3
  done
  fail "node $n not ready in time (cluster.json: $(cat "$work/n$n/data/cluster.json" 2>/dev/null | tr -d '\n '))"
}

herald_at() { local n=$1; shift; HERALD_SOCKET=$work/n$n/heraldd.sock "$bin/herald" "$@"; }
head_of() { "$bin/herald" audit head --data-dir "$work/n$1/data" | awk '/@/ {print $NF}' | tail -1; }
seq_of() { head_of "$1" | cut -d@ -f2; }
# The last membership record node N journaled, as "members=a,b left=c" (names sorted).
last_membership() {
  "$bin/herald" query --data-dir "$work/n$1/data" --class memb --reverse --limit 1 --format jsonl |
    sed -n 's/.*"membership":{\(.*\)}.*/\1/p' | {
      IFS= read -r m || true
      list() { echo "$m" | sed -n "s/.*\"$1\":\[\([^]]*\)\].*/\1/p" | tr -d '" ' | tr ',' '\n' | sort | paste -sd, -; }
      echo "members=$(list members) left=$(list left)"
    }
}


# Network, corosync and heraldd (extra heraldd flags as arguments) on all three nodes.
start_cluster() {
  setup_network
  for n in 1 2 3; do write_conf "$n"; start_corosync "$n"; done
  sleep 2
  for n in 1 2 3; do start_heraldd "$n" "$@"; done
  for n in 1 2 3; do wait_ready "$n"; done
}
