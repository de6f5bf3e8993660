import type { CircuitRelayService } from '@libp2p/circuit-relay-v2'
import type { PeerId } from '@libp2p/interface'

/** How long a reservation lasts unless renewed: libp2p's own default, set here so that we know it. */
export const RESERVATION_TTL_MS = 2 * 60 * 60 * 1000

/** A NAT'd node holding a slot on this relay, and when the slot expires unless renewed. */
export interface Slot { peer: PeerId, expires: Date }

/**
 * Who holds a slot on this relay (`hwd start --relay`), for `hwd status`. libp2p's reservation
 * keeps the expiry it was made with when its holder renews it (circuit-relay-v2 4.2.13 resets
 * only its timer), so a renewed slot would seem to have expired. The connection gater is asked
 * just before each reservation and renewal: the last time a holder asked gives the real expiry.
 */
export class RelaySlots {
  /** when each peer last asked for a slot, by peer id; only holders and the latest asker are kept */
  private readonly asked = new Map<string, number>()

  constructor (private readonly relay: () => CircuitRelayService | undefined) {}

  /** The connection gater's `denyInboundRelayReservation`: notes the time and refuses nobody. */
  readonly onRequest = (peer: PeerId): boolean => {
    const held = new Set([...this.relay()?.reservations.keys() ?? []].map(String))
    for (const id of this.asked.keys()) if (!held.has(id)) this.asked.delete(id)
    this.asked.set(peer.toString(), Date.now())
    return false
  }

  /** The slots held now, soonest to expire first. */
  list (): Slot[] {
    const slots: Slot[] = []
    for (const [peer, reservation] of this.relay()?.reservations ?? []) {
      const renewed = (this.asked.get(peer.toString()) ?? 0) + RESERVATION_TTL_MS
      slots.push({ peer, expires: new Date(Math.max(reservation.expiry.getTime(), renewed)) })
    }
    return slots.sort((a, b) => a.expires.getTime() - b.expires.getTime())
  }
}
