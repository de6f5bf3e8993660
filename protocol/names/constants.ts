export const PROTOCOL = '/hwd/names/1.0.0'

/** Signatures cover this prefix too, so a name record can never pass for another signed message. */
export const SIGNING_DOMAIN = 'hwd-name-record:'

/** One announcement carries at most this many records; a network of more nodes than that sends several. */
export const MAX_RECORDS = 256
export const MAX_ADDRS = 16
export const MAX_ADDR_BYTES = 128
/** 256 records of a 253-byte name, a 36-byte key, 16 addresses and a signature fit with room to spare. */
export const MAX_ANNOUNCE_BYTES = 1024 * 1024
/** Every exchange is a single message; a peer slower than this is cut off. */
export const TIMEOUT_MS = 10_000
/** Announcements are rare (on connect and when a name is learned); a few at once is plenty. */
export const MAX_INBOUND_STREAMS = 4
export const MAX_OUTBOUND_STREAMS = 4
/** DNS rules: dot-separated labels of letters, digits and inner hyphens, 253 bytes in all. */
export const MAX_NAME_LENGTH = 253
