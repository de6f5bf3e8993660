/**
 * # Chat protocol `/hwd/chat/1.0.0`
 *
 * Messages from one node to another, each acknowledged only once stored.
 *
 * Participants: a sender and a receiver; any peer that opens a stream is heard, named or not
 * (the receiver shows it by the name pinned to its peer id, or by the peer id). Goal: when the
 * sender is told a message was delivered, the receiver has it on disk; and a conversation costs
 * one stream, not one per message. Non-goals: group chat, offline delivery (a send to an
 * offline node fails), end-to-end acknowledgement of reading, ordering across streams.
 *
 * Frames are protobuf messages (pb/chat.proto) after their length as an unsigned LEB128 varint
 * of at most 5 bytes; MAX_FRAME_BYTES counts the message, not the prefix.
 *
 * The sender keeps one stream per peer and writes `ChatMessage` frames on it, up to
 * MAX_IN_FLIGHT ahead of the acknowledgements: `text`, UTF-8, 1 to MAX_MESSAGE_BYTES bytes;
 * `sent_at`, the sender's clock in ms since the Unix epoch, which the receiver may show but
 * never trusts (it stores its own time of arrival). The receiver stores each message durably
 * and answers one `Ack` per message, in the order the messages came: OK (stored), TOO_LARGE (an
 * empty text or one over MAX_MESSAGE_BYTES; not stored), ERROR (the receiver could not store
 * it, its disk full say; not stored), REFUSED (the sender is not on the receiver's access
 * list; not stored), the last three with a one-line `reason`. It may store
 * several at once (they share an fsync), but acknowledges in order, and reads no further while
 * MAX_IN_FLIGHT wait for their acknowledgement. An `Ack` status the sender does not know fails
 * to decode, and an `Ack` for no message sent is refused: either resets the stream.
 *
 * Either side may close the stream between messages: the sender closes its write side after
 * SENDER_IDLE_MS without a message, and the receiver, having acknowledged all it read, closes;
 * the receiver gives up on a stream that completes no frame for RECEIVER_IDLE_MS. A message
 * whose acknowledgement has not come when the stream ends, or within TIMEOUT_MS, is not
 * delivered as far as the sender knows (the receiver may have it); sending it again may store
 * it twice. The next message opens a new stream.
 *
 * Limits: MAX_FRAME_BYTES per frame, TIMEOUT_MS for each acknowledgement, MAX_IN_FLIGHT
 * unacknowledged messages, MAX_INBOUND_STREAMS per connection. An oversized or malformed frame
 * resets the stream; the sender then fails every message not yet acknowledged.
 *
 * Implemented by: the sender, `ChatSender.send` (one `Channel` per peer, below), called by the
 * `send:` script in packages/chat-with-file-transfer/index.ts; the receiver, `receiveMessages`
 * (below), registered by `start` in that package, which stores with `ChatStore.append`
 * (packages/chat-with-file-transfer/chat-store.ts).
 */
import type { Connection, Stream } from '@libp2p/interface'
import { asError, HwdError, peerReason } from '../../errors.ts'
import { deadline } from '../deadline.ts'
import { framed } from '../framing.ts'
import { Ack, ChatMessage } from './pb/chat.ts'
import { MAX_FRAME_BYTES, MAX_IN_FLIGHT, MAX_MESSAGE_BYTES, PROTOCOL, RECEIVER_IDLE_MS, SENDER_IDLE_MS, TIMEOUT_MS } from './constants.ts'

export * from './constants.ts'
export { Ack, ChatMessage } from './pb/chat.ts'

export class ChatError extends HwdError {
  static name = 'ChatError'
  name = 'ChatError'
}

/** Thrown by a receiver's `store` to refuse a message: acknowledged REFUSED, with this message as the reason. */
export class ChatRefusedError extends HwdError {
  static name = 'ChatRefusedError'
  name = 'ChatRefusedError'
}

/** Refuse a text the protocol would not carry, before any dialing. */
export function checkMessage (text: string): void {
  const bytes = Buffer.byteLength(text)
  if (bytes > MAX_MESSAGE_BYTES) throw new ChatError(`the message is ${bytes} bytes; the limit is ${MAX_MESSAGE_BYTES}`)
  if (text === '') throw new ChatError('the message is empty')
}

interface Pending {
  resolve(): void
  reject(err: Error): void
}

/** One stream to one peer: messages go out in order, acknowledgements come back in order. */
class Channel {
  private readonly pending: Pending[] = []
  /** senders waiting for a message to be acknowledged, so that theirs fits */
  private readonly waiting: Array<() => void> = []
  private readonly pb
  private writing: Promise<void> = Promise.resolve()
  private idle?: NodeJS.Timeout
  dead = false

  constructor (readonly connection: Connection, private readonly stream: Stream, private readonly onDead: () => void) {
    this.pb = framed(stream, MAX_FRAME_BYTES)
    void this.readAcks()
  }

  get busy (): boolean {
    return this.pending.length >= MAX_IN_FLIGHT
  }

  /** Resolves once a message fewer waits for its acknowledgement, or the channel is dead. */
  async room (signal: AbortSignal): Promise<void> {
    signal.throwIfAborted()
    await new Promise<void>((resolve, reject) => {
      const wake = (): void => { signal.removeEventListener('abort', onAbort); resolve() }
      const onAbort = (): void => { this.waiting.splice(this.waiting.indexOf(wake), 1); reject(signal.reason) }
      signal.addEventListener('abort', onAbort, { once: true })
      this.waiting.push(wake)
    })
  }

  async send (message: ChatMessage, signal: AbortSignal): Promise<void> {
    clearTimeout(this.idle)
    const acked = new Promise<void>((resolve, reject) => { this.pending.push({ resolve, reject }) })
    acked.catch(() => {}) // settled by readAcks or kill, even when the write below fails first
    const write = this.writing.then(async () => { await this.pb.write(message, ChatMessage, { signal }) })
    this.writing = write.catch(() => {})
    const onAbort = (): void => { this.kill(asError(signal.reason)) }
    signal.addEventListener('abort', onAbort, { once: true })
    try {
      await write
      await acked
    } catch (err) {
      this.kill(asError(err))
      throw err
    } finally {
      signal.removeEventListener('abort', onAbort)
      if (this.pending.length === 0 && !this.dead) this.idle = setTimeout(() => { void this.close() }, SENDER_IDLE_MS)
    }
  }

  async close (): Promise<void> {
    this.dead = true
    this.onDead()
    for (const wake of this.waiting.splice(0)) wake()
    await this.stream.close().catch(() => {})
  }

  /** Acknowledgements are positional: once one is lost or late, the stream cannot be trusted. */
  kill (err: Error): void {
    if (this.dead) return
    this.dead = true
    clearTimeout(this.idle)
    this.onDead()
    this.stream.abort(err)
    for (const p of this.pending.splice(0)) p.reject(err)
    for (const wake of this.waiting.splice(0)) wake()
  }

  private async readAcks (): Promise<void> {
    try {
      while (!this.dead) {
        const ack = await this.pb.read(Ack)
        const waiting = this.pending.shift()
        if (waiting == null) throw new ChatError('the receiver acknowledged a message that was never sent')
        if (ack.status === Ack.Status.OK) waiting.resolve()
        else waiting.reject(new ChatError(`not delivered: ${peerReason(ack.reason)}`))
        this.waiting.shift()?.()
      }
    } catch (err) {
      this.kill(asError(err))
    }
  }
}

/** Sends messages over one long-lived stream per peer, opening a new one when it breaks. */
export class ChatSender {
  private readonly channels = new Map<string, Channel>()
  /** streams being opened, by peer */
  private readonly opening = new Map<string, Promise<Channel>>()

  /** Resolves once the receiver has stored the message; a one-line ChatError otherwise. */
  async send (connection: Connection, message: ChatMessage, options: { signal?: AbortSignal } = {}): Promise<void> {
    const signal = deadline(TIMEOUT_MS, options.signal)
    try {
      const channel = await this.channel(connection, signal)
      await channel.send(message, signal)
    } catch (err: any) {
      if (err instanceof ChatError) throw err
      if (err?.name === 'UnsupportedProtocolError') throw new ChatError(`not delivered: the node does not serve chat (${PROTOCOL})`)
      if (signal.aborted && options.signal?.aborted !== true) throw new ChatError(`not delivered: no acknowledgement within ${TIMEOUT_MS / 1000}s`)
      throw new ChatError(`not delivered: the connection broke (${err.message})`)
    }
  }

  async stop (): Promise<void> {
    await Promise.all([...this.channels.values()].map(async c => { await c.close() }))
  }

  /**
   * The peer's channel, waited on when full rather than doubled, and opened by one sender at a
   * time: a peer takes only MAX_INBOUND_STREAMS, and messages sent at once must share a stream.
   */
  private async channel (connection: Connection, signal: AbortSignal): Promise<Channel> {
    const key = connection.remotePeer.toString()
    for (;;) {
      const opening = this.opening.get(key)
      if (opening != null) {
        await opening.catch(() => {})
        continue
      }
      const current = this.channels.get(key)
      if (current == null || current.dead || current.connection.status !== 'open') break
      if (!current.busy) return current
      await current.room(signal)
    }
    const opening = this.open(connection, key, signal)
    this.opening.set(key, opening)
    try {
      return await opening
    } finally {
      this.opening.delete(key)
    }
  }

  private async open (connection: Connection, key: string, signal: AbortSignal): Promise<Channel> {
    const stream = await connection.newStream(PROTOCOL, { signal, runOnLimitedConnection: true })
    const channel: Channel = new Channel(connection, stream, () => { if (this.channels.get(key) === channel) this.channels.delete(key) })
    this.channels.set(key, channel)
    return channel
  }
}

/**
 * Serve one incoming stream until the sender closes it: `store` must make a message durable
 * before it resolves; only then is it acknowledged, and `onStored` told.
 */
export async function receiveMessages (stream: Stream, store: (message: ChatMessage) => Promise<void>, onStored: (message: ChatMessage) => void): Promise<void> {
  const pb = framed(stream, MAX_FRAME_BYTES)
  const inFlight: Array<Promise<void>> = []
  let acks = Promise.resolve()
  try {
    while (true) {
      if (inFlight.length >= MAX_IN_FLIGHT) await inFlight.shift()
      let message: ChatMessage
      try {
        message = await pb.read(ChatMessage, { signal: AbortSignal.timeout(RECEIVER_IDLE_MS) })
      } catch (err: any) {
        if (err.name === 'UnexpectedEOFError') break
        throw err
      }
      const stored = storeOne(message, store)
      acks = acks.then(async () => {
        const ack = await stored
        await pb.write(ack, Ack, { signal: AbortSignal.timeout(TIMEOUT_MS) })
        if (ack.status === Ack.Status.OK) onStored(message)
      })
      acks.catch(() => {}) // a failed acknowledgement ends the loop below, whoever awaits it
      inFlight.push(acks)
    }
    await acks
    await stream.close({ signal: AbortSignal.timeout(TIMEOUT_MS) })
  } catch (err) {
    stream.abort(asError(err))
  }
}

async function storeOne (message: ChatMessage, store: (message: ChatMessage) => Promise<void>): Promise<Ack> {
  if (Buffer.byteLength(message.text) > MAX_MESSAGE_BYTES || message.text === '') {
    return { status: Ack.Status.TOO_LARGE, reason: `a message must be 1 to ${MAX_MESSAGE_BYTES} bytes` }
  }
  try {
    await store(message)
    return { status: Ack.Status.OK, reason: '' }
  } catch (err: any) {
    if (err.name === 'ChatRefusedError') return { status: Ack.Status.REFUSED, reason: err.message }
    return { status: Ack.Status.ERROR, reason: `the receiver could not store it (${err.code ?? err.message})` }
  }
}
