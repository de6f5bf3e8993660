import '../daemon/polyfill.ts'
/**
 * A requester of the file-transfer protocol, and a peer of the names protocol, written from their specs alone (the comment at the top
 * of protocol/file-transfer/index.ts, of protocol/names/index.ts) and the .protos: a stock js-libp2p node, the protons codec,
 * varint length prefixes and BLAKE3 from @noble/hashes, nothing of hwd's own stream handling.
 * Each check is a sentence of the spec; a spec that leaves something out fails one here.
 */
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdir, symlink, truncate, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { blake3 } from '@noble/hashes/blake3.js'
import { decode, encode, encodingLength } from 'uint8-varint'
import { concat } from 'uint8arrays'
import type { Stream } from '@libp2p/interface'
import { generateKeyPair, publicKeyToProtobuf } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { fromString } from 'uint8arrays'
import { Request, Response } from '../protocol/file-transfer/pb/file-transfer.ts'
import { Announce, NameRecord, Receipt } from '../protocol/names/pb/names.ts'
import { drive, eventually, FT_PKG, knows, stopAll, tempHome, TestNode } from './helpers.ts'
import { RawPeer } from './raw-peer.ts'

const PROTOCOL = '/hwd/file-transfer/3.0.0'
const VERSION_BYTES = 16
const TRAILER_BYTES = 32
const MAX_UPLOADS_PER_PEER = 16

interface Exchange {
  response: Response
  /** what followed the response header: body and trailer */
  rest: Uint8Array
  /** the stream ended in a reset rather than a clean close */
  reset: boolean
}

function frame (message: Uint8Array): Uint8Array {
  return concat([encode(message.byteLength), message])
}

function download (file: string, offset = 0, ifVersion = new Uint8Array(0), driveId = FT_PKG): Request {
  return { kind: Request.Kind.DOWNLOAD, drive: driveId, file, offset, ifVersion }
}

/** Everything the server sends until the stream ends, and how it ended. */
async function readAll (stream: Stream): Promise<{ bytes: Uint8Array, reset: boolean }> {
  const chunks: Uint8Array[] = []
  try {
    for await (const chunk of stream) chunks.push(chunk instanceof Uint8Array ? chunk : chunk.subarray())
    return { bytes: concat(chunks), reset: stream.status === 'reset' || stream.status === 'aborted' }
  } catch {
    return { bytes: concat(chunks), reset: true }
  }
}

function parse (bytes: Uint8Array): { response: Response, rest: Uint8Array } {
  const length = decode(bytes)
  const start = encodingLength(length)
  return { response: Response.decode(bytes.subarray(start, start + length)), rest: bytes.subarray(start + length) }
}

describe('a requester written from the file-transfer spec alone', () => {
  let server: TestNode
  let client: RawPeer
  const data = randomBytes(300_000)

  /** One exchange on a stream of its own: the request (or raw bytes) written, the write side closed. */
  async function exchange (request: Request | Uint8Array): Promise<Exchange> {
    const stream = await client.open(server.addr, PROTOCOL)
    stream.send(request instanceof Uint8Array ? request : frame(Request.encode(request)))
    await stream.close()
    const { bytes, reset } = await readAll(stream)
    if (bytes.byteLength === 0) return { response: undefined as unknown as Response, rest: bytes, reset }
    return { ...parse(bytes), reset }
  }

  before(async () => {
    server = await TestNode.start({ name: 'fake.dev' })
    client = await RawPeer.start()
    const files = drive(server, FT_PKG)
    await writeFile(join(files, 'data.bin'), data)
    await writeFile(join(files, 'empty.txt'), '')
    await mkdir(join(files, 'folder'))
    execFileSync('mkfifo', [join(files, 'pipe')])
    await symlink(join(files, 'data.bin'), join(files, 'alias.bin'))
    const outside = join(await tempHome(), 'secret.txt')
    await writeFile(outside, 'secret')
    await symlink(outside, join(files, 'escape.txt'))
    await symlink(join(files, 'gone'), join(files, 'dangling'))
    await writeFile(join(files, '.hwd-partial-0123'), 'partial')
    await writeFile(join(files, 'line\nbreak.txt'), 'x')
  })
  after(async () => { await client.stop(); await stopAll() })

  it('LIST: regular files and symlinks to them inside the drive, sorted, with sizes; nothing else', async () => {
    const { response, rest, reset } = await exchange({ kind: Request.Kind.LIST, drive: FT_PKG, file: '', offset: 0, ifVersion: new Uint8Array(0) })
    assert.equal(response.status, Response.Status.OK)
    assert.deepEqual(response.files, [{ name: 'alias.bin', size: data.byteLength }, { name: 'data.bin', size: data.byteLength }, { name: 'empty.txt', size: 0 }])
    assert.equal(rest.byteLength, 0)
    assert.equal(reset, false)
  })

  it('DOWNLOAD: header, the raw bytes, 32 bytes of BLAKE3 of the whole file, then a clean close', async () => {
    const { response, rest, reset } = await exchange(download('data.bin'))
    assert.equal(response.status, Response.Status.OK)
    assert.equal(response.size, data.byteLength)
    assert.equal(response.version.byteLength, VERSION_BYTES)
    assert.equal(response.offset, 0)
    assert.equal(rest.byteLength, data.byteLength + TRAILER_BYTES)
    assert.deepEqual(rest.subarray(0, data.byteLength), new Uint8Array(data))
    assert.deepEqual(rest.subarray(data.byteLength), blake3(data))
    assert.equal(reset, false)
    const empty = await exchange(download('empty.txt'))
    assert.deepEqual(empty.rest, blake3(new Uint8Array(0)), 'an empty file: the trailer alone')
  })

  it('resumes from an offset given the current version, and sends it whole given anything else', async () => {
    const { response: first } = await exchange(download('data.bin'))
    const resumed = await exchange(download('data.bin', 1000, first.version))
    assert.equal(resumed.response.offset, 1000)
    assert.deepEqual(resumed.rest, concat([data.subarray(1000), blake3(data)]), 'the trailer hashes the whole file')
    const atEnd = await exchange(download('data.bin', data.byteLength, first.version))
    assert.equal(atEnd.response.offset, data.byteLength)
    assert.deepEqual(atEnd.rest, blake3(data))
    const whole = concat([data, blake3(data)])
    for (const [what, offset, version] of [
      ['an empty if_version', 1000, new Uint8Array(0)],
      ['a stale if_version', 1000, randomBytes(VERSION_BYTES)],
      ['an if_version of the wrong length', 1000, first.version.subarray(0, 3)],
      ['an offset past the end', data.byteLength + 1, first.version]
    ] as Array<[string, number, Uint8Array]>) {
      const r = await exchange(download('data.bin', offset, new Uint8Array(version)))
      assert.equal(r.response.offset, 0, what)
      assert.deepEqual(r.rest, whole, what)
    }
  })

  it('keeps a version across restarts of the server, and changes it when the file is written', async () => {
    const { response: before } = await exchange(download('data.bin'))
    await server.stop()
    server = await TestNode.start({ name: 'fake.dev', home: server.home })
    const { response: again } = await exchange(download('data.bin'))
    assert.deepEqual(again.version, before.version)
    await writeFile(join(drive(server, FT_PKG), 'data.bin'), data)
    const { response: changed } = await exchange(download('data.bin'))
    assert.notDeepEqual(changed.version, before.version)
  })

  it('answers a status that is not OK with a reason, no body and no trailer, and closes cleanly', async () => {
    const cases: Array<[Request, Response.Status]> = [
      [download('missing.bin'), Response.Status.NOT_FOUND],
      [download('folder'), Response.Status.NOT_FOUND],
      [download('pipe'), Response.Status.NOT_FOUND],
      [download('dangling'), Response.Status.NOT_FOUND],
      [download('data.bin', 0, new Uint8Array(0), 'nope:template.os'), Response.Status.NOT_FOUND],
      [download('data.bin', 0, new Uint8Array(0), '../..'), Response.Status.NOT_FOUND],
      [download('data.bin', 0, new Uint8Array(0), ''), Response.Status.NOT_FOUND],
      [download('escape.txt'), Response.Status.REFUSED],
      [download('.hwd-partial-0123'), Response.Status.REFUSED],
      [download('../data.bin'), Response.Status.REFUSED],
      [download('a/b'), Response.Status.REFUSED],
      [download(''), Response.Status.REFUSED],
      [download('..'), Response.Status.REFUSED],
      [download('nul\0.bin'), Response.Status.REFUSED],
      [download('x'.repeat(256)), Response.Status.REFUSED]
    ]
    for (const [request, status] of cases) {
      const r = await exchange(request)
      assert.equal(r.response.status, status, `${request.drive} ${request.file}`)
      assert.ok(r.response.reason.length > 0 && !r.response.reason.includes('\n'))
      assert.equal(r.rest.byteLength, 0)
      assert.equal(r.reset, false)
    }
  })

  it('reads one request per stream, and resets an unknown kind, an oversized header and a long prefix', async () => {
    const list = frame(Request.encode({ kind: Request.Kind.LIST, drive: FT_PKG, file: '', offset: 0, ifVersion: new Uint8Array(0) }))
    const twice = await exchange(concat([list, list]))
    assert.equal(twice.response.status, Response.Status.OK)
    assert.equal(twice.rest.byteLength, 0, 'one response only')
    // field 1 (kind), varint 7: no kind the .proto names
    assert.equal((await exchange(frame(Uint8Array.of(0x08, 7)))).reset, true)
    assert.equal((await exchange(frame(Request.encode(download('y'.repeat(2000)))))).reset, true, 'over MAX_REQUEST_BYTES')
    assert.equal((await exchange(Uint8Array.of(0x80, 0x80, 0x80, 0x80, 0x80, 0x01))).reset, true, 'a 6-byte prefix')
  })

  it('answers BUSY past the uploads allowed to one peer, and serves the same request once one ends', async () => {
    const big = join(drive(server, FT_PKG), 'big.bin')
    await writeFile(big, '')
    await truncate(big, 256 * 1024 * 1024)
    // uploads that the requester does not read stay running, held by the stream's window
    const held: Stream[] = []
    for (let i = 0; i < MAX_UPLOADS_PER_PEER; i++) {
      const stream = await client.open(server.addr, PROTOCOL)
      stream.pause()
      stream.send(frame(Request.encode(download('big.bin'))))
      held.push(stream)
    }
    const busy = await exchange(download('data.bin'))
    assert.equal(busy.response.status, Response.Status.BUSY)
    assert.equal(busy.rest.byteLength, 0)
    held.pop()!.abort(new Error('done waiting'))
    // the same request again until it is not BUSY, as the spec says a requester may
    const served = await eventually('data.bin served, not BUSY', async () => {
      const r = await exchange(download('data.bin'))
      return r.response.status !== Response.Status.BUSY && r
    })
    assert.deepEqual(served.rest, concat([data, blake3(data)]))
    for (const stream of held) stream.abort(new Error('done'))
  })
})

describe('a names peer written from the names spec alone', () => {
  after(stopAll)

  /** A record signed as the spec says: SIGNING_DOMAIN, then the record encoded with no signature. */
  async function signed (name: string, issuedAt: number): Promise<{ record: NameRecord, peerId: string }> {
    const key = await generateKeyPair('Ed25519')
    const unsigned: NameRecord = { name, publicKey: publicKeyToProtobuf(key.publicKey) as Uint8Array<ArrayBuffer>, addrs: [], seq: 1n, signature: new Uint8Array(0), issuedAt }
    const signature = await key.sign(concat([fromString('hwd-name-record:'), NameRecord.encode(unsigned)]))
    return { record: { ...unsigned, signature: signature as Uint8Array<ArrayBuffer> }, peerId: peerIdFromPrivateKey(key).toString() }
  }

  it('announces records, reads the receipt, and the node keeps the valid ones', async () => {
    const node = await TestNode.start({ name: 'fake.dev' })
    const peer = await RawPeer.start()
    try {
      const good = await signed('spec-good.dev', Date.now())
      const expired = await signed('spec-old.dev', Date.now() - 8 * 24 * 3600 * 1000)
      const forged = { ...(await signed('spec-forged.dev', Date.now())).record, name: 'spec-renamed.dev' }
      const stream = await peer.open(node.addr, '/hwd/names/2.0.0')
      stream.send(frame(Announce.encode({ records: [good.record, expired.record, forged] })))
      const { bytes, reset } = await readAll(stream)
      const length = decode(bytes)
      const receipt = Receipt.decode(bytes.subarray(encodingLength(length), encodingLength(length) + length))
      assert.deepEqual(receipt, { kept: 1, overQuota: 0, reason: '' })
      assert.equal(reset, false)
      const status = await node.status()
      assert.ok(knows(status, 'spec-good.dev', good.peerId))
      assert.deepEqual(status.names.map(n => n.name).sort(), ['fake.dev', 'spec-good.dev'])
    } finally {
      await peer.stop()
    }
  })
})
