import '../daemon/polyfill.ts'
/**
 * A relay's memory against two peers working together: a target that grants a huge Yamux
 * window and then stops reading (a process stopped with SIGSTOP), and a flooder that sends to
 * it through the relay as fast as it is let. An hwd relay holds the flooder's hop back while the
 * target's hop takes nothing (daemon/relay.ts, `holdWhileOtherHopFull`): the flooder stalls
 * after about the relay's own window, the relay's memory stays near where it was, and once the
 * target reads again the flooder is let go.
 */
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import { createInterface } from 'node:readline'
import { setTimeout as delay } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import { after, describe, it } from 'node:test'
import { noise } from '@chainsafe/libp2p-noise'
import { circuitRelayTransport } from '@libp2p/circuit-relay-v2'
import { identify } from '@libp2p/identify'
import { tcp } from '@libp2p/tcp'
import { yamux } from '@libp2p/yamux'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'
import type { Stream } from '@libp2p/interface'
import { FLOOD_PROTOCOL, FLOOD_WINDOW } from './flood-target.ts'
import { stopAll, TestNode } from './helpers.ts'

const TARGET = fileURLToPath(new URL('./flood-target.js', import.meta.url))
const MIB = 1024 * 1024
/** The relay's own window for a stream (daemon/node.ts STREAM_WINDOW) and then some: sockets' buffers, the flooder's queue. */
const HELD_BACK = 64 * MIB
/** A flooder that the relay does not let send for this long has been held back. */
const STALL_MS = 2_000

async function rss (pid: number): Promise<number> {
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(await readFile(`/proc/${pid}/status`, 'utf8'))
  if (m == null) throw new Error(`no VmRSS for ${pid}`)
  return Number(m[1]) * 1024
}

/** Whether `stream` drains within `ms`. */
async function drains (stream: Stream, ms: number): Promise<boolean> {
  const drained = new Promise<boolean>(resolve => { stream.addEventListener('drain', () => { resolve(true) }, { once: true }) })
  return await Promise.race([drained, delay(ms, false)])
}

/** Send MiB after MiB until `total` is sent or the stream stops draining for STALL_MS; the bytes sent. */
async function flood (stream: Stream, total: number): Promise<number> {
  const chunk = new Uint8Array(MIB)
  let sent = 0
  while (sent < total) {
    if (!stream.send(chunk) && !await drains(stream, STALL_MS)) return sent + MIB
    sent += MIB
  }
  return sent
}

describe('a relay\'s memory', () => {
  after(stopAll)

  it('a relay holds a sender back while the other hop takes nothing, and lets it go when it reads again', async t => {
    const relay = await TestNode.start({ name: 'r.dev', extra: ['--relay'] })
    const target = spawn(process.execPath, [TARGET, `${relay.addr}/p2p/${relay.peerId}`], { stdio: ['ignore', 'pipe', 'inherit'] })
    const lines = createInterface({ input: target.stdout! })
    const line = async (word: string): Promise<string> => await new Promise((resolve, reject) => {
      lines.on('line', l => { if (l.startsWith(word)) resolve(l.slice(word.length).trim()) })
      target.once('exit', code => { reject(new Error(`the target exited (${code}) before ${word}`)) })
    })
    const relayed = line('relayed')
    const granted = line('granted')
    const flooder = await createLibp2p({
      transports: [tcp(), circuitRelayTransport()],
      connectionEncrypters: [noise()],
      streamMuxers: [yamux()],
      services: { identify: identify() }
    })
    try {
      const stream = await flooder.dialProtocol(multiaddr(await relayed), FLOOD_PROTOCOL, { runOnLimitedConnection: true, signal: AbortSignal.timeout(10_000) })
      await granted
      target.kill('SIGSTOP')
      const before = await rss(relay.pid)
      const sent = await flood(stream, FLOOD_WINDOW)
      const grown = await rss(relay.pid) - before
      t.diagnostic(`the flooder sent ${sent / MIB} MiB; the relay grew by ${(grown / MIB).toFixed(1)} MiB`)
      assert.ok(sent <= HELD_BACK, `the flooder sent ${sent / MIB} MiB into a hop that takes nothing`)
      assert.ok(grown < HELD_BACK, `the relay grew by ${(grown / MIB).toFixed(1)} MiB`)
      target.kill('SIGCONT')
      assert.ok(await drains(stream, 10_000), 'the flooder is let go once the target reads again')
    } finally {
      target.kill('SIGKILL')
      await flooder.stop()
    }
  })
})
