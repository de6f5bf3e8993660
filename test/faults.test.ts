import '../daemon/polyfill.ts'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { open, readdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { after, afterEach, describe, it } from 'node:test'
import { pbStream } from '@libp2p/utils'
import type { Stream } from '@libp2p/interface'
import { PROTOCOL, Request, Response } from '../protocol/file-transfer/index.ts'
import { CHAT_PKG as PKG, connected, FT_PKG, drive, eventually, pair, stopAll, TestNode, type CliResult } from './helpers.ts'
import { RawPeer } from './raw-peer.ts'
import { fullResponse } from '../packages/file-transfer/upload.ts'

const DOWNLOAD = `download:${PKG}`
const SIZE = 192 * 1024 * 1024

afterEach(stopAll)
after(stopAll)

/** Start a download of big.bin on `a` and resolve once it is well under way (a promise in an object, which `await` does not adopt). */
async function startedDownload (a: TestNode): Promise<{ done: Promise<CliResult> }> {
  const before = (a.output.match(/big.bin progress: /g) ?? []).length
  const run = a.run(DOWNLOAD, 'big.bin', 'fake2.dev')
  await eventually('the download is under way', async () => {
    const lines = [...a.output.matchAll(/big.bin progress: (\d+)%/g)].slice(before)
    return lines.some(m => Number(m[1]) >= 5 && Number(m[1]) < 90)
  }, 30_000)
  return { done: run }
}

/** Ask `b` for big.bin as a raw peer and hold the body unread, once `b` lists the upload: it cannot finish. */
async function heldUpload (raw: RawPeer, b: TestNode): Promise<Stream> {
  const pb = pbStream(await raw.open(b.addr, PROTOCOL))
  await pb.write({ kind: Request.Kind.DOWNLOAD, drive: PKG, file: 'big.bin', offset: 0, ifVersion: new Uint8Array(0) }, Request)
  assert.equal((await pb.read(Response)).status, Response.Status.OK)
  const body = pb.unwrap()
  queueMicrotask(() => { body.pause() })
  await eventually('the upload is listed', async () => (await b.status()).transfers.some(t => t.direction === 'upload'))
  return body
}

function resumedAt (stdout: string): number {
  const m = /^resuming big.bin at ([\d.]+) MiB$/m.exec(stdout)
  assert.ok(m != null, `no resuming line in:\n${stdout}`)
  return Number(m[1])
}

describe('faults', () => {
  it('resumes after the sender is killed mid-transfer', async () => {
    const [a, b] = await pair()
    const data = randomBytes(SIZE)
    await writeFile(join(drive(b), 'big.bin'), data)
    const { done: cut } = await startedDownload(a)
    await b.stop('SIGKILL')
    assert.match((await cut).stderr, /cut off .*download it again to resume/)
    const b2 = await TestNode.start({ name: 'fake2.dev', home: b.home, peers: [a.addr] })
    await eventually('a reconnects to b', async () => connected(await a.status(), b2.peerId))
    const again = await a.run(DOWNLOAD, 'big.bin', 'fake2.dev')
    assert.equal(again.code, 0, again.stderr)
    assert.ok(resumedAt(again.stdout) > 0)
    assert.ok((await readFile(join(drive(a), 'big.bin'))).equals(data))
    assert.deepEqual(await readdir(drive(a)), ['big.bin'], 'the partial file and its record are gone')
  })

  it('resumes after the receiver is killed with kill -9, and lists the cut-off download after restart', async () => {
    const [a, b] = await pair()
    const data = randomBytes(SIZE)
    await writeFile(join(drive(b), 'big.bin'), data)
    const { done: cut } = await startedDownload(a)
    await a.stop('SIGKILL')
    assert.notEqual((await cut).code, 0)
    const a2 = await TestNode.start({ name: 'fake.dev', home: a.home, peers: [b.addr] })
    const listed = await a2.run('transfers')
    assert.match(listed.stdout, /^-\s+cut off\s+big.bin\s+fake2.dev\s+[\d.]+ MiB \/ 192.0 MiB \(\d+%\)$/m)
    assert.equal((await a2.status()).interrupted[0].file, 'big.bin')
    await eventually('a connected to b again', async () => connected(await a2.status(), b.peerId))
    const again = await a2.run(DOWNLOAD, 'big.bin', 'fake2.dev')
    assert.equal(again.code, 0, again.stderr)
    assert.ok(resumedAt(again.stdout) > 0)
    assert.ok((await readFile(join(drive(a2), 'big.bin'))).equals(data))
    assert.deepEqual((await a2.status()).interrupted, [])
  })

  it('downloads a changed source whole instead of splicing two versions', async () => {
    const [a, b] = await pair()
    await writeFile(join(drive(b), 'big.bin'), randomBytes(SIZE))
    const { done: cut } = await startedDownload(a)
    await b.stop('SIGKILL')
    await cut
    const changed = randomBytes(SIZE)
    await writeFile(join(drive(b), 'big.bin'), changed)
    await TestNode.start({ name: 'fake2.dev', home: b.home, peers: [a.addr] })
    await eventually('a reconnects to b', async () => connected(await a.status(), b.peerId))
    const again = await a.run(DOWNLOAD, 'big.bin', 'fake2.dev')
    assert.equal(again.code, 0, again.stderr)
    assert.doesNotMatch(again.stdout, /resuming/)
    assert.ok((await readFile(join(drive(a), 'big.bin'))).equals(changed))
  })

  it('resets a download whose source is written to while it is sent, then serves the new version whole', async () => {
    const [a, b] = await pair()
    const path = join(drive(b), 'big.bin')
    const size = 64 * 1024 * 1024
    await writeFile(path, randomBytes(size))
    const raw = await RawPeer.start()
    try {
      // held unread, the upload cannot finish before the write below
      const body = await heldUpload(raw, b)
      const file = await open(path, 'r+')
      await file.write(Buffer.from('changed'), 0, 7, size / 2)
      await file.close()
      let received = 0
      const read = (async () => { for await (const chunk of body) received += chunk.byteLength })()
      body.resume()
      await assert.rejects(read, /reset/i)
      assert.ok(received <= size, `${received} bytes: the body, but no hash of two versions after it`)
    } finally {
      await raw.stop()
    }
    const again = await a.run(DOWNLOAD, 'big.bin', 'fake2.dev')
    assert.equal(again.code, 0, again.stderr)
    assert.ok((await readFile(join(drive(a), 'big.bin'))).equals(await readFile(path)))
  })

  it('cancels a running download by id or file name, leaving no file; a name in two transfers only by id', async () => {
    const a = await TestNode.start({ name: 'fake.dev' })
    const slow = await RawPeer.start()
    try {
      // a source that sends a little of each file, then nothing until it is cancelled
      await slow.node.handle(PROTOCOL, async stream => {
        const pb = pbStream(stream)
        await pb.read(Request)
        await pb.write(fullResponse({ status: Response.Status.OK, size: 2 ** 30, version: new Uint8Array(16) }), Response)
        pb.unwrap().send(new Uint8Array(64 * 1024))
      })
      await slow.claim(a, 'slow.dev')
      const byName = a.run(DOWNLOAD, 'one.bin', 'slow.dev')
      const byId = a.run(DOWNLOAD, 'two.bin', 'slow.dev')
      const other = a.run(`download:${FT_PKG}`, 'two.bin', 'slow.dev')
      const listed = await eventually('all three are listed with what they received', async () => {
        const r = await a.run('transfers')
        return r.stdout.match(/\.bin.* 64.0 KiB \/ 1.0 GiB/g)?.length === 3 ? r.stdout : undefined
      })
      const ids = [...listed.matchAll(/^(\w{8})\s+download\s+two.bin\s+slow.dev\s+64.0 KiB \/ 1.0 GiB \(0%\)$/mg)].map(m => m[1])
      assert.equal(ids.length, 2, listed)
      const ambiguous = await a.run('cancel', 'two.bin')
      assert.equal(ambiguous.code, 1, ambiguous.stderr)
      assert.match(ambiguous.stderr, /^hwd: two.bin is in 2 running transfers \(\w{8}: download from slow.dev into [^,]+, \w{8}: download from slow.dev into [^,]+\); cancel one by its id\n$/)
      for (const pkg of [PKG, FT_PKG]) assert.ok(ambiguous.stderr.includes(`into ${pkg}`), ambiguous.stderr)
      assert.match((await a.run('cancel', 'one.bin')).stdout, /^cancelled download \w{8} of one.bin\n$/)
      for (const id of ids) assert.equal((await a.run('cancel', id)).stdout, `cancelled download ${id} of two.bin\n`)
      assert.equal((await byName).stderr, 'hwd: one.bin: cancelled\n')
      assert.equal((await byId).stderr, 'hwd: two.bin: cancelled\n')
      assert.equal((await other).stderr, 'hwd: two.bin: cancelled\n')
      for (const pkg of [PKG, FT_PKG]) assert.deepEqual(await readdir(drive(a, pkg)), [], 'no file, partial or record is left')
      const none = await a.run('cancel', 'one.bin')
      assert.equal(none.stderr, 'hwd: no running transfer has the id or file "one.bin"; see transfers\n')
    } finally {
      await slow.stop()
    }
  })

  it('lists and cancels a download still waiting for its source, keeping the partial it would resume and another drive\'s', async () => {
    const a = await TestNode.start({ name: 'fake.dev' })
    const mute = await RawPeer.start()
    try {
      // a source that cuts off every download from the start, and never answers a resume
      await mute.node.handle(PROTOCOL, async stream => {
        const pb = pbStream(stream)
        const request = await pb.read(Request)
        if (request.offset > 0) return
        await pb.write(fullResponse({ status: Response.Status.OK, size: 2 ** 20, version: new Uint8Array(16) }), Response)
        const body = pb.unwrap()
        body.send(new Uint8Array(1000))
        await body.close()
      })
      await mute.claim(a, 'mute.dev')
      for (const pkg of [FT_PKG, PKG]) assert.match((await a.run(`download:${pkg}`, 'a.bin', 'mute.dev')).stderr, /cut off/)
      const waiting = a.run(DOWNLOAD, 'a.bin', 'mute.dev')
      const listed = await eventually('the waiting download is listed', async () => {
        const r = await a.run('transfers')
        return /download\s+a.bin/.test(r.stdout) ? r.stdout : undefined
      })
      assert.match(listed, /^\w{8}\s+download\s+a.bin\s+mute.dev\s+connecting$/m)
      assert.match(listed, /^-\s+cut off\s+a.bin\s+mute.dev\s+1000 B \/ 1.0 MiB \(0%\)$/m, 'the other drive\'s cut-off a.bin is not hidden')
      assert.match((await a.run('cancel', 'a.bin')).stdout, /^cancelled download \w{8} of a.bin\n$/)
      assert.equal((await waiting).stderr, 'hwd: a.bin: cancelled\n')
      const kept = (await a.status()).interrupted.map(i => `${i.package} ${i.file} ${i.have}`).sort()
      assert.deepEqual(kept, [`${PKG} a.bin 1000`, `${FT_PKG} a.bin 1000`].sort(), 'a cancelled attempt removes no partial it did not open')
    } finally {
      await mute.stop()
    }
  })

  it('times out an upload to a peer that never reads, and lets go of it', async () => {
    const [, b] = await pair()
    await writeFile(join(drive(b), 'big.bin'), randomBytes(64 * 1024 * 1024))
    const raw = await RawPeer.start()
    try {
      await heldUpload(raw, b)
      const started = Date.now()
      await eventually('the upload is given up', async () => (await b.status()).transfers.length === 0, 60_000)
      assert.ok(Date.now() - started >= 20_000, 'not before the idle deadline')
      assert.equal(raw.node.getConnections().length, 1, 'the peer itself may stay connected')
    } finally {
      await raw.stop()
    }
  })
})
