import '../daemon/polyfill.ts'
/**
 * Who may use a node: fake.dev starts with `--allow fake2.dev`; fake3.dev, not on the list, is
 * refused list-files, downloads and chat, each with REFUSED and a reason, and fake.dev's
 * terminal tells a peer's first refusal in one line and those that follow as one count a
 * window, however many there are. `allow`/`deny` change the list at run time, and the list
 * outlives a restart.
 */
import assert from 'node:assert/strict'
import { readdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { pbStream } from '@libp2p/utils'
import { PROTOCOL as FILE_TRANSFER } from '../protocol/file-transfer/constants.ts'
import { Request, Response } from '../protocol/file-transfer/index.ts'
import { MAX_PEERS, REFUSAL_WINDOW_MS, RefusalLines } from '../daemon/refusal-lines.ts'
import { CHAT_PKG, drive, eventually, FT_PKG, knows, stopAll, TestNode } from './helpers.ts'
import { RawPeer } from './raw-peer.ts'

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

  it('a node not on the list is refused listing, downloading and chat: one line on its side each time, one line and a count on ours', async () => {
    const list = await c.run(LIST, 'fake.dev')
    assert.notEqual(list.code, 0)
    assert.match(list.stderr, /^hwd: fake\.dev: .*fake\.dev does not serve fake3\.dev: not on its access list.*\n$/)
    await a.waitForOutput(/^refused fake3\.dev \(list-files\): not on the access list$/m)

    const got = await c.run(DOWNLOAD, 'x.txt', 'fake.dev')
    assert.notEqual(got.code, 0)
    assert.match(got.stderr, /not on its access list/)
    assert.equal(got.stderr.trimEnd().split('\n').length, 1)
    assert.deepEqual(await readdir(drive(c)), [], 'nothing written, not even a partial file')

    const sent = await c.run(SEND, 'fake.dev', 'let me in')
    assert.notEqual(sent.code, 0)
    assert.match(sent.stderr, /^hwd: not delivered: .*not on its access list.*\n$/)
    await a.waitForOutput(/^refused fake3\.dev 2 more times in the last 1\d s \(download, chat\)$/m, REFUSAL_WINDOW_MS + 5_000)
    assert.equal(a.output.match(/^refused fake3\.dev/mg)?.length, 2, 'the first refusal and the count, no line for each')
    assert.doesNotMatch(a.output, /let me in/)
  })

  it('a peer that asks in a loop gets REFUSED every time, and our terminal tells its first refusal and then the exact count', async () => {
    const raw = await RawPeer.start()
    try {
      await raw.claim(a, 'fake4.dev')
      const from = a.output.length
      const request = { kind: Request.Kind.LIST, drive: FT_PKG, file: '', offset: 0, ifVersion: new Uint8Array(0) }
      for (let i = 0; i < 50; i++) {
        const pb = pbStream(await raw.open(a.addr, FILE_TRANSFER))
        await pb.write(request, Request)
        const response = await pb.read(Response)
        assert.equal(response.status, Response.Status.REFUSED)
        assert.equal(response.reason, 'fake.dev does not serve fake4.dev: not on its access list')
        await pb.unwrap().close()
      }
      await a.waitForOutput(/^refused fake4\.dev 49 more times in the last 1\d s \(list-files\)$/m, REFUSAL_WINDOW_MS + 5_000, from)
      const told = a.output.slice(from).match(/^refused fake4\.dev.*$/mg) ?? []
      assert.equal(told.length, 2, told.join('\n'))
      assert.equal(told[0], 'refused fake4.dev (list-files): not on the access list')
    } finally {
      await raw.stop()
    }
  })

  it('past MAX_PEERS refused peers at once, the rest are counted together; stop tells the counts not yet told', async () => {
    const lines: string[] = []
    let told = (): void => {}
    const refusals = new RefusalLines(text => { lines.push(text); told() }, 300)
    const windowEnded = new Promise<void>(resolve => { told = () => { if (lines.length === MAX_PEERS + 2) resolve() } })
    for (let i = 0; i < MAX_PEERS + 3; i++) refusals.tell(`id${i}`, `p${i}.dev`, 'chat', 'not on the access list')
    refusals.tell('id0', 'p0.dev', 'download', 'not on the access list')
    refusals.tell(`id${MAX_PEERS + 3}`, 'late.dev', 'list-files', 'not on the access list')
    assert.equal(lines.length, MAX_PEERS)
    assert.equal(lines[1], 'refused p1.dev (chat): not on the access list')
    await windowEnded
    assert.deepEqual(lines.slice(MAX_PEERS).sort(), [
      'refused 4 more peers 4 times in the last 1 s (chat, list-files), counted together past 32 refused peers at once',
      'refused p0.dev 1 more time in the last 1 s (download)'
    ])
    refusals.tell('id0', 'p0.dev', 'chat', 'not on the access list')
    refusals.stop()
    assert.equal(lines.at(-1), 'refused p0.dev 1 more time in the last 1 s (chat)')
    assert.equal(lines.length, MAX_PEERS + 3)
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
    for (let i = 0; i < 2; i++) assert.match((await b.run(LIST, 'fake.dev')).stderr, /not on its access list/)
    assert.equal((await c.run(LIST, 'fake.dev')).code, 0, 'with nothing allowed, any node not refused is served')

    const bad = await a.run('allow', 'Not A Name')
    assert.notEqual(bad.code, 0)
    assert.match(bad.stderr, /is not a node name/)

    const home = a.home
    await a.stop()
    assert.match(a.output, /^refused fake2\.dev 1 more time in the last \d+ s \(list-files\)$/m, 'a count not yet told is told as the node stops')
    a = await TestNode.start({ name: 'fake.dev', home, port: a.port })
    const shown = await a.run('access')
    assert.match(shown.stdout, /^refused: fake2\.dev$/m)
    await eventually('fake2.dev back, and still refused', async () => /not on its access list/.test((await b.run(LIST, 'fake.dev')).stderr), 15_000)
  })
})
