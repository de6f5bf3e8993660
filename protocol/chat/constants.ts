export const PROTOCOL = '/hwd/chat/1.0.0'

/** The longest message a user may send, in UTF-8 bytes. */
export const MAX_MESSAGE_BYTES = 64 * 1024
/** A frame holds one message and its few header bytes. */
export const MAX_FRAME_BYTES = MAX_MESSAGE_BYTES + 64
/** A message's acknowledgement must arrive within this. */
export const TIMEOUT_MS = 10_000
/** A sender closes its stream to a peer after this long without a message; the next one opens another. */
export const SENDER_IDLE_MS = 5_000
/**
 * A receiver gives up on a stream that completes no frame for this long: twice the sender's
 * idle time, so an idle stream is closed by its sender, not cut under a message in flight.
 */
export const RECEIVER_IDLE_MS = 10_000
/**
 * Messages a stream may carry unacknowledged. The sender waits past it; the receiver reads no
 * further until acknowledgements catch up, so a peer cannot make it hold more than this.
 */
export const MAX_IN_FLIGHT = 64
/** A peer needs one stream, two if one is being replaced; a few more are tolerated. */
export const MAX_INBOUND_STREAMS = 4
export const MAX_OUTBOUND_STREAMS = 4
