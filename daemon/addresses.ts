/** What hwd reads in a multiaddr: whether it goes through a relay, which one, and its IP. */
import { CODE_IP4, CODE_IP6, CODE_P2P, CODE_P2P_CIRCUIT, type Multiaddr } from '@multiformats/multiaddr'

/** Whether `addr` goes through a relay (`/p2p-circuit`). */
export function isRelayed (addr: Multiaddr): boolean {
  return addr.getComponents().some(c => c.code === CODE_P2P_CIRCUIT)
}

/** The relay's peer id in a relayed address (`/ip4/…/p2p/RELAY/p2p-circuit/p2p/US`), undefined for a direct one. */
export function relayOf (addr: Multiaddr): string | undefined {
  const parts = addr.getComponents()
  const circuit = parts.findIndex(c => c.code === CODE_P2P_CIRCUIT)
  return circuit < 0 ? undefined : parts.slice(0, circuit).findLast(c => c.code === CODE_P2P)?.value
}

/** The IP address in `addr` (`/ip4/203.0.113.1/tcp/8080` gives 203.0.113.1), undefined if it has none. */
export function hostOf (addr: Multiaddr): string | undefined {
  return addr.getComponents().find(c => c.code === CODE_IP4 || c.code === CODE_IP6)?.value
}
