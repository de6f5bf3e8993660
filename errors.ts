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

/** What a `catch` caught, as an Error: `stream.abort` and rejections take nothing else. */
export function asError (err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err))
}

/** The message to show a user for any error: ours verbatim, anything else marked as unexpected. */
export function describeError (err: unknown): string {
  if (err instanceof HwdError) return err.message
  if (err instanceof Error) return `${err.name}: ${err.message}`
  return String(err)
}
