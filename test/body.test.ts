import '../daemon/polyfill.ts'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { open, readFile, writeFile } from 'node:fs/promises'
import type { Socket } from 'node:net'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { Stream } from '@libp2p/interface'
import { blake3 } from '@noble/hashes/blake3.js'
import { createNode, type HwdLibp2p } from '../daemon/node.ts'
import { receiveBody, sendBody } from '../protocol/file-transfer/index.ts'
import { CHUNK_BYTES } from '../protocol/file-transfer/constants.ts'
import { stopAll, tempHome } from './helpers.ts'

const PROTOCOL = '/hwd/test/body/1.0.0'
/**
 * Past the 8 MiB the receiver lets wait for its disk, so it pauses the stream, and within what
 * the stream's window lets the sender send meanwhile, so the sender finishes and closes.
 */
const SIZE = 12 * 1024 * 1024 + 4321

after(stopAll)

async function node (): Promise<HwdLibp2p> {
  return await createNode({ privateKey: await generateKeyPair('Ed25519'), host: '127.0.0.1', port: 0, announce: [], mdns: false })
}

/** A new temporary folder holding `source.bin`, `size` random bytes. */
async function randomSource (size: number): Promise<{ dir: string, source: string }> {
  const dir = await tempHome('hwd-body-')
  const source = join(dir, 'source.bin')
  await writeFile(source, randomBytes(size))
  return { dir, source }
}

/** Serve the body of `source` (`size` bytes) and `trailer` on PROTOCOL; `sent` settles once it is sent and closed. */
async function serveBody (sender: HwdLibp2p, source: string, trailer: Uint8Array, onStream = (stream: Stream): void => {}, size = SIZE): Promise<{ sent: Promise<void> }> {
  const sent = Promise.withResolvers<void>()
  await sender.handle(PROTOCOL, async stream => {
    onStream(stream)
    const file = await open(source)
    try {
      await sendBody(stream, file, 0, size, { onSent: () => {}, trailer: async () => trailer }, AbortSignal.timeout(60_000))
      await stream.close()
      sent.resolve()
    } catch (err) {
      sent.reject(err)
    } finally {
      await file.close()
    }
  })
  return { sent: sent.promise }
}

/** Ask `sender` for its body on PROTOCOL and write the `size` bytes that come to `path`; `onStream` sees the stream first. */
async function fetchBody (receiver: HwdLibp2p, sender: HwdLibp2p, path: string, size: number, onStream = (stream: Stream): void => {}): Promise<void> {
  const stream = await receiver.dialProtocol(sender.getMultiaddrs()[0], PROTOCOL)
  onStream(stream)
  await stream.close()
  const target = await open(path, 'w')
  try {
    await receiveBody(stream, size, { write: async (chunks, position) => { await target.writev(chunks, position) }, onProgress: () => {} }, AbortSignal.timeout(60_000))
  } finally {
    await target.close()
  }
}

describe('a download body between two real nodes', () => {
  it('arrives whole, decrypted without a copy, when the stream closes while a slow disk keeps it paused with data buffered', async () => {
    const dir = await tempHome('hwd-body-')
    const source = join(dir, 'source.bin')
    const data = randomBytes(SIZE)
    const hash = blake3(data)
    await writeFile(source, data)
    const [sender, receiver] = await Promise.all([node(), node()])
    try {
      const { sent } = await serveBody(sender, source, hash)
      const stream = await receiver.dialProtocol(sender.getMultiaddrs()[0], PROTOCOL)
      // daemon/noise.ts gives each secured connection its own decrypt (stock noise's is on the
      // prototype); count its calls, to know the body came through it
      const secured = (receiver.getConnections()[0] as unknown as { muxer: { maConn: { decrypt: (...args: unknown[]) => unknown } } }).muxer.maConn
      assert.ok(Object.hasOwn(secured, 'decrypt'), 'noise has the shape daemon/noise.ts knows')
      const shim = secured.decrypt
      let decrypted = 0
      secured.decrypt = function (...args) { decrypted++; return shim.apply(this, args) }
      // A receiver that has said all it will say: once the sender closes too, the stream
      // emits a graceful 'close' (not 'end') while the slow disk keeps data in its buffer.
      await stream.close()
      let pausedWhenClosed = false
      const closed = new Promise(resolve => {
        // added before receiveBody's own listener, so this sees the stream as the body will
        stream.addEventListener('close', () => {
          pausedWhenClosed = stream.readStatus === 'paused' && stream.readBufferLength > 0
          resolve(undefined)
        }, { once: true })
      })
      const target = await open(join(dir, 'target.bin'), 'w')
      let trailer: Uint8Array
      try {
        trailer = await receiveBody(stream, SIZE, {
          // a disk that stalls after the first write until the stream has closed
          write: async (chunks, position) => {
            if (position > 0) await closed
            await target.writev(chunks, position)
          },
          onProgress: () => {}
        }, AbortSignal.timeout(30_000))
      } finally {
        await target.close()
      }
      await sent
      assert.ok(pausedWhenClosed, 'the stream was paused, with data buffered, when the sender closed')
      const received = await readFile(join(dir, 'target.bin'))
      assert.ok(received.equals(data), `${received.byteLength} bytes, not the ${SIZE} sent`)
      assert.deepEqual(trailer, hash, 'the trailer follows the body')
      assert.ok(decrypted >= SIZE / 65535, `the body came through the decrypt that makes no copy: ${decrypted} messages`)
    } finally {
      await Promise.all([sender.stop(), receiver.stop()])
    }
  })

  it('leaves the sender in about one socket write per noise message, not one per buffer', async () => {
    const { dir, source } = await randomSource(SIZE)
    const [sender, receiver] = await Promise.all([node(), node()])
    try {
      let writes = 0
      const { sent } = await serveBody(sender, source, new Uint8Array(32), () => {
        // daemon/noise.ts gives the TCP connection under noise its own sendData
        const tcp = (sender.getConnections()[0] as unknown as { muxer: { maConn: { stream: { sendData: unknown, socket: Socket } } } }).muxer.maConn.stream
        assert.ok(Object.hasOwn(tcp, 'sendData'), 'the TCP connection has the shape daemon/noise.ts knows')
        // each call is one attempt to hand the kernel bytes: one system call on an idle socket
        const { _write: write, _writev: writev } = tcp.socket as unknown as Record<string, (...args: unknown[]) => unknown>
        Object.assign(tcp.socket, {
          _write (...args: unknown[]) { writes++; return write.apply(this, args) },
          _writev (...args: unknown[]) { writes++; return writev.apply(this, args) }
        })
      })
      await fetchBody(receiver, sender, join(dir, 'target.bin'), SIZE)
      await sent
      // stock @libp2p/tcp writes a message's length, ciphertext and tag apart: three or more each
      const messages = Math.ceil(SIZE / 65519)
      assert.ok(writes <= messages, `${writes} socket writes for ${messages} noise messages`)
    } finally {
      await Promise.all([sender.stop(), receiver.stop()])
    }
  })

  it('has the receiver open the window once half of it is spent, not after every frame', async () => {
    const { dir, source } = await randomSource(SIZE)
    const [sender, receiver] = await Promise.all([node(), node()])
    try {
      const { sent } = await serveBody(sender, source, new Uint8Array(32))
      // every frame the receiver's Yamux stream sends: a window update (type 1, Yamux spec)
      // without flags opens the window by `length` bytes, as it grew to `recvWindow`
      const updates: Array<{ length: number, window: number }> = []
      await fetchBody(receiver, sender, join(dir, 'target.bin'), SIZE, stream => {
        const yamux = stream as unknown as { recvWindow: number, sendFrame: (header: { type: number, flag: number, length: number }, ...rest: unknown[]) => boolean }
        const sendFrame = yamux.sendFrame
        yamux.sendFrame = (header, ...rest) => {
          if (header.type === 1 && header.flag === 0) updates.push({ length: header.length, window: yamux.recvWindow })
          return sendFrame(header, ...rest)
        }
      })
      await sent
      assert.ok(updates.length > 0, 'the receiver was seen opening the window')
      // Stock Yamux sends one for each data frame, which carries at most one chunk (256 KiB)
      // however far its window (up to 16 MiB) has grown: 51 to 53 updates here, against 7.
      const early = updates.filter(u => u.length < u.window / 2)
      assert.equal(early.length, 0, `${early.length} of ${updates.length} window updates opened less than half the window, the first ${early[0]?.length} bytes of ${early[0]?.window}`)
    } finally {
      await Promise.all([sender.stop(), receiver.stop()])
    }
  })

  it('queues at most three chunks in the sender while its network is slower than the reader', async () => {
    // Past Yamux's largest window (16 MiB): a sender that queued all the window let it would show it.
    const size = 40 * 1024 * 1024
    const { dir, source } = await randomSource(size)
    const [sender, receiver] = await Promise.all([node(), node()])
    let most = 0
    try {
      const { sent } = await serveBody(sender, source, new Uint8Array(32), stream => {
        const noise = (sender.getConnections()[0] as unknown as { muxer: { maConn: { writeBufferLength: number, stream: { writeBufferLength: number, socket: Socket } } } }).muxer.maConn
        const socket = noise.stream.socket
        // a link slower than the receiver: each batch reaches the kernel 5 ms late, while the
        // receiver reads and acknowledges (opens Yamux's window for) all that arrives
        const writev = (socket as unknown as { _writev: (...args: unknown[]) => unknown })._writev
        Object.assign(socket, { _writev (...args: unknown[]) { setTimeout(() => writev.apply(this, args), 5) } })
        // All the sender holds that the kernel does not: the stream's, noise's, TCP's and the
        // socket's queues. Only a send adds to them, but for a few bytes of framing (the rest
        // moves bytes between them, or out), so their sum is at its largest right after one.
        const send = stream.send.bind(stream)
        stream.send = data => {
          const taken = send(data)
          most = Math.max(most, stream.writeBufferLength + noise.writeBufferLength + noise.stream.writeBufferLength + socket.writableLength)
          return taken
        }
      }, size)
      await fetchBody(receiver, sender, join(dir, 'target.bin'), size)
      await sent
      assert.ok(most > 0, 'the sender was seen queueing')
      // the chunk on its way to the kernel and the next one waiting for it, with their framing
      // (2 chunks and 102 bytes seen); a sender that sent on every 'drain' queued 8.7 to 18 MB
      // here, and 1.3 MB when only stock Yamux's window updates let its chunks past a full connection
      assert.ok(most <= 3 * CHUNK_BYTES, `the sender queued ${most} bytes at most, not at most three chunks (${3 * CHUNK_BYTES})`)
    } finally {
      await Promise.all([sender.stop(), receiver.stop()])
    }
  })
})
