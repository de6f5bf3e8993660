import '../daemon/polyfill.ts'
/**
 * A relay's memory against two peers working together: a target that grants a huge Yamux
 * window and then stops reading (a process stopped with SIGSTOP), and a flooder that sends to
 * it through the relay as fast as it is let. An hwd relay holds the flooder's hop back while the
 * target's hop takes nothing (daemon/relay.ts, `holdWhileOtherHopFull`): the flooder stalls
 * after about the relay's own window, the relay's memory stays near where it was, and once the
 * target reads again the flooder is let go, and every byte it sent arrives.
 */
import assert from 'node:assert/strict'
import { setTimeout as delay } from 'node:timers/promises'
import { after, describe, it } from 'node:test'
import { noise } from '@chainsafe/libp2p-noise'
import { circuitRelayTransport } from '@libp2p/circuit-relay-v2'
import { identify } from '@libp2p/identify'
import { tcp } from '@libp2p/tcp'
import { yamux } from '@libp2p/yamux'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'
import type { Stream } from '@libp2p/interface'
import { readMemory } from '../scripts/bench/memory.ts'
import { FLOOD_PROTOCOL, FLOOD_WINDOW } from './flood-target.ts'
import { stopAll, TestNode } from './helpers.ts'
import { Holder, killHolders } from './relay-holder.ts'

const MIB = 1024 * 1024
/** The relay's own window for a stream (daemon/node.ts STREAM_WINDOW) and then some: sockets' buffers, the flooder's queue. */
const HELD_BACK = 64 * MIB
/** A flooder that the relay does not let send for this long has been held back. */
const STALL_MS = 2_000

/** Whether `stream` drains within `ms`. */
async function drains (stream: Stream, ms: number): Promise<boolean> {
  const drained = new Promise<boolean>(resolve => { stream.addEventListener('drain', () => { resolve(true) }, { once: true }) })
  return await Promise.race([drained, delay(ms, false)])
}

/** Send MiB after MiB until `total` is sent or the stream stops draining for STALL_MS; the bytes sent (a refused send is still queued). */
async function flood (stream: Stream, total: number): Promise<number> {
  const chunk = new Uint8Array(MIB)
  let sent = 0
  while (sent < total) {
    const more = stream.send(chunk)
    sent += MIB
    if (!more && !await drains(stream, STALL_MS)) return sent
  }
  return sent
}

describe('a relay\'s memory', () => {
  after(async () => {
    await killHolders()
    await stopAll()
  })

  it('a relay holds a sender back while the other hop takes nothing, and lets it go when it reads again', async t => {
    const relay = await TestNode.start({ name: 'r.dev', extra: ['--relay'] })
    const target = new Holder(relay)
    const flooder = await createLibp2p({
      transports: [tcp(), circuitRelayTransport()],
      connectionEncrypters: [noise()],
      streamMuxers: [yamux()],
      services: { identify: identify() }
    })
    try {
      const stream = await flooder.dialProtocol(multiaddr(await target.relayed()), FLOOD_PROTOCOL, { runOnLimitedConnection: true, signal: AbortSignal.timeout(10_000) })
      await target.line('granted')
      target.proc.kill('SIGSTOP')
      const before = (await readMemory(relay.pid)).rss
      const sent = await flood(stream, FLOOD_WINDOW)
      const grown = (await readMemory(relay.pid)).rss - before
      t.diagnostic(`the flooder sent ${sent / MIB} MiB; the relay grew by ${(grown / MIB).toFixed(1)} MiB`)
      assert.ok(sent <= HELD_BACK, `the flooder sent ${sent / MIB} MiB into a hop that takes nothing`)
      assert.ok(grown < HELD_BACK, `the relay grew by ${(grown / MIB).toFixed(1)} MiB`)
      target.proc.kill('SIGCONT')
      assert.ok(await drains(stream, 10_000), 'the flooder is let go once the target reads again')
      await stream.close()
      assert.equal(Number(await target.line('received')), sent, 'every byte sent arrives')
    } finally {
      await flooder.stop()
    }
  })
})
