import '../daemon/polyfill.ts'
/**
 * Two relays (scripts/nat.sh's r.dev and r2.dev) and two NAT'd nodes that know both: each holds
 * a slot on each relay, its record names both, and when one relay goes a download by name goes
 * through the other at once, as Hyperware's indirect nodes go through any of their routers.
 * Needs root, iproute2 and iptables; skips otherwise.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { CHAT_PKG, drive, eventually, hwd, knows, stopAll, type TestNode } from './helpers.ts'
import { cannotBuildNat, holdsSlots, NatTopology, RELAY, RELAY2 } from './nat-topology.ts'

const nat = new NatTopology(`nr${process.pid % 100000}`)

/** A node name as a regular expression matches it. */
const dots = (name: string): string => name.replaceAll('.', '\\.')

/** The relays, by address, that hold a slot for `node`, as its own addresses (and so its record) say. */
async function relayedVia (node: TestNode): Promise<string[]> {
  return (await node.status()).addresses.filter(a => a.includes('/p2p-circuit/')).map(a => a.split('/')[2]).sort()
}

describe(`two relays, in namespaces ${nat.prefix}*`, { skip: cannotBuildNat() }, () => {
  let relay: TestNode, relay2: TestNode, a: TestNode, b: TestNode

  before(async () => {
    nat.up()
    ;[relay, relay2] = await Promise.all([nat.start('relay', 'r.dev'), nat.start('relay2', 'r2.dev')])
    const second = ['--peer', `${RELAY2}:8080`]
    ;[a, b] = await Promise.all([nat.start('n1', 'fake.dev', { extra: second }), nat.start('n2', 'fake2.dev', { extra: second })])
  })

  after(async () => {
    try {
      await stopAll()
    } finally {
      nat.down()
    }
  })

  it('a NAT\'d node that knows two relays holds a slot on each, and its addresses name both', async () => {
    const both = [RELAY, RELAY2].sort()
    await eventually('both nodes reachable through both relays', async () =>
      JSON.stringify(await relayedVia(a)) === JSON.stringify(both) && JSON.stringify(await relayedVia(b)) === JSON.stringify(both), 30_000)
    assert.ok(await holdsSlots(relay, a, b), 'r.dev lists both slots')
    assert.ok(await holdsSlots(relay2, a, b), 'r2.dev lists both slots')
    for (const name of ['r\\.dev', 'r2\\.dev']) await a.waitForOutput(new RegExp(`^reachable through relay ${name}$`, 'm'))
    await eventually('names cross', async () => knows(await a.status(), 'fake2.dev', b.peerId), 20_000)
    assert.match((await hwd(['status', '--home', a.home])).stdout, /^relays\s+r\.dev, r2\.dev$/m)
  })

  it('with the relay that carries their connection gone, a download by name goes through the other at once', async () => {
    // a chat opens the relayed connection between them, over one relay or the other
    await eventually('a chat crosses', async () => (await a.run(`send:${CHAT_PKG}`, 'fake2.dev', 'hello')).code === 0, 20_000)
    const route = /^fake2\.dev\s+\S+\s+relayed via (r2?\.dev)\s/m.exec((await a.run('peers')).stdout)
    assert.ok(route != null, 'fake.dev reaches fake2.dev through a relay')
    const [gone, other] = route[1] === 'r.dev' ? [relay, relay2] : [relay2, relay]
    const data = randomBytes(4 * 1024 * 1024)
    await writeFile(join(drive(b), 'after.bin'), data)
    const from = a.output.length
    await gone.stop()
    // once fake.dev has seen its connection to the relay close, and with it the relayed one
    await a.waitForOutput(new RegExp(`^${dots(gone.name)} disconnected$`, 'm'), 10_000, from)
    const r = await a.run(`download:${CHAT_PKG}`, 'after.bin', 'fake2.dev')
    assert.equal(r.code, 0, r.stderr)
    assert.ok((await readFile(join(drive(a), 'after.bin'))).equals(data), 'the same bytes')
    assert.match((await a.run('peers')).stdout, new RegExp(`^fake2\\.dev\\s+\\S+\\s+relayed via ${dots(other.name)}\\s`, 'm'))
    await a.waitForOutput(new RegExp(`^relay ${dots(gone.name)} no longer holds a slot for this node$`, 'm'), 15_000, from)
    assert.deepEqual((await a.status()).relays, [other.name])
    assert.equal((await a.status()).reachability, 'relayed')
    assert.doesNotMatch(a.output, /^no relay holds a slot/m, 'the other relay still holds one')
  })
})
