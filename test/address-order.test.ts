import '../daemon/polyfill.ts'
/**
 * The order a dial tries a peer's addresses in (daemon/address-order.ts), against this
 * machine's own networks: loopback is always one of them; "another LAN" is the first of a few
 * private addresses that none of them holds. Sorting only: nothing is dialed.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { multiaddr } from '@multiformats/multiaddr'
import { addressOrder, ownNetworks } from '../daemon/address-order.ts'

const RELAY = '12D3KooWDgoHgwMxJTajENdiBxENc9JTNeNb3pE9eyzaZGWPFRNw'
const PEER = '12D3KooWNp6S4qTyvK3dh8bKouFaPopHtnyHJ8ypXVULhiNJYUhi'
const OTHER_LAN = ['198.51.100.130', '10.231.77.5', '172.31.250.9'].find(ip => !ownNetworks().check(ip, 'ipv4'))

describe('the order of a peer\'s addresses', () => {
  it('tries what this node can reach first: public or on its own networks, then relays, then another LAN', () => {
    assert.ok(OTHER_LAN != null, 'a private address on none of this machine\'s networks')
    const relayed = `/ip4/203.0.113.1/tcp/8080/p2p/${RELAY}/p2p-circuit/p2p/${PEER}`
    const sorted = [
      { multiaddr: multiaddr(`/ip4/${OTHER_LAN}/tcp/8080`), isCertified: true },
      { multiaddr: multiaddr(relayed), isCertified: false },
      { multiaddr: multiaddr('/ip4/127.0.0.1/tcp/8080'), isCertified: false },
      { multiaddr: multiaddr('/dns4/fake2.example/tcp/8080'), isCertified: false },
      { multiaddr: multiaddr('/ip4/9.9.9.9/tcp/8080'), isCertified: false },
      { multiaddr: multiaddr('/ip4/9.9.9.8/tcp/8080'), isCertified: true }
    ].sort(addressOrder(() => undefined)).map(a => a.multiaddr.toString())
    assert.deepEqual(sorted, [
      '/ip4/9.9.9.8/tcp/8080',
      '/ip4/127.0.0.1/tcp/8080',
      '/dns4/fake2.example/tcp/8080',
      '/ip4/9.9.9.9/tcp/8080',
      relayed,
      `/ip4/${OTHER_LAN}/tcp/8080`
    ])
  })
})
