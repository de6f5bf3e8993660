/** Running fuzz cases on streams, and counting how the daemon took them. */
import { setTimeout as sleep } from 'node:timers/promises'
import type { Stream } from '@libp2p/interface'
import { concat } from 'uint8arrays'
import type { RawPeer } from '../raw-peer.ts'
import type { Case } from './harness.ts'

/** How long a stream left open by us may take to show a reaction before we reset it. */
const KEEP_WAIT_MS = 300
/** How long B may take to end a stream after we closed our side. */
const CLOSE_WAIT_MS = 5_000
/** A valid request mixed into the storm must be answered within this, storm or not. */
export const PROBE_WAIT_MS = 15_000

export interface Tally {
  streams: number
  frames: number
  bytes: number
  outcomes: Map<string, number>
  probes: number
  probesRefused: number
  probeFailures: string[]
}

export function newTally (): Tally {
  return { streams: 0, frames: 0, bytes: 0, outcomes: new Map(), probes: 0, probesRefused: 0, probeFailures: [] }
}

export function count (map: Map<string, number>, key: string): void {
  map.set(key, (map.get(key) ?? 0) + 1)
}

/** Open a stream, write the case, end it as the case says, and note how B reacted. Never throws. */
export async function runCase (peer: RawPeer, addr: string, c: Case, tally: Tally): Promise<void> {
  tally.streams++
  if (c.probe != null) tally.probes++
  let stream: Stream
  try {
    stream = await peer.open(addr, c.protocol)
  } catch {
    count(tally.outcomes, 'refused')
    if (c.probe != null) tally.probesRefused++
    return
  }
  const chunks: Uint8Array[] = []
  let received = 0
  let weAborted = false
  let remoteEnded = false
  const ended = new Promise<void>(resolve => {
    stream.addEventListener('close', () => { resolve() }, { once: true })
    stream.addEventListener('remoteCloseWrite', () => { remoteEnded = true; resolve() }, { once: true })
  })
  stream.addEventListener('message', evt => {
    const chunk = evt.data instanceof Uint8Array ? evt.data : evt.data.subarray()
    received += chunk.byteLength
    if (c.probe != null) chunks.push(chunk)
    if (c.readLimit != null && received >= c.readLimit && stream.status === 'open') { weAborted = true; stream.abort(new Error('fuzz: enough')) }
  })
  const abort = (why: string): void => { if (stream.status === 'open') { weAborted = true; stream.abort(new Error(`fuzz: ${why}`)) } }
  let outcome: string
  try {
    const writes = c.drip === true ? [...concat(c.frames)].map(b => Uint8Array.of(b)) : c.frames
    for (const w of writes) {
      tally.bytes += w.byteLength
      if (!stream.send(w)) await stream.onDrain({ signal: AbortSignal.timeout(CLOSE_WAIT_MS) })
    }
    tally.frames += c.frames.length
    if (c.ending === 'reset') {
      abort('reset')
      outcome = 'reset by us'
    } else {
      if (c.ending === 'close') await stream.close({ signal: AbortSignal.timeout(CLOSE_WAIT_MS) })
      const wait = c.probe != null ? PROBE_WAIT_MS : c.ending === 'close' ? CLOSE_WAIT_MS : KEEP_WAIT_MS
      const reacted = await Promise.race([ended.then(() => true), sleep(wait).then(() => false)])
      // a probe's reply is whole once B has closed its side; the stream closes with ours
      if (c.probe != null && reacted && stream.status === 'open' && !remoteEnded) await Promise.race([ended, sleep(PROBE_WAIT_MS)])
      const status = stream.status as string
      outcome = !reacted ? 'no reaction in time' : status === 'reset' ? 'reset by B' : received > 0 ? 'answered' : 'closed by B'
      if (weAborted && status !== 'reset') outcome = 'answered, cut by us'
    }
  } catch {
    // B reset the stream under our writes, or stopped reading: both are B's right
    outcome = stream.status === 'reset' ? 'reset by B while writing' : 'write failed'
  }
  count(tally.outcomes, outcome)
  if (c.probe != null) {
    const why = outcome === 'answered' || outcome === 'closed by B' ? judge(c.probe, concat(chunks)) : `no whole reply (${outcome}, ${received} bytes)`
    if (why != null) tally.probeFailures.push(`${c.kind}: ${why}`)
  }
  abort('done')
}

/** A probe's verdict on a reply; one it cannot even decode is wrong too. */
function judge (probe: (reply: Uint8Array) => string | undefined, reply: Uint8Array): string | undefined {
  try {
    return probe(reply)
  } catch (err: any) {
    return `an undecodable reply (${err.message})`
  }
}

/**
 * Run `cases` with `workers` in flight. `run` records every outcome in its tally and never
 * throws: if it does, that is a bug of the harness, and it fails the test.
 */
export async function runPool<T> (cases: T[], workers: number, run: (item: T, worker: number) => Promise<void>): Promise<void> {
  let next = 0
  await Promise.all(Array.from({ length: workers }, async (_, w) => {
    while (next < cases.length) {
      await run(cases[next++], w)
    }
  }))
}

export function summary (name: string, t: Tally): string {
  const by = (m: Map<string, number>): string => [...m].sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${v}`).join(', ')
  return `${name}: ${t.streams} ${name === 'control' ? 'connections' : 'streams'}, ${t.frames} frames, ${(t.bytes / 1e6).toFixed(1)} MB; ` +
    `valid requests ${t.probes - t.probesRefused - t.probeFailures.length}/${t.probes} answered right; outcomes: ${by(t.outcomes)}`
}
