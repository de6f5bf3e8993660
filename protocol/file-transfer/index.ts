/**
 * # File transfer protocol `/hwd/file-transfer/3.0.0`
 *
 * Moves files between the drives of two nodes, one stream per request.
 *
 * Participants: a requester and a server. Goals: a file arrives whole and checked or not at
 * all; an interrupted download resumes; a slow side slows the other instead of growing its
 * memory. Non-goals: fetching from several peers at once, directories, compression.
 *
 * A stream carries one exchange. The requester writes a length-prefixed `Request`:
 * - LIST: the server answers one `Response` listing the drive's files (name, size), and closes.
 * - DOWNLOAD `file` from `offset`, `if_version`: the server answers one `Response` with the
 *   whole file's size, the file's `version` (an opaque VERSION_BYTES token that changes when
 *   the file does) and the offset the body starts at (`offset` if the file is still version
 *   `if_version`, else 0); then the raw bytes [offset, size) of the file; then TRAILER_BYTES,
 *   the BLAKE3 of the whole file (hash.ts); and closes. Chunks are not framed: Yamux frames the
 *   stream, and a byte stream cannot reorder. The hash comes last so the first byte goes out
 *   at once: the server hashes the file as it sends it (and, resuming, the bytes before
 *   `offset` first), and a file that changes meanwhile resets the stream instead.
 * Any status but OK carries a one-line `reason` and ends the exchange: NOT_FOUND (no such
 * file or drive), REFUSED (a name that is not one path segment, a symlink out of the drive),
 * BUSY (too many uploads running), ERROR (the server failed to read).
 *
 * The requester counts the body: more bytes than announced resets the stream; fewer before
 * the end leaves a partial file to resume from. It checks the size and BLAKE3 of the whole
 * file before giving it its final name, and keeps the version to ask for a resume with.
 *
 * Limits: MAX_REQUEST_BYTES and MAX_RESPONSE_BYTES per header, HEADER_TIMEOUT_MS for each
 * header, IDLE_TIMEOUT_MS of silence in a body, MAX_UPLOADS_PER_PEER and MAX_UPLOADS served
 * at once. A header that is oversized, malformed or late resets the stream.
 *
 * Implemented by: the requester, `download` (packages/file-transfer/download.ts) and `listFiles`
 * (packages/file-transfer/index.ts), reading the body with `receiveBody` (body.ts); the server,
 * `onRequest` and `serveDownload` (packages/file-transfer/index.ts), then `upload` and `respond`
 * (packages/file-transfer/upload.ts), sending the body with `sendBody` (body.ts) and hashing it
 * with `RunningHash` (hash.ts).
 */
export * from './constants.ts'
export { Request, Response, FileEntry } from './pb/file-transfer.ts'
export { sendBody, receiveBody, BodyError, TrailerMissingError, type BodySink, type BodySource } from './body.ts'
export { BLAKE3_NATIVE, RunningHash } from './hash.ts'
