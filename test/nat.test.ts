import '../daemon/polyfill.ts'
/**
 * Two homes behind NATs and a relay on the open internet, made of network namespaces by
 * scripts/nat.sh: fake.dev and fake2.dev each behind a masquerading router that drops what
 * nobody inside asked for, r.dev at 203.0.113.1 started with --relay. Each NAT'd node knows
 * only the relay (--peer); everything between them goes through it. Needs root, iproute2 and
 * iptables; skips otherwise. `hwd run` and `hwd status` run in the root namespace: they only
 * use the control socket in the home.
 */
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { readdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { CHAT_PKG, drive, eventually, hwd, knows, stopAll, type TestNode } from './helpers.ts'
import { cannotBuildNat, holdsSlots, LAN, NatTopology, RELAY, reserved, type Host } from './nat-topology.ts'

/** Unique per run, so runs at the same time never share a namespace. */
const nat = new NatTopology(`nat${process.pid % 100000}`)
const DOWNLOAD = `download:${CHAT_PKG}`
const SEND = `send:${CHAT_PKG}`

const startRelay = async (home?: string, extra: string[] = []): Promise<TestNode> => await nat.start('relay', 'r.dev', { home, extra })

/** A TCP connect from a namespace, run by a child node there: `ok`, or the error's code. */
function connectFrom (from: Host, host: string, port: number): string {
  const script = `const s=require('net').connect(${port},'${host}');s.setTimeout(3000,()=>{console.log('ETIMEDOUT');process.exit()});s.on('connect',()=>{console.log('ok');process.exit()});s.on('error',e=>{console.log(e.code);process.exit()})`
  const [command, ...args] = [...nat.in(from), process.execPath, '-e', script]
  return spawnSync(command, args, { encoding: 'utf8' }).stdout.trim()
}

describe(`two NAT'd homes and a relay in namespaces ${nat.prefix}*`, { skip: cannotBuildNat() }, () => {
  let relay: TestNode, a: TestNode, b: TestNode

  before(async () => {
    nat.up()
    relay = await startRelay()
    ;[a, b] = await Promise.all([nat.start('n1', 'fake.dev'), nat.start('n2', 'fake2.dev')])
  })

  after(async () => {
    try {
      await stopAll()
    } finally {
      nat.down()
    }
  })

  it('the two homes cannot dial each other; the relay cannot dial into either', () => {
    assert.notEqual(connectFrom('n1', LAN.n2, 8080), 'ok')
    assert.notEqual(connectFrom('n2', LAN.n1, 8080), 'ok')
    // the router's public address answers nothing, not even a reset
    assert.equal(connectFrom('relay', '203.0.113.2', 8080), 'ETIMEDOUT')
    assert.equal(connectFrom('n1', RELAY, 8080), 'ok')
  })

  it('each finds itself behind a NAT, reserves a slot on the relay, and learns the other\'s name through it', async () => {
    await eventually('both hold a relayed address', async () => await reserved(a) && await reserved(b), 20_000)
    await eventually('names cross the relay', async () => knows(await a.status(), 'fake2.dev', b.peerId) && knows(await b.status(), 'fake.dev', a.peerId), 20_000)
    assert.equal((await a.status()).reachability, 'relayed')
    // by name once the relay's record has come, which is usually before the reservation
    await a.waitForOutput(new RegExp(`^reachable through relay (r\\.dev|${relay.peerId})$`, 'm'))
    assert.equal((await relay.status()).reachability, 'relay')
  })

  it('the relay\'s status lists the slots it holds, with each holder\'s name and the slot\'s expiry', async () => {
    await eventually('the relay knows both names', async () => {
      const s = await relay.status()
      return knows(s, 'fake.dev', a.peerId) && knows(s, 'fake2.dev', b.peerId)
    }, 20_000)
    const { slots } = await relay.status()
    assert.equal(slots?.limit, 64)
    assert.deepEqual(slots.held.map(h => [h.name, h.peerId]).sort(), [['fake.dev', a.peerId], ['fake2.dev', b.peerId]].sort())
    for (const h of slots.held) {
      const left = Date.parse(h.expires) - Date.now()
      assert.ok(left > 0 && left <= 2 * 60 * 60 * 1000, `${h.name} expires ${h.expires}`)
    }
    const text = (await hwd(['status', '--home', relay.home])).stdout
    assert.match(text, /^slots\s+2 of 64 held by NAT'd nodes$/m)
    for (const [name, node] of [['fake\\.dev', a], ['fake2\\.dev', b]] as const) {
      assert.match(text, new RegExp(`^slot\\s+${name} ${node.peerId} until \\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d UTC$`, 'm'))
    }
  })

  it('a chat message crosses', async () => {
    const r = await a.run(SEND, 'fake2.dev', 'hello through the relay')
    assert.equal(r.code, 0, r.stderr)
    await b.waitForOutput(/^fake\.dev: hello through the relay$/m)
  })

  it('tens of MiB arrive byte for byte, and peers says the connection is relayed via r.dev', async () => {
    const data = randomBytes(32 * 1024 * 1024 + 17)
    await writeFile(join(drive(b), 'big.bin'), data)
    const r = await a.run(DOWNLOAD, 'big.bin', 'fake2.dev')
    assert.equal(r.code, 0, r.stderr)
    assert.ok((await readFile(join(drive(a), 'big.bin'))).equals(data), 'the same bytes')
    const peers = await a.run('peers')
    assert.match(peers.stdout, /^fake2\.dev\s+\S+\s+relayed via r\.dev\s/m)
    assert.match(peers.stdout, /^r\.dev\s+\S+\s+direct\s/m)
    const s = await b.status()
    assert.deepEqual(s.peers.find(p => p.peerId === a.peerId)?.route, 'relayed via r.dev')
    assert.equal(s.peers.find(p => p.peerId === a.peerId)?.relay, relay.peerId)
  })

  it('through the relay too, a node off the access list is refused, in one line on each side', async () => {
    assert.equal((await b.run('deny', 'fake.dev')).code, 0)
    try {
      const r = await a.run(SEND, 'fake2.dev', 'am I welcome')
      assert.notEqual(r.code, 0)
      assert.match(r.stderr, /^hwd: not delivered: .*fake2\.dev does not serve fake\.dev: not on its access list.*\n$/)
      await b.waitForOutput(/^refused fake\.dev \(chat\): not on the access list$/m)
      assert.doesNotMatch(b.output, /am I welcome/)
    } finally {
      assert.equal((await b.run('allow', 'fake.dev')).code, 0)
    }
  })

  it('a relay restart is survived: reservations renewed, names resolve, the next download works', async () => {
    const home = relay.home
    await relay.stop()
    relay = await startRelay(home)
    // the restarted relay has the same address, so only its own list tells a renewed slot from the old one
    await eventually('the restarted relay holds both slots again', async () => await holdsSlots(relay, a, b) && await reserved(a) && await reserved(b), 30_000)
    const data = randomBytes(1024 * 1024)
    await writeFile(join(drive(b), 'after.bin'), data)
    await eventually('a download through the restarted relay', async () => (await a.run(DOWNLOAD, 'after.bin', 'fake2.dev')).code === 0, 20_000)
    assert.ok((await readFile(join(drive(a), 'after.bin'))).equals(data))
  })

  it('a relay with libp2p\'s default limits refuses a large download in one clear line, writing nothing under its name', async () => {
    const home = relay.home
    await relay.stop()
    relay = await startRelay(home, ['--relay-max-bytes', '128K', '--relay-duration', '120'])
    await eventually('both reserved on the capped relay', async () => await holdsSlots(relay, a, b), 30_000)
    // the connection made through the unlimited relay died with it; a new one is capped
    await eventually('fake.dev and fake2.dev connected through the capped relay', async () =>
      (await a.run(SEND, 'fake2.dev', 'small things still fit')).code === 0, 20_000)
    await writeFile(join(drive(b), 'capped.bin'), randomBytes(4 * 1024 * 1024))
    const r = await a.run(DOWNLOAD, 'capped.bin', 'fake2.dev')
    assert.notEqual(r.code, 0, r.stdout)
    assert.match(r.stderr, /^hwd: fake2\.dev is reachable only through relay r\.dev, which carries at most [\d.]+ KiB per connection; the file needs 4\.0 MiB\n$/)
    assert.ok(r.ms < 10_000, `took ${r.ms} ms`)
    assert.deepEqual((await readdir(drive(a))).filter(n => !n.endsWith('.bin') || n === 'capped.bin'), [], 'no file, and no partial one')
  })

  it('a download cut when the relay\'s time limit falls resumes on the next connection, and arrives whole', async () => {
    const home = relay.home
    await relay.stop()
    relay = await startRelay(home, ['--relay-duration', '1'])
    await eventually('both reserved on the relay that cuts after a second', async () => await holdsSlots(relay, a, b), 30_000)
    const data = randomBytes(128 * 1024 * 1024)
    await writeFile(join(drive(b), 'long.bin'), data)
    let resumed = false
    await eventually('the download completes across cuts', async () => {
      const r = await a.run(DOWNLOAD, 'long.bin', 'fake2.dev')
      if (/^resuming long\.bin at /m.test(r.stdout)) resumed = true
      if (r.code !== 0) assert.match(r.stderr, /^hwd: [^\n]+\n$/, 'one line')
      return r.code === 0
    }, 60_000)
    assert.ok(resumed, 'at least one attempt resumed a cut one')
    assert.ok((await readFile(join(drive(a), 'long.bin'))).equals(data), 'the same bytes')
  })

  it('a node refused a slot, as all the relay has are held, says in one line that nodes outside cannot reach it', async () => {
    const home = relay.home
    await Promise.all([relay.stop(), b.stop()])
    relay = await startRelay(home, ['--relay-reservations', '1'])
    await eventually('fake.dev holds the one slot', async () => await holdsSlots(relay, a) && await reserved(a), 30_000)
    b = await nat.start('n2', 'fake2.dev', { home: b.home })
    await relay.waitForOutput(new RegExp(`^refused a relay slot to ${b.peerId} \\(203\\.0\\.113\\.3\\): all 1 slot is held$`, 'm'), 20_000)
    await b.waitForOutput(/^no relay holds a slot for this node, which is behind a NAT: nodes outside cannot reach it$/m, 20_000)
    assert.equal(b.output.match(/^no relay holds a slot/mg)?.length, 1, 'one line')
    assert.equal((await b.status()).reachability, 'unreachable')
    assert.match((await hwd(['status', '--home', b.home])).stdout, /^reached\s+not from outside \(behind a NAT, and no relay holds a slot for it\)$/m)
    assert.equal((await a.status()).reachability, 'relayed')
  })
})
