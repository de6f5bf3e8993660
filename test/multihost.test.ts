import '../daemon/polyfill.ts'
/**
 * Three hosts on one machine, made of network namespaces by scripts/netns.sh: real daemons on
 * separate addresses of 198.51.100.0/24, finding each other by mDNS and by --peer, moving a
 * file and chat across hosts, and living through a cut link. Needs root and iproute2; skips
 * otherwise. `hwd run` and `hwd status` run here in the root namespace: they only use the
 * control socket in the home, and the file system is shared.
 */
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { connected, eventually, knows, stopAll, tempHome, TestNode } from './helpers.ts'
import { cannotUseNamespaces } from './nat-topology.ts'

const NETNS = fileURLToPath(new URL('../../scripts/netns.sh', import.meta.url))
/** Unique per run, so runs at the same time never share a namespace. */
const PREFIX = `hwdt${process.pid % 10000}`
const HOSTS = 3
const PKG = 'chat-with-file-transfer:template.os'
const SEND = `send:${PKG}`
const ip = (i: number): string => `198.51.100.${10 + i}`

/** Why this machine cannot make namespaces, or undefined when it can. */
function cannotMakeNamespaces (): string | undefined {
  const missing = cannotUseNamespaces(['ip'])
  if (missing != null) return missing
  const probe = `${PREFIX}probe`
  const add = spawnSync('ip', ['netns', 'add', probe], { encoding: 'utf8' })
  if (add.status !== 0) return `\`ip netns add\` fails: ${add.stderr.trim()}`
  spawnSync('ip', ['netns', 'del', probe])
  return undefined
}

function netns (...args: string[]): void {
  const r = spawnSync('bash', [NETNS, ...args], { encoding: 'utf8', env: { ...process.env, NETNS_PREFIX: PREFIX } })
  if (r.status !== 0) throw new Error(`netns.sh ${args.join(' ')} failed (${r.status}): ${r.stderr}`)
}

/** A daemon started through the real CLI inside host i's namespace, on its own address. */
async function startHost (i: number, name: string, options: { mdns: boolean, extra?: string[], env?: Record<string, string> }): Promise<TestNode> {
  const home = await tempHome(`${PREFIX}-h${i}-`)
  // two hosts start at once: give them longer than a lone test node
  return await TestNode.start({ name, home, prefix: ['ip', 'netns', 'exec', `${PREFIX}${i}`], host: ip(i), port: 8080, startMs: 20_000, ...options })
}

/**
 * What libp2p's TCP transport logs of a connection with `ip`: a dial to it, or one accepted from
 * it. fake.dev runs with this log on (DEBUG, on its stderr), a record of every connection it
 * ever held, where `peers` only tells those it holds now.
 */
const tcpLog = (ip: string): RegExp => new RegExp(`libp2p:tcp(:listener)? (dialing|new inbound connection) /ip4/${ip.replaceAll('.', '\\.')}/tcp/`)

const reason = cannotMakeNamespaces()

describe(`three hosts in network namespaces ${PREFIX}1..${PREFIX}${HOSTS}`, { skip: reason }, () => {
  let h1: TestNode, h2: TestNode, h3: TestNode

  before(async () => {
    netns('up', String(HOSTS), PREFIX)
    // Hosts 1 and 2 find each other by mDNS; host 3 has mDNS off and only host 2 as a peer
    // (which it re-dials until host 2 listens). Host 1 is up before host 2 starts, so host 2's
    // first mDNS query is answered by a node already listening.
    h1 = await startHost(1, 'fake.dev', { mdns: true, env: { DEBUG: 'libp2p:tcp,libp2p:tcp:listener' } })
    ;[h2, h3] = await Promise.all([
      startHost(2, 'fake2.dev', { mdns: true }),
      startHost(3, 'fake3.dev', { mdns: false, extra: ['--peer', `${ip(2)}:8080`] })
    ])
  })

  after(async () => {
    // The daemons first, by pid, and their homes; then the namespaces, with anything still inside.
    try {
      await stopAll()
    } finally {
      netns('down', String(HOSTS), PREFIX)
    }
  })

  it('host 2 finds host 1 by mDNS: they connect and learn each other\'s names', async () => {
    const s1 = await eventually('fake.dev knows fake2.dev and is connected to it', async () => {
      const s = await h1.status()
      return knows(s, 'fake2.dev', h2.peerId) && s.peers.some(p => p.peerId === h2.peerId && p.name === 'fake2.dev') && s
    }, 25_000)
    assert.deepEqual(s1.listen, [`/ip4/${ip(1)}/tcp/8080`])
    assert.ok(s1.peers.find(p => p.peerId === h2.peerId)!.addresses.every(a => a.startsWith(`/ip4/${ip(2)}/`)), 'over the namespaces\' LAN')
    await eventually('fake2.dev knows fake.dev', async () => knows(await h2.status(), 'fake.dev', h1.peerId))
  })

  it('host 3, with mDNS off, learns fake.dev\'s name through its --peer; fake.dev learns fake3.dev\'s but does not dial it', async () => {
    await eventually('fake3.dev connected to fake2.dev and knowing fake.dev', async () => {
      const s = await h3.status()
      return connected(s, h2.peerId) && knows(s, 'fake.dev', h1.peerId)
    })
    await eventually('fake.dev knows fake3.dev', async () => knows(await h1.status(), 'fake3.dev', h3.peerId))
    // the log shows fake.dev's connection with fake2.dev, and none with fake3.dev, from the start until now
    assert.match(h1.errors, tcpLog(ip(2)), 'fake.dev\'s TCP log records its connection with fake2.dev')
    assert.doesNotMatch(h1.errors, tcpLog(ip(3)), 'fake.dev and fake3.dev connected before anyone asked them to')
  })

  it('a download and a chat message cross hosts', async () => {
    await eventually('fake.dev and fake3.dev know each other\'s names', async () =>
      knows(await h3.status(), 'fake.dev', h1.peerId) && knows(await h1.status(), 'fake3.dev', h3.peerId))
    const data = randomBytes(4 * 1024 * 1024 + 321)
    await writeFile(join(h1.home, 'vfs', PKG, 'files', 'x.bin'), data)
    const got = await h3.run(`download:${PKG}`, 'x.bin', 'fake.dev')
    assert.equal(got.code, 0, got.stderr)
    assert.match(got.stdout, /^downloaded x.bin from fake.dev: 4.0 MiB/m)
    assert.ok((await readFile(join(h3.home, 'vfs', PKG, 'files', 'x.bin'))).equals(data), 'the same bytes')
    const sent = await h3.run(SEND, 'fake.dev', 'hello from host 3')
    assert.equal(sent.code, 0, sent.stderr)
    await h1.waitForOutput(/^fake3\.dev: hello from host 3$/m)
  })

  // The connection still looks open until a ping fails (daemon/node.ts), so a send over the cut
  // link waits out chat's 10 s acknowledgement deadline; `hwd run` adds its own start-up, a
  // second or two here. Once mended, mDNS asks every 10 s: within 15 s each of fake.dev and
  // fake2.dev has asked, and been answered, at least once.
  it('a send over a cut link fails within seconds in one line; mended, sends work again and mDNS joins fake.dev and fake2.dev', async t => {
    await eventually('fake3.dev knows fake.dev, and fake.dev is connected to fake2.dev', async () =>
      knows(await h3.status(), 'fake.dev', h1.peerId) && connected(await h1.status(), h2.peerId))
    netns('cut', '1')
    try {
      const r = await h3.run(SEND, 'fake.dev', 'into the void')
      t.diagnostic(`over the cut link: exit ${r.code} after ${r.ms} ms: ${r.stderr.trim()}`)
      assert.notEqual(r.code, 0, `the send succeeded: ${r.stdout}`)
      assert.match(r.stderr, /^hwd: (fake\.dev is offline|not delivered)[^\n]*\n$/)
      assert.ok(r.ms < 14_000, `the send to the cut host took ${r.ms} ms`)
      // A cut long enough for every daemon to notice: all connections to fake.dev are dropped
      // (the connection monitor pings every 2 s), so what follows must dial afresh.
      await eventually('every connection to fake.dev dropped', async () => {
        const [s1, s2, s3] = await Promise.all([h1.status(), h2.status(), h3.status()])
        return s1.peers.length === 0 && !connected(s2, h1.peerId) && !connected(s3, h1.peerId)
      }, 20_000)
    } finally {
      netns('mend', '1')
    }

    // watched from the mend on, while the sends below go
    const reconnected = eventually('fake.dev and fake2.dev connected again', async () => connected(await h1.status(), h2.peerId), 15_000)
    reconnected.catch(() => {})
    let n = 0
    await eventually('a send gets through within 30 s of the mend', async () => {
      const r = await h3.run(SEND, 'fake.dev', `back ${++n}`)
      if (r.code !== 0) t.diagnostic(`send ${n} after the mend: exit ${r.code} after ${r.ms} ms: ${r.stderr.trim()}`)
      return r.code === 0
    }, 30_000)
    await h1.waitForOutput(new RegExp(`^fake3\\.dev: back ${n}$`, 'm'))
    for (const h of [h1, h2, h3]) assert.ok(h.running, `${h.name} still runs`)
    assert.equal((await h1.status()).pid, h1.proc.pid, 'the same daemon')
    await reconnected
  })
})
