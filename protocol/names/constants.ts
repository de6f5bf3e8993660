export const PROTOCOL = '/hwd/names/2.0.0'

/** Signatures cover this prefix too, so a name record can never pass for another signed message. */
export const SIGNING_DOMAIN = 'hwd-name-record:'

/** One announcement carries at most this many records; a network of more nodes than that sends several. */
export const MAX_RECORDS = 256
export const MAX_ADDRS = 16
export const MAX_ADDR_BYTES = 128
/** 256 records of a 253-byte name, a 36-byte key, 16 addresses and a signature fit with room to spare. */
export const MAX_ANNOUNCE_BYTES = 1024 * 1024
/** Every exchange (an announcement, its processing and its receipt); a peer slower than this is cut off. */
export const TIMEOUT_MS = 10_000
/**
 * Announcements are rare (on connect, when a name is learned, a daily refresh); a few at once is
 * plenty. A stream stays open until its records are processed, so this bounds a peer's work in flight.
 */
export const MAX_INBOUND_STREAMS = 4
export const MAX_OUTBOUND_STREAMS = 4
/** DNS rules: dot-separated labels of letters, digits and inner hyphens, 253 bytes in all. */
export const MAX_NAME_LENGTH = 253

const HOUR_MS = 60 * 60 * 1000
const DAY_MS = 24 * HOUR_MS
/** A record its holder has not re-signed for this long leaves every book: nodes move and stop. */
export const TTL_MS = 7 * DAY_MS
/** Each node re-signs and announces its own record this often, well within TTL_MS. */
export const REFRESH_MS = DAY_MS
/** A record signed further in the future than this is refused: it would outlive its TTL. */
export const MAX_CLOCK_SKEW_MS = 10 * 60 * 1000
/** Books are swept of expired records this often. */
export const EXPIRE_SWEEP_MS = HOUR_MS

/**
 * New names (not yet in the book) one peer may bring per QUOTA_WINDOW_MS, and all peers together.
 * Past them records for new names are dropped unverified and the sender is told. A network with
 * more nodes than this takes more than an hour for a newcomer to learn every name.
 */
export const PEER_QUOTA = 500
export const TOTAL_QUOTA = 2_000
export const QUOTA_WINDOW_MS = HOUR_MS
/** Names a book holds at most; past it the least recently seen that the user did not `trust` leave. */
export const BOOK_CAPACITY = 10_000
/** A new peer is sent our record and at most this many others, the most recently seen. */
export const CONNECT_RECORDS = 2 * MAX_RECORDS
/** Records learned are passed on in batches of at most MAX_RECORDS, at most once per this. */
export const FORWARD_INTERVAL_MS = 1_000
/** Records waiting to be passed on; past this the oldest are dropped (a refresh brings them again). */
export const MAX_FORWARD_QUEUE = 4 * MAX_RECORDS
/** Records processed between two turns of the event loop, so a flood never holds it. */
export const RECORDS_PER_TURN = 16
