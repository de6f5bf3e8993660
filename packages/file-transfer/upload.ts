import { pbStream } from '@libp2p/utils'
import type { Stream } from '@libp2p/interface'
import { asError, deadline, fileVersion, type OpenFile, type PackageContext } from 'hwd/package'
import { BodyError, Response, sendBody, HEADER_TIMEOUT_MS, IDLE_TIMEOUT_MS } from 'hwd/protocol/file-transfer'
import type { HashCheckpoints } from './checkpoints.ts'
import type { ServerOptions } from './api.ts'

/** How many file hashes to remember; each is a few dozen bytes. */
const HASH_CACHE_ENTRIES = 4096
/**
 * A file changed less than this before it was read may change again within the same time
 * granule of its file system (2 s on FAT) and keep its version: its hash is not remembered.
 */
export const RACY_MS = 2_000

/**
 * The BLAKE3 of files by version, learnt as they are sent whole, so a file served again or a
 * download resumed is not hashed again.
 */
export class HashCache {
  private readonly entries = new Map<string, Uint8Array>()

  get (version: string): Uint8Array | undefined {
    return this.entries.get(version)
  }

  set (version: string, blake3: Uint8Array): void {
    this.entries.set(version, blake3)
    if (this.entries.size > HASH_CACHE_ENTRIES) this.entries.delete(this.entries.keys().next().value!)
  }
}

type Answer = Partial<Response> & Pick<Response, 'status'>

/** A response header, the fields `answer` leaves out at their defaults. */
export function fullResponse (answer: Answer): Response {
  return { reason: '', size: 0, version: new Uint8Array(0), files: [], offset: 0, ...answer }
}

async function writeResponse (stream: Stream, answer: Answer, signal: AbortSignal): Promise<void> {
  await pbStream(stream).write(fullResponse(answer), Response, { signal })
}

/** Answer a request whole (a refusal, a listing) and close. */
export async function respond (stream: Stream, answer: Answer): Promise<void> {
  const signal = AbortSignal.timeout(HEADER_TIMEOUT_MS)
  await writeResponse(stream, answer, signal)
  await stream.close({ signal })
}

/**
 * The serving worker: answer one download request with the file's size and version, then
 * send it from the offset asked for (or whole, if the file changed since the requester's
 * partial copy began), then its BLAKE3, hashed on the way unless already known.
 */
export async function upload (our: PackageContext, id: string, options: ServerOptions, hashes: HashCache, checkpoints: HashCheckpoints): Promise<void> {
  const { stream, file } = options
  const peer = our.nameOf(options.peer) ?? options.peer.toString()
  let opened: OpenFile
  try {
    opened = await our.drive.openForRead(file)
  } catch (err: any) {
    const status = err.name === 'FileNotFoundError'
      ? Response.Status.NOT_FOUND
      : err.name === 'InvalidFileNameError' ? Response.Status.REFUSED : Response.Status.ERROR
    const reason = status === Response.Status.ERROR ? `cannot read ${file} in ${our.id}` : err.message
    our.log('refusing %s to %s - %s', file, peer, err.message)
    await respond(stream, { status, reason })
    return
  }
  const { handle, size, version } = opened
  // the requester gone (a reset, a cancel) stops the work done for it, the prefix's hash included
  const gone = new AbortController()
  const onClose = (): void => { gone.abort(new BodyError(`${peer} is no longer reading ${file}`)) }
  stream.addEventListener('close', onClose, { once: true })
  const signal = AbortSignal.any([our.signal, gone.signal])
  // what this upload failed with, for the transfer table: none if it was all sent
  let failure: Error | undefined
  try {
    const offset = options.offset > 0 && options.offset <= size && Buffer.from(options.ifVersion).toString('hex') === version ? options.offset : 0
    await writeResponse(stream, { status: Response.Status.OK, size, version: Buffer.from(version, 'hex'), offset }, AbortSignal.timeout(HEADER_TIMEOUT_MS))
    if (options.maxBytes != null && BigInt(size - offset) > options.maxBytes) {
      // the relay would cut the whole connection partway; the requester reads the size and says why
      our.log('not sending %s to %s: a relay caps the connection at %d more bytes', file, peer, options.maxBytes)
      await stream.close({ signal: AbortSignal.timeout(HEADER_TIMEOUT_MS) })
      return
    }
    our.transfers.begin({ id, label: file, drive: our.id, peer, direction: 'upload', done: offset, total: size, startedAt: Date.now() }, err => { stream.abort(err) })
    const known = hashes.get(version)
    // a file changed just before it is read may change again and keep its version: its hashes are not kept
    const keep = Date.now() - opened.changedMs >= RACY_MS
    const hash = known == null ? await checkpoints.take(version, handle, offset, signal) : undefined
    try {
      await sendBody(stream, handle, offset, size, {
        onRead: hash != null ? (chunk, at) => { hash.feed(chunk, at) } : undefined,
        onSent: position => { our.transfers.update(id, position) },
        trailer: async () => {
          // what was read is one version of the file only if no write came meanwhile
          if ((await fileVersion(handle)).version !== version) throw new BodyError(`${file} changed while it was being sent`)
          const digest = known ?? hash!.digest()
          if (keep) hashes.set(version, digest)
          return digest
        }
      }, signal)
    } catch (err) {
      // cut off: a resume of this version takes up the hash where it stopped
      if (hash != null && keep) checkpoints.put(version, hash)
      throw err
    }
    await stream.close({ signal: deadline(IDLE_TIMEOUT_MS, signal) })
  } catch (err) {
    failure = asError(err)
    throw err
  } finally {
    stream.removeEventListener('close', onClose)
    our.transfers.end(id, failure)
    await handle.close()
  }
}
