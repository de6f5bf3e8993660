/**
 * # Packages protocol `/hwd/packages/1.0.0`
 *
 * Carries packages between nodes: which releases a node serves, and a release's archive.
 *
 * Participants: a requester and a server (a package's publisher, or a mirror). Goals: a
 * requester can install a release from any node that has it and trusts none of them: the
 * release record is signed by the publisher's node key, and the archive is named by its
 * BLAKE3 in that record. Non-goals: search across the network, deltas between versions.
 *
 * A stream carries one exchange. The requester writes one length-prefixed `Request`:
 * - LIST `package` (`name:publisher`, or empty for everything): the server answers one
 *   `Response` with every release of it that it serves (at most MAX_RELEASES), newest first,
 *   and closes. An unknown package is OK with no releases.
 * - ARCHIVE `blake3`: the server answers one `Response` with the archive's `size`, then the
 *   archive's raw bytes, then the same 32-byte BLAKE3 as a trailer, as the file transfer does
 *   (protocol/file-transfer/body.ts), and closes.
 * The requester closes its side once it has read the answer (and the trailer). Any status but
 * OK carries a one-line `reason`, no body, and a clean close: NOT_FOUND (not served here),
 * REFUSED (the requester is not on the server's access list, or a BLAKE3 not 32 bytes long),
 * BUSY (MAX_UPLOADS archives already going out, or MAX_UPLOADS_PER_PEER to this requester; try
 * again shortly, or another node), ERROR (the server failed to read). An unknown `kind` does
 * not decode, and resets the stream.
 *
 * The requester checks everything: each record's fields and signature (release.ts), that the
 * signing key is the one pinned to the publisher's name, the size, and the archive's BLAKE3
 * against the record. A server serves the releases its node published and, unless started
 * with `--no-mirror`, those it installed.
 *
 * Limits: MAX_REQUEST_BYTES and MAX_RESPONSE_BYTES per header, HEADER_TIMEOUT_MS for each,
 * the file transfer's IDLE_TIMEOUT_MS between bytes of an archive and, for the whole archive,
 * HEADER_TIMEOUT_MS plus its size at MIN_ARCHIVE_BYTES_PER_MS, archives of at most
 * MAX_ARCHIVE_BYTES (storage/archive.ts). A header that is oversized, malformed or late
 * resets the stream.
 *
 * Implemented by: the server, `serveRequest` (below), registered by `Releases`
 * (daemon/releases.ts); the requester, `listReleases` and `fetchArchive` (below).
 */
import { open, type FileHandle } from 'node:fs/promises'
import type { Connection, Stream } from '@libp2p/interface'
import { toString } from 'uint8arrays'
import { asError, HwdError, peerReason } from '../../errors.ts'
import { MAX_ARCHIVE_BYTES } from '../../storage/archive.ts'
import { deadline } from '../deadline.ts'
import { receiveBody, sendBody } from '../file-transfer/body.ts'
import { newBlake3 } from '../file-transfer/hash.ts'
import { framed } from '../framing.ts'
import { HEADER_TIMEOUT_MS, MIN_ARCHIVE_BYTES_PER_MS, MAX_RELEASES, MAX_REQUEST_BYTES, MAX_RESPONSE_BYTES, PROTOCOL } from './constants.ts'
import { Release, Request, Response } from './pb/packages.ts'

export * from './constants.ts'
export { Release, Request, Response } from './pb/packages.ts'

export class PackagesError extends HwdError {
  static name = 'PackagesError'
  name = 'PackagesError'
}

/** What a server serves from. */
export interface ReleaseSource {
  /** the releases of `id` (`name:publisher`), or of every package if empty, newest first */
  list(id: string): Release[]
  /** where the archive with this BLAKE3 (hex) is and how big, if served; undefined if not */
  archive(hash: string): Promise<{ path: string, size: number } | undefined>
  /** why `peer` may not be served (the node's access list), or undefined */
  refusal(peer: string): string | undefined
  /** take an upload slot for `peer`, or false when it or all peers have their most going out; `free` gives it back */
  take(peer: string): boolean
  free(peer: string): void
  /** aborts what is being sent when the node stops */
  signal: AbortSignal
}

export async function serveRequest (stream: Stream, peer: string, source: ReleaseSource): Promise<void> {
  const pb = framed(stream, MAX_REQUEST_BYTES)
  const request = await pb.read(Request, { signal: AbortSignal.timeout(HEADER_TIMEOUT_MS) })
  const raw = pb.unwrap()
  const refused = source.refusal(peer)
  if (refused != null) {
    await respond(raw, { status: Response.Status.REFUSED, reason: refused })
    return
  }
  if (request.kind === Request.Kind.LIST) {
    await respond(raw, { status: Response.Status.OK, releases: source.list(request.package).slice(0, MAX_RELEASES) })
    return
  }
  if (request.blake3.byteLength !== 32) {
    await respond(raw, { status: Response.Status.REFUSED, reason: 'a BLAKE3 is 32 bytes' })
    return
  }
  const hash = toString(request.blake3, 'base16')
  if (!source.take(peer)) {
    await respond(raw, { status: Response.Status.BUSY, reason: 'busy sending other archives; try again shortly' })
    return
  }
  try {
    let found: { path: string, size: number } | undefined
    let file: FileHandle | undefined
    try {
      found = await source.archive(hash)
      if (found != null) file = await open(found.path, 'r')
    } catch (err) {
      // the error's code only: its message names a path in this node's home, which is nobody else's business
      const code = (err as NodeJS.ErrnoException).code
      await respond(raw, { status: Response.Status.ERROR, reason: `cannot read the archive${code != null ? `: ${code}` : ''}` })
      return
    }
    if (found == null || file == null) {
      await respond(raw, { status: Response.Status.NOT_FOUND, reason: `no archive ${hash.slice(0, 16)}… here` })
      return
    }
    try {
      await respond(raw, { status: Response.Status.OK, size: found.size }, false)
      await sendBody(raw, file, 0, found.size, { onSent () {}, trailer: async () => request.blake3 }, deadline(archiveMs(found.size), source.signal))
      await raw.close()
    } finally {
      await file.close()
    }
  } finally {
    source.free(peer)
  }
}

async function respond (stream: Stream, response: Partial<Response>, close = true): Promise<void> {
  const pb = framed(stream, MAX_RESPONSE_BYTES)
  await pb.write({ status: Response.Status.OK, reason: '', releases: [], size: 0, ...response }, Response, { signal: AbortSignal.timeout(HEADER_TIMEOUT_MS) })
  pb.unwrap()
  if (close) await stream.close()
}

/** Ask the node at the other end of `connection` which releases of `id` it serves (unchecked: the caller verifies). */
export async function listReleases (connection: Connection, id: string, signal?: AbortSignal): Promise<Release[]> {
  const response = await exchange(connection, { kind: Request.Kind.LIST, package: id, blake3: new Uint8Array(0) }, signal, async (stream, response) => {
    await stream.close({ signal: deadline(HEADER_TIMEOUT_MS, signal) })
    return response
  })
  return response.releases
}

/**
 * The archive of `release`, from the node at the other end of `connection`, checked against
 * the record's size and BLAKE3 before it is returned.
 */
export async function fetchArchive (connection: Connection, release: Release, signal?: AbortSignal): Promise<Uint8Array> {
  if (release.size > MAX_ARCHIVE_BYTES) throw new PackagesError(`the archive is ${release.size} bytes, over the limit of ${MAX_ARCHIVE_BYTES}`)
  return await exchange(connection, { kind: Request.Kind.ARCHIVE, package: '', blake3: release.blake3 }, signal, async (stream, response) => {
    if (response.size !== release.size) throw new PackagesError(`the node offers ${response.size} bytes where the release says ${release.size}`)
    const archive = new Uint8Array(release.size)
    const hash = newBlake3()
    const whole = deadline(archiveMs(release.size), signal)
    await receiveBody(stream, release.size, {
      async write (chunks, position) {
        for (const chunk of chunks) {
          archive.set(chunk, position)
          hash.update(chunk)
          position += chunk.byteLength
        }
      },
      onProgress () {}
    }, whole)
    await stream.close({ signal: deadline(HEADER_TIMEOUT_MS, signal) })
    if (toString(hash.digestBuffer(), 'base16') !== toString(release.blake3, 'base16')) throw new PackagesError('the archive does not match its hash in the release')
    return archive
  })
}

/** One request, one checked response header, then `then` with the stream; any failure aborts the stream. */
async function exchange<T> (connection: Connection, request: Request, signal: AbortSignal | undefined, then: (stream: Stream, response: Response) => Promise<T>): Promise<T> {
  const header = deadline(HEADER_TIMEOUT_MS, signal)
  let stream: Stream | undefined
  try {
    stream = await connection.newStream(PROTOCOL, { signal: header })
    const pb = framed(stream, MAX_RESPONSE_BYTES)
    await pb.write(request, Request, { signal: header })
    const response = await pb.read(Response, { signal: header, limits: { releases: MAX_RELEASES } })
    if (response.status !== Response.Status.OK) throw new PackagesError(peerReason(response.reason))
    return await then(pb.unwrap(), response)
  } catch (err: any) {
    stream?.abort(asError(err))
    if (err instanceof HwdError) throw err
    if (err?.name === 'UnsupportedProtocolError') throw new PackagesError('it does not serve packages')
    throw new PackagesError(describe(err))
  }
}

/** How long an archive of `size` bytes may take to cross, either way: a peer may be slow, but not stall us for ever. */
function archiveMs (size: number): number {
  return HEADER_TIMEOUT_MS + size / MIN_ARCHIVE_BYTES_PER_MS
}

function describe (err: any): string {
  const name: string = err?.name ?? ''
  if (name === 'TimeoutError' || name === 'AbortError') return 'it did not answer in time'
  // libp2p's own words for a stream the other side reset or closed under us tell a user nothing
  if (name.startsWith('Stream') || name === 'ConnectionClosedError') return 'it cut the exchange off'
  return `the exchange failed: ${asError(err).message}`
}
