import { logger } from '@libp2p/logger'
import type { Stream } from '@libp2p/interface'
import type { FileHandle } from 'node:fs/promises'
import { CHUNK_BYTES, IDLE_TIMEOUT_MS, TRAILER_BYTES, WRITE_HIGH_WATER, WRITE_LOW_WATER } from './constants.ts'

const log = logger('hwd:file-transfer:body')

export class BodyError extends Error {
  static name = 'BodyError'
  name = 'BodyError'
}

/** The whole body came, but the stream ended before the trailer that confirms it. */
export class TrailerMissingError extends BodyError {
  static name = 'TrailerMissingError'
  name = 'TrailerMissingError'
}

export interface BodySource {
  /** called in order for every chunk as it is read, before it is sent (to hash it), with where it starts in the file */
  onRead?(chunk: Uint8Array, at: number): void
  onSent(position: number): void
  /** the TRAILER_BYTES that follow the last chunk, asked for once every chunk is sent */
  trailer(): Promise<Uint8Array>
}

/**
 * Send bytes [offset, size) of a file, then its trailer, respecting the stream's
 * backpressure: the next chunk is read from disk while the previous one drains, and never
 * more than one chunk waits. A stream that takes nothing for IDLE_TIMEOUT_MS is given up.
 */
export async function sendBody (stream: Stream, file: FileHandle, offset: number, size: number, source: BodySource, signal: AbortSignal): Promise<void> {
  const send = async (bytes: Uint8Array): Promise<void> => {
    stream.send(bytes)
    if (stream.writeBufferLength > 0) await sent(stream, signal)
  }
  let position = offset
  let next = readChunk(file, position, size)
  while (position < size) {
    const chunk = await next
    const at = position
    position += chunk.byteLength
    next = readChunk(file, position, size)
    source.onRead?.(chunk, at)
    await send(chunk)
    source.onSent(position)
  }
  await next
  await send(await source.trailer())
}

/**
 * Resolves once the stream has handed everything it was given to the connection ('idle').
 * Rejects if it closes first, if `signal` aborts, or after IDLE_TIMEOUT_MS: a reader that stops
 * reading holds Yamux's window shut, and is given up. Not 'drain', which says the stream may
 * take more, not that it holds nothing: it comes each time the connection has room for one more
 * frame or Yamux's window opens, and a sender that sent a chunk at each queued chunks faster
 * than a slow network took them (test/body.test.ts).
 */
async function sent (stream: Stream, signal: AbortSignal): Promise<void> {
  if (signal.aborted) throw abortError(signal)
  await new Promise<void>((resolve, reject) => {
    const done = (err?: Error): void => {
      clearTimeout(idle)
      stream.removeEventListener('idle', onIdle)
      stream.removeEventListener('close', onClose)
      signal.removeEventListener('abort', onAbort)
      if (err == null) resolve()
      else reject(err)
    }
    const onIdle = (): void => { done() }
    const onClose = (evt: Event & { error?: Error }): void => { done(evt.error ?? new BodyError('the stream closed while sending')) }
    const onAbort = (): void => { done(abortError(signal)) }
    const idle = setTimeout(() => { done(new BodyError(`the reader took nothing for ${IDLE_TIMEOUT_MS / 1000}s`)) }, IDLE_TIMEOUT_MS)
    stream.addEventListener('idle', onIdle)
    stream.addEventListener('close', onClose as any)
    signal.addEventListener('abort', onAbort)
  })
}

/** Why a body stops when `signal` aborts: the reason it was given, or that it was cancelled. */
function abortError (signal: AbortSignal): Error {
  return signal.reason instanceof Error ? signal.reason : new BodyError('cancelled')
}

async function readChunk (file: FileHandle, position: number, size: number): Promise<Uint8Array> {
  const length = Math.min(CHUNK_BYTES, size - position)
  if (length <= 0) return new Uint8Array(0)
  const buffer = Buffer.allocUnsafe(length)
  const { bytesRead } = await file.read(buffer, 0, length, position)
  if (bytesRead === 0) throw new BodyError('the file shrank while it was being sent')
  return buffer.subarray(0, bytesRead)
}

export interface BodySink {
  /** write chunks that arrived in order, the first at `position` bytes past the body's start */
  write(chunks: Uint8Array[], position: number): Promise<void>
  onProgress(received: number): void
}

/**
 * Receive exactly `expected` bytes from a raw stream into `sink`, then the TRAILER_BYTES that
 * the promise resolves to, resuming the stream if the caller paused it to prepare the sink.
 * The first byte may take `firstByteMs`, longer than the IDLE_TIMEOUT_MS allowed between bytes.
 * The stream is paused while
 * more than WRITE_HIGH_WATER bytes wait for the disk (Yamux then stops the sender once its
 * window is spent), so memory stays bounded however slow the disk is. Rejects on a reset, on
 * more bytes than announced, on an end before them all, or on IDLE_TIMEOUT_MS of silence.
 */
export async function receiveBody (stream: Stream, expected: number, sink: BodySink, signal: AbortSignal, firstByteMs = IDLE_TIMEOUT_MS): Promise<Uint8Array> {
  return await new Promise<Uint8Array>((resolve, reject) => {
    const trailer = new Uint8Array(TRAILER_BYTES)
    let trailerHave = 0
    const queue: Uint8Array[] = []
    let queued = 0
    let received = 0
    let written = 0
    let writing = false
    let paused = false
    // the remote is done sending: what it sent may still wait in the stream's buffer, paused
    let remoteDone = false
    let failed = false
    let idle: NodeJS.Timeout | undefined

    const cleanup = (): void => {
      clearTimeout(idle)
      stream.removeEventListener('message', onMessage)
      stream.removeEventListener('end', onEnd)
      stream.removeEventListener('close', onClose)
      signal.removeEventListener('abort', onAbort)
    }
    const fail = (err: Error): void => {
      if (failed) return
      failed = true
      cleanup()
      stream.abort(err)
      reject(err)
    }
    const armIdle = (ms = IDLE_TIMEOUT_MS): void => {
      clearTimeout(idle)
      idle = setTimeout(() => { fail(new BodyError(`no data for ${Math.round(ms / 1000)}s`)) }, ms)
    }
    const setPaused = (value: boolean): void => {
      if (paused === value) return
      paused = value
      // pause() inside resume()'s dispatch of buffered messages would be undone: defer it.
      queueMicrotask(() => {
        if (failed || paused !== value) return
        log('%s at %d bytes received, %d written', value ? 'pause' : 'resume', received, written)
        try {
          if (value) stream.pause()
          else stream.resume()
        } catch {
          // the read side already closed; 'end' or 'close' settles the body
        }
      })
    }
    const pump = async (): Promise<void> => {
      if (writing || failed) return
      writing = true
      try {
        while (queue.length > 0) {
          const batch = queue.splice(0)
          const bytes = batch.reduce((n, c) => n + c.byteLength, 0)
          await sink.write(batch, written)
          written += bytes
          queued -= bytes
          sink.onProgress(written)
          if (queued <= WRITE_LOW_WATER) setPaused(false)
        }
      } catch (err: any) {
        fail(err)
        return
      } finally {
        writing = false
      }
      if (remoteDone && queue.length === 0 && stream.readBufferLength === 0) {
        cleanup()
        if (trailerHave === TRAILER_BYTES) resolve(trailer)
        else reject(received < expected ? new BodyError(`the stream ended after ${received} of ${expected} bytes`) : new TrailerMissingError('the stream ended before the trailer'))
      }
    }
    const onMessage = (evt: { data: Uint8Array | Iterable<Uint8Array> }): void => {
      if (failed) return
      armIdle()
      // a Uint8ArrayList is a list of buffers: take them as they are rather than join them
      for (const data of evt.data instanceof Uint8Array ? [evt.data] : evt.data) {
        const chunk = data.subarray(0, expected - received)
        const after = data.subarray(chunk.byteLength)
        if (trailerHave + after.byteLength > TRAILER_BYTES) { fail(new BodyError(`the peer sent more than the ${expected} bytes it announced and the trailer`)); return }
        trailer.set(after, trailerHave)
        trailerHave += after.byteLength
        if (chunk.byteLength === 0) continue
        received += chunk.byteLength
        queue.push(chunk)
        queued += chunk.byteLength
      }
      if (queued >= WRITE_HIGH_WATER) setPaused(true)
      void pump()
    }
    const onEnd = (): void => { remoteDone = true; void pump() }
    // A graceful 'close' can come while a paused stream still buffers data, and no 'end' may
    // follow it: resume, so the buffer is dispatched, and finish once it is written.
    const onClose = (evt: Event & { error?: Error }): void => {
      if (evt.error != null) {
        fail(received === expected ? new TrailerMissingError(`the stream was reset before the trailer (${evt.error.message})`) : evt.error)
        return
      }
      remoteDone = true
      setPaused(false)
      void pump()
    }
    const onAbort = (): void => { fail(abortError(signal)) }

    stream.addEventListener('message', onMessage as any)
    stream.addEventListener('end', onEnd)
    stream.addEventListener('close', onClose as any)
    signal.addEventListener('abort', onAbort)
    if (stream.status === 'aborted' || stream.status === 'reset') {
      fail(new BodyError(`the stream was ${stream.status} before the body arrived`))
      return
    }
    armIdle(firstByteMs)
    try {
      stream.resume()
    } catch {
      // the read side already closed: whatever it held was dispatched or dropped
    }
    // The remote may have finished before we listened (a byte stream read ahead, then was
    // unwrapped): 'end' has passed and will not come again. The buffered data is dispatched in
    // a microtask queued by addEventListener above, so this one runs after it.
    if (stream.readableEnded) queueMicrotask(onEnd)
  })
}
