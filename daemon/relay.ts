import { AsyncLocalStorage } from 'node:async_hooks'
import type { CircuitRelayServerInit } from '@libp2p/circuit-relay-v2'
import { UsageError } from '../errors.ts'
import { notApplied } from './unpatched.ts'

/**
 * What a relay (`hwd start --relay`) lets each NAT'd node take. A reservation is a NAT'd node's
 * standing slot; each relayed connection through it is capped in bytes and seconds, 0 meaning
 * no cap. libp2p's own defaults (128 KiB, 2 minutes) suit signalling, not files: an hwd relay
 * carries whole downloads unless its owner says otherwise (README, "Behind NATs").
 */
export interface RelayLimits {
  reservations: number
  /** slots held at once by nodes at one IP address, so that one host cannot take them all */
  reservationsPerIp: number
  /** how long a slot lasts unless its holder renews it, in seconds */
  reservationTtlSeconds: number
  /** per relayed connection, in seconds; 0 for none */
  durationSeconds: number
  /** per relayed connection, both directions together; 0 for none */
  maxBytes: number
}

/** A slot lasts 2 h unless renewed, as in libp2p's own relay. */
export const DEFAULT_RELAY_LIMITS: RelayLimits = { reservations: 64, reservationsPerIp: 8, reservationTtlSeconds: 2 * 60 * 60, durationSeconds: 0, maxBytes: 0 }

/**
 * The shortest slot lifetime a relay takes: libp2p's nodes renew 5 minutes before a slot
 * expires, but never sooner than 30 s after they took it, so a shorter slot would lapse.
 */
const MIN_RESERVATION_TTL_SECONDS = 60

/** libp2p caps a connection only by both limits or by neither: an unset one gets the largest value it takes. */
const NO_BYTE_LIMIT = 2n ** 63n - 1n
const NO_DURATION_LIMIT_MS = 2 ** 31 - 1

export function relayServerInit (limits: RelayLimits): CircuitRelayServerInit {
  const capped = limits.maxBytes > 0 || limits.durationSeconds > 0
  return {
    reservations: {
      maxReservations: limits.reservations,
      reservationTtl: limits.reservationTtlSeconds * 1000,
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
export function relayLimits (values: { relay: boolean, 'relay-reservations'?: string, 'relay-reservations-per-ip'?: string, 'relay-reservation-ttl'?: string, 'relay-duration'?: string, 'relay-max-bytes'?: string }): RelayLimits | undefined {
  const given = (['relay-reservations', 'relay-reservations-per-ip', 'relay-reservation-ttl', 'relay-duration', 'relay-max-bytes'] as const).filter(o => values[o] != null)
  if (!values.relay) {
    if (given.length > 0) throw new UsageError(`--${given[0]} sets a relay's limit; add --relay`)
    return undefined
  }
  const d = DEFAULT_RELAY_LIMITS
  return {
    reservations: values['relay-reservations'] != null ? parseCount('--relay-reservations', values['relay-reservations'], 1) : d.reservations,
    reservationsPerIp: values['relay-reservations-per-ip'] != null ? parseCount('--relay-reservations-per-ip', values['relay-reservations-per-ip'], 1) : d.reservationsPerIp,
    reservationTtlSeconds: values['relay-reservation-ttl'] != null ? parseCount('--relay-reservation-ttl', values['relay-reservation-ttl'], MIN_RESERVATION_TTL_SECONDS, MAX_DURATION_SECONDS) : d.reservationTtlSeconds,
    durationSeconds: values['relay-duration'] != null ? parseCount('--relay-duration', values['relay-duration'], 0, MAX_DURATION_SECONDS) : d.durationSeconds,
    maxBytes: values['relay-max-bytes'] != null ? parseBytes('--relay-max-bytes', values['relay-max-bytes']) : d.maxBytes
  }
}

/** The patch, as it names itself when it does not apply. */
const HOLD_RELAYED = 'daemon/relay.ts, relayed streams held while the other hop is full'

/** The part of @libp2p/circuit-relay-v2 4's relay server that `holdWhileOtherHopFull` uses. */
interface RelayServer {
  /** joins the hop stream a connecting peer opened to a stream to its destination, when it can */
  handleConnect: (args: { stream: { unwrap: () => unknown } }, ...rest: unknown[]) => Promise<void>
  /** opens the stream to the destination; undefined when it refuses */
  stopHop: (...args: unknown[]) => Promise<unknown>
}

/** The part of @libp2p/yamux 8's streams that a relayed pair uses. */
interface RelayedStream {
  status: string
  writableNeedsDrain: boolean
  /** stop sending window updates: the peer may send what is left of the window, then waits */
  sendPause: () => void
  /** send them again, starting with one for what was taken meanwhile */
  sendResume: () => void
  addEventListener: (type: string, listener: () => void, options?: { once: boolean }) => void
}

/**
 * circuit-relay-v2 4 joins the two streams of a relayed connection with `@libp2p/utils`' `pipe`,
 * which takes every message each stream delivers and never pauses it: the hop that sends faster
 * than the other hop takes gets its Yamux window opened again and again, and what it sends
 * waits in the relay's memory, without bound. Two peers working together (one that grants a
 * huge window and stops reading, one that sends) could fill a relay's memory with one
 * connection. Here each stream of a relayed pair stops opening its window while the other one
 * needs a drain, and opens it again on the drain: the faster hop waits at the relay's window,
 * as it would at the slower hop's if there were no relay.
 *
 * The stream is not paused (`pause()`), only its window held: what has arrived is still handed
 * to the pipe at once, so the end of a stream never finds bytes waiting behind it (a paused
 * stream's 'remoteCloseWrite' ends the pipe's reading before they are let out).
 *
 * `handleConnect` runs `stopHop`, which opens the destination's stream, and at its end joins the
 * two; the hop stream is then unwrapped, and unwrapping it again only returns it.
 */
export function holdWhileOtherHopFull (service: unknown): void {
  const server = service as Partial<RelayServer>
  const { handleConnect, stopHop } = server
  if (typeof handleConnect !== 'function' || typeof stopHop !== 'function') {
    notApplied(HOLD_RELAYED, 'the relay server has no handleConnect and stopHop')
    return
  }
  const connecting = new AsyncLocalStorage<{ destination?: unknown }>()
  server.stopHop = async function (this: unknown, ...args) {
    const destination = await stopHop.apply(this, args)
    const call = connecting.getStore()
    if (call != null) call.destination = destination
    return destination
  }
  server.handleConnect = async function (this: unknown, args, ...rest) {
    const call: { destination?: unknown } = {}
    await connecting.run(call, async () => { await handleConnect.call(this, args, ...rest) })
    if (call.destination == null) return
    const source = args.stream.unwrap()
    if (!isRelayedStream(source) || !isRelayedStream(call.destination)) {
      notApplied(HOLD_RELAYED, 'a relayed stream has no sendPause, sendResume, status and writableNeedsDrain')
      return
    }
    holdWhileFull(source, call.destination)
    holdWhileFull(call.destination, source)
  }
}

function isRelayedStream (stream: unknown): stream is RelayedStream {
  const s = stream as Partial<RelayedStream> | null
  return typeof s?.sendPause === 'function' && typeof s.sendResume === 'function' && typeof s.addEventListener === 'function' &&
    typeof s.status === 'string' && typeof s.writableNeedsDrain === 'boolean'
}

/**
 * Hold `from`'s window while `to` needs a drain: what `from` delivers goes nowhere but into `to`.
 * A `to` that closes never drains, and `from` stays held: the relay tears the pair down.
 */
function holdWhileFull (from: RelayedStream, to: RelayedStream): void {
  let held = false
  const release = (): void => {
    held = false
    if (from.status === 'open') from.sendResume()
  }
  from.addEventListener('message', () => {
    if (held || !to.writableNeedsDrain || from.status !== 'open') return
    held = true
    from.sendPause()
    to.addEventListener('drain', release, { once: true })
  })
}
