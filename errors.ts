/**
 * Errors a user can cause or must be told about. Each carries a one-line message fit for a
 * terminal; code branches on `name`, never on the text.
 */
export class HwdError extends Error {
  static name = 'HwdError'
  name = 'HwdError'
}

export class UsageError extends HwdError {
  static name = 'UsageError'
  name = 'UsageError'
}

export class HomeBusyError extends HwdError {
  static name = 'HomeBusyError'
  name = 'HomeBusyError'
}

export class PortBusyError extends HwdError {
  static name = 'PortBusyError'
  name = 'PortBusyError'
}

export class UnknownNameError extends HwdError {
  static name = 'UnknownNameError'
  name = 'UnknownNameError'
}

export class PeerOfflineError extends HwdError {
  static name = 'PeerOfflineError'
  name = 'PeerOfflineError'
}

export class UnknownCommandError extends HwdError {
  static name = 'UnknownCommandError'
  name = 'UnknownCommandError'
}

export class NoDaemonError extends HwdError {
  static name = 'NoDaemonError'
  name = 'NoDaemonError'
}

/**
 * What a `catch` caught, as an Error: `stream.abort` and rejections take nothing else. A
 * libp2p stream that is reset rejects with its close event, which carries the error.
 */
export function asError (err: unknown): Error {
  if (err instanceof Error) return err
  const carried = (err as { error?: unknown } | null)?.error
  if (carried instanceof Error) return carried
  return err instanceof Event ? new Error('the stream closed before its data was sent', { cause: err }) : new Error(String(err))
}

/** The message to show a user for any error: ours verbatim, anything else marked as unexpected. */
export function describeError (err: unknown): string {
  if (err instanceof HwdError) return err.message
  if (err instanceof Error) return `${err.name}: ${err.message}`
  return String(err)
}

/**
 * Text from a peer, safe to put on a terminal: control characters (newlines that would forge
 * a line from someone else, escape sequences that move the cursor) are shown escaped.
 */
export function printable (text: string): string {
  return text.replace(/\p{Cc}/gu, c => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)
}

/**
 * JSON escapes C0 controls itself; DEL, the C1 controls (U+0080-U+009F, which some terminals
 * obey) and the line separators it leaves raw. Escaped here too, it is still valid JSON.
 */
function escapeRawInJson (json: string): string {
  return json.replace(/[\u007f-\u009f\u2028\u2029]/g, c => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)
}

/** A value as JSON, safe for a terminal or a pipe (`hwd status --json`). */
export function printableJson (value: unknown): string {
  return escapeRawInJson(JSON.stringify(value, null, 2))
}

/** A name quoted for a one-line message: `"a\\b"`, every control character escaped. */
export function quoted (text: string): string {
  return escapeRawInJson(JSON.stringify(text))
}

/** The most of a peer's own words that one of our one-line errors quotes. */
const PEER_REASON_CHARS = 200

/**
 * A reason a peer gave (a refusal, a store that failed), fit to quote in one of our one-line
 * errors: control characters escaped, so it cannot break the line or drive the terminal, and
 * at most PEER_REASON_CHARS long.
 */
export function peerReason (reason: string): string {
  const text = printable(reason)
  return text.length > PEER_REASON_CHARS ? `${text.slice(0, PEER_REASON_CHARS)}…` : text
}
