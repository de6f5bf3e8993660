/**
 * What a peer says reaches no terminal, pipe or JSON raw, and names no local path: a bare
 * libp2p peer offers hostile file names and sends hostile chat, a real daemon holds a hostile
 * file in its drive, and every output of the node that meets them is searched for control bytes.
 */
import '../daemon/polyfill.ts'
import assert from 'node:assert/strict'
import { readdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { after, afterEach, describe, it } from 'node:test'
import { pbStream } from '@libp2p/utils'
import { Ack, ChatMessage, PROTOCOL as CHAT } from '../protocol/chat/index.ts'
import { PROTOCOL, Request, Response } from '../protocol/file-transfer/index.ts'
import { fullResponse } from '../packages/file-transfer/upload.ts'
import { CHAT_PKG, drive, hwd, pair, stopAll, TestNode } from './helpers.ts'
import { RawPeer } from './raw-peer.ts'

afterEach(stopAll)
after(stopAll)

/** The issue's own example: colour, then a line that reads as a chat message from fake.dev. */
const FORGED = 'evil\u001b[31mRED\u001b[0m\nfake.dev: forged line'
/** U+009B is CSI on a terminal that takes C1 controls. */
const C1 = 'c1\u009b2J'
const HOSTILE_NAMES = [FORGED, C1, '../escape', 'a\u007fb']

/** Any control character but the newline that ends a line. */
const RAW_CONTROL = /(?!\n)\p{Cc}/u

function assertNoRawControl (what: string, text: string): void {
  const found = RAW_CONTROL.exec(text)
  assert.equal(found, null, `${what} holds a raw control character U+${found?.[0].charCodeAt(0).toString(16).padStart(4, '0')}: ${JSON.stringify(text.slice(0, 400))}`)
}

describe('text from peers', () => {
  it('leaves hostile names out of a listing, refuses them, creates nothing and prints nothing raw', async () => {
    const a = await TestNode.start({ name: 'fake.dev', keepStdin: true })
    const raw = await RawPeer.start()
    try {
      const asked: string[] = []
      await raw.node.handle(PROTOCOL, async stream => {
        const pb = pbStream(stream)
        const request = await pb.read(Request)
        asked.push(request.kind === Request.Kind.LIST ? 'LIST' : `DOWNLOAD ${request.file}`)
        const files = [...HOSTILE_NAMES, 'fine.txt'].map(name => ({ name, size: 3 }))
        await pb.write(fullResponse({ status: Response.Status.OK, files }), Response)
        await stream.close()
      })
      await raw.claim(a, 'evil.dev')

      const listed = await a.run(`list-files:${CHAT_PKG}`, 'evil.dev')
      assert.equal(listed.code, 0, listed.stderr)
      assert.deepEqual(listed.stdout.trim().split('\n').slice(1).map(l => l.split(/\s+/)[0]), ['fine.txt', 'left'])
      assert.match(listed.stdout, /^left out 4 names that evil.dev offered/m)

      const before = await readdir(drive(a))
      for (const name of HOSTILE_NAMES) {
        const refused = await a.run(`download:${CHAT_PKG}`, name, 'evil.dev')
        assert.notEqual(refused.code, 0)
        assert.match(refused.stderr, /^hwd: invalid file name ".*": it (contains a (control character|path separator))\n$/)
        assertNoRawControl('a refused download', refused.stdout + refused.stderr)
      }
      assert.deepEqual(await readdir(drive(a)), before, 'nothing is created for a refused name')
      assert.deepEqual(asked, ['LIST'], 'no hostile name is ever asked for')

      // the node's own terminal: the same listing, typed
      a.type(`list-files:${CHAT_PKG} evil.dev`)
      await a.waitForOutput(/^left out 4 names/m)
      const status = await hwd(['status', '--home', a.home])
      const json = await hwd(['status', '--home', a.home, '--json'])
      for (const [what, text] of [['the terminal', a.output], ['status', status.stdout], ['status --json', json.stdout], ['list-files', listed.stdout]]) {
        assertNoRawControl(what, text)
      }
    } finally {
      await raw.stop()
    }
  })

  it('neither lists nor serves a file whose name holds control characters', async () => {
    const [a, b] = await pair()
    await writeFile(join(drive(b), FORGED), 'hostile')
    await writeFile(join(drive(b), 'plain.txt'), 'plain')
    const listed = await a.run(`list-files:${CHAT_PKG}`, 'fake2.dev')
    assert.deepEqual(listed.stdout.trim().split('\n').slice(1).map(l => l.split(/\s+/)[0]), ['plain.txt'], 'not offered, so nothing is left out either')

    // a bare peer asks for it by name anyway
    const raw = await RawPeer.start()
    try {
      const stream = await raw.open(b.addr, PROTOCOL)
      const pb = pbStream(stream)
      await pb.write({ kind: Request.Kind.DOWNLOAD, drive: CHAT_PKG, file: FORGED, offset: 0, ifVersion: new Uint8Array(0) }, Request)
      const response = await pb.read(Response)
      assert.equal(response.status, Response.Status.REFUSED)
      assert.match(response.reason, /control character/)
    } finally {
      await raw.stop()
    }
    assertNoRawControl('the serving terminal', b.output)
  })

  it('shows hostile chat escaped in the terminal, in history and in status', async () => {
    const a = await TestNode.start({ name: 'fake.dev' })
    const raw = await RawPeer.start()
    try {
      await raw.claim(a, 'evil.dev')
      const text = `${FORGED} ${C1}`
      const stream = await raw.open(a.addr, CHAT)
      const pb = pbStream(stream)
      await pb.write({ text, sentAt: BigInt(Date.now()) }, ChatMessage)
      assert.equal((await pb.read(Ack)).status, Ack.Status.OK)
      await stream.close()
      await a.waitForOutput(/^evil.dev: evil\\u001b\[31mRED\\u001b\[0m\\u000afake.dev: forged line c1\\u009b2J$/m)
      assert.doesNotMatch(a.output, /^fake.dev: forged line/m, 'no forged line of its own')
      const history = await a.run(`history:${CHAT_PKG}`, 'evil.dev')
      assert.equal(history.code, 0, history.stderr)
      assert.equal(history.stdout.trim().split('\n').length, 1)
      const json = await hwd(['status', '--home', a.home, '--json'])
      for (const [what, out] of [['the terminal', a.output], ['history', history.stdout], ['status --json', json.stdout]]) {
        assertNoRawControl(what, out)
      }
    } finally {
      await raw.stop()
    }
  })
})
