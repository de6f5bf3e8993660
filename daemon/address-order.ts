import { BlockList, isIPv4 } from 'node:net'
import { networkInterfaces } from 'node:os'
import { isLoopback, isPrivateIp } from '@libp2p/utils'
import { peerIdFromString } from '@libp2p/peer-id'
import type { Address, AddressSorter } from '@libp2p/interface'
import { hostOf, isRelayed, relayOf } from './addresses.ts'
import type { HwdLibp2p } from './node.ts'

/** How long the machine's own networks are taken as known before they are read again. */
const NETWORKS_TTL_MS = 10_000

/**
 * The order in which a dial tries a peer's addresses (libp2p's `connectionManager.addressSorter`).
 *
 * A NAT'd node's addresses are its LAN address and its relayed ones, which libp2p tries one at
 * a time, each for up to 6 s. Its own order, public addresses first and relayed ones after the
 * rest, goes wrong for them twice: on the same LAN it goes through a public relay before trying
 * the LAN address; and with a relay on a private or documentation range (a company's network,
 * scripts/nat.sh) it tries another home's LAN address first, which that home's router drops
 * without a word, so a dial by name gives up (5 s) before it reaches the relay. Here the order
 * is what this node can reach:
 *
 * 1. a direct address that is public, or private on one of this machine's own networks (the
 *    same LAN: direct beats any relay);
 * 2. a relayed address through a relay this node is connected to now;
 * 3. any other relayed address (its relay must be dialed first, and may be gone);
 * 4. a private address on a network that is not ours: another home's LAN, seldom reachable;
 * 5. a loopback address: this machine itself, which is not the peer unless it runs here too.
 *
 * Within a rank, certified addresses (from a signed peer record) go first, as in libp2p.
 */
export function addressOrder (node: () => HwdLibp2p | undefined): AddressSorter {
  let networks: { list: BlockList, read: number } | undefined
  const ours = (): BlockList => {
    if (networks == null || Date.now() - networks.read > NETWORKS_TTL_MS) networks = { list: ownNetworks(), read: Date.now() }
    return networks.list
  }
  return (a, b) => {
    const byRank = rankOf(a, ours, node()) - rankOf(b, ours, node())
    if (byRank !== 0) return byRank < 0 ? -1 : 1
    if (a.isCertified === b.isCertified) return 0
    return a.isCertified ? -1 : 1
  }
}

function rankOf (address: Address, ours: () => BlockList, node: HwdLibp2p | undefined): number {
  const ma = address.multiaddr
  if (isRelayed(ma)) {
    const relay = relayOf(ma)
    const connected = relay != null && node?.getConnections(peerIdFromString(relay)).some(c => !isRelayed(c.remoteAddr)) === true
    return connected ? 1 : 2
  }
  if (isLoopback(ma)) return 4
  const host = hostOf(ma)
  // a name to resolve (dns4, dns6): its address is not known yet, so it is taken as public
  if (host == null || isPrivateIp(host) !== true) return 0
  return ours().check(host, isIPv4(host) ? 'ipv4' : 'ipv6') ? 0 : 3
}

/** The networks this machine's interfaces are on (loopback included), as a BlockList to look addresses up in. */
export function ownNetworks (): BlockList {
  const list = new BlockList()
  for (const infos of Object.values(networkInterfaces())) {
    for (const info of infos ?? []) {
      const prefix = Number(info.cidr?.split('/')[1])
      if (Number.isInteger(prefix)) list.addSubnet(info.address, prefix, info.family === 'IPv4' ? 'ipv4' : 'ipv6')
    }
  }
  return list
}
