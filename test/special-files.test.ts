import '../daemon/polyfill.ts'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { readFile, symlink, writeFile } from 'node:fs/promises'
import { createServer, type Server } from 'node:net'
import { join } from 'node:path'
import { after, afterEach, describe, it } from 'node:test'
import { pbStream } from '@libp2p/utils'
import { PROTOCOL, Request, Response } from '../protocol/file-transfer/index.ts'
import { CHAT_PKG, drive, pair, stopAll } from './helpers.ts'
import { RawPeer } from './raw-peer.ts'

afterEach(stopAll)
after(stopAll)

/** More than libuv's four threads: before O_NONBLOCK, four of these froze every file access. */
const FIFO_REQUESTS = 6

describe('special files in a drive', () => {
  it('neither lists nor serves a FIFO, a socket or a device, and a FIFO asked for many times at once stalls nothing', async () => {
    const [a, b] = await pair()
    const files = drive(b)
    execFileSync('mkfifo', [join(files, 'pipe')])
    await symlink(join(files, 'pipe'), join(files, 'to-pipe'))
    const socket: Server = createServer()
    await new Promise<void>(resolve => socket.listen(join(files, 'sock'), resolve))
    const special = ['pipe', 'to-pipe', 'sock']
    if (process.getuid?.() === 0) {
      execFileSync('mknod', [join(files, 'null'), 'c', '1', '3'])
      special.push('null')
    }
    await writeFile(join(files, 'plain.txt'), 'plain\n')
    const raw = await RawPeer.start()
    try {
      // all sent before anything else is asked, none awaited: each would hold a thread in open()
      await (await raw.open(b.addr, PROTOCOL)).close() // one connection, that the requests share
      const answers = await Promise.all(Array.from({ length: FIFO_REQUESTS }, async () => {
        const pb = pbStream(await raw.open(b.addr, PROTOCOL))
        await pb.write({ kind: Request.Kind.DOWNLOAD, drive: CHAT_PKG, file: 'pipe', offset: 0, ifVersion: new Uint8Array(0) }, Request)
        return pb
      }))
      const list = await a.run(`list-files:${CHAT_PKG}`, 'fake2.dev')
      assert.equal(list.code, 0, list.stderr)
      assert.deepEqual(list.stdout.trim().split('\n').slice(1).map(l => l.split(/\s{2,}/)[0]), ['plain.txt'], 'only the regular file is listed')
      const got = await a.run(`download:${CHAT_PKG}`, 'plain.txt', 'fake2.dev')
      assert.equal(got.code, 0, got.stderr)
      assert.equal(await readFile(join(drive(a), 'plain.txt'), 'utf8'), 'plain\n')
      for (const pb of answers) {
        const response = await pb.read(Response, { signal: AbortSignal.timeout(5_000) })
        assert.equal(response.status, Response.Status.NOT_FOUND)
      }
      for (const name of special) {
        const r = await a.run(`download:${CHAT_PKG}`, name, 'fake2.dev')
        assert.equal(r.code, 1, name)
        assert.equal(r.stderr, `hwd: fake2.dev: ${name} in ${CHAT_PKG} is not a regular file\n`)
      }
    } finally {
      await raw.stop()
      socket.close()
    }
  })
})
