import type { CircuitRelayServerInit } from '@libp2p/circuit-relay-v2'
import { UsageError } from '../errors.ts'

/**
 * What a relay (`hwd start --relay`) lets each NAT'd node take. A reservation is a NAT'd node's
 * standing slot; each relayed connection through it is capped in bytes and seconds, 0 meaning
 * no cap. libp2p's own defaults (128 KiB, 2 minutes) suit signalling, not files: an hwd relay
 * carries whole downloads unless its owner says otherwise (README, "Behind NATs").
 */
export interface RelayLimits {
  reservations: number
  /** per relayed connection, in seconds; 0 for none */
  durationSeconds: number
  /** per relayed connection, both directions together; 0 for none */
  maxBytes: number
}

export const DEFAULT_RELAY_LIMITS: RelayLimits = { reservations: 64, durationSeconds: 0, maxBytes: 0 }

/** libp2p caps a connection only by both limits or by neither: an unset one gets the largest value it takes. */
const NO_BYTE_LIMIT = 2n ** 63n - 1n
const NO_DURATION_LIMIT_MS = 2 ** 31 - 1

export function relayServerInit (limits: RelayLimits): CircuitRelayServerInit {
  const capped = limits.maxBytes > 0 || limits.durationSeconds > 0
  return {
    reservations: {
      maxReservations: limits.reservations,
      applyDefaultLimit: capped,
      defaultDataLimit: limits.maxBytes > 0 ? BigInt(limits.maxBytes) : NO_BYTE_LIMIT,
      defaultDurationLimit: limits.durationSeconds > 0 ? limits.durationSeconds * 1000 : NO_DURATION_LIMIT_MS
    }
  }
}

/** A relayed connection's time limit becomes a timer, and Node's timers go no further than this. */
const MAX_DURATION_SECONDS = Math.floor(NO_DURATION_LIMIT_MS / 1000)

const UNITS: Record<string, number> = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }

/** `--relay-max-bytes 128K`: a count of bytes, with an optional K, M or G (powers of 1024). */
function parseBytes (option: string, text: string): number {
  const m = /^(\d+)([kmg]?)(?:i?b)?$/i.exec(text)
  if (m == null) throw new UsageError(`${option} ${text}: expected a number of bytes, such as 0, 65536, 128K or 1G`)
  return Number(m[1]) * UNITS[m[2].toLowerCase()]
}

/** A whole number from `min` to `max`, for a limit given on the command line. */
function parseCount (option: string, text: string, min: number, max = 2 ** 31 - 1): number {
  const n = Number(text)
  if (!/^\d+$/.test(text) || n < min || n > max) throw new UsageError(`${option} ${text}: expected a whole number from ${min} ${max < 2 ** 31 - 1 ? `to ${max}` : 'on'}`)
  return n
}

/** The limits `hwd start` was given, or undefined when it is not to relay (`--relay` absent). */
export function relayLimits (values: { relay: boolean, 'relay-reservations'?: string, 'relay-duration'?: string, 'relay-max-bytes'?: string }): RelayLimits | undefined {
  const given = (['relay-reservations', 'relay-duration', 'relay-max-bytes'] as const).filter(o => values[o] != null)
  if (!values.relay) {
    if (given.length > 0) throw new UsageError(`--${given[0]} sets a relay's limit; add --relay`)
    return undefined
  }
  const d = DEFAULT_RELAY_LIMITS
  return {
    reservations: values['relay-reservations'] != null ? parseCount('--relay-reservations', values['relay-reservations'], 1) : d.reservations,
    durationSeconds: values['relay-duration'] != null ? parseCount('--relay-duration', values['relay-duration'], 0, MAX_DURATION_SECONDS) : d.durationSeconds,
    maxBytes: values['relay-max-bytes'] != null ? parseBytes('--relay-max-bytes', values['relay-max-bytes']) : d.maxBytes
  }
}
