export const PROTOCOL = '/hwd/packages/1.0.0'

/** Signatures cover this prefix too, so a release can never pass for another signed message. */
export const SIGNING_DOMAIN = 'hwd-release:'

export const MAX_REQUEST_BYTES = 1024
/** A listing of MAX_RELEASES records of a few hundred bytes each fits with room to spare. */
export const MAX_RESPONSE_BYTES = 1024 * 1024
export const MAX_RELEASES = 1000
export const MAX_CAPABILITIES = 32
export const MAX_DEPENDENCIES = 64
/** A capability or dependency id, as metadata.json spells it. */
export const MAX_FIELD_BYTES = 256
/** A version is MAJOR.MINOR.PATCH: releases are ordered by it, newest first. */
export const VERSION = /^(0|[1-9]\d{0,8})\.(0|[1-9]\d{0,8})\.(0|[1-9]\d{0,8})$/
/** Every header; an archive's body then has the file transfer's idle limit between bytes. */
export const HEADER_TIMEOUT_MS = 10_000
/** Archives served at once, to all peers and to one; a node is a mirror, not a CDN. */
export const MAX_UPLOADS = 8
export const MAX_UPLOADS_PER_PEER = 2
/** 64 KiB/s: an archive slower than this, over its whole length, is given up on either side. */
export const MIN_ARCHIVE_BYTES_PER_MS = 64
export const MAX_INBOUND_STREAMS = 16
export const MAX_OUTBOUND_STREAMS = 16
