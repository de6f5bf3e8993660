#!/usr/bin/env bash
# netns.sh: N "hosts" on one machine, made of Linux network namespaces, to run hwd daemons on
# a real (virtual) LAN: separate IP addresses, TCP between them, mDNS multicast, and links that
# can be cut. Needs root and iproute2.
#
# Host I is the namespace ${PREFIX}I with eth0 = 198.51.100.(10+I)/24. Every eth0 is a veth whose
# other end, hI, sits on the bridge br0 inside the namespace ${PREFIX}sw. The bridge lives in
# its own namespace, so the machine's own interfaces, addresses and routes are never touched,
# and the test range 198.51.100.0/24 exists only inside the namespaces.
#
# PREFIX is the second argument of up/down, or $NETNS_PREFIX, or "hwd". Files of host I:
# /tmp/${PREFIX}I-home (its home), /tmp/${PREFIX}I.pid, /tmp/${PREFIX}I.log.
set -euo pipefail
# shellcheck source=netns-lib.sh
source "$(dirname "$0")/netns-lib.sh"

usage () {
  cat >&2 <<EOF
usage: $0 up N [PREFIX]        create namespaces \${PREFIX}1..N on a bridge in \${PREFIX}sw
       $0 down N [PREFIX]      remove them (and stop their daemons); fine if already gone
       $0 start I NAME [ARGS]  start hwd NAME on host I (198.51.100.(10+I):8080) in the background
       $0 stop I               stop host I's daemon (SIGTERM); fails if it still runs after 10 s
       $0 cut I | mend I       take host I's link down | up
PREFIX defaults to \$NETNS_PREFIX, else hwd.
EOF
  exit 2
}

num () { [[ ${1-} =~ ^[1-9][0-9]*$ && $1 -le 200 ]] || { echo "$0: $2 must be a number from 1 to 200, not '${1-}'" >&2; exit 2; }; }
sw () { ip -n "${PREFIX}sw" "$@"; }
# The pid of host I's daemon, from its pid file, if that process still runs inside the host's
# namespace: a stale pid may since belong to another process.
ours () { local pid; pid=$(cat "/tmp/${PREFIX}$1.pid" 2>/dev/null || true); [[ -n $pid && $(ip netns identify "$pid" 2>/dev/null) == "${PREFIX}$1" ]] && echo "$pid"; }

cmd=${1-}
[[ $# -ge 2 ]] || usage
if [[ $cmd == up || $cmd == down ]]; then num "$2" N; else num "$2" "host I"; fi
PREFIX=${NETNS_PREFIX:-hwd}
if [[ $cmd == up || $cmd == down ]]; then PREFIX=${3:-$PREFIX}; fi
[[ $PREFIX =~ ^[a-z][a-z0-9]{0,9}$ ]] || { echo "$0: PREFIX must be 1-10 lower-case letters and digits" >&2; exit 2; }

case $cmd in
  up)
    n=$2
    if ip netns pids "${PREFIX}sw" >/dev/null 2>&1; then echo "$0: ${PREFIX}sw exists: already up? ($0 down $n $PREFIX)" >&2; exit 1; fi
    ip netns add "${PREFIX}sw"
    sw link add br0 type bridge
    # Flood multicast to every port, whatever IGMP says, so mDNS reaches every host.
    sw link set dev br0 type bridge mcast_snooping 0
    sw link set br0 up
    for i in $(seq 1 "$n"); do
      ns=${PREFIX}$i
      ip netns add "$ns"
      sw link add "h$i" type veth peer name eth0 netns "$ns"
      sw link set "h$i" master br0 up
      ip -n "$ns" addr add "198.51.100.$((10 + i))/24" dev eth0
      ip -n "$ns" link set lo up
      ip -n "$ns" link set eth0 multicast on up
      # No default route in here: multicast (mDNS, 224.0.0.251) needs its own.
      ip -n "$ns" route add 224.0.0.0/4 dev eth0
    done
    echo "up: hosts ${PREFIX}1..${PREFIX}$n at 198.51.100.11..$((10 + n)), bridge in ${PREFIX}sw"
    ;;
  down)
    for i in $(seq 1 "$2"); do
      remove_namespace "${PREFIX}$i"
      rm -f "/tmp/${PREFIX}$i.pid"
    done
    remove_namespace "${PREFIX}sw"
    ;;
  start)
    [[ $# -ge 3 ]] || usage
    i=$2 name=$3
    shift 3
    pidfile=/tmp/${PREFIX}$i.pid
    if running=$(ours "$i"); then
      echo "$0: host $i already runs a daemon (pid $running)" >&2; exit 1
    fi
    root=$(cd "$(dirname "$0")/.." && pwd)
    cli=$root/dist/daemon/cli.js
    # ip netns exec execs node itself, so $! is the daemon's pid; node takes the flags the CLI's
    # first line gives it (#!/usr/bin/env -S node FLAGS), as `hwd` does.
    flags=$(head -n 1 "$cli" | sed -n 's|^#!/usr/bin/env -S node ||p')
    # shellcheck disable=SC2086 # the flags are words
    ip netns exec "${PREFIX}$i" "$(command -v node)" $flags "$cli" start --name "$name" \
      --host "198.51.100.$((10 + i))" --port 8080 --home "/tmp/${PREFIX}$i-home" "$@" \
      </dev/null >"/tmp/${PREFIX}$i.log" 2>&1 &
    echo $! >"$pidfile"
    echo "started $name on host $i (198.51.100.$((10 + i)):8080), pid $!, log /tmp/${PREFIX}$i.log, home /tmp/${PREFIX}$i-home"
    ;;
  stop)
    i=$2 ns=${PREFIX}$2
    pidfile=/tmp/$ns.pid
    if ! pid=$(ours "$i"); then
      rm -f "$pidfile"
      echo "nothing running on host $i"
      exit 0
    fi
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
      # The pid file stays, so that stop can be tried again.
      echo "$0: host $i's daemon (pid $pid) still runs 10 s after SIGTERM; see /tmp/$ns.log, or kill -KILL $pid" >&2
      exit 1
    fi
    rm -f "$pidfile"
    echo "stopped host $i's daemon (pid $pid)"
    ;;
  cut) sw link set "h$2" down ;;
  mend) sw link set "h$2" up ;;
  *) usage ;;
esac
