/**
 * A package's libp2p streams carried over its IPC channel. The daemon holds the real stream;
 * the package holds an `IpcStream`, a libp2p `AbstractStream` whose bytes are channel notices,
 * so `framed`, `lpStream` and the rest work on it as on any stream. Each direction has a
 * window: the sender stops at `STREAM_WINDOW` bytes not yet acknowledged, and the daemon
 * acknowledges only what the real stream took, so a slow peer slows the package and a slow
 * package pauses the real stream (Yamux then stops granting window).
 */
import type { Stream } from '@libp2p/interface'
import { logger } from '@libp2p/logger'
import { AbstractStream, type SendResult } from '@libp2p/utils'
import type { Uint8ArrayList } from 'uint8arraylist'
import type { Channel } from './channel.ts'
import { AccessError } from './channel.ts'

/** bytes in flight per stream and direction */
export const STREAM_WINDOW = 1024 * 1024
/** the largest piece of a stream in one channel message */
export const STREAM_CHUNK = 64 * 1024
/** streams open at once per package, both directions */
export const MAX_STREAMS = 256

interface Held { stream: Stream, unacked: number, paused: boolean, childPaused: boolean, draining?: Promise<void> }

/** The daemon's side: the real streams of one package, by id. */
export class HeldStreams {
  private readonly held = new Map<number, Held>()
  private nextId = 1

  constructor (private readonly channel: Channel) {
    channel.on('s.data', ({ id, data }) => { void this.write(id, data) })
    channel.on('s.ack', ({ id, n }) => { this.acked(id, n) })
    channel.on('s.pause', ({ id }) => { this.setChildPaused(id, true) })
    channel.on('s.resume', ({ id }) => { this.setChildPaused(id, false) })
    channel.on('s.closeWrite', ({ id }) => { void this.held.get(id)?.stream.close().catch(() => {}) })
    channel.on('s.reset', ({ id }) => { this.held.get(id)?.stream.abort(new AccessError('the package reset the stream')) })
  }

  /** Take a real stream over for the package; the id names it on the channel. */
  adopt (stream: Stream): number {
    if (this.held.size >= MAX_STREAMS) {
      stream.abort(new AccessError(`the package has ${MAX_STREAMS} streams open`))
      throw new AccessError(`too many streams open (${MAX_STREAMS})`)
    }
    const id = this.nextId++
    const h: Held = { stream, unacked: 0, paused: false, childPaused: false }
    this.held.set(id, h)
    stream.addEventListener('message', evt => {
      const data = evt.data.subarray()
      for (let at = 0; at < data.byteLength; at += STREAM_CHUNK) this.channel.notify('s.data', { id, data: data.subarray(at, at + STREAM_CHUNK) })
      h.unacked += data.byteLength
      this.flow(h)
    })
    // 'end', not 'remoteCloseWrite', and 'close' passed on only after it: a paused stream still
    // holds messages when the remote's FIN comes, and even when it closes; they come on resume
    let ended = false
    let closed = false
    const finish = (error?: string): void => {
      this.held.delete(id)
      this.channel.notify('s.closed', { id, error })
    }
    stream.addEventListener('end', () => {
      ended = true
      // a reset ends the stream too: the package hears of it as the reset it is, from 'close'
      if (stream.status !== 'reset' && stream.status !== 'aborted') this.channel.notify('s.end', { id })
      if (closed) finish()
    })
    stream.addEventListener('close', evt => {
      closed = true
      if (evt.error != null || ended) finish(evt.error?.message)
    })
    return id
  }

  closeAll (): void {
    for (const h of this.held.values()) h.stream.abort(new AccessError('the package stopped'))
  }

  private async write (id: unknown, data: unknown): Promise<void> {
    const h = this.held.get(id as number)
    if (h == null || !(data instanceof Uint8Array)) return
    try {
      if (!h.stream.send(data)) {
        h.draining ??= h.stream.onDrain().finally(() => { h.draining = undefined })
        await h.draining
      }
      this.channel.notify('s.ack', { id, n: data.byteLength })
    } catch (err: any) {
      h.stream.abort(err)
    }
  }

  private acked (id: unknown, n: unknown): void {
    const h = this.held.get(id as number)
    if (h == null || typeof n !== 'number') return
    h.unacked = Math.max(0, h.unacked - n)
    this.flow(h)
  }

  private setChildPaused (id: unknown, paused: boolean): void {
    const h = this.held.get(id as number)
    if (h == null) return
    h.childPaused = paused
    this.flow(h)
  }

  /** The real stream reads while the package takes what it gets and has not paused it. */
  private flow (h: Held): void {
    const pause = h.childPaused || h.unacked >= STREAM_WINDOW
    if (pause === h.paused) return
    h.paused = pause
    // a pause made while the stream's `resume` is still dispatching is undone by it: pause in a microtask
    queueMicrotask(() => { try { if (pause) h.stream.pause(); else h.stream.resume() } catch {} })
  }
}

/** The package's side of one stream. */
export class IpcStream extends AbstractStream {
  private inflight = 0

  constructor (private readonly channel: Channel, readonly channelId: number, protocol: string, direction: 'inbound' | 'outbound') {
    super({ id: String(channelId), protocol, direction, log: logger(`hwd:sandbox:stream:${channelId}`), maxMessageSize: STREAM_CHUNK })
  }

  sendData (data: Uint8ArrayList): SendResult {
    const bytes = data.subarray()
    this.channel.notify('s.data', { id: this.channelId, data: bytes })
    this.inflight += bytes.byteLength
    return { sentBytes: bytes.byteLength, canSendMore: this.inflight < STREAM_WINDOW }
  }

  acked (n: number): void {
    const full = this.inflight >= STREAM_WINDOW
    this.inflight -= n
    if (full && this.inflight < STREAM_WINDOW) this.onMuxerDrain()
  }

  sendReset (): void { this.channel.notify('s.reset', { id: this.channelId }) }
  sendPause (): void { this.channel.notify('s.pause', { id: this.channelId }) }
  sendResume (): void { this.channel.notify('s.resume', { id: this.channelId }) }
  async sendCloseWrite (): Promise<void> { this.channel.notify('s.closeWrite', { id: this.channelId }) }
  async sendCloseRead (): Promise<void> {}
}

/** The package's side: its streams by id, fed by the daemon's notices. */
export class IpcStreams {
  private readonly streams = new Map<number, IpcStream>()

  constructor (private readonly channel: Channel) {
    channel.on('s.data', ({ id, data }) => {
      const s = this.streams.get(id)
      if (s == null) return
      s.onData(data)
      channel.notify('s.ack', { id, n: data.byteLength })
    })
    channel.on('s.ack', ({ id, n }) => { this.streams.get(id)?.acked(n) })
    channel.on('s.end', ({ id }) => { this.streams.get(id)?.onRemoteCloseWrite() })
    channel.on('s.closed', ({ id, error }) => {
      const s = this.streams.get(id)
      this.streams.delete(id)
      if (error != null) s?.onRemoteReset()
      else s?.onTransportClosed()
    })
  }

  open (id: number, protocol: string, direction: 'inbound' | 'outbound'): IpcStream {
    const s = new IpcStream(this.channel, id, protocol, direction)
    this.streams.set(id, s)
    return s
  }
}
