export const PROTOCOL = '/hwd/chat/1.0.0'

/** The longest message a user may send, in UTF-8 bytes. */
export const MAX_MESSAGE_BYTES = 64 * 1024
/** A frame holds one message and its few header bytes. */
export const MAX_FRAME_BYTES = MAX_MESSAGE_BYTES + 64
/** Message and acknowledgement must both arrive within this. */
export const TIMEOUT_MS = 10_000
/** Each message is its own short stream; a peer sending more at once than this waits or is refused. */
export const MAX_INBOUND_STREAMS = 32
export const MAX_OUTBOUND_STREAMS = 32
