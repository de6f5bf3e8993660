import type { CircuitRelayService } from '@libp2p/circuit-relay-v2'
import type { PeerId } from '@libp2p/interface'
import type { HwdLibp2p } from './node.ts'
import { hostOf, isRelayed } from './addresses.ts'
import { RefusalLines } from './refusal-lines.ts'

/** A NAT'd node holding a slot on this relay, and when the slot expires unless renewed. */
export interface Slot { peer: PeerId, expires: Date }

/**
 * The slots of this relay (`hwd start --relay`): who holds one, for `hwd status`, a line for
 * each node refused one (libp2p refuses silently once all `--relay-reservations` are held), and
 * two rules that libp2p's relay server (circuit-relay-v2 4.2.13) lacks and go-libp2p's relay has.
 *
 * - A slot goes with its holder's last connection (`onDisconnect`). libp2p keeps it for its
 *   whole TTL, so a node that left went on counting against `--relay-reservations`, and
 *   anyone could fill the relay by reserving under fresh peer ids and leaving.
 * - At most `perIp` slots are held from one IP address (`--relay-reservations-per-ip`), so that
 *   one host cannot take them all: the connection gater, asked before each reservation and
 *   renewal (`onRequest`), refuses the rest, and libp2p answers them PERMISSION_DENIED.
 *
 * A renewal is made a new reservation: the gater drops the holder's old one just before libp2p
 * makes it again. libp2p would instead reset the old one's timer, keep its first expiry (so
 * status would show a renewed slot as expired), and use retimeable-signal's `reset`, after
 * which `clear` no longer stops the timer: a slot freed by `onDisconnect` would then, at its old
 * expiry, delete the peer's next one.
 */
export class RelaySlots {
  private readonly refusals: RefusalLines

  constructor (private readonly node: () => HwdLibp2p | undefined, private readonly limits: { max: number, perIp: number }, print: (text: string) => void) {
    this.refusals = new RefusalLines(print)
  }

  private get relay (): CircuitRelayService | undefined {
    return this.node()?.services.relay
  }

  /** The connection gater's `denyInboundRelayReservation`: true refuses `peer` a slot. */
  readonly onRequest = (peer: PeerId): boolean => {
    const reason = this.refusal(peer)
    if (reason != null) {
      this.refusals.tell(peer.toString(), `a relay slot to ${peer.toString()}`, reason.host, reason.why)
      return true
    }
    this.drop(peer)
    return false
  }

  /** Why `peer` gets no slot, and the address it asks from, or undefined if it gets one. A holder asking again is renewing, and is never refused. */
  private refusal (peer: PeerId): { host: string, why: string } | undefined {
    const reservations = this.relay?.reservations
    if (reservations == null || reservations.has(peer)) return undefined
    const { max, perIp } = this.limits
    const hosts = this.node()?.getConnections(peer).filter(c => !isRelayed(c.remoteAddr)).map(c => hostOf(c.remoteAddr)).filter(h => h != null) ?? []
    if (reservations.size >= max) return { host: hosts[0] ?? 'unknown address', why: `all ${max} ${max === 1 ? 'slot is' : 'slots are'} held` }
    const full = this.fullAddress(reservations, hosts)
    return full == null ? undefined : { host: full, why: `${perIp} ${perIp === 1 ? 'slot is' : 'slots are'} held from that address` }
  }

  /**
   * Of the IP addresses a peer asks from (`from`), the one where holders already hold `perIp`
   * slots. The gater is told only the peer: it asks over a direct connection (libp2p refuses a
   * reservation over a relayed one), so its direct connections' addresses are the ones to count.
   */
  private fullAddress (reservations: NonNullable<CircuitRelayService['reservations']>, from: string[]): string | undefined {
    const held = new Map<string, number>()
    for (const { addr } of reservations.values()) {
      const host = hostOf(addr)
      if (host != null) held.set(host, (held.get(host) ?? 0) + 1)
    }
    return from.find(host => (held.get(host) ?? 0) >= this.limits.perIp)
  }

  /** The node's `peer:disconnect`, sent when a peer's last connection closes: its slot, if it held one, is free. */
  readonly onDisconnect = (event: CustomEvent<PeerId>): void => {
    this.drop(event.detail)
  }

  /** Free `peer`'s slot, if it holds one, with its timer, which left running would abort it at its expiry. */
  private drop (peer: PeerId): void {
    const reservations = this.relay?.reservations
    const reservation = reservations?.get(peer)
    if (reservations == null || reservation == null) return
    reservation.signal.clear()
    reservations.delete(peer)
  }

  /** The slots held now, soonest to expire first. */
  list (): Slot[] {
    const slots: Slot[] = []
    for (const [peer, reservation] of this.relay?.reservations ?? []) slots.push({ peer, expires: reservation.expiry })
    return slots.sort((a, b) => a.expires.getTime() - b.expires.getTime())
  }

  /** Tell the refusals counted but not yet told; once the node has stopped. */
  stop (): void {
    this.refusals.stop()
  }
}
