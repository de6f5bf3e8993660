/**
 * What the fuzz test's case modules share: the seeded random generator, bytes written by hand
 * (length prefixes, protobuf fields of any value), what a case is, the fixtures, and the
 * hostile framing that applies to every protocol with length-prefixed frames.
 */
import { randomBytes } from 'node:crypto'
import { decode as varintDecode, encode as varint, encodingLength } from 'uint8-varint'
import { concat, fromString } from 'uint8arrays'
import type { NameRecord } from '../../protocol/names/pb/names.ts'

export { CHAT_PKG, FT_PKG } from '../helpers.ts'
export const SMALL_SIZE = 1000
export const BIG_SIZE = 4 * 1024 * 1024 + 77

export function seedFromEnv (): number {
  const env = process.env.HWD_FUZZ_SEED
  if (env == null || env === '') return randomBytes(4).readUInt32BE(0)
  if (!/^\d+$/.test(env)) throw new Error(`HWD_FUZZ_SEED must be a whole number, not ${JSON.stringify(env)}`)
  return Number(env) >>> 0
}

/** mulberry32: small, fast, and the same sequence for the same seed everywhere. */
export class Rng {
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

export function lp (body: Uint8Array): Uint8Array {
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

export const field = {
  varint: (no: number, value: bigint | number): Uint8Array => concat([uvarint(no << 3), uvarint(value)]),
  bytes: (no: number, data: Uint8Array | string): Uint8Array => {
    const b = typeof data === 'string' ? fromString(data) : data
    return concat([uvarint((no << 3) | 2), uvarint(b.byteLength), b])
  },
  fixed64: (no: number, data: Uint8Array): Uint8Array => concat([uvarint((no << 3) | 1), data.subarray(0, 8)]),
  fixed32: (no: number, data: Uint8Array): Uint8Array => concat([uvarint((no << 3) | 5), data.subarray(0, 4)])
}

export function randomField (rng: Rng): Uint8Array {
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
export function splitFrame (bytes: Uint8Array): { body: Uint8Array, rest: Uint8Array } | undefined {
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

export interface Case {
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

export interface Fixtures {
  small: Uint8Array
  smallHash: Uint8Array
  /** small.txt's version in B's drive, as a download response names it */
  smallVersion: Uint8Array
  big: Uint8Array
  /** signed names records, good and bad, for announcements */
  records: Array<{ label: string, record: NameRecord }>
  /** the records B must take: valid signatures, names and addresses */
  valid: NameRecord[]
  /** names that valid records in the pool claim for our keys, so B must learn them */
  learnable: string[]
}

/** Hostile framing that applies to any protocol with length-prefixed protobuf frames. */
export function framingCase (rng: Rng, protocol: string, maxFrame: number, valid: () => Uint8Array, wrong: () => Uint8Array): Case {
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
      const seconds = {
        again: () => lp(valid()),
        'wrong type': () => lp(wrong()),
        junk: () => rng.bytes(1 + rng.size(512)),
        oversized: () => varint(maxFrame + 1 + rng.int(1000)),
        'extra fields': () => lp(concat([valid(), randomField(rng), randomField(rng)]))
      }
      const then = rng.pick(Object.keys(seconds) as Array<keyof typeof seconds>)
      return { protocol, kind: `valid, then ${then}`, frames: [first, seconds[then]()], ending: either() }
    }
    case 8: return { protocol, kind: 'wrong message type', frames: [lp(wrong())], ending: either() }
    case 9: return { protocol, kind: 'empty frames', frames: Array.from({ length: 1 + rng.int(5) }, () => Uint8Array.of(0)), ending: either() }
    case 10: return { protocol, kind: 'open, reset', frames: [], ending: 'reset' }
    case 11: return { protocol, kind: 'write, reset', frames: [lp(valid())], ending: 'reset' }
    case 12: return { protocol, kind: 'byte by byte', frames: [lp(valid())], drip: true, ending: 'close' }
    default: return { protocol, kind: 'unknown fields', frames: [lp(concat([randomField(rng), valid(), randomField(rng)]))], ending: either() }
  }
}
