import { logger } from '@libp2p/logger'

const log = logger('hwd:patches')

/**
 * The patches to libraries' internals (daemon/yamux.ts, daemon/noise.ts) that found another
 * shape than the one they were written for, and why: such a library then runs as it ships.
 * The tests hold this empty for the pinned versions.
 */
export const unpatched = new Map<string, string>()

/** Say once per process, through the log, that `patch` does not apply, and why. */
export function notApplied (patch: string, why: string): void {
  if (unpatched.has(patch)) return
  unpatched.set(patch, why)
  log.error('%s does not apply: %s; the library runs as it ships (see README, Patches to libp2p)', patch, why)
}
