#!/usr/bin/env bash
# nat.sh: two homes behind NATs and a relay on the open internet, made of network namespaces on
# one machine, in documentation ranges only. Needs root, iproute2 and iptables.
#
#   ${P}relay  203.0.113.1/24 ─┐
#   ${P}relay2 203.0.113.4/24 ─┤
#   ${P}gw1    203.0.113.2/24 ─┼─ bridge br0 in ${P}sw: the "public" segment
#   ${P}gw2    203.0.113.3/24 ─┘
#   ${P}gw1  lan 198.51.100.1/25   ── ${P}n1 198.51.100.2/25   (home 1)
#   ${P}gw2  lan 198.51.100.129/25 ── ${P}n2 198.51.100.130/25 (home 2)
#
# Each router masquerades its home's traffic out of its public side and, as home routers do,
# drops what nobody inside asked for: no forwarding in, no answer (not even a reset) to an
# unsolicited packet on its public side. Routers know no route to the other home's LAN.
set -euo pipefail
# shellcheck source=netns-lib.sh
source "$(dirname "$0")/netns-lib.sh"

usage () {
  echo "usage: $0 up|down [PREFIX]   (PREFIX: 1-8 lower-case letters and digits, default \$NETNS_PREFIX or nat)" >&2
  exit 2
}

[[ $# -ge 1 ]] || usage
P=${2:-${NETNS_PREFIX:-nat}}
[[ $P =~ ^[a-z][a-z0-9]{0,7}$ ]] || usage
NAMESPACES=("${P}sw" "${P}relay" "${P}relay2" "${P}gw1" "${P}gw2" "${P}n1" "${P}n2")

on () { local ns=$1; shift; ip netns exec "$P$ns" "$@"; }

# A veth from namespace A (named IF_A) to namespace B (IF_B).
link () { ip -n "$P$1" link add "$2" type veth peer name "$4" netns "$P$3"; ip -n "$P$1" link set "$2" up; ip -n "$P$3" link set "$4" up; }

# A host on the public segment: namespace $1, its port $2 on the bridge, address $3.
public_host () {
  link sw "$2" "$1" eth0
  ip -n "${P}sw" link set "$2" master br0
  ip -n "$P$1" addr add "$3/24" dev eth0
}

router () {
  local i=$1 wan=$2 lan=$3
  link sw "g$i" "gw$i" wan
  ip -n "${P}sw" link set "g$i" master br0
  ip -n "${P}gw$i" addr add "$wan/24" dev wan
  link "gw$i" lan "n$i" eth0
  ip -n "${P}gw$i" addr add "$lan" dev lan
  on "gw$i" sysctl -qw net.ipv4.ip_forward=1
  on "gw$i" iptables -t nat -A POSTROUTING -o wan -j MASQUERADE
  on "gw$i" iptables -P FORWARD DROP
  on "gw$i" iptables -A FORWARD -i lan -o wan -j ACCEPT
  on "gw$i" iptables -A FORWARD -i wan -o lan -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT
  on "gw$i" iptables -A INPUT -i wan -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT
  on "gw$i" iptables -A INPUT -i wan -j DROP
}

host () {
  local i=$1 addr=$2 gw=$3
  ip -n "${P}n$i" addr add "$addr" dev eth0
  ip -n "${P}n$i" route add default via "$gw"
}

case $1 in
  up)
    if ip netns pids "${P}sw" >/dev/null 2>&1; then echo "$0: ${P}sw exists: already up? ($0 down $P)" >&2; exit 1; fi
    for ns in "${NAMESPACES[@]}"; do ip netns add "$ns"; ip -n "$ns" link set lo up; done
    ip -n "${P}sw" link add br0 type bridge
    ip -n "${P}sw" link set br0 up
    public_host relay r 203.0.113.1
    public_host relay2 r2 203.0.113.4
    router 1 203.0.113.2 198.51.100.1/25
    router 2 203.0.113.3 198.51.100.129/25
    host 1 198.51.100.2/25 198.51.100.1
    host 2 198.51.100.130/25 198.51.100.129
    echo "up: relays ${P}relay 203.0.113.1 and ${P}relay2 203.0.113.4; ${P}n1 198.51.100.2 behind ${P}gw1 203.0.113.2; ${P}n2 198.51.100.130 behind ${P}gw2 203.0.113.3"
    ;;
  down)
    for ns in "${NAMESPACES[@]}"; do remove_namespace "$ns"; done
    ;;
  *) usage ;;
esac
