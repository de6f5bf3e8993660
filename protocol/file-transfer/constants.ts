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
 * (test/body.test.ts), so smaller chunks let a busy server answer everything else sooner. Against
 * the seed's 1 MiB, under 50 downloads at once (scripts/bench-load.ts, two runs each, with V8's
 * heap growth then at 200%: daemon/heap.ts), the serving daemon peaked at 186 MB instead of 278
 * to 283 MB, and chat's slowest acknowledgements (p99) took 1.0 to 1.3 s instead of 3.2 to 5.3 s;
 * one download between two daemons ran 0.98 times as fast (the median ratio of 10 alternating
 * runs of 3 downloads, well within the noise of one run).
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
