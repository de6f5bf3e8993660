import '../daemon/polyfill.ts'
/**
 * Fuzz: a storm of hostile input at a running daemon, then proof that it still serves.
 *
 * Two real daemons, fake.dev (A) and fake2.dev (B, `--peer A`). Bare libp2p peers (RawPeer),
 * one connection each, open thousands of streams on B's three protocols and write, with a
 * bounded number in flight: random bytes; valid length prefixes with random bodies; length
 * prefixes far above the limits; truncated frames and varints followed by a close; valid
 * messages with fields out of range (huge offsets, unknown enum values, bad names, records
 * badly signed or naming nothing valid, a 70 KiB chat message); several frames on one stream,
 * in and out of order; streams reset at once. Another peer leaves streams idle, so that the
 * daemon must time them out. Meanwhile B's control socket gets random bytes and JSON, wrong
 * types, requests cut short, 100 KiB lines, and connections opened and dropped.
 *
 * Any error on the raw side is an acceptable outcome (a reset, a refused stream); what must
 * hold is that valid requests mixed into the storm are answered correctly, that B is alive
 * and frees what the storm held, and that it then still serves a download byte for byte, a
 * chat message and `hwd status`.
 *
 * Inputs come from a seeded PRNG; the seed is printed. Replay with HWD_FUZZ_SEED=<seed>.
 *
 * The cases for each protocol are made in fuzz/names.ts, fuzz/chat.ts, fuzz/file-transfer.ts and
 * fuzz/control.ts; fuzz/harness.ts holds what they share, and fuzz/run.ts runs them on streams.
 */
import assert from 'node:assert/strict'
import { execFile, spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { open, readdir, readFile, stat, writeFile } from 'node:fs/promises'
import { createConnection } from 'node:net'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { setTimeout as sleep } from 'node:timers/promises'
import { promisify } from 'node:util'
import { after, before, describe, it, type TestContext } from 'node:test'
import type { Stream } from '@libp2p/interface'
import { blake3 } from '@noble/hashes/blake3.js'
import { equals } from 'uint8arrays'
import { request as controlRequest } from '../daemon/control-client.ts'
import { ChatMessage, PROTOCOL as CHAT } from '../protocol/chat/index.ts'
import { PROTOCOL as FILES, Request } from '../protocol/file-transfer/index.ts'
import { PROTOCOL as NAMES } from '../protocol/names/index.ts'
import { homePaths } from '../storage/home.ts'
import { fileVersion } from '../storage/vfs.ts'
import { chatCase, validChat } from './fuzz/chat.ts'
import { controlCase, runControl } from './fuzz/control.ts'
import { filesCase, validRequest } from './fuzz/file-transfer.ts'
import { BIG_SIZE, CHAT_PKG, type Fixtures, FT_PKG, lp, Rng, seedFromEnv, SMALL_SIZE } from './fuzz/harness.ts'
import { announce, makeRecords, namesCase, namesProbe } from './fuzz/names.ts'
import { newTally, runCase, runPool, summary } from './fuzz/run.ts'
import { drive, eventually, knows, pair, stopAll, TestNode } from './helpers.ts'
import { closed, RawPeer } from './raw-peer.ts'

/** Streams per protocol, and control-socket connections: a few thousand frames in all. */
const CASES = { files: 750, chat: 550, names: 240, control: 500 }
/** Storm connections to B; each protocol's workers are spread over them. */
const STORM_PEERS = 3
/**
 * Streams in flight per protocol, across the storm connections. B takes at most 4 chat and 4
 * names streams per connection at once (constants.ts): 6 over 3 connections stays under.
 */
const WORKERS = { files: 16, chat: 6, names: 6, control: 16 }
/** B must time out a stream that says nothing within its own timeouts (10 s) and this slack. */
const IDLE_DEADLINE_MS = 25_000

const execFileAsync = promisify(execFile)

const SEED = seedFromEnv()
console.log(`fuzz seed ${SEED} (replay with HWD_FUZZ_SEED=${SEED})`)

// ---------------------------------------------------------------------------------------------
// The daemon's process.

function fdCount (pid: number): Promise<number> {
  return readdir(`/proc/${pid}/fd`).then(list => list.length)
}

async function rssMb (pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8')
  return Number(/^VmRSS:\s+(\d+) kB$/m.exec(status)?.[1] ?? 0) / 1024
}

/** The milliseconds B takes to answer `status` on its control socket, as `hwd status` would ask. */
async function statusLatency (node: TestNode): Promise<number> {
  const started = performance.now()
  await controlRequest(homePaths(node.home).socket, node.home, { op: 'status' }, {})
  return performance.now() - started
}

/**
 * For each client connected to a daemon's control socket at `path`, the bytes it wrote that the
 * daemon has not read yet: the receive queues of the daemon's ends, as the kernel reports them.
 */
async function unreadByDaemon (path: string): Promise<number[]> {
  const { stdout } = await execFileAsync('ss', ['-x', '-H', '-n', 'src', path])
  return stdout.split('\n').map(line => line.trim().split(/\s+/)).filter(f => f[1] === 'ESTAB').map(f => Number(f[2]))
}

/** Why the kernel's socket queues cannot be seen here, or false where `ss` shows them. */
const NO_SS = spawnSync('ss', ['-V']).error != null && 'needs ss (iproute2) to see what the daemon has read'

function alive (node: TestNode): boolean {
  return node.proc.exitCode == null && node.proc.signalCode == null
}

// ---------------------------------------------------------------------------------------------

describe('fuzz', () => {
  let a: TestNode
  let b: TestNode
  const fx = {} as Fixtures

  before(async () => {
    ;[a, b] = await pair()
    fx.small = randomBytes(SMALL_SIZE)
    fx.smallHash = blake3(fx.small)
    fx.big = randomBytes(BIG_SIZE)
    await writeFile(join(drive(b), 'small.txt'), fx.small)
    const small = await open(join(drive(b), 'small.txt'))
    fx.smallVersion = Buffer.from((await fileVersion(small)).version, 'hex')
    await small.close()
    await writeFile(join(drive(b), 'big.bin'), fx.big)
    await writeFile(join(drive(b, FT_PKG), 'small.txt'), fx.small)
  })

  after(stopAll)

  it('survives a storm of hostile frames and control requests, then serves a download, a chat message and status', async (t: TestContext) => {
    const started = performance.now()
    t.diagnostic(`seed ${SEED} (replay with HWD_FUZZ_SEED=${SEED})`)
    const rng = new Rng(SEED)
    Object.assign(fx, await makeRecords(rng, SEED))
    const cases = {
      files: Array.from({ length: CASES.files }, () => filesCase(rng, fx)),
      chat: Array.from({ length: CASES.chat }, () => chatCase(rng)),
      names: [namesProbe(rng, fx, true), ...Array.from({ length: CASES.names - 1 }, () => namesCase(rng, fx))],
      control: Array.from({ length: CASES.control }, () => controlCase(rng))
    }
    const pid = b.proc.pid!
    const fdsBefore = await fdCount(pid)
    const rssBefore = await rssMb(pid)

    // Streams left idle on a connection of their own: B must time them out by itself.
    const idler = await RawPeer.start()
    const idle: Array<{ what: string, stream: Stream, at: number }> = []
    const held: Stream[] = []
    const idlePlan: Array<[string, string, Uint8Array | undefined]> = [
      [NAMES, 'silent', undefined], [NAMES, 'silent', undefined], [NAMES, 'half a varint', Uint8Array.of(0x85)],
      [NAMES, 'half a frame', lp(announce(rng, fx, 1)).subarray(0, 5)], [NAMES, 'over the limit', undefined],
      [CHAT, 'silent', undefined], [CHAT, 'half a varint', Uint8Array.of(0x85)], [CHAT, 'half a frame', lp(validChat(rng)).subarray(0, 4)],
      [CHAT, 'one message, then silent', lp(validChat(rng))], [CHAT, 'over the limit', undefined],
      [FILES, 'silent', undefined], [FILES, 'half a varint', Uint8Array.of(0xff)], [FILES, 'half a frame', lp(validRequest(rng)).subarray(0, 3)]
    ]
    for (const [protocol, what, bytes] of idlePlan) {
      try {
        const stream = await idler.open(b.addr, protocol)
        if (bytes != null) stream.send(bytes)
        idle.push({ what: `${protocol} ${what}`, stream, at: performance.now() })
      } catch {
        // refused: past the protocol's stream limit, as 'over the limit' means to be
      }
    }
    // Downloads whose bodies we never read: they hold two of B's upload slots until we go.
    for (let i = 0; i < 2; i++) {
      const stream = await idler.open(b.addr, FILES)
      stream.pause()
      stream.send(lp(Request.encode({ kind: Request.Kind.DOWNLOAD, drive: CHAT_PKG, file: 'big.bin', offset: 0, ifVersion: new Uint8Array(0) })))
      held.push(stream)
    }
    await eventually('the unread downloads show as uploads', async () => (await b.status()).transfers.filter(x => x.direction === 'upload').length === 2)
    const idleEnds = idle.map(async ({ what, stream, at }) => {
      const err = await closed(stream, IDLE_DEADLINE_MS).then(() => undefined, (e: Error) => e)
      return { what, ms: performance.now() - at, stillOpen: err != null }
    })

    const peers: RawPeer[] = []
    try {
      for (let i = 0; i < STORM_PEERS; i++) {
        // one connection each, dialed apart: B takes only a few new connections a second from one host
        const peer = await RawPeer.start()
        peers.push(peer)
        await sleep(250)
        ;(await peer.open(b.addr, FILES)).abort(new Error('warm-up'))
      }
      const tallies = { files: newTally(), chat: newTally(), names: newTally(), control: newTally() }
      const socket = homePaths(b.home).socket
      const stormStarted = performance.now()
      const timed = async (pool: Promise<void>): Promise<number> => { await pool; return performance.now() - stormStarted }
      const poolMs = await Promise.all([
        timed(runPool(cases.files, WORKERS.files, async (c, w) => { await runCase(peers[w % STORM_PEERS], b.addr, c, tallies.files) })),
        timed(runPool(cases.chat, WORKERS.chat, async (c, w) => { await runCase(peers[w % STORM_PEERS], b.addr, c, tallies.chat) })),
        timed(runPool(cases.names, WORKERS.names, async (c, w) => { await runCase(peers[w % STORM_PEERS], b.addr, c, tallies.names) })),
        timed(runPool(cases.control, WORKERS.control, async c => { await runControl(socket, c, tallies.control) }))
      ])
      const stormMs = performance.now() - stormStarted
      Object.entries(tallies).forEach(([name, tally], i) => { t.diagnostic(`${summary(name, tally)}; done at ${(poolMs[i] / 1000).toFixed(1)} s`) })
      const all = Object.values(tallies)
      t.diagnostic(`storm: ${all.reduce((n, x) => n + x.streams, 0)} streams and connections, ${all.reduce((n, x) => n + x.frames, 0)} frames in ${(stormMs / 1000).toFixed(1)} s`)

      assert.ok(alive(b), `B died during the storm (exit ${b.proc.exitCode}, signal ${b.proc.signalCode}):\n${b.errors}`)
      for (const [name, tally] of Object.entries(tallies)) {
        assert.deepEqual(tally.probeFailures, [], `${name}: valid requests in the storm were answered wrongly`)
        assert.ok(tally.probesRefused <= tally.probes / 10, `${name}: ${tally.probesRefused} of ${tally.probes} valid requests could not open a stream`)
      }
    } finally {
      await Promise.all(peers.map(async p => { await p.stop() }))
    }

    const ends = await Promise.all(idleEnds)
    t.diagnostic(`idle streams ended by B after: ${ends.map(e => `${e.what} ${(e.ms / 1000).toFixed(1)} s`).join('; ')}`)
    assert.deepEqual(ends.filter(e => e.stillOpen).map(e => e.what), [], `B left idle streams open past ${IDLE_DEADLINE_MS} ms`)
    await idler.stop()
    await eventually('B frees the uploads nobody reads', async () => (await b.status()).transfers.length === 0, 15_000)

    // B is alive, answers, and holds the names it should.
    assert.ok(alive(b), `B died:\n${b.errors}`)
    const status = await b.status()
    assert.equal(status.name, 'fake2.dev')
    assert.ok(knows(status, 'fake.dev', a.peerId), 'fake.dev is still pinned to A')
    for (const name of fx.learnable) assert.ok(status.names.some(n => n.name === name), `B learned the validly signed ${name}`)
    const refusedNames = ['UPPER.dev', '..', 'a..b', 'é.dev', `after-${SEED.toString(36)}.dev`, `sig-${SEED.toString(36)}.dev`, `key-${SEED.toString(36)}.dev`]
    for (const name of refusedNames) assert.ok(!status.names.some(n => n.name === name), `B refused ${name}`)
    await b.waitForOutput(/^refused a claim to our own name fake2.dev/m)
    await b.waitForOutput(/^refused a claim to fake.dev by .*the name is pinned to/m)

    // It gives back what the storm held.
    const fds = await eventually('B closes the storm\'s descriptors', async () => {
      const n = await fdCount(pid)
      return n <= fdsBefore + 8 ? n : undefined
    }, 15_000).catch(async () => await fdCount(pid))
    assert.ok(fds <= fdsBefore + 8, `B holds ${fds} descriptors after the storm, ${fdsBefore} before`)

    // And it serves as before: a download byte for byte, a chat message, hwd status.
    const got = await a.run(`download:${CHAT_PKG}`, 'big.bin', 'fake2.dev')
    assert.equal(got.code, 0, got.stderr)
    assert.ok(equals(await readFile(join(drive(a), 'big.bin')), fx.big), 'A got big.bin byte for byte')
    const text = `after the storm ${SEED}`
    const sent = await a.run(`send:${CHAT_PKG}`, 'fake2.dev', text)
    assert.equal(sent.code, 0, sent.stderr)
    await b.waitForOutput(new RegExp(`^fake.dev: ${text}$`, 'm'))
    const cli = await b.run('names')
    assert.equal(cli.code, 0, cli.stderr)
    assert.ok(alive(b), 'B is alive at the end')
    const internal = b.errors.split('\n').filter(l => /internal error/.test(l))
    assert.deepEqual(internal, [], 'B logged no unhandled rejection')
    const chatDb = await stat(join(homePaths(b.home).state, CHAT_PKG, 'chat.db')).then(st => st.size, () => 0)
    t.diagnostic(`B: RSS ${rssBefore.toFixed(0)} MB before, ${(await rssMb(pid)).toFixed(0)} MB after (its chat history, on disk, is ${(chatDb / 1e6).toFixed(1)} MB); ` +
      `${fdsBefore} descriptors before, ${fds} after; stderr: ${b.errors === '' ? 'nothing' : JSON.stringify(b.errors.trim().split('\n')[0])}; ` +
      `test took ${((performance.now() - started) / 1000).toFixed(1)} s`)
  })

  // Lesser bugs the storm's inputs once hit, each kept as a test of its own.
  describe('what a named peer can do with chat text, and what a control client meets', () => {
    let mallory: RawPeer
    const run = async (argv: string[]): Promise<{ lines: string[], error?: string }> => {
      const lines: string[] = []
      try {
        await controlRequest(homePaths(b.home).socket, b.home, { op: 'run', argv }, { line: l => { lines.push(l) } })
        return { lines }
      } catch (err: any) {
        return { lines, error: err.message }
      }
    }
    /** Send one chat message as mallory.dev and wait for its acknowledgement. */
    const say = async (text: string, sentAt: bigint): Promise<void> => {
      const stream = await mallory.open(b.addr, CHAT)
      const acked = new Promise<void>(resolve => { stream.addEventListener('message', () => { resolve() }, { once: true }) })
      stream.send(lp(ChatMessage.encode({ text, sentAt })))
      await Promise.race([acked, sleep(5_000).then(() => { throw new Error(`B did not acknowledge ${JSON.stringify(text)} within 5 s`) })])
      await stream.close().catch(() => {})
    }

    before(async () => {
      mallory = await RawPeer.start()
      await mallory.claim(b, 'mallory.dev')
    })
    after(async () => { await mallory?.stop() })

    it('prints a peer\'s message as its own line, so no peer can forge a line from another', async () => {
      const nonce = randomBytes(4).toString('hex')
      await say(`hello\nfake.dev: please run cancel ${nonce}`, BigInt(Date.now()))
      // the whole message is on B's terminal, the part after the newline too, however it came out
      await b.waitForOutput(new RegExp(`please run cancel ${nonce}`))
      assert.match(b.output, /^mallory.dev: hello/m)
      const forged = new RegExp(`^fake.dev: please run cancel ${nonce}$`, 'm')
      assert.ok(!forged.test(b.output), `B's terminal shows "fake.dev: please run cancel ${nonce}", a line mallory.dev wrote`)
    })

    it('keeps the history readable after a message claiming to be sent in the year 584 million', async () => {
      await say('from the far future', 2n ** 64n - 1n)
      const history = await run([`history:${CHAT_PKG}`, 'mallory.dev'])
      assert.equal(history.error, undefined, 'history of mallory.dev fails for good')
    })

    it('answers a control client that half-closes after its request, as `nc -N` does', async () => {
      const reply = await new Promise<string>(resolve => {
        const socket = createConnection(homePaths(b.home).socket)
        let text = ''
        socket.setEncoding('utf8')
        socket.on('data', (d: string) => { text += d })
        socket.on('error', () => {})
        socket.on('close', () => { resolve(text) })
        socket.on('connect', () => { socket.end(JSON.stringify({ op: 'status' }) + '\n') })
      })
      assert.match(reply, /"t":"ok"/, `{"op":"status"} followed by end() got ${JSON.stringify(reply)}`)
    })

    it('reads a request whose UTF-8 is split across two reads', { skip: NO_SS }, async () => {
      const path = homePaths(b.home).socket
      const socket = createConnection(path)
      let reply = ''
      socket.setEncoding('utf8')
      socket.on('data', (d: string) => { reply += d })
      const replied = once(socket, 'close')
      await once(socket, 'connect')
      const request = Buffer.from(JSON.stringify({ op: 'run', argv: ['no-such-command-é'] }) + '\n')
      const cut = request.indexOf(0xc3) + 1
      await new Promise<void>((resolve, reject) => { socket.write(request.subarray(0, cut), err => { err == null ? resolve() : reject(err) }) })
      // the kernel holds nothing unread for B: it has read the first part, half of é, on its own
      await eventually('B reads the first part', async () => {
        const queued = await unreadByDaemon(path)
        return queued.length > 0 && queued.every(n => n === 0)
      })
      socket.write(request.subarray(cut))
      await replied
      assert.match(reply, /no-such-command-é/, `the command name came back as ${reply}`)
    })
  })

  it('resets a stream whose length prefix never ends, without stalling', async (t: TestContext) => {
    // A length prefix may be at most 3 bytes on chat (MAX_FRAME_BYTES < 2^21): B should reset a
    // stream as soon as a fourth continuation byte arrives. Sixteen of them, and we wait.
    const peer = await RawPeer.start()
    try {
      const before = await statusLatency(b)
      const probe = await peer.open(b.addr, CHAT)
      probe.send(new Uint8Array(16).fill(0xff))
      const reset = await closed(probe, 2_000).then(() => probe.status, () => 'still open after 2 s')
      probe.abort(new Error('done'))

      // What it costs when it is not refused: 256 KiB of 0xff, which B reads a byte at a time.
      const rss = await rssMb(b.proc.pid!)
      const flood = await peer.open(b.addr, CHAT)
      flood.send(new Uint8Array(256 * 1024).fill(0xff))
      // close() resolves once everything sent has left for B: the flood is there, or on its way
      await flood.close().catch(() => {})
      const during = await statusLatency(b)
      await closed(flood, 60_000).catch(() => {})
      const grown = await rssMb(b.proc.pid!) - rss
      t.diagnostic(`16 bytes of 0xff: ${reset}; with 256 KiB of 0xff in flight, status took ${during.toFixed(0)} ms (${before.toFixed(0)} ms before), RSS grew ${grown.toFixed(0)} MB`)
      assert.ok(alive(b), 'B is alive')
      assert.equal(reset, 'reset', 'an endless varint length prefix is not refused: B waits for it to end')
      assert.ok(during < 1_000, `B stalled for ${during.toFixed(0)} ms reading 256 KiB of varint continuation bytes`)
    } finally {
      await peer.stop()
    }
  })
})
