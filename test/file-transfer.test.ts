import '../daemon/polyfill.ts'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { open, readdir, readFile, symlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { after, afterEach, describe, it } from 'node:test'
import { pbStream } from '@libp2p/utils'
import { blake3 } from '@noble/hashes/blake3.js'
import { Uint8ArrayList } from 'uint8arraylist'
import { PROTOCOL, Request, Response } from '../protocol/file-transfer/index.ts'
import { PROTOCOL as CHAT } from '../protocol/chat/index.ts'
import { fileVersion } from '../storage/vfs.ts'
import { assertQuotedSafely, CHAT_PKG, drive, eventually, FT_PKG, HOSTILE_REASON, knows, NO_SMALL_DISK, onSmallDisk, pair, stopAll, tempHome, TestNode } from './helpers.ts'
import { closed, RawPeer } from './raw-peer.ts'
import { fullResponse, RACY_MS } from '../packages/file-transfer/upload.ts'

afterEach(stopAll)
after(stopAll)

function request (file: string, pkg = CHAT_PKG, offset = 0): Request {
  return { kind: Request.Kind.DOWNLOAD, drive: pkg, file, offset, ifVersion: new Uint8Array(0) }
}

describe('file transfer', () => {
  it('does the seed\'s walk-through literally', async () => {
    const [a, b] = await pair()
    await writeFile(join(drive(b), 'my_file.txt'), 'hello world\n')
    const r = await a.run(`download:${CHAT_PKG}`, 'my_file.txt', 'fake2.dev')
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stdout, /^my_file.txt progress: 100%$/m)
    assert.match(r.stdout, /^downloaded my_file.txt from fake2.dev: 12 B in \d+ ms, blake3 dc5a4edb8240b018…$/m)
    assert.equal(await readFile(join(drive(a), 'my_file.txt'), 'utf8'), 'hello world\n')
    await a.waitForOutput(/^my_file.txt progress: 100%$/m)
  })

  it('moves a random file of tens of MiB byte for byte, in both packages, and lists files', async () => {
    const [a, b] = await pair()
    const data = randomBytes(24 * 1024 * 1024 + 123)
    await writeFile(join(drive(b, FT_PKG), 'big.bin'), data)
    await writeFile(join(drive(b, FT_PKG), 'small.txt'), 'abc')
    const list = await a.run(`list-files:${FT_PKG}`, 'fake2.dev')
    assert.equal(list.code, 0, list.stderr)
    assert.deepEqual(list.stdout.trim().split('\n').map(l => l.split(/\s{2,}/)), [['file', 'size'], ['big.bin', '24.0 MiB'], ['small.txt', '3 B']])
    const empty = await a.run(`list-files:${CHAT_PKG}`, 'fake2.dev')
    assert.equal(empty.stdout, `fake2.dev offers no files in ${CHAT_PKG}\n`)
    const r = await a.run(`download:${FT_PKG}`, 'big.bin', 'fake2.dev')
    assert.equal(r.code, 0, r.stderr)
    const percents = [...r.stdout.matchAll(/^big.bin progress: (\d+)%$/gm)].map(m => Number(m[1]))
    assert.ok(percents.length >= 3 && percents.at(-1) === 100, `progress lines: ${percents.join(' ')}`)
    assert.deepEqual(percents, [...percents].sort((x, y) => x - y), 'progress only grows')
    assert.match(r.stdout, /^downloaded big.bin from fake2.dev: 24.0 MiB in (\d+ ms|[\d.]+ s), [\d.]+ MB\/s, blake3 [0-9a-f]{16}…$/m)
    assert.ok((await readFile(join(drive(a, FT_PKG), 'big.bin'))).equals(data))
    await writeFile(join(drive(b), 'chat.bin'), data.subarray(0, 1000))
    assert.equal((await a.run(`download:${CHAT_PKG}`, 'chat.bin', 'fake2.dev')).code, 0)
    assert.ok((await readFile(join(drive(a), 'chat.bin'))).equals(data.subarray(0, 1000)))
    assert.deepEqual((await readdir(drive(a))).sort(), ['chat.bin'], 'no partial files remain')
  })

  it('runs two downloads at once, each with its own worker', async () => {
    const [a, b] = await pair()
    const one = randomBytes(8 * 1024 * 1024)
    const two = randomBytes(6 * 1024 * 1024)
    await writeFile(join(drive(b), 'one.bin'), one)
    await writeFile(join(drive(b), 'two.bin'), two)
    const [r1, r2] = await Promise.all([
      a.run(`download:${CHAT_PKG}`, 'one.bin', 'fake2.dev'),
      a.run(`download:${CHAT_PKG}`, 'two.bin', 'fake2.dev')
    ])
    assert.equal(r1.code, 0, r1.stderr)
    assert.equal(r2.code, 0, r2.stderr)
    assert.ok((await readFile(join(drive(a), 'one.bin'))).equals(one))
    assert.ok((await readFile(join(drive(a), 'two.bin'))).equals(two))
  })

  it('refuses a missing file, bad names and a symlink out of the drive, creating nothing', async () => {
    const [a, b] = await pair()
    const missing = await a.run(`download:${CHAT_PKG}`, 'nope.txt', 'fake2.dev')
    assert.notEqual(missing.code, 0)
    assert.equal(missing.stderr, `hwd: fake2.dev: no file nope.txt in ${CHAT_PKG}\n`)
    for (const [name, why] of [['..', 'it names a directory'], ['a/b', 'it contains a path separator'], ['a\\b', 'it contains a path separator'], ['', 'it is empty'], ['x'.repeat(256), 'it is longer than 255 bytes']]) {
      const r = await a.run(`download:${CHAT_PKG}`, name, 'fake2.dev')
      assert.notEqual(r.code, 0)
      assert.equal(r.stderr, `hwd: invalid file name ${JSON.stringify(name.slice(0, 64))}: ${why}\n`)
    }
    const outside = join(await tempHome(), 'secret.txt')
    await writeFile(outside, 'secret')
    await symlink(outside, join(drive(b), 'escape.txt'))
    await writeFile(join(drive(b), 'real.txt'), 'inside')
    await symlink(join(drive(b), 'real.txt'), join(drive(b), 'alias.txt'))
    const escape = await a.run(`download:${CHAT_PKG}`, 'escape.txt', 'fake2.dev')
    assert.notEqual(escape.code, 0)
    assert.match(escape.stderr, /^hwd: fake2.dev: refused: escape.txt .* leads out of the drive\n$/)
    assert.equal((await a.run(`download:${CHAT_PKG}`, 'alias.txt', 'fake2.dev')).code, 0, 'a symlink inside the drive is served')
    assert.deepEqual(await readdir(drive(a)), ['alias.txt'])
    const list = await a.run(`list-files:${CHAT_PKG}`, 'fake2.dev')
    assert.doesNotMatch(list.stdout, /escape/)
  })

  it('refuses bad names on the serving side too, and resets malformed frames', async () => {
    const [, b] = await pair()
    const raw = await RawPeer.start()
    try {
      for (const name of ['../../identity.key', 'a/b', 'nul\0.txt', '', 'x'.repeat(300)]) {
        const stream = await raw.open(b.addr, PROTOCOL)
        const pb = pbStream(stream)
        await pb.write(request(name), Request)
        const response = await pb.read(Response)
        assert.equal(response.status, Response.Status.REFUSED, name)
        assert.match(response.reason, /invalid file name/)
      }
      const oversized = await raw.open(b.addr, PROTOCOL)
      await pbStream(oversized).write(request('y'.repeat(5000)), Request)
      assert.ok(await closed(oversized) != null, 'an oversized request resets the stream')
      const garbage = await raw.open(b.addr, PROTOCOL)
      garbage.send(Uint8Array.from([4, 0xff, 0xff, 0xff, 0xff]))
      await closed(garbage)
    } finally {
      await raw.stop()
    }
    assert.equal((await b.status()).name, 'fake2.dev')
  })

  it('fails fast for an unknown or offline node, or one that serves neither file transfer nor chat', async () => {
    const [a, b] = await pair()
    const unknown = await a.run(`download:${CHAT_PKG}`, 'f.txt', 'nobody.dev')
    assert.equal(unknown.stderr, 'hwd: unknown node "nobody.dev"; known names: fake.dev, fake2.dev\n')
    const bare = await RawPeer.start()
    try {
      await bare.claim(a, 'bare.dev')
      for (const argv of [[`download:${CHAT_PKG}`, 'f.txt', 'bare.dev'], [`list-files:${CHAT_PKG}`, 'bare.dev']]) {
        assert.equal((await a.run(...argv)).stderr, `hwd: bare.dev does not serve file transfer (${PROTOCOL}); it may run another version of hwd\n`)
      }
      assert.equal((await a.run(`send:${CHAT_PKG}`, 'bare.dev', 'hi')).stderr, `hwd: not delivered: the node does not serve chat (${CHAT})\n`)
    } finally {
      await bare.stop()
    }
    await b.stop()
    const offline = await a.run(`download:${CHAT_PKG}`, 'f.txt', 'fake2.dev')
    assert.match(offline.stderr, /^hwd: fake2.dev is offline/)
    assert.ok(offline.ms < 10_000)
  })

  it('keeps no file under the final name when the sender dies halfway, and never clobbers a complete one', async () => {
    const [a, b] = await pair()
    await writeFile(join(drive(b), 'big.bin'), randomBytes(256 * 1024 * 1024))
    await writeFile(join(drive(a), 'big.bin'), 'the old, complete version')
    const download = a.run(`download:${CHAT_PKG}`, 'big.bin', 'fake2.dev')
    await a.waitForOutput(/^big.bin progress: [1-9]\d?%$/m, 20_000)
    await b.stop('SIGKILL')
    const r = await download
    assert.notEqual(r.code, 0)
    assert.match(r.stderr, /^hwd: big.bin from fake2.dev was cut off .*; download it again to resume\n$/)
    assert.equal(await readFile(join(drive(a), 'big.bin'), 'utf8'), 'the old, complete version')
    const left = await readdir(drive(a))
    assert.ok(left.some(f => f.startsWith('.hwd-partial-')), 'the partial file stays for resuming')
  })

  it('refuses a file whose hash does not match, is missing or is longer than announced, and quotes a hostile refusal safely', async () => {
    const a = await TestNode.start({ name: 'fake.dev' })
    const raw = await RawPeer.start()
    try {
      let mode: 'bad-hash' | 'no-hash' | 'too-long' | 'refused' = 'bad-hash'
      const bodyArrived = Promise.withResolvers<void>()
      await raw.node.handle(PROTOCOL, async stream => {
        const pb = pbStream(stream)
        await pb.read(Request)
        if (mode === 'refused') {
          await pb.write(fullResponse({ status: Response.Status.REFUSED, reason: HOSTILE_REASON }), Response)
          await stream.close()
          return
        }
        await pb.write(fullResponse({ status: Response.Status.OK, size: 5, version: new Uint8Array(16) }), Response)
        const s = pb.unwrap()
        // the body, then a trailer that is not its BLAKE3 (half of one, then a reset, for
        // 'no-hash'), then for 'too-long' a byte more
        s.send(new TextEncoder().encode('abcde'))
        if (mode === 'no-hash') {
          s.send(new Uint8Array(16))
          await bodyArrived.promise
          s.abort(new Error('gone'))
          return
        }
        s.send(new Uint8Array(mode === 'bad-hash' ? 32 : 33))
        await s.close().catch(() => {})
      })
      await raw.claim(a, 'evil.dev')
      await writeFile(join(drive(a), 'f.txt'), 'mine')
      const bad = await a.run(`download:${CHAT_PKG}`, 'f.txt', 'evil.dev')
      assert.equal(bad.stderr, 'hwd: f.txt from evil.dev failed its BLAKE3 check; nothing was saved\n')
      mode = 'no-hash'
      const run = a.run(`download:${CHAT_PKG}`, 'f.txt', 'evil.dev')
      await eventually('the body is written', async () => /f.txt\s+evil.dev\s+5 B \/ 5 B/.test((await a.run('transfers')).stdout))
      bodyArrived.resolve()
      const unconfirmed = await run
      assert.equal(unconfirmed.stderr, 'hwd: f.txt from evil.dev: the source stopped before confirming the file\'s hash (it may have changed while it was sent); download it again\n')
      mode = 'too-long'
      const long = await a.run(`download:${CHAT_PKG}`, 'f.txt', 'evil.dev')
      assert.match(long.stderr, /sent more than the 5 bytes it announced and the trailer/)
      assert.equal(await readFile(join(drive(a), 'f.txt'), 'utf8'), 'mine')
      mode = 'refused'
      for (const argv of [[`download:${CHAT_PKG}`, 'g.txt', 'evil.dev'], [`list-files:${CHAT_PKG}`, 'evil.dev']]) {
        const refused = await a.run(...argv)
        assert.notEqual(refused.code, 0)
        assertQuotedSafely(refused.stderr)
      }
    } finally {
      await raw.stop()
    }
  })

  it('resumes from any offset up to the end: the rest of the body, then the whole file\'s hash', async () => {
    const [, b] = await pair()
    const data = randomBytes(3 * 1024 * 1024 + 17)
    const path = join(drive(b), 'r.bin')
    await writeFile(path, data)
    const file = await open(path)
    const version = Buffer.from((await fileVersion(file)).version, 'hex')
    await file.close()
    const hash = blake3(data)
    const raw = await RawPeer.start()
    try {
      // the end (the body came whole, its hash did not), one byte short, and the middle; the
      // server has not sent the file whole before, so it hashes the bytes before the offset
      for (const offset of [data.byteLength, data.byteLength - 1, 1024 * 1024 + 5]) {
        const pb = pbStream(await raw.open(b.addr, PROTOCOL))
        await pb.write({ kind: Request.Kind.DOWNLOAD, drive: CHAT_PKG, file: 'r.bin', offset, ifVersion: version }, Request)
        const response = await pb.read(Response)
        assert.equal(response.offset, offset)
        const rest = new Uint8ArrayList()
        for await (const chunk of pb.unwrap()) rest.append(chunk)
        assert.ok(Buffer.from(rest.subarray()).equals(Buffer.concat([data.subarray(offset), hash])), `from ${offset}: ${rest.byteLength} bytes`)
      }
    } finally {
      await raw.stop()
    }
  })

  it('takes up a cut upload\'s hash where it stopped, for a resume from before that point too', async () => {
    const b = await TestNode.start({ name: 'fake2.dev', env: { DEBUG: 'hwd:file-transfer:checkpoints' } })
    const data = randomBytes(24 * 1024 * 1024)
    const path = join(drive(b), 'c.bin')
    await writeFile(path, data)
    const file = await open(path)
    const { version, changedMs } = await fileVersion(file)
    await file.close()
    // the server keeps no hash of a file changed within RACY_MS of its reading
    await sleep(changedMs + RACY_MS + 10 - Date.now())
    const raw = await RawPeer.start()
    try {
      const pb = pbStream(await raw.open(b.addr, PROTOCOL))
      await pb.write(request('c.bin'), Request)
      assert.equal((await pb.read(Response)).status, Response.Status.OK)
      const body = pb.unwrap()
      let received = 0
      for await (const chunk of body) {
        received += chunk.byteLength
        if (received >= 4 * 1024 * 1024) break
      }
      body.abort(new Error('cut'))
      await eventually('the upload ends', async () => (await b.status()).transfers.length === 0)
      const offset = 1024 * 1024 + 5
      const again = pbStream(await raw.open(b.addr, PROTOCOL))
      await again.write({ ...request('c.bin'), offset, ifVersion: Buffer.from(version, 'hex') }, Request)
      assert.equal((await again.read(Response)).offset, offset)
      const rest = new Uint8ArrayList()
      for await (const chunk of again.unwrap()) rest.append(chunk)
      assert.ok(Buffer.from(rest.subarray()).equals(Buffer.concat([data.subarray(offset), blake3(data)])), `${rest.byteLength} bytes`)
      const kept = /a kept hash at byte (\d+), for a body from byte (\d+)/.exec(b.errors)
      assert.ok(kept != null, `the resume took no kept hash:\n${b.errors}`)
      assert.ok(Number(kept[1]) >= received && Number(kept[2]) === offset, kept[0])
    } finally {
      await raw.stop()
    }
  })

  it('tells sizes and offsets past 2^31 rightly, from the codec to a listing and a response', async () => {
    // protons-runtime 7 encodes a bigint uint64 from 2^31 to 2^32 as its low byte alone: these
    // fields are numbers, which take its varint code for numbers
    for (const n of [2 ** 31 - 1, 2 ** 31, 3 * 2 ** 30, 2 ** 32 - 1, 2 ** 32, 2 ** 53 - 1]) {
      const asked = Request.decode(Request.encode(request('x', CHAT_PKG, n)))
      const response = Response.decode(Response.encode({ status: Response.Status.OK, reason: '', size: n, version: new Uint8Array(16), files: [{ name: 'x', size: n }], offset: n }))
      assert.deepEqual([asked.offset, response.size, response.offset, response.files[0].size], [n, n, n, n])
    }
    const [a, b] = await pair()
    const size = 3 * 2 ** 30
    // sparse: 3 GiB of zeros that take no disk
    const file = await open(join(drive(b), 'huge.bin'), 'w')
    await file.truncate(size)
    await file.close()
    const list = await a.run(`list-files:${CHAT_PKG}`, 'fake2.dev')
    assert.match(list.stdout, /^huge\.bin\s+3\.0 GiB$/m)
    const raw = await RawPeer.start()
    try {
      const pb = pbStream(await raw.open(b.addr, PROTOCOL))
      await pb.write(request('huge.bin'), Request)
      const response = await pb.read(Response)
      assert.deepEqual([response.status, response.size], [Response.Status.OK, size])
      pb.unwrap().abort(new Error('enough'))
    } finally {
      await raw.stop()
    }
  })

  it('answers busy past the per-peer limit of concurrent uploads', async () => {
    const [, b] = await pair()
    await writeFile(join(drive(b), 'big.bin'), randomBytes(64 * 1024 * 1024))
    const raw = await RawPeer.start()
    try {
      const held = []
      for (let i = 0; i < 16; i++) {
        const stream = await raw.open(b.addr, PROTOCOL)
        const pb = pbStream(stream)
        await pb.write(request('big.bin'), Request)
        assert.equal((await pb.read(Response)).status, Response.Status.OK)
        const unread = pb.unwrap()
        queueMicrotask(() => { unread.pause() })
        held.push(unread)
      }
      const extra = pbStream(await raw.open(b.addr, PROTOCOL))
      await extra.write(request('big.bin'), Request)
      const busy = await extra.read(Response)
      assert.equal(busy.status, Response.Status.BUSY)
      assert.match(busy.reason, /^fake2.dev is busy: 16 uploads to you running; try again shortly$/)
      for (const s of held) s.abort(new Error('done'))
    } finally {
      await raw.stop()
    }
  })

  it('fails a download on a full disk with that reason, and the daemon runs on', { skip: NO_SMALL_DISK }, async () => {
    await onSmallDisk('8m', async (_mount, home) => {
      const a = await TestNode.start({ name: 'fake.dev', home })
      const b = await TestNode.start({ name: 'fake2.dev', peers: [a.addr] })
      await eventually('a knows fake2.dev', async () => knows(await a.status(), 'fake2.dev', b.peerId))
      await writeFile(join(drive(b), 'huge.bin'), randomBytes(16 * 1024 * 1024))
      const r = await a.run(`download:${CHAT_PKG}`, 'huge.bin', 'fake2.dev')
      assert.equal(r.stderr, 'hwd: huge.bin: the disk is full; the partial download was removed\n')
      assert.deepEqual(await readdir(drive(a)), [])
      await writeFile(join(drive(b), 'ok.txt'), 'fits')
      assert.equal((await a.run(`download:${CHAT_PKG}`, 'ok.txt', 'fake2.dev')).code, 0, 'the daemon runs on')
      await a.stop()
    })
  })
})
