import '../daemon/polyfill.ts'
/**
 * The order a dial tries a peer's addresses in (daemon/address-order.ts), against this
 * machine's own networks: "another LAN" is the first of a few private addresses that none of
 * them holds. Sorting only: nothing is dialed; the node is a stand-in that says which peers it
 * holds a connection to.
 */
import assert from 'node:assert/strict'
import { networkInterfaces } from 'node:os'
import { describe, it } from 'node:test'
import { isPrivateIp } from '@libp2p/utils'
import { multiaddr } from '@multiformats/multiaddr'
import { addressOrder, ownNetworks } from '../daemon/address-order.ts'
import type { HwdLibp2p } from '../daemon/node.ts'

const RELAY = '12D3KooWDgoHgwMxJTajENdiBxENc9JTNeNb3pE9eyzaZGWPFRNw'
const RELAY2 = '12D3KooWAuKAzLQf6ToVkCMoNG4jAf3V9oEVshv4DHy366eZCCP1'
const PEER = '12D3KooWNp6S4qTyvK3dh8bKouFaPopHtnyHJ8ypXVULhiNJYUhi'
const OTHER_LAN = ['198.51.100.130', '10.231.77.5', '172.31.250.9'].find(ip => !ownNetworks().check(ip, 'ipv4'))

const relayed = (relay: string, ip: string): string => `/ip4/${ip}/tcp/8080/p2p/${relay}/p2p-circuit/p2p/${PEER}`

/** A node connected, directly, to `relay` alone. */
const connectedTo = (relay: string) => (): HwdLibp2p => ({
  getConnections: (peer?: { toString: () => string }) => peer?.toString() === relay ? [{ remoteAddr: multiaddr('/ip4/203.0.113.4/tcp/8080') }] : []
}) as unknown as HwdLibp2p

/** A private IPv4 address of this machine's own, other than loopback, if it has one: another host on that network would be reached directly. */
const OWN_LAN = Object.values(networkInterfaces()).flat().find(i => i != null && !i.internal && i.family === 'IPv4' && isPrivateIp(i.address) === true)?.address

function order (addrs: Array<[string, boolean?]>, node: () => HwdLibp2p | undefined): string[] {
  return addrs.map(([a, certified]) => ({ multiaddr: multiaddr(a), isCertified: certified === true }))
    .sort(addressOrder(node)).map(a => a.multiaddr.toString())
}

describe('the order of a peer\'s addresses', () => {
  it('public or on our own networks first, then relayed, then another LAN, then loopback', () => {
    assert.ok(OTHER_LAN != null, 'a private address on none of this machine\'s networks')
    assert.deepEqual(order([
      [`/ip4/${OTHER_LAN}/tcp/8080`, true],
      [relayed(RELAY, '203.0.113.1')],
      ['/ip4/127.0.0.1/tcp/8080'],
      ['/dns4/fake2.example/tcp/8080'],
      ['/ip4/9.9.9.9/tcp/8080'],
      ['/ip4/9.9.9.8/tcp/8080', true]
    ], () => undefined), [
      '/ip4/9.9.9.8/tcp/8080',
      '/dns4/fake2.example/tcp/8080',
      '/ip4/9.9.9.9/tcp/8080',
      relayed(RELAY, '203.0.113.1'),
      `/ip4/${OTHER_LAN}/tcp/8080`,
      '/ip4/127.0.0.1/tcp/8080'
    ])
  })

  it('a relay this node is connected to before one it would have to dial', () => {
    const addrs: Array<[string]> = [[relayed(RELAY, '203.0.113.1')], [relayed(RELAY2, '203.0.113.4')]]
    assert.deepEqual(order(addrs, connectedTo(RELAY2)), [relayed(RELAY2, '203.0.113.4'), relayed(RELAY, '203.0.113.1')])
    assert.deepEqual(order(addrs.toReversed(), connectedTo(RELAY)), [relayed(RELAY, '203.0.113.1'), relayed(RELAY2, '203.0.113.4')])
  })

  it('a private address on one of this machine\'s own networks before any relay', { skip: OWN_LAN == null ? 'no private address on this machine but loopback' : undefined }, () => {
    const sameLan = `/ip4/${OWN_LAN ?? ''}/tcp/8080`
    assert.deepEqual(order([[relayed(RELAY, '203.0.113.1')], [sameLan]], () => undefined), [sameLan, relayed(RELAY, '203.0.113.1')])
  })
})
