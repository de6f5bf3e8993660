/**
 * # Chat protocol `/hwd/chat/1.0.0`
 *
 * One message from one node to another, acknowledged only once stored.
 *
 * Participants: a sender and a receiver. Goal: when the sender is told a message was
 * delivered, the receiver has it on disk. Non-goals: ordering across messages (each carries
 * the sender's time), group chat, offline delivery (a send to an offline node fails).
 *
 * A stream carries one exchange: the sender writes a length-prefixed `ChatMessage`, the
 * receiver stores it durably, answers an `Ack` (OK, or TOO_LARGE/ERROR with a reason) and
 * closes. Limits: MAX_FRAME_BYTES per frame (a text of at most MAX_MESSAGE_BYTES), TIMEOUT_MS
 * for the whole exchange, MAX_INBOUND_STREAMS at once per connection. An oversized,
 * malformed or late frame resets the stream.
 */
import { pbStream } from '@libp2p/utils'
import type { Connection, Stream } from '@libp2p/interface'
import { HwdError } from '../../errors.ts'
import { Ack, ChatMessage } from './chat.ts'
import { MAX_FRAME_BYTES, MAX_MESSAGE_BYTES, PROTOCOL, TIMEOUT_MS } from './constants.ts'

export * from './constants.ts'
export { Ack, ChatMessage } from './chat.ts'

export class ChatError extends HwdError {
  static name = 'ChatError'
  name = 'ChatError'
}

/** Refuse a text the protocol would not carry, before any dialing. */
export function checkMessage (text: string): void {
  const bytes = Buffer.byteLength(text)
  if (bytes > MAX_MESSAGE_BYTES) throw new ChatError(`the message is ${bytes} bytes; the limit is ${MAX_MESSAGE_BYTES}`)
  if (text === '') throw new ChatError('the message is empty')
}

/** Send one message on `connection` and wait for its acknowledgement. */
export async function sendMessage (connection: Connection, message: ChatMessage, options: { signal?: AbortSignal } = {}): Promise<void> {
  const signal = AbortSignal.any([AbortSignal.timeout(TIMEOUT_MS), ...(options.signal != null ? [options.signal] : [])])
  const stream = await connection.newStream(PROTOCOL, { signal })
  try {
    const pb = pbStream(stream, { maxDataLength: MAX_FRAME_BYTES })
    await pb.write(message, ChatMessage, { signal })
    const ack = await pb.read(Ack, { signal })
    await stream.close({ signal })
    if (ack.status !== Ack.Status.OK) throw new ChatError(`not delivered: ${ack.reason}`)
  } catch (err: any) {
    stream.abort(err instanceof Error ? err : new Error(String(err)))
    if (err instanceof ChatError) throw err
    throw new ChatError(`not delivered: ${err.name === 'TimeoutError' ? `no acknowledgement within ${TIMEOUT_MS / 1000}s` : err.message}`)
  }
}

/**
 * Serve one incoming exchange: `store` must make the message durable before it resolves;
 * only then is it acknowledged.
 */
export async function receiveMessage (stream: Stream, store: (message: ChatMessage) => Promise<void>): Promise<ChatMessage | undefined> {
  const signal = AbortSignal.timeout(TIMEOUT_MS)
  try {
    const pb = pbStream(stream, { maxDataLength: MAX_FRAME_BYTES })
    const message = await pb.read(ChatMessage, { signal })
    let ack: Ack = { status: Ack.Status.OK, reason: '' }
    if (Buffer.byteLength(message.text) > MAX_MESSAGE_BYTES || message.text === '') {
      ack = { status: Ack.Status.TOO_LARGE, reason: `a message must be 1 to ${MAX_MESSAGE_BYTES} bytes` }
    } else {
      try {
        await store(message)
      } catch (err: any) {
        ack = { status: Ack.Status.ERROR, reason: `the receiver could not store it (${err.code ?? err.message})` }
      }
    }
    await pb.write(ack, Ack, { signal })
    await stream.close({ signal })
    return ack.status === Ack.Status.OK ? message : undefined
  } catch (err: any) {
    stream.abort(err instanceof Error ? err : new Error(String(err)))
    return undefined
  }
}
