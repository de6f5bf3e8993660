/** What keeps each composite signal's timeout alive, for as long as the composite lives. */
const timeouts = new WeakMap<AbortSignal, AbortSignal>()

/**
 * A signal that aborts after `ms`, or with any of `others`. On Node 20 a timeout signal held
 * only by `AbortSignal.any` can be garbage-collected and then never fires (nodejs/node#57736):
 * an exchange meant to end in seconds waited forever. The composite keeps its timeout here.
 */
export function deadline (ms: number, ...others: Array<AbortSignal | undefined>): AbortSignal {
  const timeout = AbortSignal.timeout(ms)
  const signal = AbortSignal.any([timeout, ...others.filter((s): s is AbortSignal => s != null)])
  timeouts.set(signal, timeout)
  return signal
}
