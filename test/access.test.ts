import '../daemon/polyfill.ts'
/**
 * Who may use a node: fake.dev starts with `--allow fake2.dev`; fake3.dev, not on the list, is
 * refused list-files, downloads and chat, each with REFUSED and a reason, and fake.dev's
 * terminal tells each refusal in one line. `allow`/`deny` change the list at run time, and
 * the list outlives a restart.
 */
import assert from 'node:assert/strict'
import { readdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { CHAT_PKG, drive, eventually, knows, stopAll, TestNode } from './helpers.ts'

const SEND = `send:${CHAT_PKG}`
const DOWNLOAD = `download:${CHAT_PKG}`
const LIST = `list-files:${CHAT_PKG}`

describe('access list', () => {
  let a: TestNode, b: TestNode, c: TestNode

  before(async () => {
    a = await TestNode.start({ name: 'fake.dev', extra: ['--allow', 'fake2.dev'] })
    ;[b, c] = await Promise.all([
      TestNode.start({ name: 'fake2.dev', peers: [a.addr] }),
      TestNode.start({ name: 'fake3.dev', peers: [a.addr] })
    ])
    await eventually('names exchanged', async () => {
      const s = await a.status()
      return knows(s, 'fake2.dev', b.peerId) && knows(s, 'fake3.dev', c.peerId) && knows(await c.status(), 'fake.dev', a.peerId)
    })
    await writeFile(join(drive(a), 'x.txt'), 'only for friends')
  })

  after(stopAll)

  it('a node not on the list is refused listing, downloading and chat, each in one line on both sides', async () => {
    const list = await c.run(LIST, 'fake.dev')
    assert.notEqual(list.code, 0)
    assert.match(list.stderr, /^hwd: fake\.dev: .*fake\.dev does not serve fake3\.dev: not on its access list.*\n$/)
    await a.waitForOutput(/^refused fake3\.dev \(list-files\): not on the access list$/m)

    const got = await c.run(DOWNLOAD, 'x.txt', 'fake.dev')
    assert.notEqual(got.code, 0)
    assert.match(got.stderr, /not on its access list/)
    assert.equal(got.stderr.trimEnd().split('\n').length, 1)
    assert.deepEqual(await readdir(drive(c)), [], 'nothing written, not even a partial file')
    await a.waitForOutput(/^refused fake3\.dev \(download\): not on the access list$/m)

    const sent = await c.run(SEND, 'fake.dev', 'let me in')
    assert.notEqual(sent.code, 0)
    assert.match(sent.stderr, /^hwd: not delivered: .*not on its access list.*\n$/)
    await a.waitForOutput(/^refused fake3\.dev \(chat\): not on the access list$/m)
    assert.doesNotMatch(a.output, /let me in/)
  })

  it('an allowed node is served', async () => {
    const got = await b.run(DOWNLOAD, 'x.txt', 'fake.dev')
    assert.equal(got.code, 0, got.stderr)
    assert.equal(await readFile(join(drive(b), 'x.txt'), 'utf8'), 'only for friends')
    assert.equal((await b.run(SEND, 'fake.dev', 'hi')).code, 0)
  })

  it('deny and allow change the list at once, and it is kept in the home across a restart', async () => {
    const denied = await a.run('deny', 'fake2.dev')
    assert.equal(denied.code, 0, denied.stderr)
    assert.match(denied.stdout, /^allowed: any node$/m)
    assert.match(denied.stdout, /^refused: fake2\.dev$/m)
    assert.match((await b.run(LIST, 'fake.dev')).stderr, /not on its access list/)
    assert.equal((await c.run(LIST, 'fake.dev')).code, 0, 'with nothing allowed, any node not refused is served')

    const bad = await a.run('allow', 'Not A Name')
    assert.notEqual(bad.code, 0)
    assert.match(bad.stderr, /is not a node name/)

    const home = a.home
    await a.stop()
    a = await TestNode.start({ name: 'fake.dev', home, port: a.port })
    const shown = await a.run('access')
    assert.match(shown.stdout, /^refused: fake2\.dev$/m)
    await eventually('fake2.dev back, and still refused', async () => /not on its access list/.test((await b.run(LIST, 'fake.dev')).stderr), 15_000)
  })
})
