import '../daemon/polyfill.ts'
import assert from 'node:assert/strict'
import { createConnection, createServer, type Socket } from 'node:net'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { deserialize, serialize } from 'node:v8'
import { AccessError, Channel, type ChannelLimits } from '../daemon/sandbox/channel.ts'
import { eventually, stopAll, tempHome } from './helpers.ts'

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
  const close = (): void => { raw.destroy(); daemon.close() }
  // a test that fails before its own close would otherwise hold the run open
  after(close)
  return { daemon, raw, close }
}

/** The messages that arrive on a raw socket, as they arrive. */
function messages (raw: Socket): any[] {
  const got: any[] = []
  let buffer = Buffer.alloc(0)
  raw.on('data', (chunk: Buffer) => {
    buffer = Buffer.concat([buffer, chunk])
    while (buffer.byteLength >= 4 && buffer.byteLength >= 4 + buffer.readUInt32BE(0)) {
      got.push(deserialize(buffer.subarray(4, 4 + buffer.readUInt32BE(0))))
      buffer = buffer.subarray(4 + buffer.readUInt32BE(0))
    }
  })
  return got
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

  it('carries a request\'s own notices until its reply, and cancels it on its caller\'s signal', async () => {
    const { daemon, raw, close } = await pair(OPEN)
    const child = new Channel(raw, OPEN)
    let handler: { signal: AbortSignal, notify: (n: unknown) => void } | undefined
    daemon.handle('count', async ({ to }, call) => {
      handler = call
      for (let i = 1; i <= to; i++) call.notify({ i })
      await new Promise((resolve, reject) => { call.signal.addEventListener('abort', () => { reject(call.signal.reason) }) })
    })
    const heard: unknown[] = []
    const cancel = new AbortController()
    const reply = child.request('count', { to: 3 }, { signal: cancel.signal, onNotice: n => { heard.push(n) } })
    await eventually('three notices', async () => heard.length === 3)
    cancel.abort()
    // a plain abort, which a download tells as stopped, to resume
    await assert.rejects(reply, { name: 'AbortError' })
    assert.equal(handler?.signal.aborted, true)
    assert.deepEqual(heard, [{ i: 1 }, { i: 2 }, { i: 3 }])
    await assert.rejects(child.request('count', { to: 1 }, { signal: AbortSignal.abort() }), { name: 'AbortError' })
    close()
  })

  it('refuses a request that reuses the number of one still running, which runs on, and sends no notice after a reply', async () => {
    const { daemon, raw, close } = await pair(OPEN)
    const got = messages(raw)
    let release: () => void = () => {}
    let late: (n: unknown) => void = () => {}
    daemon.handle('wait', async (_, { notify }) => {
      late = notify
      await new Promise<void>(resolve => { release = resolve })
      return 'done'
    })
    daemon.handle('ping', () => 'pong')
    raw.write(frame({ t: 'q', call: 7, op: 'wait', args: {} }))
    raw.write(frame({ t: 'q', call: 7, op: 'wait', args: {} }))
    await eventually('the refusal', async () => got.length === 1)
    assert.deepEqual(got[0], { t: 'r', call: 7, error: { name: 'AccessError', message: 'a call needs a number of its own', hwd: true } })
    release()
    await eventually('the first call\'s reply', async () => got.length === 2)
    assert.deepEqual(got[1], { t: 'r', call: 7, value: 'done' })
    late({ too: 'late' })
    // a round trip after the late notice: had it been sent, it would have come first
    raw.write(frame({ t: 'q', call: 8, op: 'ping', args: {} }))
    await eventually('the ping\'s reply', async () => got.length === 3)
    assert.deepEqual(got[2], { t: 'r', call: 8, value: 'pong' })
    close()
  })
})
