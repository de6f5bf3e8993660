import '../../daemon/polyfill.ts'
import { spawn } from 'node:child_process'
import { createReadStream, createWriteStream } from 'node:fs'
import { open, stat } from 'node:fs/promises'
import { createServer, connect, type AddressInfo } from 'node:net'
import { Readable } from 'node:stream'
import { createInterface } from 'node:readline'
import { pipeline } from 'node:stream/promises'
import { fileURLToPath } from 'node:url'
import { noise } from '@chainsafe/libp2p-noise'
import { tcp } from '@libp2p/tcp'
import { yamux } from '@libp2p/yamux'
import { createLibp2p, type Libp2p } from 'libp2p'
import type { Stream } from '@libp2p/interface'
import { multiaddr } from '@multiformats/multiaddr'
import { asError } from '../../errors.ts'
import { cpuSeconds } from './stats.ts'

/**
 * One disk-to-disk copy: bytes written to dst, wall time from connect to the fsync of dst, MB/s
 * (1 MB = 1e6 bytes), and the processor time both ends used, in seconds.
 */
export interface CopyResult {
  bytes: number
  ms: number
  mbps: number
  cpuSeconds: number
}

const HOST = '127.0.0.1'
const PROTOCOL = '/bench/copy/1.0.0'

/** Size of each read from src on the sending side. */
const CHUNK = 1024 * 1024

/**
 * Both baselines write dst through the same sink with this much buffering, so they differ only in
 * the transport; it is well above Node's 16 KiB default, which would pause the source (and so the
 * yamux window) after every chunk.
 */
const SINK_BUFFER = 8 * CHUNK

/** As in daemon/node.ts: a paused reader keeps receiving until the window is spent, so the read buffer holds two. */
const STREAM_WINDOW = 16 * 1024 * 1024
const READ_BUFFER = 2 * STREAM_WINDOW

/** Copy src to dst over a plain loopback TCP connection. */
export async function tcpCopy (src: string, dst: string): Promise<CopyResult> {
  const size = (await stat(src)).size
  const served = Promise.withResolvers<void>()
  const server = createServer(socket => {
    pipeline(createReadStream(src, { highWaterMark: CHUNK }), socket).then(served.resolve, served.reject)
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, HOST, resolve)
  })
  try {
    const cpu = process.cpuUsage()
    const started = performance.now()
    const socket = connect((server.address() as AddressInfo).port, HOST)
    const [, bytes] = await Promise.all([served.promise, writeFile(socket, dst)])
    return result(size, bytes, performance.now() - started, cpuSince(cpu))
  } finally {
    server.close()
  }
}

/** Copy src to dst over one libp2p stream (TCP + noise + yamux) between two nodes in this process. */
export async function libp2pCopy (src: string, dst: string): Promise<CopyResult> {
  const size = (await stat(src)).size
  const [sender, receiver] = await Promise.all([createNode(), createNode()])
  try {
    const { received } = await receiveInto(receiver, dst)
    const cpu = process.cpuUsage()
    const started = performance.now()
    const [, bytes] = await Promise.all([dialAndSend(sender, receiver.getMultiaddrs()[0].toString(), src), received])
    return result(size, bytes, performance.now() - started, cpuSince(cpu))
  } finally {
    await Promise.all([sender.stop(), receiver.stop()])
  }
}

/**
 * As libp2pCopy, but each node in a process of its own (bench/libp2p-end.ts), as each hwd
 * daemon is: the two ends no longer share one thread, one heap and one garbage collector.
 * Timed from the sender's go to the receiver's fsync; CPU is both processes' over that time.
 * `nodeFlags` go on both processes' node command line.
 */
export async function libp2pProcessesCopy (src: string, dst: string, nodeFlags: string[] = []): Promise<CopyResult> {
  const size = (await stat(src)).size
  const receiver = new EndProcess(['receive', dst], nodeFlags)
  const sender = new EndProcess(['send', src], nodeFlags)
  try {
    const [addr] = await receiver.next('listening')
    await sender.next('ready')
    const pids = [receiver.pid, sender.pid]
    const cpu = await cpuSeconds(pids)
    const started = performance.now()
    sender.tell(`go ${addr}`)
    const [bytes] = await receiver.next('done')
    const ms = performance.now() - started
    // read while both still run, and only once the receiver has everything: the sender's
    // `sent` comes before its last bytes have left
    const used = await cpuSeconds(pids) - cpu
    await sender.next('sent')
    sender.finish()
    await Promise.all([receiver.exited, sender.exited])
    return result(size, Number(bytes), ms, used)
  } finally {
    receiver.kill()
    sender.kill()
  }
}

const END = fileURLToPath(new URL('./libp2p-end.js', import.meta.url))

/** A child running bench/libp2p-end.ts, and the lines it prints. */
class EndProcess {
  private readonly proc
  private readonly lines: string[] = []
  private wake?: () => void
  readonly exited: Promise<void>

  get pid (): number {
    return this.proc.pid!
  }

  constructor (args: string[], nodeFlags: string[]) {
    this.proc = spawn(process.execPath, [...nodeFlags, END, ...args], { stdio: ['pipe', 'pipe', 'inherit'] })
    createInterface({ input: this.proc.stdout }).on('line', line => { this.lines.push(line); this.wake?.() })
    this.exited = new Promise((resolve, reject) => {
      this.proc.once('exit', code => { code === 0 ? resolve() : reject(new Error(`libp2p-end ${args[0]} exited with ${code}`)); this.wake?.() })
    })
    this.exited.catch(() => {}) // reported by next() or by whoever awaits it
  }

  /** The words after `word` on the next line that starts with it. */
  async next (word: string): Promise<string[]> {
    for (;;) {
      const line = this.lines.shift()
      if (line != null) {
        const [first, ...rest] = line.split(' ')
        if (first === word) return rest
        throw new Error(`libp2p-end said ${JSON.stringify(line)}, not ${word}`)
      }
      if (this.proc.exitCode != null) throw new Error(`libp2p-end exited with ${this.proc.exitCode} before saying ${word}`)
      await new Promise<void>(resolve => { this.wake = resolve })
    }
  }

  tell (line: string): void {
    this.proc.stdin.write(line + '\n')
  }

  /** End its stdin: a sender exits then. */
  finish (): void {
    this.proc.stdin.end()
  }

  kill (): void {
    if (this.proc.exitCode == null) this.proc.kill()
  }
}

/** Handle PROTOCOL on node: `received` resolves to the bytes its first stream wrote to dst, once fsynced. */
export async function receiveInto (node: Libp2p, dst: string): Promise<{ received: Promise<number> }> {
  const received = Promise.withResolvers<number>()
  await node.handle(PROTOCOL, async stream => {
    try {
      const bytes = await writeFile(toReadable(stream), dst)
      await closeStream(stream)
      received.resolve(bytes)
    } catch (err) {
      received.reject(err)
      // libp2p aborts the stream when a handler throws, which fails the sender too
      throw err
    }
  })
  return { received: received.promise }
}

export async function dialAndSend (node: Libp2p, addr: string, src: string): Promise<void> {
  await sendFile(await node.dialProtocol(multiaddr(addr), PROTOCOL), src)
}

export async function createNode (): Promise<Libp2p> {
  return await createLibp2p({
    addresses: { listen: [`/ip4/${HOST}/tcp/0`] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux({
      streamOptions: { maxStreamWindowSize: STREAM_WINDOW, maxReadBufferLength: READ_BUFFER }
    })]
  })
}

function result (size: number, bytes: number, ms: number, cpuSeconds: number): CopyResult {
  if (bytes !== size) throw new Error(`copied ${bytes} bytes of ${size}`)
  return { bytes, ms, mbps: bytes / 1e6 / (ms / 1000), cpuSeconds }
}

/** Processor time this process has used since `since` (a `process.cpuUsage()`), in seconds. */
function cpuSince (since: NodeJS.CpuUsage): number {
  const used = process.cpuUsage(since)
  return (used.user + used.system) / 1e6
}

/** Write everything source yields to dst, fsync it, and return the number of bytes written. */
async function writeFile (source: Readable, dst: string): Promise<number> {
  // flush: fsync before the close that pipeline() waits for. A FileHandle's own stream would not
  // do: with autoClose off, FileHandle.close() waits forever for the stream to let go of it.
  const sink = createWriteStream(dst, { flush: true, highWaterMark: SINK_BUFFER })
  await pipeline(source, sink)
  return sink.bytesWritten
}

/** Send src on stream and close it, or abort it so that the receiver fails too instead of waiting. */
async function sendFile (stream: Stream, src: string): Promise<void> {
  try {
    await sendChunks(stream, src)
    await closeStream(stream)
  } catch (err) {
    stream.abort(asError(err))
    throw err
  }
}

/** Send src in CHUNK reads, waiting for drain whenever send() says the write buffer is full. */
async function sendChunks (stream: Stream, src: string): Promise<void> {
  const file = await open(src, 'r')
  try {
    for (;;) {
      // a fresh buffer per read: send() may hold on to it until yamux's window opens
      const buf = new Uint8Array(CHUNK)
      const { bytesRead } = await file.read(buf, 0, CHUNK, null)
      if (bytesRead === 0) return
      if (!stream.send(buf.subarray(0, bytesRead))) await stream.onDrain()
    }
  } finally {
    await file.close()
  }
}

/** close() rejects with the StreamCloseEvent itself, not an Error, when the stream is reset meanwhile. */
async function closeStream (stream: Stream): Promise<void> {
  try {
    await stream.close()
  } catch (err) {
    throw asError(err)
  }
}

/**
 * Read a libp2p stream as a Node Readable, so pipeline() gives it the same disk backpressure as
 * the TCP socket. The stream's async iterator is not used because it drops data it received
 * while paused; 'message' events keep it all.
 */
function toReadable (stream: Stream): Readable {
  // Cleared when push() says the Readable is full, set again when it asks for more.
  let wanted = true
  const readable = new Readable({
    highWaterMark: SINK_BUFFER,
    read () {
      wanted = true
      if (stream.readStatus === 'paused') stream.resume()
    },
    destroy (err, callback) {
      if (err != null) stream.abort(err)
      callback(err)
    }
  })
  stream.addEventListener('message', evt => {
    const bufs = evt.data instanceof Uint8Array ? [evt.data] : evt.data
    for (const buf of bufs) wanted = readable.push(buf)
    if (wanted) return
    // Not synchronously: a message dispatched by resume() would be followed by yamux's own resume,
    // undoing the pause. And only if read() has not asked for more in the meantime, or nothing
    // would resume the stream again.
    queueMicrotask(() => {
      if (!wanted && stream.readStatus === 'readable') stream.pause()
    })
  })
  stream.addEventListener('end', () => readable.push(null))
  stream.addEventListener('close', evt => {
    if (evt.error != null) readable.destroy(evt.error)
  })
  return readable
}
