export const PROTOCOL = '/hwd/file-transfer/3.0.0'

/** A response names the version of the file it serves in this many bytes. */
export const VERSION_BYTES = 16
/** The body is followed by the whole file's BLAKE3 (hash.ts). */
export const TRAILER_BYTES = 32

/** A request names a drive (package:publisher, < 320 bytes) and a file (≤ 255 bytes). */
export const MAX_REQUEST_BYTES = 1024
/** A listing of MAX_LIST_ENTRIES names of 255 bytes fits. */
export const MAX_RESPONSE_BYTES = 4 * 1024 * 1024
export const MAX_LIST_ENTRIES = 10_000
/** Request and response headers must arrive within this. */
export const HEADER_TIMEOUT_MS = 10_000
/** A body that moves no byte for this long is abandoned (the peer vanished or stalled). */
export const IDLE_TIMEOUT_MS = 30_000
/**
 * The sender reads, hashes and sends the file in chunks of this size. Each chunk is one turn of
 * the serving daemon's work for one download, and at most two wait in its memory per download
 * (test/body.test.ts), so smaller chunks let a busy server answer everything else sooner, and
 * hold less, for about the same speed of one download. See docs/performance.md#chunk-size.
 */
export const CHUNK_BYTES = 256 * 1024
/**
 * The receiver stops reading from the stream while this much is waiting for the disk, and
 * resumes below the low mark: a slow disk slows the sender instead of growing memory.
 */
export const WRITE_HIGH_WATER = 8 * 1024 * 1024
export const WRITE_LOW_WATER = 2 * 1024 * 1024
/** Uploads served at once, per peer and in all; past these a request is answered BUSY. */
export const MAX_UPLOADS_PER_PEER = 16
export const MAX_UPLOADS = 64
/** libp2p refuses streams past this per connection; above MAX_UPLOADS_PER_PEER so BUSY is said, not a reset. */
export const MAX_INBOUND_STREAMS = 64
export const MAX_OUTBOUND_STREAMS = 64
