import { createHash } from 'node:crypto'
import { pbStream } from '@libp2p/utils'
import type { Stream } from '@libp2p/interface'
import { deadline } from '../../protocol/deadline.ts'
import { equals } from 'uint8arrays'
import { hashFile, Response, sendBody, HEADER_TIMEOUT_MS, IDLE_TIMEOUT_MS } from '../../protocol/file-transfer/index.ts'
import type { OpenFile, PackageContext } from '../../daemon/package-api.ts'
import type { ServerOptions } from './api.ts'

/** How many file hashes to remember; each is a few dozen bytes. */
const HASH_CACHE_ENTRIES = 4096

/**
 * SHA-256 of files by version (device, inode, size, times), so a file served again, or a
 * download resumed, is not read twice before its first byte is sent.
 */
export class HashCache {
  private readonly entries = new Map<string, Promise<Uint8Array<ArrayBuffer>>>()

  async get (file: OpenFile): Promise<Uint8Array<ArrayBuffer>> {
    let hash = this.entries.get(file.version)
    if (hash == null) {
      hash = sha256Of(file)
      this.entries.set(file.version, hash)
      hash.catch(() => this.entries.delete(file.version))
      if (this.entries.size > HASH_CACHE_ENTRIES) this.entries.delete(this.entries.keys().next().value!)
    }
    return await hash
  }
}

async function sha256Of (file: OpenFile): Promise<Uint8Array<ArrayBuffer>> {
  const hash = createHash('sha256')
  await hashFile(file.handle, file.size, hash)
  return new Uint8Array(hash.digest())
}

type Answer = Partial<Response> & Pick<Response, 'status'>

/** Write a response header, the fields it leaves out at their defaults. */
async function writeResponse (stream: Stream, response: Answer, signal: AbortSignal): Promise<void> {
  await pbStream(stream).write({ reason: '', size: 0n, sha256: new Uint8Array(0), files: [], offset: 0n, ...response }, Response, { signal })
}

/** Answer a request whole (a refusal, a listing) and close. */
export async function respond (stream: Stream, response: Answer): Promise<void> {
  const signal = AbortSignal.timeout(HEADER_TIMEOUT_MS)
  await writeResponse(stream, response, signal)
  await stream.close({ signal })
}

/**
 * The serving worker: answer one download request with the file's size and hash, then send
 * it from the offset asked for, or whole if the file changed since the requester's partial
 * copy began.
 */
export async function upload (our: PackageContext, id: string, options: ServerOptions, hashes: HashCache): Promise<void> {
  const { stream, file } = options
  const peer = our.nameOf(options.peer) ?? options.peer.toString()
  let opened: OpenFile
  try {
    opened = await our.drive.openForRead(file)
  } catch (err: any) {
    const status = err.name === 'FileNotFoundError' ? Response.Status.NOT_FOUND
      : err.name === 'InvalidFileNameError' ? Response.Status.REFUSED : Response.Status.ERROR
    const reason = status === Response.Status.ERROR ? `cannot read ${file} in ${our.id}` : err.message
    our.log('refusing %s to %s - %s', file, peer, err.message)
    await respond(stream, { status, reason })
    return
  }
  const { handle, size } = opened
  try {
    const sha256 = await hashes.get(opened)
    const offset = options.offset > 0 && options.offset <= size && equals(options.ifSha256, sha256) ? options.offset : 0
    await writeResponse(stream, { status: Response.Status.OK, size: BigInt(size), sha256, offset: BigInt(offset) }, AbortSignal.timeout(HEADER_TIMEOUT_MS))
    our.transfers.begin({ id, label: file, peer, direction: 'upload', done: offset, total: size, startedAt: Date.now() }, err => { stream.abort(err) })
    await sendBody(stream, handle, offset, size, position => { our.transfers.update(id, position) }, our.signal)
    await stream.close({ signal: deadline(IDLE_TIMEOUT_MS, our.signal) })
  } finally {
    our.transfers.end(id)
    await handle.close()
  }
}
