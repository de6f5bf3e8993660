import '../daemon/polyfill.ts'
/**
 * A relay's options, and a node that needs no relay: on one machine a node connected to a
 * relay sees itself where the relay sees it, so it takes no slot and announces no relayed
 * address. The NAT'd cases are in nat.test.ts.
 */
import assert from 'node:assert/strict'
import { after, describe, it } from 'node:test'
import { eventually, hwd, knows, stopAll, tempHome, TestNode } from './helpers.ts'

describe('relay options', () => {
  after(stopAll)

  for (const [args, error] of [
    [['--relay-duration', '5'], /^hwd: --relay-duration sets a relay's limit; add --relay\n$/],
    [['--relay', '--relay-max-bytes', '12X'], /^hwd: --relay-max-bytes 12X: expected a number of bytes, such as 0, 65536, 128K or 1G\n$/],
    [['--relay', '--relay-reservations', '0'], /^hwd: --relay-reservations 0: expected a whole number from 1 on\n$/],
    [['--relay-reservations-per-ip', '2'], /^hwd: --relay-reservations-per-ip sets a relay's limit; add --relay\n$/],
    [['--relay', '--relay-reservations-per-ip', '0'], /^hwd: --relay-reservations-per-ip 0: expected a whole number from 1 on\n$/],
    [['--relay', '--relay-reservation-ttl', '30'], /^hwd: --relay-reservation-ttl 30: expected a whole number from 60 to 2147483\n$/]
  ] as const) {
    it(`refuses ${args.join(' ')} in one line`, async () => {
      const r = await hwd(['start', '--home', await tempHome(), '--no-mdns', '--port', '0', '--host', '127.0.0.1', ...args])
      assert.equal(r.code, 2)
      assert.match(r.stderr, error)
    })
  }

  it('a node the relay sees at its own address reserves nothing; the relay says it relays', async () => {
    const relay = await TestNode.start({ name: 'r.dev', extra: ['--relay', '--relay-max-bytes', '1G', '--relay-duration', '600'] })
    const node = await TestNode.start({ name: 'fake.dev', peers: [relay.addr] })
    await eventually('names exchanged', async () => knows(await node.status(), 'r.dev', relay.peerId))
    const s = await node.status()
    assert.equal(s.reachability, 'direct')
    assert.ok(s.addresses.every(a => !a.includes('/p2p-circuit')), s.addresses.join(' '))
    assert.equal(s.peers.find(p => p.peerId === relay.peerId)?.route, 'direct')
    assert.equal((await relay.status()).reachability, 'relay')
    assert.deepEqual((await relay.status()).slots, { limit: 64, held: [] })
    assert.equal(s.slots, undefined, 'a node that does not relay has no slots to show')
    const text = await hwd(['status', '--home', relay.home])
    assert.match(text.stdout, /^reached\s+directly; relaying for others$/m)
    assert.match(text.stdout, /^slots\s+0 of 64 held by NAT'd nodes$/m)
  })
})
