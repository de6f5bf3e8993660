import '../daemon/polyfill.ts'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { after, afterEach, describe, it } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { multiaddr } from '@multiformats/multiaddr'
import { listReleases, MAX_INBOUND_STREAMS, PROTOCOL, Request, Response, serveRequest, type Release } from '../protocol/packages/index.ts'
import { signRelease } from '../protocol/packages/release.ts'
import { framed } from '../protocol/framing.ts'
import { packFolder } from '../storage/archive.ts'
import { newBlake3 } from '../protocol/file-transfer/hash.ts'
import { RawPeer } from './raw-peer.ts'
import { CLI, eventually, hwd, knows, onTty, stopAll, tempHome, TestNode } from './helpers.ts'

afterEach(stopAll)
after(stopAll)

/** pub.dev, running the photos package it scaffolded and published, with a file in photos' drive. */
async function publisher (): Promise<{ pub: TestNode, dir: string, file: Buffer }> {
  const work = await tempHome('hwd-pub-')
  assert.equal((await hwd(['new', 'photos', '--publisher', 'pub.dev', '--dir', work])).code, 0)
  const dir = join(work, 'photos')
  const pub = await TestNode.start({ name: 'pub.dev', extra: ['--package', dir] })
  const published = await hwd(['publish', '--home', pub.home, dir])
  assert.match(published.stdout, /^published photos:pub\.dev 0\.1\.0 blake3 /m, published.stderr)
  const file = randomBytes(3 * 1024 * 1024)
  await writeFile(join(pub.home, 'vfs', 'photos:pub.dev', 'files', 'cat.jpg'), file)
  return { pub, dir, file }
}

async function installedHere (node: TestNode): Promise<string[]> {
  return await readdir(join(node.home, 'packages')).catch(() => [])
}

describe('hwd install', () => {
  it('installs from the publisher, then from a mirror while the publisher is away, each running at once', async () => {
    const { pub, file } = await publisher()
    const b = await TestNode.start({ name: 'b.dev', peers: [pub.addr] })
    await eventually('b knows pub.dev', async () => knows(await b.status(), 'pub.dev', pub.peerId))

    const shown = await hwd(['install', '--home', b.home, 'photos:pub.dev'])
    assert.equal(shown.code, 2, 'no terminal to ask on, and no --yes')
    assert.match(shown.stdout, /^photos:pub\.dev 0\.1\.0 from pub\.dev: .*, blake3 [0-9a-f]{16}…, signed by pub\.dev's key SHA256:[\w+/]+$/m)
    assert.match(shown.stdout, /^ {2}depends on: file-transfer:template\.os$/m)
    assert.match(shown.stderr, /not installed: there is no terminal to ask on; add --yes/)
    const run = await b.run('install', 'photos:pub.dev')
    assert.equal(run.code, 0, run.stderr)
    assert.match(run.stdout, /^not installed yet; to install, type: install photos:pub\.dev --version 0\.1\.0 --hash [0-9a-f]{64} --yes$/m)
    assert.deepEqual(await installedHere(b), [])

    const started = Date.now()
    const yes = await hwd(['install', '--home', b.home, 'photos:pub.dev', '--yes'])
    assert.equal(yes.code, 0, yes.stderr)
    assert.match(yes.stdout, /^installed photos:pub\.dev: download:photos:pub\.dev, list-files:photos:pub\.dev, fetch-all:photos:pub\.dev$/m)
    const ms = Date.now() - started
    const got = await b.run('download:photos:pub.dev', 'cat.jpg', 'pub.dev')
    assert.equal(got.code, 0, got.stderr)
    assert.deepEqual(await readFile(join(b.home, 'vfs', 'photos:pub.dev', 'files', 'cat.jpg')), file)
    console.log(`# install from publish to a working script: ${ms} ms for the install`)
    assert.deepEqual(await installedHere(b), ['photos:pub.dev'])
    const again = await hwd(['install', '--home', b.home, 'photos:pub.dev', '--yes'])
    assert.match(again.stderr, /photos:pub\.dev 0\.1\.0 is installed already/)

    // C meets only b: b mirrors what it installed, and tells C pub.dev's key through the names protocol
    await pub.stop()
    const c = await TestNode.start({ name: 'c.dev', peers: [b.addr] })
    await eventually('c knows b.dev', async () => knows(await c.status(), 'b.dev', b.peerId))
    const fromMirror = await hwd(['install', '--home', c.home, 'photos:pub.dev', '--yes'])
    assert.equal(fromMirror.code, 0, fromMirror.stderr)
    assert.match(fromMirror.stdout, /^photos:pub\.dev 0\.1\.0 from b\.dev: /m)
    assert.match((await c.run('help')).stdout, /download:photos:pub\.dev/)
  })

  it('installs the newest release any node serves, and fetches it from the next node that listed it when one cannot deliver', async () => {
    const { pub, dir } = await publisher()
    const m1 = await TestNode.start({ name: 'm1.dev', peers: [pub.addr] })
    await eventually('m1 knows pub.dev', async () => knows(await m1.status(), 'pub.dev', pub.peerId))
    assert.match((await hwd(['install', '--home', m1.home, 'photos:pub.dev', '--yes'])).stdout, /^photos:pub\.dev 0\.1\.0 from pub\.dev: /m)
    const meta = JSON.parse(await readFile(join(dir, 'metadata.json'), 'utf8'))
    await writeFile(join(dir, 'metadata.json'), JSON.stringify({ ...meta, version: '0.2.0' }))
    const published = await hwd(['publish', '--home', pub.home, dir])
    const [, prefix] = /^published photos:pub\.dev 0\.2\.0 blake3 ([0-9a-f]{16})…$/m.exec(published.stdout) ?? []
    assert.ok(prefix != null, published.stderr)
    const m2 = await TestNode.start({ name: 'm2.dev', peers: [pub.addr] })
    await eventually('m2 knows pub.dev', async () => knows(await m2.status(), 'pub.dev', pub.peerId))
    assert.match((await hwd(['install', '--home', m2.home, 'photos:pub.dev', '--yes'])).stdout, /^photos:pub\.dev 0\.2\.0 from pub\.dev: /m)

    // f1 asks the publisher first, then m2.dev: both list 0.2.0, but pub.dev's copy is corrupt and m2.dev's gone
    const f1 = await TestNode.start({ name: 'f1.dev', peers: [pub.addr, m2.addr] })
    await eventually('f1 knows pub.dev and m2.dev', async () => { const s = await f1.status(); return knows(s, 'pub.dev', pub.peerId) && knows(s, 'm2.dev', m2.peerId) })
    const tar = (await readdir(join(pub.home, 'releases'))).find(n => n.startsWith(prefix) && n.endsWith('.tar')) ?? ''
    const corrupt = await readFile(join(pub.home, 'releases', tar))
    corrupt[600] ^= 0xff
    await writeFile(join(pub.home, 'releases', tar), corrupt)
    const mirrored = await readFile(join(m2.home, 'releases', tar))
    await rm(join(m2.home, 'releases', tar))
    const none = await hwd(['install', '--home', f1.home, 'photos:pub.dev', '--yes'])
    assert.equal(none.code, 1, none.stdout)
    assert.match(none.stderr, /photos:pub\.dev 0\.2\.0: no node delivered its archive \(asked pub\.dev: the archive does not match its hash in the release; m2\.dev: cannot read the archive: ENOENT\); nothing installed/)
    assert.deepEqual(await installedHere(f1), [])
    assert.deepEqual(await readdir(join(f1.home, 'releases')), [])
    await writeFile(join(m2.home, 'releases', tar), mirrored)
    const next = await hwd(['install', '--home', f1.home, 'photos:pub.dev', '--yes'])
    assert.equal(next.code, 0, next.stderr)
    assert.match(next.stdout, /^photos:pub\.dev 0\.2\.0 from pub\.dev, m2\.dev: /m)
    assert.match(next.stdout, /^fetched photos:pub\.dev 0\.2\.0 from m2\.dev; before it, pub\.dev: the archive does not match its hash in the release$/m)
    assert.match(next.stdout, /^installed photos:pub\.dev: /m)

    // with the publisher away, a node that knows both mirrors takes the newest whichever it asks first
    await pub.stop()
    const f2 = await TestNode.start({ name: 'f2.dev', peers: [m1.addr, m2.addr] })
    await eventually('f2 knows m1.dev and m2.dev', async () => { const s = await f2.status(); return knows(s, 'm1.dev', m1.peerId) && knows(s, 'm2.dev', m2.peerId) })
    const newest = await hwd(['install', '--home', f2.home, 'photos:pub.dev', '--yes'])
    assert.equal(newest.code, 0, newest.stderr)
    assert.match(newest.stdout, /^photos:pub\.dev 0\.2\.0 from m2\.dev: /m)
  })

  it('asks on a terminal, and installs only when told yes', async () => {
    const { pub } = await publisher()
    const b = await TestNode.start({ name: 'b.dev', peers: [pub.addr] })
    await eventually('b knows pub.dev', async () => knows(await b.status(), 'pub.dev', pub.peerId))
    const ask = (answer: string): string => {
      const [command, ...args] = onTty([process.execPath, CLI, 'install', '--home', b.home, 'photos:pub.dev'])
      return spawnSync(command, args, { input: answer, encoding: 'utf8', timeout: 30_000 }).stdout
    }
    assert.match(ask('n\n'), /install it, granting what it asks for\? \[y\/N\][\s\S]*not installed/)
    assert.deepEqual(await installedHere(b), [])
    assert.match(ask('y\n'), /installed photos:pub\.dev/)
    assert.deepEqual(await installedHere(b), ['photos:pub.dev'])
  })

  it('refuses a release signed by another key, a tampered archive and a cut fetch, leaving nothing behind', async () => {
    const { pub, dir } = await publisher()
    const c = await TestNode.start({ name: 'c.dev', peers: [pub.addr] })
    await eventually('c knows pub.dev', async () => knows(await c.status(), 'pub.dev', pub.peerId))

    // a peer that serves photos:pub.dev as it likes: forged, tampered, or cut short
    const archive = await packFolder(dir)
    const hasher = newBlake3()
    hasher.update(archive)
    const fields = { package: 'photos', publisher: 'pub.dev', version: '0.1.0', blake3: hasher.digestBuffer() as Uint8Array<ArrayBuffer>, size: archive.byteLength, capabilities: [], dependencies: ['file-transfer:template.os'] }
    const forged = await signRelease(await generateKeyPair('Ed25519'), fields)
    let serve: (stream: any) => Promise<void> = async () => {}
    const raw = await RawPeer.start()
    await raw.node.handle(PROTOCOL, async stream => { await serve(stream) }, { maxInboundStreams: MAX_INBOUND_STREAMS })
    try {
      await raw.node.dial(multiaddr(c.addr))
      const install = async (): Promise<string> => {
        const r = await hwd(['install', '--home', c.home, 'photos:pub.dev', '--from', raw.peerId, '--yes'])
        assert.equal(r.code, 1, r.stdout)
        assert.deepEqual(await installedHere(c), [])
        assert.deepEqual(await readdir(join(c.home, 'releases')), [])
        return r.stderr
      }
      serve = async stream => { await serveRequest(stream, '', sourceOf(forged, archive)) }
      assert.match(await install(), /it is signed by 12D3\w+, not by pub\.dev's key 12D3\w+\); nothing installed/)

      const [theirs] = await listReleases(await raw.node.dial(multiaddr(pub.addr)), 'photos:pub.dev')
      const tampered = Buffer.from(archive)
      tampered[600] ^= 0xff
      serve = async stream => { await serveRequest(stream, '', sourceOf(theirs, tampered)) }
      assert.match(await install(), /photos:pub\.dev 0\.1\.0: no node delivered its archive \(asked 12D3\w+: the archive does not match its hash in the release\); nothing installed/)

      serve = async stream => {
        const pb = framed(stream, 1024 * 1024)
        const request = await pb.read(Request)
        if (request.kind === Request.Kind.LIST) {
          await pb.write({ status: Response.Status.OK, reason: '', releases: [theirs], size: 0 }, Response)
          await stream.close()
          return
        }
        await pb.write({ status: Response.Status.OK, reason: '', releases: [], size: archive.byteLength }, Response)
        const raw = pb.unwrap()
        raw.send(archive.subarray(0, archive.byteLength >> 1))
        raw.abort(new Error('cut'))
      }
      assert.match(await install(), /photos:pub\.dev 0\.1\.0: no node delivered its archive \(asked 12D3\w+: .+\); nothing installed/)
    } finally {
      await raw.stop()
    }
    const good = await hwd(['install', '--home', c.home, 'photos:pub.dev', '--yes'])
    assert.equal(good.code, 0, good.stderr)
  })
})

/** A scaffolded package `name` of `publisher` that also depends on `deps`. */
async function dependent (name: string, publisher: string, deps: string[]): Promise<string> {
  const work = await tempHome('hwd-pub-')
  assert.equal((await hwd(['new', name, '--publisher', publisher, '--dir', work])).code, 0)
  const meta = JSON.parse(await readFile(join(work, name, 'metadata.json'), 'utf8'))
  await writeFile(join(work, name, 'metadata.json'), JSON.stringify({ ...meta, dependencies: [...meta.dependencies, ...deps] }))
  return join(work, name)
}

describe('installed packages', () => {
  it('install dependencies first, list where they came from, and uninstall only what nothing needs', async () => {
    const { pub } = await publisher()
    const album = await dependent('album', 'pub.dev', ['photos:pub.dev'])
    assert.match((await hwd(['publish', '--home', pub.home, album])).stdout, /^published album:pub\.dev 0\.1\.0 /m)
    const b = await TestNode.start({ name: 'b.dev', peers: [pub.addr] })
    await eventually('b knows pub.dev', async () => knows(await b.status(), 'pub.dev', pub.peerId))

    const r = await hwd(['install', '--home', b.home, 'album:pub.dev', '--yes'])
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stdout, /^photos:pub\.dev 0\.1\.0 from pub\.dev: [\s\S]*^album:pub\.dev 0\.1\.0 from pub\.dev: [\s\S]*^ {2}depends on: file-transfer:template\.os, photos:pub\.dev$[\s\S]*^installed photos:pub\.dev: [\s\S]*^installed album:pub\.dev: /m)
    const listed = await hwd(['packages', '--home', b.home])
    assert.match(listed.stdout, /^photos:pub\.dev 0\.1\.0: sandboxed, holds file-transfer:template\.os; running \(pid \d+\); installed, blake3 [0-9a-f]{16}…$/m)

    const needed = await hwd(['uninstall', '--home', b.home, 'photos:pub.dev'])
    assert.equal(needed.code, 1)
    assert.match(needed.stderr, /album:pub\.dev depends on photos:pub\.dev; uninstall it first/)
    assert.match((await hwd(['uninstall', '--home', b.home, 'file-transfer:template.os'])).stderr, /file-transfer:template\.os is built in/)
    for (const id of ['album:pub.dev', 'photos:pub.dev']) {
      const gone = await hwd(['uninstall', '--home', b.home, id])
      assert.match(gone.stdout, new RegExp(`^uninstalled ${id.replace('.', '\\.')} 0\\.1\\.0; its drive and state stay`, 'm'), gone.stderr)
    }
    assert.deepEqual(await installedHere(b), [])
    assert.doesNotMatch((await b.run('help')).stdout, /photos:pub\.dev/)
    assert.deepEqual(await readdir(join(b.home, 'releases')), [], 'no longer mirrored')
    // and again, from scratch
    assert.equal((await hwd(['install', '--home', b.home, 'photos:pub.dev', '--yes'])).code, 0)
  })

  it('a package loaded with --package fetches its missing dependency from the network, or says where it looked', async () => {
    const { pub } = await publisher()
    const album = await dependent('album', 'c.dev', ['photos:pub.dev'])
    const lost = await dependent('lost', 'c.dev', ['nothing:pub.dev'])
    const c = await TestNode.start({ name: 'c.dev', peers: [pub.addr], extra: ['--package', album, '--package', lost] })
    await c.waitForOutput(/^loaded album:c\.dev 0\.1\.0$/m, 20_000)
    assert.match(c.output, /^fetching photos:pub\.dev, which album:c\.dev depends on$/m)
    assert.match(c.output, /^photos:pub\.dev 0\.1\.0 from pub\.dev: .*, holding nothing beyond its own drive: installed: download:photos:pub\.dev/m)
    assert.match((await c.run('help')).stdout, /download:album:c\.dev/)
    assert.deepEqual(await installedHere(c), ['photos:pub.dev'])
    await c.waitForOutput(/^refused package lost:c\.dev: missing dependency nothing:pub\.dev: no node serves nothing:pub\.dev that this node can trust \(asked pub\.dev: does not have it\)/m, 20_000)
  })
})

describe('what a release may not do', () => {
  it('a node started with --no-mirror serves only what it published', async () => {
    const { pub } = await publisher()
    const b = await TestNode.start({ name: 'b.dev', peers: [pub.addr], extra: ['--no-mirror'] })
    await eventually('b knows pub.dev', async () => knows(await b.status(), 'pub.dev', pub.peerId))
    assert.equal((await hwd(['install', '--home', b.home, 'photos:pub.dev', '--yes'])).code, 0)
    await pub.stop()
    const c = await TestNode.start({ name: 'c.dev', peers: [b.addr] })
    await eventually('c knows b.dev', async () => knows(await c.status(), 'b.dev', b.peerId))
    const r = await hwd(['install', '--home', c.home, 'photos:pub.dev', '--yes'])
    assert.equal(r.code, 1)
    assert.match(r.stderr, /no node serves photos:pub\.dev that this node can trust \(asked pub\.dev: pub\.dev is offline.*; b\.dev: does not have it\); nothing installed/)
  })

  it('refuses a dependency cycle before fetching anything', async () => {
    const work = await tempHome('hwd-pub-')
    const pub = await TestNode.start({ name: 'pub.dev' })
    for (const [name, dep] of [['ping', 'pong'], ['pong', 'ping']]) {
      assert.equal((await hwd(['new', name, '--publisher', 'pub.dev', '--dir', work])).code, 0)
      const meta = JSON.parse(await readFile(join(work, name, 'metadata.json'), 'utf8'))
      await writeFile(join(work, name, 'metadata.json'), JSON.stringify({ ...meta, dependencies: [`${dep}:pub.dev`] }))
      assert.equal((await hwd(['publish', '--home', pub.home, join(work, name)])).code, 0)
    }
    const b = await TestNode.start({ name: 'b.dev', peers: [pub.addr] })
    await eventually('b knows pub.dev', async () => knows(await b.status(), 'pub.dev', pub.peerId))
    const r = await hwd(['install', '--home', b.home, 'ping:pub.dev', '--yes'])
    assert.match(r.stderr, /dependency cycle: ping:pub\.dev → pong:pub\.dev → ping:pub\.dev/)
    assert.deepEqual(await installedHere(b), [])
  })

  it('refuses an archive whose metadata.json says other than its signed record', async () => {
    const c = await TestNode.start({ name: 'c.dev' })
    const raw = await RawPeer.start()
    try {
      await raw.claim(c, 'evil.dev')
      const work = await tempHome('hwd-pub-')
      assert.equal((await hwd(['new', 'tool', '--publisher', 'evil.dev', '--dir', work])).code, 0)
      const meta = JSON.parse(await readFile(join(work, 'tool', 'metadata.json'), 'utf8'))
      await writeFile(join(work, 'tool', 'metadata.json'), JSON.stringify({ ...meta, capabilities: ['net'] }))
      const archive = await packFolder(join(work, 'tool'))
      const hasher = newBlake3()
      hasher.update(archive)
      // the record asks for nothing; the package inside asks for the network
      const release = await signRelease(raw.key, { package: 'tool', publisher: 'evil.dev', version: '0.1.0', blake3: hasher.digestBuffer() as Uint8Array<ArrayBuffer>, size: archive.byteLength, capabilities: [], dependencies: ['file-transfer:template.os'] })
      await raw.node.handle(PROTOCOL, async stream => { await serveRequest(stream, '', sourceOf(release, archive)) })
      const r = await hwd(['install', '--home', c.home, 'tool:evil.dev', '--yes'])
      assert.equal(r.code, 1)
      assert.match(r.stderr, /the archive's metadata\.json does not match its signed release: its capabilities differ; nothing installed/)
      assert.deepEqual(await installedHere(c), [])
    } finally {
      await raw.stop()
    }
  })
})

/** A release source for the hostile peer: one release and the bytes it serves as its archive. */
function sourceOf (release: Release, archive: Buffer): Parameters<typeof serveRequest>[2] {
  return {
    list: () => [release],
    archive: async () => {
      const path = join(await tempHome('hwd-raw-'), 'a.tar')
      await writeFile(path, archive)
      return { path, size: archive.byteLength }
    },
    refusal: () => undefined,
    take: () => true,
    free () {},
    signal: new AbortController().signal
  }
}
