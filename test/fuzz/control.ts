import '../../daemon/polyfill.ts'
/** Fuzz cases for the control socket: bytes, JSON of wrong types, odd commands, requests cut short. */
import { createConnection } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import { concat, fromString } from 'uint8arrays'
import { MAX_MESSAGE_BYTES } from '../../protocol/chat/index.ts'
import { CHAT_PKG, FT_PKG, type Rng } from './harness.ts'
import { count, PROBE_WAIT_MS, type Tally } from './run.ts'

interface ControlCase {
  kind: string
  writes: Array<string | Uint8Array>
  /** keep: wait for B to answer and close; end: half-close after writing; destroy: drop at once */
  end: 'keep' | 'end' | 'destroy'
  /** a whole request line: B must answer it with a final ok or error */
  expectReply: boolean
  drip?: boolean
}

const SAFE_ARGV: string[][] = [
  ['help'], ['names'], ['peers'], ['transfers'], ['help', 'extra'], ['nope'], [''], ['\0'], ['__proto__'], ['constructor'], ['toString'],
  ['cancel', 'nothing-here'], ['ping', 'nobody.dev'], ['ping', 'fake2.dev'], ['ping', '../../etc'], ['ping'],
  [`download:${CHAT_PKG}`, '../identity.key', 'fake.dev'], [`download:${CHAT_PKG}`, 'x'.repeat(300), 'fake.dev'],
  [`download:${CHAT_PKG}`, 'missing.bin', 'fake.dev'], [`download:${CHAT_PKG}`, 'small.txt', 'fake2.dev'], [`download:${FT_PKG}`, 'a', 'b', 'c'],
  [`list-files:${FT_PKG}`, 'nobody.dev'], [`list-files:${CHAT_PKG}`, 'fake.dev'], [`history:${CHAT_PKG}`, 'nobody.dev'], [`history:${CHAT_PKG}`, 'fake.dev'],
  [`send:${CHAT_PKG}`, 'nobody.dev', 'hi'], [`send:${CHAT_PKG}`, 'fake2.dev', 'to myself'], [`send:${CHAT_PKG}`, 'fake.dev', ''],
  [`send:${CHAT_PKG}`, 'fake.dev', 'y'.repeat(MAX_MESSAGE_BYTES + 1)], ['help', 'z'.repeat(50_000)]
]

function randomJson (rng: Rng, depth: number): unknown {
  switch (depth > 3 ? rng.int(5) : rng.int(7)) {
    case 0: return null
    case 1: return rng.pick([0, -1, 1e308, 2 ** 53 + 1, 0.5, NaN])
    case 2: return rng.text(rng.size(40))
    case 3: return rng.chance(0.5)
    case 4: return rng.pick(['run', 'status', 'RUN', 'op', '__proto__'])
    case 5: return Array.from({ length: rng.int(5) }, () => randomJson(rng, depth + 1))
    default: {
      const obj: Record<string, unknown> = {}
      for (let i = rng.int(4); i >= 0; i--) obj[rng.pick(['op', 'argv', 'status', 't', '__proto__', rng.text(3)])] = randomJson(rng, depth + 1)
      return obj
    }
  }
}

export function controlCase (rng: Rng): ControlCase {
  const line = (v: unknown): string => JSON.stringify(v) + '\n'
  switch (rng.int(15)) {
    case 0: return { kind: 'random bytes', writes: [concat([rng.bytes(1 + rng.size(3000)), fromString('\n')])], end: 'keep', expectReply: true }
    case 1: return { kind: 'random JSON', writes: [line(randomJson(rng, 0))], end: 'keep', expectReply: true }
    case 2: return {
      kind: 'wrong types',
      writes: [line(rng.pick<unknown>([
        { op: 'run', argv: 'help' }, { op: 'run', argv: [] }, { op: 'run', argv: [1, 2] }, { op: 'run' }, { op: ['run'] }, { op: 'run', argv: ['help', null] },
        { op: 'status', argv: 5 }, { op: 'STATUS' }, { op: null }, [], [{ op: 'status' }], 'status', 42, null, { argv: ['help'] }, { op: 'run', argv: { 0: 'help', length: 1 } }
      ]))],
      end: 'keep',
      expectReply: true
    }
    case 3:
    case 4: return { kind: 'odd command', writes: [line({ op: 'run', argv: rng.pick(SAFE_ARGV) })], end: 'keep', expectReply: true }
    case 5: return { kind: 'deep JSON', writes: ['['.repeat(30_000) + ']'.repeat(30_000) + '\n'], end: 'keep', expectReply: true }
    case 6: return { kind: 'no newline, end', writes: [JSON.stringify({ op: 'status' })], end: 'end', expectReply: false }
    case 7: return { kind: 'no newline, drop', writes: [rng.text(rng.size(500))], end: 'destroy', expectReply: false }
    case 8: return { kind: '100 KiB line', writes: [rng.chance(0.5) ? 'x'.repeat(100 * 1024) + '\n' : line({ op: 'run', argv: ['help', 'q'.repeat(100 * 1024)] })], end: 'keep', expectReply: true }
    case 9: return { kind: '100 KiB, no newline', writes: ['{' + 'w'.repeat(100 * 1024)], end: 'keep', expectReply: true }
    case 10: return { kind: 'two requests in one write', writes: [line({ op: 'status' }) + line({ op: 'run', argv: ['help'] })], end: 'keep', expectReply: true }
    case 11: return { kind: 'byte by byte', writes: [...line({ op: 'run', argv: [rng.pick(['names', 'peers', 'transfers'])] })], drip: true, end: 'keep', expectReply: true }
    case 12: return { kind: 'open, drop', writes: [], end: 'destroy', expectReply: false }
    case 13: return { kind: 'request, drop', writes: [line(rng.pick([{ op: 'status' }, { op: 'run', argv: ['peers'] }, { op: 'run', argv: [`list-files:${CHAT_PKG}`, 'fake.dev'] }]))], end: 'destroy', expectReply: false }
    default: return { kind: 'status', writes: [line({ op: 'status' })], end: 'keep', expectReply: true }
  }
}

/** One control-socket connection; a request that was due a reply and got none, or a wrong one, is a probe failure. */
export async function runControl (path: string, c: ControlCase, tally: Tally): Promise<void> {
  tally.streams++
  tally.frames += c.drip === true ? 1 : c.writes.length
  if (c.expectReply) tally.probes++
  const text = await new Promise<string | undefined>(resolve => {
    const socket = createConnection(path)
    let received = ''
    const timer = setTimeout(() => { socket.destroy(); resolve(undefined) }, PROBE_WAIT_MS)
    socket.setEncoding('utf8')
    socket.on('data', (d: string) => { received += d })
    socket.on('error', () => {})
    socket.on('close', () => { clearTimeout(timer); resolve(received) })
    socket.on('connect', () => {
      void (async () => {
        for (const w of c.writes) {
          if (socket.destroyed) break
          tally.bytes += typeof w === 'string' ? Buffer.byteLength(w) : w.byteLength
          socket.write(w)
          if (c.drip === true) await sleep(1)
        }
        if (c.end === 'end') socket.end()
        if (c.end === 'destroy') socket.destroy()
      })()
    })
  })
  if (text == null) {
    count(tally.outcomes, 'no close in time')
    if (c.expectReply) tally.probeFailures.push(`${c.kind}: no reply and no close within ${PROBE_WAIT_MS} ms`)
    return
  }
  const lines = text.split('\n').filter(l => l !== '')
  let final: string | undefined
  try {
    final = lines.map(l => JSON.parse(l) as { t: string }).at(-1)?.t
  } catch {
    tally.probeFailures.push(`${c.kind}: a reply line that is not JSON: ${text.slice(0, 200)}`)
    return
  }
  count(tally.outcomes, final ?? 'closed without reply')
  if (c.expectReply && final !== 'ok' && final !== 'error') tally.probeFailures.push(`${c.kind}: the reply ended without ok or error: ${JSON.stringify(text.slice(0, 200))}`)
}
