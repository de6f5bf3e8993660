import '../daemon/polyfill.ts'
import assert from 'node:assert/strict'
import { rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { after, afterEach, describe, it } from 'node:test'
import { encode } from 'uint8-varint'
import { pbStream } from '@libp2p/utils'
import { request } from '../daemon/control-client.ts'
import { Ack, ChatMessage, MAX_IN_FLIGHT, PROTOCOL as CHAT } from '../protocol/chat/index.ts'
import { homePaths } from '../storage/home.ts'
import { assertQuotedSafely, connected, eventually, HOSTILE_REASON, knows, NO_SMALL_DISK, onSmallDisk, pair, stopAll, TestNode } from './helpers.ts'
import { closed, RawPeer } from './raw-peer.ts'

const SEND = 'send:chat-with-file-transfer:template.os'
const HISTORY = 'history:chat-with-file-transfer:template.os'

afterEach(stopAll)
after(stopAll)

describe('chat', () => {
  it('delivers a message, prints it on the receiver\'s terminal, and keeps it in both histories', async () => {
    const [a, b] = await pair()
    const text = 'héllo   wörld, 你好 👋'
    const sent = await a.run(SEND, 'fake2.dev', text)
    assert.equal(sent.code, 0, sent.stderr)
    assert.match(sent.stdout, /^delivered to fake2.dev \(acknowledged in [\d.]+ ms\)$/m)
    await b.waitForOutput(new RegExp(`^fake.dev: ${text}$`, 'm'))
    const typed = await b.run(SEND, 'fake.dev', 'and', 'back')
    assert.equal(typed.code, 0, typed.stderr)
    await a.waitForOutput(/^fake2.dev: and back$/m)
    for (const [node, other] of [[a, 'fake2.dev'], [b, 'fake.dev']] as const) {
      const h = await node.run(HISTORY, other)
      assert.equal(h.code, 0, h.stderr)
      const lines = h.stdout.trim().split('\n')
      assert.equal(lines.length, 2)
      assert.match(lines[0], new RegExp(`^\\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z fake.dev: ${text}$`))
      assert.match(lines[1], /Z fake2.dev: and back$/)
    }
  })

  it('delivers more messages sent at once than one stream carries unacknowledged', async () => {
    const [a, b] = await pair()
    const count = MAX_IN_FLIGHT + 16
    const sends = await Promise.allSettled(Array.from({ length: count }, async (_, i) => {
      await request(homePaths(a.home).socket, a.home, { op: 'run', argv: [SEND, 'fake2.dev', `burst ${i}`] }, {})
    }))
    assert.deepEqual(sends.flatMap(r => r.status === 'rejected' ? [String(r.reason)] : []), [])
    const h = await b.run(HISTORY, 'fake.dev', '--last', String(count))
    assert.equal(h.stdout.trim().split('\n').length, count)
  })

  it('keeps history across a restart and a kill -9 right after the acknowledgement', async () => {
    const [a, b] = await pair()
    const first = await a.run(SEND, 'fake2.dev', 'first')
    assert.equal(first.code, 0, first.stderr)
    await b.stop('SIGTERM')
    const b2 = await TestNode.start({ name: 'fake2.dev', home: b.home, peers: [a.addr] })
    await eventually('a reconnected', async () => connected(await a.status(), b2.peerId))
    const second = await a.run(SEND, 'fake2.dev', 'second')
    assert.equal(second.code, 0, second.stderr)
    await b2.stop('SIGKILL')
    await a.stop('SIGKILL')
    const a3 = await TestNode.start({ name: 'fake.dev', home: a.home })
    const b3 = await TestNode.start({ name: 'fake2.dev', home: b.home })
    for (const [node, other, author] of [[a3, 'fake2.dev', 'fake.dev'], [b3, 'fake.dev', 'fake.dev']] as const) {
      const h = await node.run(HISTORY, other)
      assert.equal(h.code, 0, h.stderr)
      assert.deepEqual(h.stdout.trim().split('\n').map(l => l.replace(/^\S+ /, '')), [`${author}: first`, `${author}: second`])
    }
  })

  it('fails fast, in one line, for an unknown node, an offline node and an oversized message', async () => {
    const [a, b] = await pair()
    const unknown = await a.run(SEND, 'nobody.dev', 'hi')
    assert.notEqual(unknown.code, 0)
    assert.equal(unknown.stderr, 'hwd: unknown node "nobody.dev"; known names: fake.dev, fake2.dev\n')
    const big = await a.run(SEND, 'fake2.dev', 'x'.repeat(64 * 1024 + 1))
    assert.notEqual(big.code, 0)
    assert.equal(big.stderr, 'hwd: the message is 65537 bytes; the limit is 65536\n')
    const max = await a.run(SEND, 'fake2.dev', 'y'.repeat(64 * 1024))
    assert.equal(max.code, 0, max.stderr)
    await b.stop()
    const offline = await a.run(SEND, 'fake2.dev', 'are you there?')
    assert.notEqual(offline.code, 0)
    assert.match(offline.stderr, /^hwd: fake2.dev is offline/)
    assert.equal(offline.stderr.split('\n').length, 2)
    assert.ok(offline.ms < 10_000, `took ${offline.ms} ms`)
    const h = await a.run(HISTORY, 'fake2.dev')
    assert.doesNotMatch(h.stdout, /are you there/, 'an undelivered message is not history')
  })

  it('marks a message the receiver could not store as not delivered, in a history that survives a restart', { skip: NO_SMALL_DISK }, async () => {
    await onSmallDisk('4m', async (mount, home) => {
      const b = await TestNode.start({ name: 'fake2.dev', home })
      const a = await TestNode.start({ name: 'fake.dev', peers: [b.addr] })
      await eventually('a knows fake2.dev', async () => knows(await a.status(), 'fake2.dev', b.peerId))
      const filler = join(mount, 'filler')
      await assert.rejects(writeFile(filler, Buffer.alloc(8 * 1024 * 1024)), { code: 'ENOSPC' })
      const refused = await a.run(SEND, 'fake2.dev', 'no room')
      assert.equal(refused.stderr, 'hwd: not delivered: the receiver could not store it (SQLITE_FULL)\n')
      await rm(filler)
      const sent = await a.run(SEND, 'fake2.dev', 'room again')
      assert.equal(sent.code, 0, sent.stderr)
      await a.stop('SIGKILL')
      const a2 = await TestNode.start({ name: 'fake.dev', home: a.home })
      const h = await a2.run(HISTORY, 'fake2.dev')
      assert.deepEqual(h.stdout.trim().split('\n').map(l => l.replace(/^\S+ /, '')),
        ['fake.dev: no room (not delivered: the receiver could not store it (SQLITE_FULL))', 'fake.dev: room again'])
      const hb = await b.run(HISTORY, 'fake.dev')
      assert.deepEqual(hb.stdout.trim().split('\n').map(l => l.replace(/^\S+ /, '')), ['fake.dev: room again'])
      await b.stop()
    })
  })

  it('quotes a hostile receiver\'s refusal on one line, in the error and in history', async () => {
    const a = await TestNode.start({ name: 'fake.dev' })
    const raw = await RawPeer.start()
    try {
      await raw.node.handle(CHAT, async stream => {
        const pb = pbStream(stream)
        await pb.read(ChatMessage)
        await pb.write({ status: Ack.Status.ERROR, reason: HOSTILE_REASON }, Ack)
        await stream.close()
      })
      await raw.claim(a, 'evil.dev')
      const refused = await a.run(SEND, 'evil.dev', 'hello')
      assert.notEqual(refused.code, 0)
      assertQuotedSafely(refused.stderr)
      const h = await a.run(HISTORY, 'evil.dev')
      assertQuotedSafely(h.stdout)
    } finally {
      await raw.stop()
    }
  })

  it('resets a stream of garbage or an oversized frame, and keeps serving', async () => {
    const [a, b] = await pair()
    const raw = await RawPeer.start()
    try {
      const oversized = await raw.open(b.addr, CHAT)
      oversized.send(encode(10 * 1024 * 1024))
      oversized.send(new Uint8Array(1024))
      assert.ok(await closed(oversized) != null, 'an oversized frame resets the stream')
      const garbage = await raw.open(b.addr, CHAT)
      garbage.send(Uint8Array.from([5, 0xff, 0xff, 0xff, 0xff, 0xff]))
      await closed(garbage)
      const silent = await raw.open(b.addr, CHAT)
      silent.send(Uint8Array.from([200]))
      await closed(silent, 15_000)
    } finally {
      await raw.stop()
    }
    const after = await a.run(SEND, 'fake2.dev', 'still there?')
    assert.equal(after.code, 0, after.stderr)
    await b.waitForOutput(/^fake.dev: still there\?$/m)
  })
})
