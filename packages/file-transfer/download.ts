import { createHash, randomBytes } from 'node:crypto'
import { open, readFile, rm, stat, type FileHandle } from 'node:fs/promises'
import { pbStream } from '@libp2p/utils'
import type { Stream } from '@libp2p/interface'
import { toString } from 'uint8arrays'
import { HwdError } from '../../errors.ts'
import { writeFileAtomic } from '../../storage/atomic.ts'
import {
  HEADER_TIMEOUT_MS, MAX_RESPONSE_BYTES, PROTOCOL, Request, Response, receiveBody
} from '../../protocol/file-transfer/index.ts'
import type { PackageContext } from '../../daemon/package-api.ts'
import type { DownloadResult, RequesterOptions } from './api.ts'

export class DownloadError extends HwdError {
  static name = 'DownloadError'
  name = 'DownloadError'
}

/** What a partial download came from, kept beside it so a later download can resume it. */
interface PartialRecord {
  file: string
  peer: string
  size: number
  sha256: string
}

export function newTransferId (): string {
  return randomBytes(4).toString('hex')
}

/**
 * The requesting worker: fetch `file` from `source` into `our` drive. Chunks go to a partial
 * file beside the final name; only a body of the announced size and SHA-256, flushed to
 * disk, is renamed to the final name. A download cut off leaves the partial file and its
 * record, and the next one resumes it if the source still has the same file. `downloading`
 * holds the downloads running on this node, so two never write the same partial file.
 */
export async function download (our: PackageContext, id: string, options: RequesterOptions, downloading: Set<string>): Promise<DownloadResult> {
  const { drive } = our
  const { file, source } = options
  const partial = drive.partialPath(file)
  const key = `${drive.root}\0${file}`
  if (downloading.has(key)) throw new DownloadError(`${file} is already being downloaded into ${our.id}`)
  downloading.add(key)
  const started = Date.now()
  const signal = AbortSignal.any([our.signal, ...(options.signal != null ? [options.signal] : [])])
  let stream: Stream | undefined
  try {
    const connection = await our.connect(source, { signal })
    stream = await connection.newStream(PROTOCOL, { signal: AbortSignal.any([signal, AbortSignal.timeout(HEADER_TIMEOUT_MS)]) })
    const peer = connection.remotePeer.toString()
    const held = await resumable(partial, file, peer)
    const pb = pbStream(stream, { maxDataLength: MAX_RESPONSE_BYTES })
    const header = AbortSignal.any([signal, AbortSignal.timeout(HEADER_TIMEOUT_MS)])
    await pb.write({ kind: Request.Kind.DOWNLOAD, drive: our.id, file, offset: BigInt(held?.offset ?? 0), ifSha256: held?.sha256 ?? new Uint8Array(0) }, Request, { signal: header })
    const response = await pb.read(Response, { signal: header })
    if (response.status !== Response.Status.OK) throw new DownloadError(`${source}: ${response.reason}`)
    const size = Number(response.size)
    const offset = Number(response.offset)
    if (response.sha256.byteLength !== 32 || offset > size || offset > (held?.offset ?? 0)) {
      throw new DownloadError(`${source} sent a malformed response`)
    }
    // Unwrap at once: past the header the byte stream would buffer the body itself, and
    // overflow its 4 MiB while the partial file is prepared; the stream's own buffer holds a
    // whole Yamux window (daemon/node.ts).
    const raw = pb.unwrap()
    const sha256 = toString(response.sha256, 'hex')
    const hash = createHash('sha256')
    const handle = await openPartial(partial, offset, hash)
    if (offset > 0) options.onResume?.(offset)
    our.transfers.begin({ id, label: file, peer: source, direction: 'download', done: offset, total: size, startedAt: started })
    try {
      await writeFileAtomic(recordPath(partial), JSON.stringify({ file, peer, size, sha256 } satisfies PartialRecord), 0o644)
      await receiveBody(raw, size - offset, {
        onChunk: chunk => { hash.update(chunk) },
        write: async (chunks, end) => { await writeAll(handle, chunks, offset + end - chunks.reduce((n, c) => n + c.byteLength, 0)) },
        onProgress: received => {
          our.transfers.update(id, offset + received)
          options.onProgress?.({ id, label: file, done: offset + received, total: size })
        }
      }, signal)
      await raw.close({ signal }).catch(() => {})
      if (hash.digest('hex') !== sha256) {
        await discard(partial)
        throw new DownloadError(`${file} from ${source} failed its SHA-256 check; nothing was saved`)
      }
      await handle.sync()
    } finally {
      await handle.close()
      our.transfers.end(id)
    }
    await drive.commit(partial, file)
    await rm(recordPath(partial), { force: true })
    return { file, source, size, sha256, resumedAt: offset, ms: Date.now() - started }
  } catch (err: any) {
    stream?.abort(err instanceof Error ? err : new Error(String(err)))
    throw await explain(err, partial, file, source)
  } finally {
    downloading.delete(key)
  }
}

/** A one-line reason for a failed download; a partial file stays only where resuming makes sense. */
async function explain (err: any, partial: string, file: string, source: string): Promise<Error> {
  if (err instanceof HwdError) return err
  if (err?.code === 'ENOSPC' || err?.code === 'EDQUOT') {
    await discard(partial)
    return new DownloadError(`${file}: the disk is full; the partial download was removed`)
  }
  if (err?.name === 'AbortError' || err?.name === 'TimeoutError') {
    return new DownloadError(`${file} from ${source}: ${err.name === 'TimeoutError' ? 'timed out' : 'cancelled'}; download it again to resume`)
  }
  return new DownloadError(`${file} from ${source} was cut off (${err?.message ?? err}); download it again to resume`)
}

/** The partial file to resume, if it came from the same file on the same peer. */
async function resumable (partial: string, file: string, peer: string): Promise<{ offset: number, sha256: Uint8Array<ArrayBuffer> } | undefined> {
  try {
    const record = JSON.parse(await readFile(recordPath(partial), 'utf8')) as PartialRecord
    if (record.file !== file || record.peer !== peer) return undefined
    const { size } = await stat(partial)
    if (size === 0 || size > record.size) return undefined
    return { offset: size, sha256: new Uint8Array(Buffer.from(record.sha256, 'hex')) }
  } catch {
    return undefined
  }
}

/** Open the partial file at `offset` bytes, feeding the bytes kept to `hash`. */
async function openPartial (partial: string, offset: number, hash: ReturnType<typeof createHash>): Promise<FileHandle> {
  const handle = await open(partial, offset > 0 ? 'r+' : 'w', 0o644)
  try {
    if (offset > 0) {
      await handle.truncate(offset)
      const buffer = Buffer.allocUnsafe(1024 * 1024)
      for (let position = 0; position < offset;) {
        const { bytesRead } = await handle.read(buffer, 0, Math.min(buffer.byteLength, offset - position), position)
        if (bytesRead === 0) throw new DownloadError('the partial file shrank while it was being read')
        hash.update(buffer.subarray(0, bytesRead))
        position += bytesRead
      }
    }
    return handle
  } catch (err) {
    await handle.close()
    throw err
  }
}

async function writeAll (handle: FileHandle, chunks: Uint8Array[], position: number): Promise<void> {
  let pending = chunks
  let at = position
  while (pending.length > 0) {
    const { bytesWritten } = await handle.writev(pending, at)
    at += bytesWritten
    pending = dropBytes(pending, bytesWritten)
  }
}

function dropBytes (chunks: Uint8Array[], n: number): Uint8Array[] {
  const rest: Uint8Array[] = []
  let skip = n
  for (const c of chunks) {
    if (skip >= c.byteLength) { skip -= c.byteLength; continue }
    rest.push(skip > 0 ? c.subarray(skip) : c)
    skip = 0
  }
  return rest
}

function recordPath (partial: string): string {
  return `${partial}.json`
}

async function discard (partial: string): Promise<void> {
  await rm(partial, { force: true })
  await rm(recordPath(partial), { force: true })
}
