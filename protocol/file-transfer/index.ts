/**
 * # File transfer protocol `/hwd/file-transfer/3.0.0`
 *
 * Moves files between the drives of two nodes, one stream per request.
 *
 * Participants: a requester and a server. Goals: a file arrives whole and checked or not at
 * all; an interrupted download resumes; a slow side slows the other instead of growing its
 * memory. Non-goals: fetching from several peers at once, directories, compression,
 * access control.
 *
 * Who is served: any peer that opens a stream on a connection, named or not. A node serves one
 * drive per package that serves files (`file-transfer:template.os`, and the chat package's).
 *
 * ## Frames
 * A header is a protobuf message (`pb/file-transfer.proto`) after its length in bytes as an
 * unsigned LEB128 varint (protobuf's), of at most 5 bytes. The limits on headers count the
 * message, not its prefix. Each stream carries one exchange: the server reads one `Request`
 * and nothing after it; the requester may close its write side once the request is written.
 *
 * ## Request
 * - `kind`: LIST or DOWNLOAD. Any other value does not decode: the stream is reset.
 * - `drive`: the drive's id, `package:publisher` (`file-transfer:template.os`). It is only
 *   looked up among the drives served, never used as a path: an unknown or malformed one
 *   (empty, no colon, `..`) gets NOT_FOUND.
 * - `file` (DOWNLOAD): one path segment, the name as LIST gives it.
 * - `offset`, `if_version` (DOWNLOAD): resume from byte `offset` if the file is still the
 *   version `if_version` names. The body starts at `offset` only when `if_version` equals the
 *   file's current `version` byte for byte and 0 < `offset` ≤ size; otherwise (an empty, stale
 *   or wrong-length `if_version`, an offset past the end) the whole file is sent from 0, and
 *   the response's `offset` says which. `offset` = size sends an empty body and the trailer.
 *
 * ## Response
 * One `Response` header. `status` OK:
 * - LIST: `files`, the drive's files (name, size in bytes) sorted by name, at most
 *   MAX_LIST_ENTRIES. Listed: regular files, and symlinks that lead to a regular file inside
 *   the drive (with the target's size). Never listed: directories, FIFOs, sockets, devices,
 *   symlinks that dangle or lead out of the drive, names a drive refuses (vfs.ts
 *   `checkFileName`: a control character, over 255 bytes), and partial downloads
 *   (`.hwd-partial-*`). Then the server closes.
 * - DOWNLOAD: `size` (the whole file's), `version` (VERSION_BYTES, opaque) and `offset` (where
 *   the body starts); then the body, the raw bytes [offset, size) of the file, not framed
 *   (Yamux frames the stream); then the trailer, TRAILER_BYTES: the unkeyed BLAKE3-256 of the
 *   whole file, bytes [0, size), whatever the offset; then the server closes its side. The
 *   server hashes as it sends (resuming, the bytes before `offset` first), so the first byte
 *   goes out at once; a file that changes while it is sent resets the stream instead.
 *
 * `version` derives from the file's metadata (device, inode, size, modification and change
 * times), not its bytes: it is the same across restarts of the server while the file is left
 * alone, and changes when it is written, touched or replaced (a new inode).
 *
 * Any other status carries a one-line `reason`, no body and no trailer, and the server closes
 * the stream cleanly: NOT_FOUND (no such drive; no such file; a file that is not a regular
 * file, a FIFO say, or a dangling symlink), REFUSED (a `file` that is not one path segment:
 * empty, `.`, `..`, a separator, a control character, over 255 bytes, the reserved prefix
 * `.hwd-partial-`; a symlink out of the drive), BUSY (MAX_UPLOADS_PER_PEER uploads to this peer
 * or MAX_UPLOADS in all are running; nothing was started, and the same request may be made
 * again once one of them ends, seconds later), ERROR (the server failed to read the file).
 *
 * The requester counts the body: more bytes than announced resets the stream; fewer before
 * the end leaves a partial file to resume from. It checks the size and BLAKE3 of the whole
 * file before giving it its final name, and keeps the version to ask for a resume with.
 *
 * ## Limits
 * MAX_REQUEST_BYTES and MAX_RESPONSE_BYTES per header, HEADER_TIMEOUT_MS for each header,
 * IDLE_TIMEOUT_MS of silence in a body, MAX_UPLOADS_PER_PEER and MAX_UPLOADS served at once,
 * MAX_INBOUND_STREAMS per connection. A header that is oversized, malformed or late resets the
 * stream; so does a prefix longer than 5 bytes.
 *
 * Implemented by: the requester, `download` (packages/file-transfer/download.ts) and `listFiles`
 * (packages/file-transfer/index.ts), reading the body with `receiveBody` (body.ts); the server,
 * `onRequest` and `serveDownload` (packages/file-transfer/index.ts), then `upload` and `respond`
 * (packages/file-transfer/upload.ts), sending the body with `sendBody` (body.ts) and hashing it
 * with `RunningHash` (hash.ts). A requester written from this text alone: test/spec-client.test.ts.
 */
export * from './constants.ts'
export { Request, Response, FileEntry } from './pb/file-transfer.ts'
export { sendBody, receiveBody, BodyError, TrailerMissingError, type BodySink, type BodySource } from './body.ts'
export { BLAKE3_NATIVE, RunningHash } from './hash.ts'
