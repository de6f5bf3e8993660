import '../../daemon/polyfill.ts'
/** Fuzz cases for file transfer: requests in and out of range, and probes whose replies are checked. */
import { concat, equals } from 'uint8arrays'
import { MAX_REQUEST_BYTES, PROTOCOL as FILES, Request, Response } from '../../protocol/file-transfer/index.ts'
import { BIG_SIZE, type Case, CHAT_PKG, field, type Fixtures, framingCase, FT_PKG, lp, type Rng, SMALL_SIZE, splitFrame } from './harness.ts'

const BAD_FILES = ['', '.', '..', '../identity.key', '../../identity.key', '../../../etc/passwd', 'a/b', 'a\\b', '/etc/passwd',
  'nul\0.txt', 'small.txt\0', 'x'.repeat(256), 'y'.repeat(300), '.hwd-partial-0123', '.hwd-partial-x.json', ' small.txt',
  'SMALL.TXT', 'é.bin', '\u202etxt.exe', '%2e%2e', 'names.json', 'hwd.sock', 'con', '.', '\n', 'missing.bin']
const DRIVES = [CHAT_PKG, FT_PKG, '', 'nope:x', `${CHAT_PKG}\0`, '../..', 'a'.repeat(300), `${CHAT_PKG}/../..`, 'CHAT-WITH-FILE-TRANSFER:TEMPLATE.OS', '__proto__', 'constructor']
const OFFSETS = [0n, 1n, 500n, 999n, 1000n, 1001n, 2n ** 31n, 2n ** 32n, 2n ** 53n + 1n, 2n ** 63n, 2n ** 64n - 1n]
/** the offsets a well-formed request carries: a JavaScript number holds them exactly */
const SAFE_OFFSETS = OFFSETS.filter(o => o <= BigInt(Number.MAX_SAFE_INTEGER)).map(Number)

export function validRequest (rng: Rng): Uint8Array {
  if (rng.chance(0.3)) return Request.encode({ kind: Request.Kind.LIST, drive: rng.pick([CHAT_PKG, FT_PKG]), file: '', offset: 0, ifVersion: new Uint8Array(0) })
  return Request.encode({ kind: Request.Kind.DOWNLOAD, drive: CHAT_PKG, file: rng.pick(['small.txt', 'big.bin', 'missing.bin']), offset: rng.pick(SAFE_OFFSETS), ifVersion: rng.bytes(rng.pick([0, 16])) })
}

function wrongForFiles (rng: Rng): Uint8Array {
  return Response.encode({ status: rng.pick([Response.Status.OK, Response.Status.BUSY]), reason: rng.text(rng.size(100)), size: rng.int(1e9), version: rng.bytes(16), files: [{ name: 'x', size: 1 }], offset: 0 })
}

/** A Request with fields anywhere in or out of range, written by hand so any enum value fits. */
function hostileRequest (rng: Rng, fx: Fixtures): Uint8Array {
  const parts: Uint8Array[] = []
  const kind = rng.pick([1, 1, 1, 0, 2, 5, 0x7fffffff, -1])
  if (kind !== 0) parts.push(field.varint(1, BigInt(kind)))
  parts.push(field.bytes(2, rng.chance(0.7) ? CHAT_PKG : rng.pick(DRIVES)))
  parts.push(field.bytes(3, rng.chance(0.25) ? rng.pick(['small.txt', 'big.bin']) : rng.chance(0.8) ? rng.pick(BAD_FILES) : rng.text(rng.size(300))))
  if (rng.chance(0.6)) parts.push(field.varint(4, rng.pick(OFFSETS)))
  if (rng.chance(0.5)) parts.push(field.bytes(5, rng.chance(0.5) ? fx.smallVersion : rng.bytes(rng.pick([1, 15, 16, 17, 32, 500, 900]))))
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
  switch (rng.int(5)) {
    case 0: return {
      ...base,
      kind: 'probe: list',
      frames: [lp(Request.encode({ kind: Request.Kind.LIST, drive: CHAT_PKG, file: '', offset: 0, ifVersion: new Uint8Array(0) }))],
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
        frames: [lp(Request.encode({ kind: Request.Kind.DOWNLOAD, drive: CHAT_PKG, file: 'small.txt', offset, ifVersion: (same ? fx.smallVersion : rng.bytes(16)) as Uint8Array<ArrayBuffer> }))],
        probe: reply => {
          const r = fileReply(reply)
          if (typeof r === 'string') return r
          const { response, body } = r
          if (response.status !== Response.Status.OK) return `DOWNLOAD at ${offset} answered ${response.status}: ${response.reason}`
          if (response.size !== SMALL_SIZE || !equals(response.version, fx.smallVersion)) return `wrong size or version: ${response.size}`
          if (response.offset !== expectOffset) return `asked from ${offset} (same version: ${same}), served from ${response.offset}`
          return equals(body, concat([fx.small.subarray(expectOffset), fx.smallHash])) ? undefined : `body of ${body.byteLength} bytes is not bytes ${expectOffset}.. of small.txt and its BLAKE3`
        }
      }
    }
    case 3: return {
      ...base,
      kind: 'probe: missing file',
      frames: [lp(Request.encode({ kind: Request.Kind.DOWNLOAD, drive: CHAT_PKG, file: 'missing.bin', offset: 0, ifVersion: new Uint8Array(0) }))],
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
        frames: [lp(Request.encode({ kind: Request.Kind.DOWNLOAD, drive: CHAT_PKG, file: name, offset: 0, ifVersion: new Uint8Array(0) }))],
        probe: reply => {
          const r = fileReply(reply)
          if (typeof r === 'string') return r
          return r.response.status === Response.Status.REFUSED ? undefined : `${JSON.stringify(name.slice(0, 20))} answered ${r.response.status}`
        }
      }
    }
  }
}

export function filesCase (rng: Rng, fx: Fixtures): Case {
  const r = rng.next()
  if (r < 0.12) return filesProbe(rng, fx)
  if (r < 0.45) {
    const request = hostileRequest(rng, fx)
    const frames = rng.chance(0.15) ? [lp(request), lp(request)] : [lp(request)]
    return { protocol: FILES, kind: 'hostile request', frames, ending: rng.chance(0.85) ? 'close' : 'keep', readLimit: 64 * 1024 }
  }
  if (r < 0.48) {
    // a request above MAX_REQUEST_BYTES, and not by its prefix alone
    const request = Request.encode({ kind: Request.Kind.DOWNLOAD, drive: CHAT_PKG, file: 'z'.repeat(MAX_REQUEST_BYTES), offset: 0, ifVersion: new Uint8Array(0) })
    return { protocol: FILES, kind: 'oversized request', frames: [lp(request)], ending: 'keep' }
  }
  const c = framingCase(rng, FILES, MAX_REQUEST_BYTES, () => validRequest(rng), () => wrongForFiles(rng))
  return { ...c, readLimit: 64 * 1024 }
}
