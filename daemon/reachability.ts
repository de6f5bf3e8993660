import { networkInterfaces } from 'node:os'
import { RELAY_V2_HOP_CODEC } from '@libp2p/circuit-relay-v2'
import { logger } from '@libp2p/logger'
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import type { IdentifyResult } from '@libp2p/interface'
import { hostOf, isRelayed, relayOf } from './addresses.ts'
import { transportManagerOf, type HwdLibp2p } from './node.ts'

const log = logger('hwd:reachability')

/**
 * How many relays a NAT'd node holds a slot on, when it knows that many: its record then names
 * each, so a node that dials it by name gets through while any of them stands.
 */
const RELAY_SLOTS = 2

/** How long a node that found itself NAT'd waits for a relay's slot before it says it has none. */
const SLOT_GRACE_MS = 10_000

/** What `Reachability` tells the user of: a relay that starts or stops holding a slot for us, and having none. */
export interface ReachabilityReport {
  slot: (relayPeerId: string, holds: boolean) => void
  /** NAT'd and no relay holds a slot for us, `SLOT_GRACE_MS` after we found the NAT, or when the last slot went */
  none: () => void
}

/**
 * Finds out, from a relay's word, whether this node is behind a NAT, and if so listens on
 * `/p2p-circuit` once for each relay we are connected to (reached with `--peer`, or any peer
 * whose identify lists the relay protocol), up to `RELAY_SLOTS`: libp2p's relay transport then
 * reserves a slot for each on a relay of its own, renews them, and adds the relayed addresses
 * to ours, which the names protocol signs into our record.
 *
 * The test: identify tells us the address the relay sees us at. If that IP is none of this
 * machine's own, a router rewrote it on the way, and nodes outside cannot dial our listen
 * address. AutoNAT would ask several peers to dial us back and needs several to agree; a node
 * behind a NAT typically knows one relay and little else, whose observation is enough.
 */
export class Reachability {
  /** the relays holding a slot for us, by peer id, as our addresses say */
  private slots = new Set<string>()
  /** set while found NAT'd less than `SLOT_GRACE_MS` ago, and no slot yet */
  private grace?: NodeJS.Timeout
  /** the relays identified since we found the NAT, by peer id: one `/p2p-circuit` listener each, up to `RELAY_SLOTS`; none while not NAT'd */
  private readonly relaysKnown = new Set<string>()

  /**
   * `announced`: the user said how the node is reached (--announce), so it never reserves.
   * `report` tells the user when a relay starts or stops holding a slot for us (a relay that
   * restarts quickly may be renewed before our addresses are next updated, and go untold), and
   * when none does: a relay that refuses us a slot says so only in its own terminal.
   */
  constructor (private readonly node: HwdLibp2p, private readonly announced: boolean, private readonly report: ReachabilityReport) {}

  /**
   * How nodes outside reach this one: directly; through the relays holding a slot for it (or
   * soon to: found NAT'd less than `SLOT_GRACE_MS` ago); or, NAT'd with none, not at all.
   */
  get reached (): 'direct' | 'relayed' | 'unreachable' {
    if (this.relaysKnown.size === 0) return 'direct'
    return this.grace != null || this.holdsSlot() ? 'relayed' : 'unreachable'
  }

  /** The relays holding a slot for us, by peer id, as our addresses say now (`self:peer:update` follows them by a second). */
  relays (): string[] {
    return [...new Set(this.node.getMultiaddrs().map(a => relayOf(a)).filter(r => r != null))]
  }

  private holdsSlot (): boolean {
    return this.relays().length > 0
  }

  /** The first slot came, or the grace ran out: from now on only a lost last slot says there is none. */
  private endGrace (): void {
    clearTimeout(this.grace)
    this.grace = undefined
  }

  start (): void {
    if (this.announced || this.node.services.relay != null) return
    this.node.addEventListener('peer:identify', this.onIdentify)
    this.node.addEventListener('self:peer:update', this.onSelfUpdate)
  }

  stop (): void {
    this.node.removeEventListener('peer:identify', this.onIdentify)
    this.node.removeEventListener('self:peer:update', this.onSelfUpdate)
    this.endGrace()
  }

  private readonly onSelfUpdate = (): void => {
    const now = new Set(this.relays())
    for (const r of now) if (!this.slots.has(r)) this.report.slot(r, true)
    for (const r of this.slots) if (!now.has(r)) this.report.slot(r, false)
    const lost = this.slots.size > 0 && now.size === 0
    this.slots = now
    if (now.size > 0) this.endGrace()
    if (lost) this.report.none()
  }

  /**
   * A relay identified over a direct connection: the first whose word shows a NAT starts the
   * relayed life, and each relay, up to `RELAY_SLOTS`, adds a `/p2p-circuit` listener, which
   * libp2p fills with a slot on a relay of its own. Never more listeners than relays known: one
   * left unfilled keeps libp2p's relay discovery on, which dials every peer the node hears of.
   */
  private readonly onIdentify = (evt: CustomEvent<IdentifyResult>): void => {
    const { protocols, observedAddr, connection, peerId } = evt.detail
    if (!protocols.includes(RELAY_V2_HOP_CODEC) || isRelayed(connection.remoteAddr)) return
    if (this.relaysKnown.size === 0) {
      if (observedAddr == null || isOwnAddress(observedAddr)) return
      log('relay %p sees us at %a, not an address of ours: behind a NAT, listening through relays', peerId, observedAddr)
      this.grace = setTimeout(() => {
        this.endGrace()
        if (!this.holdsSlot()) this.report.none()
      }, SLOT_GRACE_MS).unref()
    }
    const relay = peerId.toString()
    if (this.relaysKnown.has(relay)) return
    this.relaysKnown.add(relay)
    if (this.relaysKnown.size >= RELAY_SLOTS) this.node.removeEventListener('peer:identify', this.onIdentify)
    transportManagerOf(this.node).listen([multiaddr('/p2p-circuit')])
      .catch(err => { log.error('could not listen through a relay - %e', err) })
  }
}

function isOwnAddress (addr: Multiaddr): boolean {
  const host = hostOf(addr)
  return Object.values(networkInterfaces()).some(list => list?.some(i => i.address === host) === true)
}
