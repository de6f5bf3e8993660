/** A sandboxed package's limits; measured costs in docs/performance.md ("Sandboxed packages"). */
import type { ChannelLimits } from './channel.ts'

/** What a package may send the daemon: a stream chunk with room to spare, and no flood. */
export const CHILD_LIMITS: ChannelLimits = {
  maxMessageBytes: 256 * 1024,
  maxBytesPerSecond: 256 * 1024 * 1024,
  maxMessagesPerSecond: 20_000,
  maxCallsInFlight: 256
}

/** V8's heap in a package's process (`--max-old-space-size`) */
export const MAX_HEAP_MIB = 128
/** its whole resident memory, buffers included, watched from /proc */
export const MAX_RSS_MIB = 384
/** from spawn to `start(ctx)` returned */
export const START_TIMEOUT_MS = 10_000
/** how often the watch looks, and how long a ping may take */
export const WATCH_MS = 2_000
export const PING_TIMEOUT_MS = 5_000
/** the streams of one of its protocols that peers may open at once: by default, and at most */
export const DEFAULT_INBOUND_STREAMS = 32
export const MAX_INBOUND_STREAMS = 64
/** a stream a package opens: dialing, and agreeing on the protocol */
export const DIAL_TIMEOUT_MS = 10_000
/** a stopping package's time to finish before it is killed */
export const STOP_TIMEOUT_MS = 2_000
/** a line a package prints or a reason it gives, at most */
export const MAX_LINE_CHARS = 4096
