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
 */
import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { readdir, readFile, stat, writeFile } from 'node:fs/promises'
import { createConnection } from 'node:net'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { setTimeout as sleep } from 'node:timers/promises'
import { after, before, describe, it, type TestContext } from 'node:test'
import { generateKeyPairFromSeed, publicKeyToProtobuf } from '@libp2p/crypto/keys'
import type { PrivateKey, Stream } from '@libp2p/interface'
import { multiaddr } from '@multiformats/multiaddr'
import { decode as varintDecode, encode as varint, encodingLength } from 'uint8-varint'
import { concat, equals, fromString } from 'uint8arrays'
import { request as controlRequest } from '../daemon/control-client.ts'
import { Ack, ChatMessage, MAX_FRAME_BYTES, MAX_MESSAGE_BYTES, PROTOCOL as CHAT } from '../protocol/chat/index.ts'
import { MAX_REQUEST_BYTES, PROTOCOL as FILES, Request, Response } from '../protocol/file-transfer/index.ts'
import { MAX_ADDR_BYTES, MAX_ADDRS, MAX_ANNOUNCE_BYTES, MAX_RECORDS, SIGNING_DOMAIN } from '../protocol/names/constants.ts'
import { PROTOCOL as NAMES } from '../protocol/names/index.ts'
import { Announce, NameRecord } from '../protocol/names/names.ts'
import { homePaths } from '../storage/home.ts'
import { eventually, knows, stopAll, TestNode } from './helpers.ts'
import { closed, RawPeer } from './raw-peer.ts'

const CHAT_PKG = 'chat-with-file-transfer:template.os'
const FT_PKG = 'file-transfer:template.os'
const drive = (node: TestNode, pkg = CHAT_PKG): string => join(node.home, 'vfs', pkg, 'files')

/** Streams per protocol, and control-socket connections: a few thousand frames in all. */
const CASES = { files: 750, chat: 550, names: 240, control: 500 }
/** Storm connections to B; each protocol's workers are spread over them. */
const STORM_PEERS = 3
/**
 * Streams in flight per protocol, across the storm connections. B takes at most 4 chat and 4
 * names streams per connection at once (constants.ts): 6 over 3 connections stays under.
 */
const WORKERS = { files: 16, chat: 6, names: 6, control: 16 }
/** How long a stream left open by us may take to show a reaction before we reset it. */
const KEEP_WAIT_MS = 300
/** How long B may take to end a stream after we closed our side. */
const CLOSE_WAIT_MS = 5_000
/** A valid request mixed into the storm must be answered within this, storm or not. */
const PROBE_WAIT_MS = 15_000
/** B must time out a stream that says nothing within its own timeouts (10 s) and this slack. */
const IDLE_DEADLINE_MS = 25_000
const SMALL_SIZE = 1000
const BIG_SIZE = 4 * 1024 * 1024 + 77

const SEED = seedFromEnv()
console.log(`fuzz seed ${SEED} (replay with HWD_FUZZ_SEED=${SEED})`)

function seedFromEnv (): number {
  const env = process.env.HWD_FUZZ_SEED
  if (env == null || env === '') return randomBytes(4).readUInt32BE(0)
  if (!/^\d+$/.test(env)) throw new Error(`HWD_FUZZ_SEED must be a whole number, not ${JSON.stringify(env)}`)
  return Number(env) >>> 0
}

/** mulberry32: small, fast, and the same sequence for the same seed everywhere. */
class Rng {
  private state: number
  constructor (seed: number) { this.state = seed >>> 0 }

  next (): number {
    let t = (this.state = (this.state + 0x6d2b79f5) >>> 0)
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }

  /** an integer in [0, n) */
  int (n: number): number { return Math.floor(this.next() * n) }
  chance (p: number): boolean { return this.next() < p }
  pick<T> (items: readonly T[]): T { return items[this.int(items.length)] }
  /** a length in [0, max], most of them small */
  size (max: number): number { return Math.min(max, Math.floor((max + 1) ** this.next()) - 1 + this.int(2)) }

  bytes (n: number): Uint8Array<ArrayBuffer> {
    const out = new Uint8Array(n)
    for (let i = 0; i < n; i++) out[i] = this.int(256)
    return out
  }

  text (n: number): string {
    const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789 .-_/\\\n\t\0\x1b[31mé你👋\u202e%'
    let s = ''
    for (let i = 0; i < n; i++) s += alphabet[this.int(alphabet.length)]
    return s
  }
}

// ---------------------------------------------------------------------------------------------
// Bytes: length prefixes, and protobuf fields written by hand so any value can be expressed.

function lp (body: Uint8Array): Uint8Array {
  return concat([varint(body.byteLength), body])
}

/** An unsigned LEB128 varint of any size, for values uint8-varint will not encode (≥ 2^53). */
function uvarint (value: bigint | number): Uint8Array {
  let v = BigInt.asUintN(64, BigInt(value))
  const out: number[] = []
  while (v >= 0x80n) { out.push(Number(v & 0x7fn) | 0x80); v >>= 7n }
  out.push(Number(v))
  return Uint8Array.from(out)
}

const field = {
  varint: (no: number, value: bigint | number): Uint8Array => concat([uvarint(no << 3), uvarint(value)]),
  bytes: (no: number, data: Uint8Array | string): Uint8Array => {
    const b = typeof data === 'string' ? fromString(data) : data
    return concat([uvarint((no << 3) | 2), uvarint(b.byteLength), b])
  },
  fixed64: (no: number, data: Uint8Array): Uint8Array => concat([uvarint((no << 3) | 1), data.subarray(0, 8)]),
  fixed32: (no: number, data: Uint8Array): Uint8Array => concat([uvarint((no << 3) | 5), data.subarray(0, 4)])
}

function randomField (rng: Rng): Uint8Array {
  const no = rng.pick([1, 2, 3, 4, 5, 6, 7, 15, 16, 2047, 536870911])
  switch (rng.int(4)) {
    case 0: return field.varint(no, rng.pick([0n, 1n, 127n, 2n ** 32n, 2n ** 63n, 2n ** 64n - 1n]))
    case 1: return field.bytes(no, rng.bytes(rng.size(300)))
    case 2: return field.fixed64(no, rng.bytes(8))
    default: return field.fixed32(no, rng.bytes(4))
  }
}

/** A few random edits: flipped bits, changed, inserted and deleted bytes, a repeated slice. */
function mutate (rng: Rng, data: Uint8Array): Uint8Array {
  const out = Array.from(data)
  for (let n = 1 + rng.int(4); n > 0; n--) {
    const at = rng.int(out.length + 1)
    switch (rng.int(5)) {
      case 0: if (out.length > 0) out[at % out.length] ^= 1 << rng.int(8); break
      case 1: if (out.length > 0) out[at % out.length] = rng.int(256); break
      case 2: out.splice(at, 0, rng.int(256)); break
      case 3: out.splice(at, 1); break
      default: out.splice(at, 0, ...out.slice(at, at + 1 + rng.int(16)))
    }
  }
  return Uint8Array.from(out)
}

/** The first length-prefixed frame of `bytes` and what follows it, if it is all there. */
function splitFrame (bytes: Uint8Array): { body: Uint8Array, rest: Uint8Array } | undefined {
  let length: number
  try {
    length = varintDecode(bytes)
  } catch {
    return undefined
  }
  const start = encodingLength(length)
  if (bytes.byteLength < start + length) return undefined
  return { body: bytes.subarray(start, start + length), rest: bytes.subarray(start + length) }
}

// ---------------------------------------------------------------------------------------------
// Cases: what one stream carries, and how it ends.

/** close: we end our side and wait for B's; keep: we leave it open a moment; reset: at once. */
type Ending = 'close' | 'keep' | 'reset'

interface Case {
  protocol: string
  kind: string
  frames: Uint8Array[]
  ending: Ending
  /** write every byte on its own */
  drip?: boolean
  /** reset once this much has come back (a download we do not want whole) */
  readLimit?: number
  /** a valid exchange: the whole reply is checked, returning why it is wrong, if it is */
  probe?: (reply: Uint8Array) => string | undefined
}

interface Fixtures {
  small: Uint8Array
  smallSha: Uint8Array
  big: Uint8Array
  /** signed names records, good and bad, for announcements */
  records: Array<{ label: string, record: NameRecord }>
  /** the records B must take: valid signatures, names and addresses */
  valid: NameRecord[]
  /** names that valid records in the pool claim for our keys, so B must learn them */
  learnable: string[]
}

/** Hostile framing that applies to any protocol with length-prefixed protobuf frames. */
function framingCase (rng: Rng, protocol: string, maxFrame: number, valid: () => Uint8Array, wrong: () => Uint8Array): Case {
  const either = (): Ending => rng.chance(0.7) ? 'close' : 'keep'
  switch (rng.int(14)) {
    case 0: return { protocol, kind: 'random bytes', frames: [rng.bytes(1 + rng.size(4096))], ending: either() }
    case 1: return { protocol, kind: 'random body', frames: [lp(rng.bytes(rng.size(Math.min(maxFrame, 16 * 1024))))], ending: either() }
    case 2: {
      const length = rng.pick([maxFrame + 1, maxFrame * 2, 2 ** 31, 2 ** 32 + 5, Number.MAX_SAFE_INTEGER])
      const prefix = rng.chance(0.85) ? varint(length) : uvarint(rng.pick([2n ** 63n, 2n ** 64n - 1n]))
      return { protocol, kind: 'oversized prefix', frames: [concat([prefix, rng.bytes(rng.size(2048))])], ending: either() }
    }
    case 3: {
      const frame = lp(valid())
      return { protocol, kind: 'truncated frame', frames: [frame.subarray(0, 1 + rng.int(Math.max(1, frame.byteLength - 1)))], ending: 'close' }
    }
    case 4: {
      // a varint that does not end: up to 16 bytes with the continuation bit set
      const bytes = rng.bytes(1 + rng.int(rng.chance(0.7) ? 4 : 16)).map(b => b | 0x80)
      return { protocol, kind: 'truncated varint', frames: [bytes], ending: 'close' }
    }
    case 5: return { protocol, kind: 'mutated message', frames: [lp(mutate(rng, valid()))], ending: either() }
    case 6: return { protocol, kind: 'mutated frame', frames: [mutate(rng, lp(valid()))], ending: 'close' }
    case 7: {
      const first = lp(valid())
      const then = rng.pick(['again', 'wrong type', 'junk', 'oversized', 'extra fields'] as const)
      const second = then === 'again' ? lp(valid())
        : then === 'wrong type' ? lp(wrong())
          : then === 'junk' ? rng.bytes(1 + rng.size(512))
            : then === 'oversized' ? varint(maxFrame + 1 + rng.int(1000))
              : lp(concat([valid(), randomField(rng), randomField(rng)]))
      return { protocol, kind: `valid, then ${then}`, frames: [first, second], ending: either() }
    }
    case 8: return { protocol, kind: 'wrong message type', frames: [lp(wrong())], ending: either() }
    case 9: return { protocol, kind: 'empty frames', frames: Array.from({ length: 1 + rng.int(5) }, () => Uint8Array.of(0)), ending: either() }
    case 10: return { protocol, kind: 'open, reset', frames: [], ending: 'reset' }
    case 11: return { protocol, kind: 'write, reset', frames: [lp(valid())], ending: 'reset' }
    case 12: return { protocol, kind: 'byte by byte', frames: [lp(valid())], drip: true, ending: 'close' }
    default: return { protocol, kind: 'unknown fields', frames: [lp(concat([randomField(rng), valid(), randomField(rng)]))], ending: either() }
  }
}

// --- file transfer

const BAD_FILES = ['', '.', '..', '../identity.key', '../../identity.key', '../../../etc/passwd', 'a/b', 'a\\b', '/etc/passwd',
  'nul\0.txt', 'small.txt\0', 'x'.repeat(256), 'y'.repeat(300), '.hwd-partial-0123', '.hwd-partial-x.json', ' small.txt',
  'SMALL.TXT', 'é.bin', '\u202etxt.exe', '%2e%2e', 'names.json', 'hwd.sock', 'con', '.', '\n', 'missing.bin']
const DRIVES = [CHAT_PKG, FT_PKG, '', 'nope:x', `${CHAT_PKG}\0`, '../..', 'a'.repeat(300), `${CHAT_PKG}/../..`, 'CHAT-WITH-FILE-TRANSFER:TEMPLATE.OS', '__proto__', 'constructor']
const OFFSETS = [0n, 1n, 500n, 999n, 1000n, 1001n, 2n ** 32n, 2n ** 53n + 1n, 2n ** 63n, 2n ** 64n - 1n]

function validRequest (rng: Rng): Uint8Array {
  if (rng.chance(0.3)) return Request.encode({ kind: Request.Kind.LIST, drive: rng.pick([CHAT_PKG, FT_PKG]), file: '', offset: 0n, ifSha256: new Uint8Array(0) })
  return Request.encode({ kind: Request.Kind.DOWNLOAD, drive: CHAT_PKG, file: rng.pick(['small.txt', 'big.bin', 'missing.bin']), offset: rng.pick(OFFSETS), ifSha256: rng.bytes(rng.pick([0, 32])) })
}

function wrongForFiles (rng: Rng): Uint8Array {
  return Response.encode({ status: rng.pick([Response.Status.OK, Response.Status.BUSY]), reason: rng.text(rng.size(100)), size: BigInt(rng.int(1e9)), sha256: rng.bytes(32), files: [{ name: 'x', size: 1n }], offset: 0n })
}

/** A Request with fields anywhere in or out of range, written by hand so any enum value fits. */
function hostileRequest (rng: Rng, fx: Fixtures): Uint8Array {
  const parts: Uint8Array[] = []
  const kind = rng.pick([1, 1, 1, 0, 2, 5, 0x7fffffff, -1])
  if (kind !== 0) parts.push(field.varint(1, BigInt(kind)))
  parts.push(field.bytes(2, rng.chance(0.7) ? CHAT_PKG : rng.pick(DRIVES)))
  parts.push(field.bytes(3, rng.chance(0.25) ? rng.pick(['small.txt', 'big.bin']) : rng.chance(0.8) ? rng.pick(BAD_FILES) : rng.text(rng.size(300))))
  if (rng.chance(0.6)) parts.push(field.varint(4, rng.pick(OFFSETS)))
  if (rng.chance(0.5)) parts.push(field.bytes(5, rng.chance(0.5) ? fx.smallSha : rng.bytes(rng.pick([1, 31, 32, 33, 500, 900]))))
  if (rng.chance(0.15)) parts.push(parts[rng.int(parts.length)]) // a field twice
  if (rng.chance(0.1)) parts.push(field.varint(3, 7n)) // the file name with the wrong wire type
  for (let i = parts.length - 1; i > 0 && rng.chance(0.3); i--) { const j = rng.int(i + 1); [parts[i], parts[j]] = [parts[j], parts[i]] }
  return concat(parts)
}

/** Parse a whole file-transfer reply: the Response, and the body after it. */
function fileReply (reply: Uint8Array): { response: Response, body: Uint8Array } | string {
  const frame = splitFrame(reply)
  if (frame == null) return `no complete Response in ${reply.byteLength} bytes`
  try {
    return { response: Response.decode(frame.body), body: frame.rest }
  } catch (err: any) {
    return `undecodable Response: ${err.message}`
  }
}

function filesProbe (rng: Rng, fx: Fixtures): Case {
  const base = { protocol: FILES, ending: 'close' as const }
  const sha = (b: Uint8Array): Uint8Array => createHash('sha256').update(b).digest()
  switch (rng.int(5)) {
    case 0: return {
      ...base,
      kind: 'probe: list',
      frames: [lp(Request.encode({ kind: Request.Kind.LIST, drive: CHAT_PKG, file: '', offset: 0n, ifSha256: new Uint8Array(0) }))],
      probe: reply => {
        const r = fileReply(reply)
        if (typeof r === 'string') return r
        const files = r.response.files.map(f => `${f.name}=${f.size}`).join(',')
        return r.response.status === Response.Status.OK && files === `big.bin=${BIG_SIZE},small.txt=${SMALL_SIZE}` ? undefined : `LIST answered ${r.response.status} ${files}`
      }
    }
    case 1:
    case 2: {
      const offset = rng.chance(0.5) ? 0 : 1 + rng.int(SMALL_SIZE)
      const same = rng.chance(0.5)
      const expectOffset = offset > 0 && same ? offset : 0
      return {
        ...base,
        kind: 'probe: download small.txt',
        frames: [lp(Request.encode({ kind: Request.Kind.DOWNLOAD, drive: CHAT_PKG, file: 'small.txt', offset: BigInt(offset), ifSha256: (same ? fx.smallSha : sha(rng.bytes(8))) as Uint8Array<ArrayBuffer> }))],
        probe: reply => {
          const r = fileReply(reply)
          if (typeof r === 'string') return r
          const { response, body } = r
          if (response.status !== Response.Status.OK) return `DOWNLOAD at ${offset} answered ${response.status}: ${response.reason}`
          if (response.size !== BigInt(SMALL_SIZE) || !equals(response.sha256, fx.smallSha)) return `wrong size or hash: ${response.size}`
          if (response.offset !== BigInt(expectOffset)) return `asked from ${offset} (same hash: ${same}), served from ${response.offset}`
          return equals(body, fx.small.subarray(expectOffset)) ? undefined : `body of ${body.byteLength} bytes differs from bytes ${expectOffset}.. of small.txt`
        }
      }
    }
    case 3: return {
      ...base,
      kind: 'probe: missing file',
      frames: [lp(Request.encode({ kind: Request.Kind.DOWNLOAD, drive: CHAT_PKG, file: 'missing.bin', offset: 0n, ifSha256: new Uint8Array(0) }))],
      probe: reply => {
        const r = fileReply(reply)
        if (typeof r === 'string') return r
        return r.response.status === Response.Status.NOT_FOUND ? undefined : `missing file answered ${r.response.status}`
      }
    }
    default: {
      const name = rng.pick(['..', '../identity.key', 'a/b', 'nul\0.txt', 'x'.repeat(256)])
      return {
        ...base,
        kind: 'probe: bad name',
        frames: [lp(Request.encode({ kind: Request.Kind.DOWNLOAD, drive: CHAT_PKG, file: name, offset: 0n, ifSha256: new Uint8Array(0) }))],
        probe: reply => {
          const r = fileReply(reply)
          if (typeof r === 'string') return r
          return r.response.status === Response.Status.REFUSED ? undefined : `${JSON.stringify(name.slice(0, 20))} answered ${r.response.status}`
        }
      }
    }
  }
}

function filesCase (rng: Rng, fx: Fixtures): Case {
  const r = rng.next()
  if (r < 0.12) return filesProbe(rng, fx)
  if (r < 0.45) {
    const request = hostileRequest(rng, fx)
    const frames = rng.chance(0.15) ? [lp(request), lp(request)] : [lp(request)]
    return { protocol: FILES, kind: 'hostile request', frames, ending: rng.chance(0.85) ? 'close' : 'keep', readLimit: 64 * 1024 }
  }
  if (r < 0.48) {
    // a request above MAX_REQUEST_BYTES, and not by its prefix alone
    const request = Request.encode({ kind: Request.Kind.DOWNLOAD, drive: CHAT_PKG, file: 'z'.repeat(MAX_REQUEST_BYTES), offset: 0n, ifSha256: new Uint8Array(0) })
    return { protocol: FILES, kind: 'oversized request', frames: [lp(request)], ending: 'keep' }
  }
  const c = framingCase(rng, FILES, MAX_REQUEST_BYTES, () => validRequest(rng), () => wrongForFiles(rng))
  return { ...c, readLimit: 64 * 1024 }
}

// --- chat

function chatText (rng: Rng): Uint8Array {
  switch (rng.int(9)) {
    case 0: return new Uint8Array(0)
    case 1: return fromString('a'.repeat(MAX_MESSAGE_BYTES)) // the largest allowed
    case 2: return fromString('b'.repeat(MAX_MESSAGE_BYTES + 1))
    case 3: return fromString('é'.repeat(MAX_MESSAGE_BYTES / 2 + rng.int(2))) // two-byte characters at the limit
    case 4: return rng.bytes(rng.size(2000)) // anything, valid UTF-8 or not
    case 5: return Uint8Array.of(0xff, 0xfe, 0xc3, 0x28, 0xed, 0xa0, 0x80, 0xf4, 0x90, 0x80, 0x80) // invalid UTF-8, a surrogate, > U+10FFFF
    default: return fromString(rng.text(1 + rng.size(200)))
  }
}

function hostileChat (rng: Rng): Uint8Array {
  const parts: Uint8Array[] = []
  if (rng.chance(0.9)) parts.push(field.bytes(1, chatText(rng)))
  if (rng.chance(0.8)) parts.push(field.varint(2, rng.pick([0n, BigInt(Date.now()), 2n ** 53n, 2n ** 63n, 2n ** 64n - 1n])))
  if (rng.chance(0.1)) parts.push(field.varint(1, 12345n)) // text with the wrong wire type
  if (rng.chance(0.1)) parts.push(field.bytes(2, rng.bytes(8))) // sent_at with the wrong wire type
  if (rng.chance(0.1)) parts.push(randomField(rng))
  return concat(parts)
}

function validChat (rng: Rng): Uint8Array {
  return ChatMessage.encode({ text: rng.text(1 + rng.size(100)), sentAt: BigInt(Date.now()) })
}

function chatProbe (rng: Rng): Case {
  const texts = Array.from({ length: 1 + rng.int(6) }, () => rng.pick(['ok', 'ok', 'ok', 'empty', 'too large']))
  const body = (t: string): string => t === 'ok' ? `fuzz probe ${rng.int(1e9)}` : t === 'empty' ? '' : 'x'.repeat(MAX_MESSAGE_BYTES + 1)
  return {
    protocol: CHAT,
    kind: 'probe: messages',
    frames: texts.map(t => lp(ChatMessage.encode({ text: body(t), sentAt: BigInt(Date.now()) }))),
    ending: 'close',
    probe: reply => {
      const statuses: string[] = []
      for (let rest = reply; rest.byteLength > 0;) {
        const frame = splitFrame(rest)
        if (frame == null) return `a partial Ack after ${statuses.length}`
        statuses.push(Ack.decode(frame.body).status)
        rest = frame.rest
      }
      const expected = texts.map(t => t === 'ok' ? Ack.Status.OK : Ack.Status.TOO_LARGE)
      return statuses.join(',') === expected.join(',') ? undefined : `sent ${texts.join(',')}, acknowledged ${statuses.join(',') || 'nothing'}`
    }
  }
}

function chatCase (rng: Rng): Case {
  const r = rng.next()
  if (r < 0.1) return chatProbe(rng)
  if (r < 0.4) {
    const frames = Array.from({ length: 1 + rng.int(rng.chance(0.2) ? 80 : 4) }, () => lp(hostileChat(rng)))
    return { protocol: CHAT, kind: 'hostile messages', frames, ending: rng.chance(0.8) ? 'close' : 'keep' }
  }
  if (r < 0.45) {
    // 70 KiB of text: a frame above MAX_FRAME_BYTES
    const text = rng.text(70 * 1024)
    return { protocol: CHAT, kind: '70 KiB message', frames: [lp(ChatMessage.encode({ text, sentAt: 1n }))], ending: 'keep' }
  }
  return framingCase(rng, CHAT, MAX_FRAME_BYTES, () => validChat(rng), () => Ack.encode({ status: rng.pick([Ack.Status.OK, Ack.Status.ERROR]), reason: rng.text(rng.size(50)) }))
}

// --- names

async function sign (key: PrivateKey, record: NameRecord): Promise<NameRecord> {
  const unsigned = NameRecord.encode({ ...record, signature: new Uint8Array(0) })
  const signature = await key.sign(concat([fromString(SIGNING_DOMAIN), unsigned]))
  return { ...record, signature: signature as Uint8Array<ArrayBuffer> }
}

/** Name records good and bad, signed with keys made from the seed (Ed25519 signing is deterministic). */
async function makeRecords (rng: Rng): Promise<Pick<Fixtures, 'records' | 'valid' | 'learnable'>> {
  const keys = await Promise.all(Array.from({ length: 6 }, async () => await generateKeyPairFromSeed('Ed25519', rng.bytes(32))))
  const pub = (k: PrivateKey): Uint8Array<ArrayBuffer> => publicKeyToProtobuf(k.publicKey) as Uint8Array<ArrayBuffer>
  const addr = (s: string): Uint8Array<ArrayBuffer> => multiaddr(s).bytes as Uint8Array<ArrayBuffer>
  const goodAddrs = ['/ip4/127.0.0.1/tcp/1', '/ip4/0.0.0.0/tcp/0', '/ip6/::1/tcp/65535', '/dns4/localhost/tcp/9', '/ip4/10.0.0.1/tcp/4001/ws']
  const tag = SEED.toString(36)
  const learnable: string[] = []
  const records: Fixtures['records'] = []
  const add = async (label: string, key: PrivateKey, fields: Partial<NameRecord>, after?: (r: NameRecord) => NameRecord): Promise<void> => {
    const signed = await sign(key, { name: 'x.dev', publicKey: pub(key), addrs: [], seq: 1n, signature: new Uint8Array(0), ...fields })
    records.push({ label, record: after != null ? after(signed) : signed })
  }
  for (let i = 0; i < keys.length; i++) {
    const name = `fuzz-${tag}-${i}.dev`
    learnable.push(name)
    await add('valid', keys[i], { name, addrs: [addr(rng.pick(goodAddrs))], seq: 1n })
    await add('valid, newer', keys[i], { name, addrs: goodAddrs.map(addr), seq: BigInt(Date.now()) })
    await add('valid, seq 2^64-1', keys[i], { name: `max-${tag}-${i}.dev`, seq: 2n ** 64n - 1n })
    learnable.push(`max-${tag}-${i}.dev`)
    await add('a name held by another key', keys[(i + 1) % keys.length], { name })
  }
  const k = keys[0]
  for (const name of ['fake.dev', 'fake2.dev']) await add(`claims ${name}`, k, { name, addrs: [addr('/ip4/127.0.0.1/tcp/1')] })
  for (const name of ['', 'UPPER.dev', 'a'.repeat(254), 'nul\0.dev', '..', '-a.dev', 'a..b', 'é.dev', 'x'.repeat(300), 'sp ace.dev', 'a'.repeat(64) + '.dev', '.dev', 'dev.']) {
    await add('invalid name', k, { name })
  }
  await add('17 addresses', k, { name: `many-${tag}.dev`, addrs: Array.from({ length: MAX_ADDRS + 1 }, () => addr('/ip4/127.0.0.1/tcp/1')) })
  await add('an address too long', k, { name: `long-${tag}.dev`, addrs: [new Uint8Array(MAX_ADDR_BYTES + 1).fill(4)] })
  for (let i = 0; i < 4; i++) await add('a garbage address', k, { name: `junk-${tag}-${i}.dev`, addrs: [rng.bytes(1 + rng.int(40))] })
  await add('random signature', k, { name: `sig-${tag}.dev` }, r => ({ ...r, signature: rng.bytes(64) }))
  await add('empty signature', k, { name: `sig-${tag}.dev` }, r => ({ ...r, signature: new Uint8Array(0) }))
  await add('renamed after signing', k, { name: `before-${tag}.dev` }, r => ({ ...r, name: `after-${tag}.dev` }))
  await add('another key\'s signature', keys[1], { name: `other-${tag}.dev` }, r => ({ ...r, publicKey: pub(k) }))
  const keyBytes: Array<[string, Uint8Array<ArrayBuffer>]> = [
    ['empty key', new Uint8Array(0)],
    ['garbage key', rng.bytes(36)],
    ['unknown key type', concat([field.varint(1, 9n), field.bytes(2, rng.bytes(32))]) as Uint8Array<ArrayBuffer>],
    ['RSA key of garbage', concat([field.varint(1, 0n), field.bytes(2, rng.bytes(300))]) as Uint8Array<ArrayBuffer>],
    ['secp256k1 key of garbage', concat([field.varint(1, 2n), field.bytes(2, rng.bytes(33))]) as Uint8Array<ArrayBuffer>],
    ['ECDSA key of garbage', concat([field.varint(1, 3n), field.bytes(2, rng.bytes(91))]) as Uint8Array<ArrayBuffer>],
    ['Ed25519 key of 31 bytes', concat([field.varint(1, 1n), field.bytes(2, rng.bytes(31))]) as Uint8Array<ArrayBuffer>]
  ]
  for (const [label, bytes] of keyBytes) await add(label, k, { name: `key-${tag}.dev` }, r => ({ ...r, publicKey: bytes }))
  return { records, learnable, valid: records.filter(r => r.label.startsWith('valid')).map(r => r.record) }
}

function announce (rng: Rng, fx: Fixtures, n: number): Uint8Array {
  return Announce.encode({ records: Array.from({ length: n }, () => rng.pick(fx.records).record) })
}

/** An announcement of valid records: B reads it, closes, and learns the names. */
function namesProbe (rng: Rng, fx: Fixtures, all: boolean): Case {
  const records = all ? fx.valid : Array.from({ length: 1 + rng.int(3) }, () => rng.pick(fx.valid))
  return {
    protocol: NAMES,
    kind: 'probe: valid records',
    frames: [lp(Announce.encode({ records }))],
    ending: 'close',
    probe: reply => reply.byteLength === 0 ? undefined : `B answered an announcement with ${reply.byteLength} bytes`
  }
}

function namesCase (rng: Rng, fx: Fixtures): Case {
  const r = rng.next()
  if (r < 0.05) return namesProbe(rng, fx, false)
  if (r < 0.3) return { protocol: NAMES, kind: 'hostile records', frames: [lp(announce(rng, fx, 1 + rng.int(6)))], ending: rng.chance(0.85) ? 'close' : 'keep' }
  if (r < 0.33) return { protocol: NAMES, kind: `${MAX_RECORDS} records`, frames: [lp(announce(rng, fx, MAX_RECORDS))], ending: 'close' }
  if (r < 0.36) return { protocol: NAMES, kind: `${MAX_RECORDS + 1} records`, frames: [lp(announce(rng, fx, MAX_RECORDS + 1))], ending: 'close' }
  if (r < 0.4) {
    // records of random bytes, and records whose fields have the wrong wire types
    const records = Array.from({ length: 1 + rng.int(20) }, () => rng.chance(0.5) ? rng.bytes(rng.size(200)) : concat([field.varint(1, 5n), field.varint(2, 7n), field.bytes(4, rng.bytes(9))]))
    return { protocol: NAMES, kind: 'garbage records', frames: [lp(concat(records.map(b => field.bytes(1, b))))], ending: 'close' }
  }
  if (r < 0.42) {
    // within MAX_ANNOUNCE_BYTES, but a million empty addresses in one record
    const addrs = new Uint8Array(Math.floor(MAX_ANNOUNCE_BYTES / 2) - 100)
    for (let i = 0; i < addrs.byteLength; i += 2) addrs[i] = (3 << 3) | 2
    const record = concat([field.bytes(1, 'addr-bomb.dev'), addrs])
    return { protocol: NAMES, kind: 'half a million addresses', frames: [lp(field.bytes(1, record))], ending: 'close' }
  }
  return framingCase(rng, NAMES, MAX_ANNOUNCE_BYTES, () => announce(rng, fx, 1 + rng.int(3)), () => NameRecord.encode(rng.pick(fx.records).record))
}

// ---------------------------------------------------------------------------------------------
// Running cases.

interface Tally {
  streams: number
  frames: number
  bytes: number
  outcomes: Map<string, number>
  probes: number
  probesRefused: number
  probeFailures: string[]
}

function newTally (): Tally {
  return { streams: 0, frames: 0, bytes: 0, outcomes: new Map(), probes: 0, probesRefused: 0, probeFailures: [] }
}

function count (map: Map<string, number>, key: string): void {
  map.set(key, (map.get(key) ?? 0) + 1)
}

/** Open a stream, write the case, end it as the case says, and note how B reacted. Never throws. */
async function runCase (peer: RawPeer, addr: string, c: Case, tally: Tally): Promise<void> {
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
    const why = outcome === 'answered' || outcome === 'closed by B' ? c.probe(concat(chunks)) : `no whole reply (${outcome}, ${received} bytes)`
    if (why != null) tally.probeFailures.push(`${c.kind}: ${why}`)
  }
  abort('done')
}

/** Run `cases` with `workers` in flight; worker i uses peers[i % peers.length]. */
async function runPool<T> (cases: T[], workers: number, run: (item: T, worker: number) => Promise<void>): Promise<void> {
  let next = 0
  await Promise.all(Array.from({ length: workers }, async (_, w) => {
    while (next < cases.length) {
      const item = cases[next++]
      try {
        await run(item, w)
      } catch {
        // a case never stops the storm
      }
    }
  }))
}

// ---------------------------------------------------------------------------------------------
// The control socket.

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

function controlCase (rng: Rng): ControlCase {
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
async function runControl (path: string, c: ControlCase, tally: Tally): Promise<void> {
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

// ---------------------------------------------------------------------------------------------
// The daemon's process.

function fdCount (pid: number): Promise<number> {
  return readdir(`/proc/${pid}/fd`).then(list => list.length)
}

async function rssMb (pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8')
  return Number(/^VmRSS:\s+(\d+) kB$/m.exec(status)?.[1] ?? 0) / 1024
}

function summary (name: string, t: Tally): string {
  const by = (m: Map<string, number>): string => [...m].sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${v}`).join(', ')
  return `${name}: ${t.streams} ${name === 'control' ? 'connections' : 'streams'}, ${t.frames} frames, ${(t.bytes / 1e6).toFixed(1)} MB; ` +
    `valid requests ${t.probes - t.probesRefused - t.probeFailures.length}/${t.probes} answered right; outcomes: ${by(t.outcomes)}`
}

/** The milliseconds B takes to answer `status` on its control socket, as `hwd status` would ask. */
async function statusLatency (node: TestNode): Promise<number> {
  const started = performance.now()
  await controlRequest(homePaths(node.home).socket, node.home, { op: 'status' }, {})
  return performance.now() - started
}

function alive (node: TestNode): boolean {
  return node.proc.exitCode == null && node.proc.signalCode == null
}

// ---------------------------------------------------------------------------------------------

describe('fuzz', () => {
  let a: TestNode
  let b: TestNode
  const fx = {} as Fixtures

  before(async () => {
    a = await TestNode.start({ name: 'fake.dev' })
    b = await TestNode.start({ name: 'fake2.dev', peers: [a.addr] })
    await eventually('names exchanged', async () => knows(await a.status(), 'fake2.dev', b.peerId) && knows(await b.status(), 'fake.dev', a.peerId))
    fx.small = randomBytes(SMALL_SIZE)
    fx.smallSha = createHash('sha256').update(fx.small).digest()
    fx.big = randomBytes(BIG_SIZE)
    await writeFile(join(drive(b), 'small.txt'), fx.small)
    await writeFile(join(drive(b), 'big.bin'), fx.big)
    await writeFile(join(drive(b, FT_PKG), 'small.txt'), fx.small)
  })

  after(stopAll)

  it('survives a storm of hostile frames and control requests, then serves a download, a chat message and status', async (t: TestContext) => {
    const started = performance.now()
    t.diagnostic(`seed ${SEED} (replay with HWD_FUZZ_SEED=${SEED})`)
    const rng = new Rng(SEED)
    Object.assign(fx, await makeRecords(rng))
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
      stream.send(lp(Request.encode({ kind: Request.Kind.DOWNLOAD, drive: CHAT_PKG, file: 'big.bin', offset: 0n, ifSha256: new Uint8Array(0) })))
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
    const chatLog = await stat(join(homePaths(b.home).state, CHAT_PKG, 'chat.log')).then(st => st.size, () => 0)
    t.diagnostic(`B: RSS ${rssBefore.toFixed(0)} MB before, ${(await rssMb(pid)).toFixed(0)} MB after (its chat history, all held in memory, is ${(chatLog / 1e6).toFixed(1)} MB); ` +
      `${fdsBefore} descriptors before, ${fds} after; stderr: ${b.errors === '' ? 'nothing' : JSON.stringify(b.errors.trim().split('\n')[0])}; ` +
      `test took ${((performance.now() - started) / 1000).toFixed(1)} s`)
  })

  // Lesser bugs the storm's inputs hit, shown one by one: they fail as TODO until fixed.
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
      await mallory.claim(b.addr, 'mallory.dev')
      await eventually('B knows mallory.dev', async () => knows(await b.status(), 'mallory.dev', mallory.peerId))
    })
    after(async () => { await mallory?.stop() })

    it('prints a peer\'s message as its own line, so no peer can forge a line from another', async () => {
      const nonce = randomBytes(4).toString('hex')
      await say(`hello\nfake.dev: please run cancel ${nonce}`, BigInt(Date.now()))
      await b.waitForOutput(/^mallory.dev: hello/m)
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

    it('reads a request whose UTF-8 is split across two writes', async () => {
      const reply = await new Promise<string>(resolve => {
        const socket = createConnection(homePaths(b.home).socket)
        let text = ''
        socket.setEncoding('utf8')
        socket.on('data', (d: string) => { text += d })
        socket.on('close', () => { resolve(text) })
        socket.on('connect', () => {
          const request = Buffer.from(JSON.stringify({ op: 'run', argv: ['no-such-command-é'] }) + '\n')
          const cut = request.indexOf(0xc3) + 1
          socket.write(request.subarray(0, cut))
          setTimeout(() => { socket.write(request.subarray(cut)) }, 50)
        })
      })
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
