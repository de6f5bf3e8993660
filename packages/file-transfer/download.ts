import { randomBytes } from 'node:crypto'
import type { FileHandle } from 'node:fs/promises'
import type { Connection, Stream } from '@libp2p/interface'
import { toString } from 'uint8arrays'
import { asError, deadline, fileVersion, formatBytes, framed, HwdError, peerReason, type Drive, type PackageContext } from 'hwd/package'
import {
  HEADER_TIMEOUT_MS, IDLE_TIMEOUT_MS, MAX_RESPONSE_BYTES, PROTOCOL, Request, Response, receiveBody, RunningHash, VERSION_BYTES
} from 'hwd/protocol/file-transfer'
import type { DownloadResult, RequesterOptions } from './api.ts'
import type { HashCheckpoints } from './checkpoints.ts'
import { FlushBehind } from './flush-behind.ts'

export class DownloadError extends HwdError {
  static name = 'DownloadError'
  name = 'DownloadError'
}

export function newTransferId (): string {
  return randomBytes(4).toString('hex')
}

/**
 * The requesting worker: fetch `file` from `source` into `our` drive. Chunks go to a partial
 * file beside the final name; only a body of the announced size and BLAKE3, flushed to
 * disk, is renamed to the final name. A download cut off leaves the partial file and its
 * record, and the next one resumes it if the source still has the same file; one cancelled
 * with `cancel` leaves nothing. The download is in the node's transfer table from its first
 * step to its last, so two never write the same partial file, and `cancel` finds it even
 * while it connects.
 */
export async function download (our: PackageContext, id: string, options: RequesterOptions, checkpoints: HashCheckpoints): Promise<DownloadResult> {
  const { drive } = our
  const { file, source } = options
  if (our.transfers.has('download', our.id, file)) throw new DownloadError(`${file} is already being downloaded into ${our.id}`)
  const started = Date.now()
  const cancel = new AbortController()
  const signal = AbortSignal.any([our.signal, cancel.signal, ...(options.signal != null ? [options.signal] : [])])
  our.transfers.begin({ id, label: file, drive: our.id, peer: source, direction: 'download', done: 0, startedAt: started }, err => { cancel.abort(err) })
  let stream: Stream | undefined
  // whether this attempt has opened the partial file: only then is it this attempt's to remove
  let opened = false
  // what this download failed with, as its command reports it: the transfer table records it
  let failure: Error | undefined
  try {
    const connection = await our.connect(source, { signal })
    stream = await connection.newStream(PROTOCOL, { signal: deadline(HEADER_TIMEOUT_MS, signal), runOnLimitedConnection: true })
    const peer = connection.remotePeer.toString()
    const partial = await drive.partial(file)
    const held = partial != null && partial.record.peer === peer && partial.have > 0 ? partial : undefined
    const pb = framed(stream, MAX_RESPONSE_BYTES)
    const header = deadline(HEADER_TIMEOUT_MS, signal)
    await pb.write({
      kind: Request.Kind.DOWNLOAD,
      drive: our.id,
      file,
      offset: held?.have ?? 0,
      ifVersion: held != null ? new Uint8Array(Buffer.from(held.record.version, 'hex')) : new Uint8Array(0)
    }, Request, { signal: header })
    const response = await pb.read(Response, { signal: header })
    if (response.status !== Response.Status.OK) throw new DownloadError(`${source}: ${peerReason(response.reason)}`)
    checkRelayLimit(our, connection, source, response.size - response.offset)
    // Unwrap at once, paused: past the header the byte stream would buffer the body itself and
    // overflow its 4 MiB while the partial file is prepared (resuming hashes what it holds);
    // paused, Yamux stops granting window, so at most a window waits (daemon/node.ts).
    const raw = pb.unwrap()
    raw.pause()
    const { size, offset } = response
    const version = toString(response.version, 'hex')
    if (response.version.byteLength !== VERSION_BYTES || offset > size || offset > (held?.have ?? 0) || (offset > 0 && version !== held?.record.version)) {
      throw new DownloadError(`${source} sent a malformed response`)
    }
    our.transfers.update(id, offset, size)
    // told before the bytes kept are hashed, which takes a while for a large file
    if (offset > 0) options.onResume?.(offset)
    opened = true
    // the checkpoints of this download, a cut's among them
    const key = `${our.id}\0${file}\0${version}`
    const { handle, hash } = await openPartial(drive, file, offset, key, checkpoints, signal)
    let blake3: string
    try {
      await drive.recordPartial({ file, source, peer, size, version })
      // hashed as written, so that where a cut leaves the partial file, the hash is of it; once
      // cut, the hash is the checkpoint's, and a write still under way when it came feeds it no more
      let cut = false
      const flush = new FlushBehind(handle)
      const trailer = await receiveBody(raw, size - offset, {
        write: async (chunks, position) => {
          await writeAll(handle, chunks, offset + position)
          if (cut) return
          const start = offset + position
          let at = start
          for (const chunk of chunks) {
            hash.feed(chunk, at)
            at += chunk.byteLength
          }
          flush.wrote(at - start)
        },
        onProgress: received => {
          our.transfers.update(id, offset + received)
          options.onProgress?.({ id, label: file, done: offset + received, total: size })
        }
      }, signal, offset > 0 ? resumePatienceMs(offset) : undefined).catch(async err => {
        cut = true
        if (!cancel.signal.aborted) await keepCheckpoint(checkpoints, key, handle, hash)
        throw err
      })
      await raw.close({ signal }).catch(() => {})
      blake3 = toString(trailer, 'hex')
      if (toString(hash.digest(), 'hex') !== blake3) {
        await drive.discardPartial(file)
        throw new DownloadError(`${file} from ${source} failed its BLAKE3 check; nothing was saved`)
      }
      await flush.settle()
      await handle.sync()
      // flushing a large file takes a while: a cancel that came meanwhile still wins; one that
      // comes later would find the file saved, and is not taken
      signal.throwIfAborted()
      our.transfers.finishing(id)
    } finally {
      await handle.close()
    }
    await drive.commit(file)
    return { file, source, size, blake3, resumedAt: offset, ms: Date.now() - started }
  } catch (err: any) {
    stream?.abort(asError(err))
    failure = await explain(cancel.signal.aborted ? cancel.signal.reason : err, drive, file, source, opened)
    throw failure
  } finally {
    our.transfers.end(id, failure)
  }
}

/**
 * A relay may cap each relayed connection (libp2p's default is 128 KiB) and cut the whole
 * connection at the cap: a body that cannot fit is refused before a byte of it is written.
 */
function checkRelayLimit (our: PackageContext, connection: Connection, source: string, body: number): void {
  const left = connection.limits?.bytes
  const relay = our.relayOf(connection)
  if (left == null || relay == null || BigInt(body) <= left) return
  throw new DownloadError(`${source} is reachable only through relay ${relay}, which carries at most ${formatBytes(Number(left))} per connection; the file needs ${formatBytes(body)}`)
}

/**
 * A one-line reason for a failed download; a partial file stays only where resuming makes
 * sense, and one this attempt never `opened` (kept from an earlier one) always stays.
 */
async function explain (err: any, drive: Drive, file: string, source: string, opened: boolean): Promise<Error> {
  if (err?.name === 'CancelledError' || err?.code === 'ENOSPC' || err?.code === 'EDQUOT') {
    if (opened) await drive.discardPartial(file)
    return err instanceof HwdError ? err : new DownloadError(`${file}: the disk is full; the partial download was removed`)
  }
  if (err instanceof HwdError) return err
  if (err?.name === 'UnsupportedProtocolError') return new DownloadError(notServed(source))
  if (err?.name === 'TrailerMissingError') {
    return new DownloadError(`${file} from ${source}: the source stopped before confirming the file's hash (it may have changed while it was sent); download it again`)
  }
  if (err?.name === 'AbortError' || err?.name === 'TimeoutError') {
    return new DownloadError(`${file} from ${source}: ${err.name === 'TimeoutError' ? 'timed out' : 'stopped'}; download it again to resume`)
  }
  // an error about one of our own files (they carry a path; the network's do not): a new try meets it again
  if (typeof err?.path === 'string' && typeof err?.code === 'string') {
    return new DownloadError(`${file}: cannot be saved into ${drive.id} (${err.code})`)
  }
  return new DownloadError(`${file} from ${source} was cut off (${err?.message ?? err}); download it again to resume`)
}

/** The one line for a node that does not answer our protocol. */
export function notServed (node: string): string {
  return `${node} does not serve file transfer (${PROTOCOL}); it may run another version of hwd`
}

/**
 * How long a resumed download waits for its first byte: the server first hashes the `offset`
 * bytes it sent before, unless it still knows their hash, and its disk may be slow.
 */
function resumePatienceMs (offset: number): number {
  return IDLE_TIMEOUT_MS + Math.ceil(offset / RESUME_HASH_BYTES_PER_MS)
}

/** The slowest disk a resume's wait allows for: 20 MB/s. */
const RESUME_HASH_BYTES_PER_MS = 20_000

/**
 * Open the partial file at `offset` bytes, with the hash of the bytes kept: from the checkpoint
 * a cut left, if the file is as that cut left it (the same version), else hashed from the file.
 */
async function openPartial (drive: Drive, file: string, offset: number, key: string, checkpoints: HashCheckpoints, signal: AbortSignal): Promise<{ handle: FileHandle, hash: RunningHash }> {
  const handle = await drive.openPartial(file, offset > 0)
  try {
    if (offset === 0) return { handle, hash: new RunningHash() }
    const kept = await partialKey(key, handle)
    await handle.truncate(offset)
    return { handle, hash: await checkpoints.take(kept, handle, offset, signal) }
  } catch (err) {
    await handle.close()
    throw err
  }
}

/** Keep the hash of the partial file as a cut leaves it, for the next download to resume from. */
async function keepCheckpoint (checkpoints: HashCheckpoints, key: string, handle: FileHandle, hash: RunningHash): Promise<void> {
  try {
    checkpoints.put(await partialKey(key, handle), hash)
  } catch {
    // no checkpoint: the next download hashes the partial file
  }
}

/**
 * A download's checkpoint key for its partial file as it is now: with the file's version, which
 * any change to it changes (no one can set the change time back, as `touch -r` or `cp -p` set
 * the modification time), so a changed partial file is hashed again.
 */
async function partialKey (key: string, handle: FileHandle): Promise<string> {
  return `${key}\0${(await fileVersion(handle)).version}`
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
