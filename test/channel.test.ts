import '../daemon/polyfill.ts'
import assert from 'node:assert/strict'
import { createConnection, createServer, type Socket } from 'node:net'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { serialize } from 'node:v8'
import { AccessError, Channel, type ChannelLimits } from '../daemon/sandbox/channel.ts'
import { stopAll, tempHome } from './helpers.ts'

after(stopAll)

const OPEN: ChannelLimits = { maxMessageBytes: 1024 * 1024, maxBytesPerSecond: Infinity, maxMessagesPerSecond: Infinity, maxCallsInFlight: Infinity }

/** Two ends of a Unix socket: the daemon's, with `limits`, and the package's raw socket. */
async function pair (limits: ChannelLimits): Promise<{ daemon: Channel, raw: Socket, close: () => void }> {
  const path = join(await tempHome('hwd-channel-'), 's.sock')
  const accepted = new Promise<Socket>(resolve => {
    const server = createServer(resolve).listen(path)
    after(() => { server.close() })
  })
  const raw = createConnection(path)
  const daemon = new Channel(await accepted, limits)
  return { daemon, raw, close: () => { raw.destroy(); daemon.close() } }
}

function frame (message: unknown): Buffer {
  const body = serialize(message)
  const head = Buffer.alloc(4)
  head.writeUInt32BE(body.byteLength)
  return Buffer.concat([head, body])
}

describe('the sandbox channel', () => {
  it('answers requests, and passes a refusal on by its name', async () => {
    const { daemon, raw, close } = await pair(OPEN)
    const child = new Channel(raw, OPEN)
    daemon.handle('add', ({ a, b }) => a + b)
    daemon.handle('secret', () => { throw new AccessError('not granted') })
    assert.equal(await child.request('add', { a: 2, b: 3 }), 5)
    await assert.rejects(child.request('secret'), { name: 'AccessError', message: 'not granted' })
    await assert.rejects(child.request('nothing'), { name: 'AccessError', message: 'no such call: nothing' })
    close()
  })

  it('ends at the first frame over its size limit, before reading it', async () => {
    const { daemon, raw, close } = await pair({ ...OPEN, maxMessageBytes: 1000 })
    const closed = new Promise<Error>(resolve => { daemon.whenClosed(resolve) })
    const head = Buffer.alloc(4)
    head.writeUInt32BE(1001)
    raw.write(head)
    assert.equal((await closed).message, 'sent a message of 1001 bytes, over the limit of 1000')
    close()
  })

  it('reads no faster than its rate', async () => {
    const { daemon, raw, close } = await pair({ ...OPEN, maxMessagesPerSecond: 50 })
    let got = 0
    const all = new Promise<void>(resolve => { daemon.on('tick', () => { if (++got === 100) resolve() }) })
    const started = Date.now()
    raw.write(Buffer.concat(Array.from({ length: 100 }, () => frame({ t: 'n', op: 'tick', args: {} }))))
    await all
    assert.ok(Date.now() - started >= 900, `100 messages at 50 a second took ${Date.now() - started} ms`)
    close()
  })
})
