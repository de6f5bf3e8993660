import '../daemon/polyfill.ts'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { access, mkdir, readdir, readFile, symlink, utimes, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { after, afterEach, describe, it } from 'node:test'
import { multiaddr } from '@multiformats/multiaddr'
import * as tar from 'tar-stream'
import { toString } from 'uint8arrays'
import { ArchiveError, MAX_ARCHIVE_BYTES, MAX_ARCHIVE_FILES, packFolder, unpackArchive } from '../storage/archive.ts'
import { fetchArchive, listReleases, PackagesError, Release } from '../protocol/packages/index.ts'
import { signRelease, verifyRelease } from '../protocol/packages/release.ts'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { RawPeer } from './raw-peer.ts'
import { hwd, stopAll, tempHome, TestNode } from './helpers.ts'

afterEach(stopAll)
after(stopAll)

async function folder (files: Record<string, string>): Promise<string> {
  const dir = await tempHome('hwd-pack-')
  for (const [path, text] of Object.entries(files)) {
    await mkdir(join(dir, path, '..'), { recursive: true })
    await writeFile(join(dir, path), text)
  }
  return dir
}

/** A tar written entry by entry as given, the way a hostile publisher or mirror could write one. */
async function rawTar (entries: Array<Partial<tar.Header> & { name: string, body?: string }>): Promise<Buffer> {
  const pack = tar.pack()
  const chunks: Buffer[] = []
  const done = (async () => { for await (const c of pack) chunks.push(c as Buffer) })()
  for (const { body, ...header } of entries) {
    await new Promise<void>((resolve, reject) => { pack.entry({ mode: 0o644, mtime: new Date(0), uid: 0, gid: 0, uname: '', gname: '', ...header }, body ?? '', err => { err == null ? resolve() : reject(err) }) })
  }
  pack.finalize()
  await done
  return Buffer.concat(chunks)
}

describe('release archives', () => {
  it('pack the same folder to the same bytes, whatever the order and times its files were written in', async () => {
    const a = await folder({ 'metadata.json': '{}', 'index.js': 'x', 'lib/b.js': 'b', 'lib/a.js': 'a' })
    const b = await folder({ 'lib/a.js': 'a', 'index.js': 'x', 'lib/b.js': 'b', 'metadata.json': '{}' })
    await utimes(join(b, 'index.js'), 1000, 1000)
    const [x, y] = [await packFolder(a), await packFolder(b)]
    assert.deepEqual(x, y)
    const listing = execFileSync('tar', ['tvf', '-'], { input: x, encoding: 'utf8' })
    assert.deepEqual(listing.trim().split('\n').map(l => l.split(/\s+/).pop()), ['index.js', 'lib/a.js', 'lib/b.js', 'metadata.json'])
    assert.ok(listing.split('\n').filter(Boolean).every(l => l.startsWith('-rw-r--r-- 0/0')), listing)

    const into = join(await tempHome('hwd-unpack-'), 'pkg')
    await unpackArchive(x, into)
    assert.equal(await readFile(join(into, 'lib/b.js'), 'utf8'), 'b')
    assert.deepEqual(await packFolder(into), x)
  })

  it('will not pack a symlink, and names it', async () => {
    const dir = await folder({ 'index.js': 'x' })
    await symlink('/etc/passwd', join(dir, 'passwd'))
    await assert.rejects(packFolder(dir), (err: Error) => err instanceof ArchiveError && /"passwd" is a symlink/.test(err.message))
  })

  const hostile: Array<[string, () => Promise<Buffer>, RegExp]> = [
    ['a path out of the folder', async () => await rawTar([{ name: '../escaped.js', type: 'file', body: 'x' }]), /invalid file name ".."/],
    ['an absolute path', async () => await rawTar([{ name: '/tmp/abs.js', type: 'file', body: 'x' }]), /it is empty/],
    ['a symlink', async () => await rawTar([{ name: 'link', type: 'symlink', linkname: '/etc/passwd' }]), /a symlink entry/],
    ['a hard link', async () => await rawTar([{ name: 'a', type: 'file', body: 'x' }, { name: 'b', type: 'link', linkname: 'a' }]), /a link entry/],
    ['a device file', async () => await rawTar([{ name: 'null', type: 'character-device', devmajor: 1, devminor: 3 }]), /a character-device entry/],
    ['a folder entry', async () => await rawTar([{ name: 'lib', type: 'directory' }]), /a folder entry/],
    ['a control character in a name', async () => await rawTar([{ name: 'a\u001b[2J.js', type: 'file', body: 'x' }]), /control character/],
    ['the same path twice', async () => await rawTar([{ name: 'a.js', type: 'file', body: 'x' }, { name: 'a.js', type: 'file', body: 'y' }]), /twice/],
    ['a file under a file', async () => await rawTar([{ name: 'a', type: 'file', body: 'x' }, { name: 'a/b', type: 'file', body: 'y' }]), /runs through a file/],
    ['files out of order', async () => await rawTar([{ name: 'b.js', type: 'file', body: 'x' }, { name: 'a.js', type: 'file', body: 'y' }]), /canonical form/],
    ['a time that is not 0', async () => await rawTar([{ name: 'a.js', type: 'file', body: 'x', mtime: new Date(5000) }]), /canonical form/],
    ['an executable mode', async () => await rawTar([{ name: 'a.js', type: 'file', body: 'x', mode: 0o755 }]), /canonical form/],
    ['too many files', async () => await rawTar(Array.from({ length: MAX_ARCHIVE_FILES + 1 }, (_, i) => ({ name: `f${String(i).padStart(5, '0')}`, type: 'file' as const }))), /more than 1000 files/],
    ['bytes that are no tar', async () => Buffer.from('not a tar at all, just text that goes on'.repeat(20)), /cannot be read/],
    ['an archive over the limit', async () => Buffer.alloc(MAX_ARCHIVE_BYTES + 1), /over 32 MiB/]
  ]
  for (const [what, make, why] of hostile) {
    it(`refuse an archive with ${what}, leaving nothing behind`, async () => {
      const parent = await tempHome('hwd-unpack-')
      const into = join(parent, 'pkg')
      await assert.rejects(unpackArchive(await make(), into), (err: Error) => err instanceof ArchiveError && why.test(err.message))
      assert.deepEqual(await readdir(parent), [])
      await assert.rejects(access(join(parent, '..', 'escaped.js')))
    })
  }
})

describe('release records', () => {
  it('verify only as signed: any field changed, a key swapped in, or a malformed field is refused', async () => {
    const key = await generateKeyPair('Ed25519')
    const good = await signRelease(key, { package: 'photos', publisher: 'pub.dev', version: '0.1.0', blake3: new Uint8Array(32).fill(1), size: 10, capabilities: ['net'], dependencies: ['file-transfer:template.os'] })
    assert.equal(await verifyRelease(good), peerIdFromPrivateKey(key).toString())
    const other = await signRelease(await generateKeyPair('Ed25519'), { ...good })
    const cases: Array<[string, Release, RegExp]> = [
      ['a version changed', { ...good, version: '0.2.0' }, /its signature is bad/],
      ['a capability added', { ...good, capabilities: ['net', 'terminal'] }, /its signature is bad/],
      ['the hash changed', { ...good, blake3: new Uint8Array(32).fill(2) }, /its signature is bad/],
      ['another key put in place of the signer\'s', { ...good, publicKey: other.publicKey }, /its signature is bad/],
      ['a key that is no key', { ...good, publicKey: new Uint8Array([1, 2, 3]) }, /its key is malformed/],
      ['a hash of 31 bytes', { ...good, blake3: new Uint8Array(31) }, /its hash is not 32 bytes/],
      ['a version that is not MAJOR.MINOR.PATCH', { ...good, version: '1.0' }, /not MAJOR\.MINOR\.PATCH/],
      ['a publisher that is no node name', { ...good, publisher: 'Pub Dev' }, /not a node name/],
      ['a dependency that is not package:publisher', { ...good, dependencies: ['../x'] }, /not package:publisher/]
    ]
    for (const [what, release, why] of cases) await assert.rejects(verifyRelease(release), why, what)
  })
})

describe('hwd publish', () => {
  it('signs and serves a scaffolded package; the same folder again changes nothing, new versions add to the old', async () => {
    const work = await tempHome('hwd-pub-')
    assert.equal((await hwd(['new', 'photos', '--publisher', 'pub.dev', '--dir', work])).code, 0)
    const dir = join(work, 'photos')
    const pub = await TestNode.start({ name: 'pub.dev' })

    const first = await hwd(['publish', '--home', pub.home, dir])
    assert.equal(first.code, 0, first.stderr)
    const [, hash] = /^published photos:pub\.dev 0\.1\.0 blake3 ([0-9a-f]{16})…$/m.exec(first.stdout) ?? assert.fail(first.stdout)
    const again = await hwd(['publish', '--home', pub.home, dir])
    assert.match(again.stdout, new RegExp(`^already published photos:pub\\.dev 0\\.1\\.0 blake3 ${hash}…$`, 'm'))

    await writeFile(join(dir, 'extra.txt'), 'more')
    const changed = await hwd(['publish', '--home', pub.home, dir])
    assert.equal(changed.code, 1)
    assert.match(changed.stderr, /photos:pub\.dev 0\.1\.0 is already published with other contents; raise the version/)
    const meta = JSON.parse(await readFile(join(dir, 'metadata.json'), 'utf8'))
    await writeFile(join(dir, 'metadata.json'), JSON.stringify({ ...meta, version: '0.2.0' }))
    assert.match((await hwd(['publish', '--home', pub.home, dir])).stdout, /^published photos:pub\.dev 0\.2\.0 /m)

    // what a stock libp2p node is served: both versions, newest first, each signed by pub.dev's key
    const raw = await RawPeer.start()
    try {
      const connection = await raw.node.dial(multiaddr(pub.addr), { signal: AbortSignal.timeout(5000) })
      const releases = await listReleases(connection, 'photos:pub.dev')
      assert.deepEqual(releases.map(r => r.version), ['0.2.0', '0.1.0'])
      for (const r of releases) assert.equal(await verifyRelease(r), pub.peerId)
      assert.deepEqual(releases[0].dependencies, ['file-transfer:template.os'])
      assert.equal(toString(releases[1].blake3, 'base16').slice(0, 16), hash)
      assert.deepEqual(await listReleases(connection, 'nothing:pub.dev'), [])

      // each exchange ends both ways: more fetches than the protocol's stream limit, on one connection
      for (let i = 0; i < 20; i++) await fetchArchive(connection, releases[1])
      const archive = await fetchArchive(connection, releases[0])
      const into = join(await tempHome('hwd-unpack-'), 'photos')
      await unpackArchive(archive, into)
      assert.equal(await readFile(join(into, 'extra.txt'), 'utf8'), 'more')
      assert.equal(await readFile(join(into, 'index.js'), 'utf8'), await readFile(join(dir, 'index.js'), 'utf8'))

      // a record whose hash names no archive here, and one that lies about the size
      const unknown: Release = { ...releases[0], blake3: new Uint8Array(32).fill(7) }
      await assert.rejects(fetchArchive(connection, unknown), (err: Error) => err instanceof PackagesError && /no archive 0707070707070707… here/.test(err.message))
      await assert.rejects(fetchArchive(connection, { ...releases[0], size: releases[0].size + 1 }), /offers \d+ bytes where the release says \d+/)
    } finally {
      await raw.stop()
    }

    const node = await hwd(['publish', '--home', pub.home, join(work, 'nowhere')])
    assert.match(node.stderr, /cannot read metadata\.json \(no such file\)/)
  })

  it('refuses a package whose publisher is another node, a built-in package, and a folder holding a symlink', async () => {
    const work = await tempHome('hwd-pub-')
    assert.equal((await hwd(['new', 'photos', '--publisher', 'other.dev', '--dir', work])).code, 0)
    const node = await TestNode.start({ name: 'pub.dev' })
    const other = await hwd(['publish', '--home', node.home, join(work, 'photos')])
    assert.equal(other.code, 1)
    assert.match(other.stderr, /photos:other\.dev names other\.dev as its publisher, but this node is pub\.dev/)

    const builtin = await hwd(['publish', '--home', node.home, join(import.meta.dirname, '..', 'packages', 'file-transfer')])
    assert.match(builtin.stderr, /file-transfer:template\.os is built in/)

    assert.equal((await hwd(['new', 'links', '--publisher', 'pub.dev', '--dir', work])).code, 0)
    await symlink('/etc/passwd', join(work, 'links', 'passwd'))
    const linked = await hwd(['publish', '--home', node.home, join(work, 'links')])
    assert.match(linked.stderr, /cannot publish links:pub\.dev from .*: "passwd" is a symlink/)
    assert.deepEqual(await readdir(join(node.home, 'releases')), [])
  })
})
