/**
 * The IPC channel between the daemon and one sandboxed package's process: a socket pair (the
 * child's fd 3) carrying length-prefixed, structured-clone (`v8.serialize`) messages. Node's own
 * `ipc` channel would do the transport, but it buffers and parses a message of any size before
 * we see it; a package is untrusted, so the daemon reads the length first and drops the child
 * at the first frame over `maxMessageBytes`, and stops reading while the child outruns
 * `maxBytesPerSecond` (the child's writes then wait in its own, capped, memory).
 *
 * On it: requests (`request` → the peer's `handle` → a reply), one-way notices (`notify` → `on`).
 * A request can be cancelled (its `signal`: the handler's `signal` aborts) and can carry notices
 * of its own while it runs (the handler's `notify` → the request's `onNotice`): a script's
 * output, a download's progress.
 */
import type { Socket } from 'node:net'
import { deserialize, serialize } from 'node:v8'
import { Uint8ArrayList } from 'uint8arraylist'
import { HwdError } from '../../errors.ts'
import type { CommandOutput } from '../package-api.ts'

export class ChannelError extends HwdError {
  static name = 'ChannelError'
  name = 'ChannelError'
}

/** The other side went away (it exited, or closed its end): not a fault of the channel's. */
export class ChannelClosedError extends HwdError {
  static name = 'ChannelClosedError'
  name = 'ChannelClosedError'
}

/** A refusal the other side made on purpose (a capability not granted, a path not allowed): passed on by name. */
export class AccessError extends HwdError {
  static name = 'AccessError'
  name = 'AccessError'
}

export interface ChannelLimits {
  /** the largest frame read; more is a broken or hostile peer, and ends the channel */
  maxMessageBytes: number
  /** reading pauses while the peer sends faster than this */
  maxBytesPerSecond: number
  maxMessagesPerSecond: number
  /** the peer's requests being answered at once; more are refused at once */
  maxCallsInFlight: number
}

/** What a request's handler is given besides the request's arguments. */
export interface Call {
  /** aborted, as a plain abort (an AbortError), when the caller cancels the request or the channel closes */
  signal: AbortSignal
  /** a notice for this request alone: the caller's `onNotice` gets `args` */
  notify: (args: unknown) => void
}

export interface RequestOptions {
  /** aborting it asks the other side to cancel the request, which still ends with its reply */
  signal?: AbortSignal
  /** the handler's notices for this request, while it runs */
  onNotice?: (args: any) => void
}

type Handler = (args: any, call: Call) => unknown
interface Pending { resolve: (v: unknown) => void, reject: (e: Error) => void, onNotice?: (args: any) => void }

/** A command's output sent as a request's notices (`{ line }`, `{ progress }`), for `CommandOutput` on the other side. */
export function outputAsNotices (notify: Call['notify']): CommandOutput {
  return {
    line: text => { notify({ line: String(text) }) },
    progress: progress => { notify({ progress }) }
  }
}

export class Channel {
  private readonly buffer = new Uint8ArrayList()
  private readonly handlers = new Map<string, Handler>()
  private readonly listeners = new Map<string, (args: any) => void>()
  private readonly pending = new Map<number, Pending>()
  /** the peer's requests being answered, each with what cancels it */
  private readonly answering = new Map<number, AbortController>()
  private nextCall = 1
  private inFlight = 0
  private closed?: Error
  private readonly onClose: Array<(err: Error) => void> = []
  /** the rate window: bytes and messages read since `windowStart` */
  private windowStart = Date.now()
  private windowBytes = 0
  private windowMessages = 0
  private throttled = false

  constructor (private readonly socket: Socket, private readonly limits: ChannelLimits) {
    socket.on('data', this.onData)
    socket.on('error', err => { this.close(err) })
    socket.on('close', () => { this.close(new ChannelClosedError('the channel closed')) })
  }

  handle (op: string, fn: Handler): void { this.handlers.set(op, fn) }
  on (op: string, fn: (args: any) => void): void { this.listeners.set(op, fn) }
  whenClosed (fn: (err: Error) => void): void { this.onClose.push(fn) }

  async request<T = unknown>(op: string, args: unknown = {}, options: RequestOptions = {}): Promise<T> {
    if (this.closed != null) throw this.closed
    const { signal, onNotice } = options
    signal?.throwIfAborted()
    const call = this.nextCall++
    const reply = new Promise<T>((resolve, reject) => { this.pending.set(call, { resolve: resolve as (v: unknown) => void, reject, onNotice }) })
    const cancel = (): void => { if (this.closed == null && this.pending.has(call)) this.send({ t: 'x', call }) }
    signal?.addEventListener('abort', cancel, { once: true })
    try {
      this.send({ t: 'q', call, op, args })
      return await reply
    } finally {
      this.pending.delete(call)
      signal?.removeEventListener('abort', cancel)
    }
  }

  notify (op: string, args: unknown = {}): void {
    if (this.closed == null) this.send({ t: 'n', op, args })
  }

  close (err: Error = new ChannelClosedError('the channel closed')): void {
    if (this.closed != null) return
    this.closed = err
    this.socket.destroy()
    for (const p of this.pending.values()) p.reject(err)
    this.pending.clear()
    for (const cancel of this.answering.values()) cancel.abort()
    for (const fn of this.onClose) fn(err)
  }

  private send (message: unknown): void {
    const body = serialize(message)
    const head = Buffer.allocUnsafe(4)
    head.writeUInt32BE(body.byteLength)
    this.socket.write(head)
    this.socket.write(body)
  }

  private readonly onData = (chunk: Buffer): void => {
    this.buffer.append(chunk)
    this.readFrames()
  }

  private readFrames (): void {
    while (this.buffer.byteLength >= 4 && this.closed == null && !this.throttled) {
      const length = this.buffer.getUint32(0)
      if (length > this.limits.maxMessageBytes) {
        this.close(new ChannelError(`sent a message of ${length} bytes, over the limit of ${this.limits.maxMessageBytes}`))
        return
      }
      if (this.buffer.byteLength < 4 + length) return
      const body = this.buffer.subarray(4, 4 + length)
      this.buffer.consume(4 + length)
      this.throttle(length)
      let message: any
      try {
        message = deserialize(body)
      } catch {
        this.close(new ChannelError('sent a malformed message'))
        return
      }
      this.dispatch(message)
    }
  }

  /** Past the rate, stop reading (what is buffered too) until the time the excess needs has passed. */
  private throttle (bytes: number): void {
    const now = Date.now()
    if (now - this.windowStart >= 1000) {
      this.windowStart = now
      this.windowBytes = 0
      this.windowMessages = 0
    }
    this.windowBytes += bytes
    this.windowMessages++
    const over = Math.max(this.windowBytes / this.limits.maxBytesPerSecond, this.windowMessages / this.limits.maxMessagesPerSecond)
    if (over <= 1) return
    this.throttled = true
    this.socket.pause()
    setTimeout(() => {
      this.throttled = false
      if (this.closed != null) return
      this.socket.resume()
      this.readFrames()
    }, Math.ceil((over - 1) * 1000)).unref()
  }

  private dispatch (m: any): void {
    if (typeof m !== 'object' || m == null) return this.close(new ChannelError('sent a malformed message'))
    if (m.t === 'n' && typeof m.op === 'string') {
      this.hear(() => { this.listeners.get(m.op)?.(m.args ?? {}) })
    } else if (m.t === 'p' && Number.isSafeInteger(m.call)) {
      // a notice for a request that has had its reply comes too late, and is dropped
      this.hear(() => { this.pending.get(m.call)?.onNotice?.(m.args ?? {}) })
    } else if (m.t === 'x' && Number.isSafeInteger(m.call)) {
      this.answering.get(m.call)?.abort()
    } else if (m.t === 'q' && typeof m.op === 'string' && Number.isSafeInteger(m.call)) {
      void this.answer(m.call, m.op, m.args ?? {})
    } else if (m.t === 'r' && this.pending.has(m.call)) {
      const p = this.pending.get(m.call)
      this.pending.delete(m.call)
      if (m.error == null) p?.resolve(m.value)
      else p?.reject(revive(m.error))
    } else {
      this.close(new ChannelError('sent a malformed message'))
    }
  }

  /** Run a listener on a notice; one that throws was given fields it does not take. */
  private hear (listener: () => void): void {
    try {
      listener()
    } catch {
      this.close(new ChannelError('sent a malformed message'))
    }
  }

  private async answer (call: number, op: string, args: unknown): Promise<void> {
    this.inFlight++
    const cancel = new AbortController()
    try {
      if (this.inFlight > this.limits.maxCallsInFlight) throw new AccessError(`more than ${this.limits.maxCallsInFlight} calls at once`)
      if (this.answering.has(call)) throw new AccessError('a call needs a number of its own')
      const fn = this.handlers.get(op)
      if (fn == null) throw new AccessError(`no such call: ${op.slice(0, 64)}`)
      this.answering.set(call, cancel)
      const notify = (notice: unknown): void => { if (this.closed == null && this.answering.get(call) === cancel) this.send({ t: 'p', call, args: notice }) }
      const value = await fn(args, { signal: cancel.signal, notify })
      if (this.closed == null) this.send({ t: 'r', call, value })
    } catch (err: any) {
      if (this.closed == null) this.send({ t: 'r', call, error: { name: String(err?.name ?? 'Error'), message: String(err?.message ?? err), hwd: err instanceof HwdError } })
    } finally {
      if (this.answering.get(call) === cancel) this.answering.delete(call)
      this.inFlight--
    }
  }
}

/** An error from the other side, as the named error it was: code branches on `name`. */
function revive (e: any): Error {
  const message = typeof e?.message === 'string' ? e.message : 'failed'
  // one of our one-line errors stays one (describeError prints its message alone)
  const err = e?.hwd === true ? new HwdError(message) : new Error(message)
  if (typeof e?.name === 'string') err.name = e.name
  return err
}
