/**
 * # Names protocol `/hwd/names/1.0.0`
 *
 * Binds human names (`fake2.dev`) to keys, with no registry.
 *
 * Participants: any two connected nodes. Goal: every node learns the names of its peers and
 * of its peers' peers. Non-goals: global uniqueness, revocation, hiding who holds a name.
 *
 * A node signs a `NameRecord` (name, public key, addresses, seq) with its own key. On every
 * new connection each side opens a stream and sends one `Announce` holding its own record
 * and every record it knows (a stream per MAX_RECORDS), then closes. When a node learns a record that is new to it, it
 * announces just that record to all its other peers, so records flood the network once.
 *
 * The receiver checks each record's signature; the first key seen for a name is pinned, and a
 * record from another key for that name is refused and reported. Among records of the pinned
 * key, the higher `seq` wins (it carries fresher addresses).
 *
 * Limits: one length-prefixed message of at most MAX_ANNOUNCE_BYTES holding at most
 * MAX_RECORDS records of at most MAX_ADDRS addresses; TIMEOUT_MS per exchange. A stream that
 * breaks any of them is reset; records that fail verification are dropped one by one.
 *
 * Implemented by: both sides in `NameService` (below): announcing in `onConnect`, `send` and
 * `sendOne`, receiving in `onAnnounce` and `take`; records signed and checked by `signRecord`
 * and `verifyRecord` (record.ts); names pinned in `AddressBook` (storage/address-book.ts).
 */
import { logger } from '@libp2p/logger'
import { peerIdFromString } from '@libp2p/peer-id'
import { isLoopback } from '@libp2p/utils'
import { CODE_P2P, type Multiaddr } from '@multiformats/multiaddr'
import type { Connection, Libp2p, PeerId, PrivateKey, Stream } from '@libp2p/interface'
import { asError, PeerOfflineError, UnknownNameError } from '../../errors.ts'
import type { AddressBook, NameEntry } from '../../storage/address-book.ts'
import { deadline } from '../deadline.ts'
import { framed } from '../framing.ts'
import { MAX_ANNOUNCE_BYTES, MAX_INBOUND_STREAMS, MAX_OUTBOUND_STREAMS, MAX_RECORDS, PROTOCOL, TIMEOUT_MS } from './constants.ts'
import { Announce, NameRecord } from './pb/names.ts'
import { signRecord, verifyRecord } from './record.ts'

export { PROTOCOL } from './constants.ts'
export { isValidName } from './name.ts'

const log = logger('hwd:names')

/** How long resolving a name may spend dialing before the node is called offline. */
export const DIAL_TIMEOUT_MS = 5_000

export interface NameServiceComponents {
  node: Libp2p
  privateKey: PrivateKey
  name: string
  book: AddressBook
  /** tells the user something happened that they should know (a refused claim) */
  report(text: string): void
}

/** What `learned` events carry: a name that is new, or now held by fresher addresses. */
export interface Learned {
  name: string
  peerId: PeerId
}

/** Dispatches `learned` (a `CustomEvent<Learned>`) for each record taken. */
export class NameService extends EventTarget {
  private readonly node: Libp2p
  private readonly book: AddressBook
  private own?: NameRecord

  constructor (private readonly components: NameServiceComponents) {
    super()
    this.node = components.node
    this.book = components.book
    this.onConnect = this.onConnect.bind(this)
    this.onSelfUpdate = this.onSelfUpdate.bind(this)
  }

  get name (): string {
    return this.components.name
  }

  async start (): Promise<void> {
    await this.signOwn()
    for (const entry of this.book.all()) {
      const { addrs } = await verifyRecord(NameRecord.decode(entry.record))
      await this.rememberAddrs(entry, addrs)
    }
    await this.node.handle(PROTOCOL, async (stream, connection) => { await this.onAnnounce(stream, connection) }, {
      maxInboundStreams: MAX_INBOUND_STREAMS,
      maxOutboundStreams: MAX_OUTBOUND_STREAMS,
      // a NAT'd node is met through a relay first, and its name is what lets us dial it
      runOnLimitedConnection: true
    })
    this.node.addEventListener('peer:connect', this.onConnect)
    this.node.addEventListener('self:peer:update', this.onSelfUpdate)
  }

  async stop (): Promise<void> {
    this.node.removeEventListener('peer:connect', this.onConnect)
    this.node.removeEventListener('self:peer:update', this.onSelfUpdate)
    await this.node.unhandle(PROTOCOL)
    await this.book.flush()
  }

  /** The names this node knows, its own first. */
  names (): Array<{ name: string, peerId: string }> {
    const ours = { name: this.name, peerId: this.node.peerId.toString() }
    return [ours, ...this.book.all().filter(e => e.name !== this.name).map(e => ({ name: e.name, peerId: e.peerId }))]
  }

  nameOf (peerId: PeerId): string | undefined {
    return this.book.namesOf(peerId.toString())[0]
  }

  /** The peer holding `name`, or an error listing the names we do know. */
  resolve (name: string): PeerId {
    if (name === this.name) return this.node.peerId
    const entry = this.book.get(name)
    if (entry == null) {
      const known = this.names().map(n => n.name).join(', ')
      throw new UnknownNameError(`unknown node ${JSON.stringify(name)}; known names: ${known}`)
    }
    return peerIdFromString(entry.peerId)
  }

  /** A connection to the node called `name`, dialing its known addresses if need be. */
  async connect (name: string, options: { signal?: AbortSignal } = {}): Promise<Connection> {
    const peerId = this.resolve(name)
    if (peerId.equals(this.node.peerId)) throw new UnknownNameError(`${name} is this node itself`)
    // the common case, and a hot one for chat: skip the dial queue for a connection we hold
    const open = this.node.getConnections(peerId).find(c => c.status === 'open')
    if (open != null) return open
    try {
      return await this.node.dial(peerId, { signal: deadline(DIAL_TIMEOUT_MS, options.signal) })
    } catch (err: any) {
      options.signal?.throwIfAborted()
      throw new PeerOfflineError(`${name} is offline: cannot connect within ${DIAL_TIMEOUT_MS / 1000}s (${err.message ?? err})`)
    }
  }

  private async signOwn (): Promise<void> {
    this.own = await signRecord(this.components.privateKey, this.name, this.advertised(), BigInt(Date.now()))
  }

  /**
   * The addresses our record carries. A record travels to peers' peers, for whom our loopback
   * address is their own machine: it goes in only when we have nothing else (all on one host).
   */
  private advertised (): Multiaddr[] {
    const addrs = this.node.getMultiaddrs().map(a => a.decapsulateCode(CODE_P2P))
    const reachable = addrs.filter(a => !isLoopback(a))
    return reachable.length > 0 ? reachable : addrs
  }

  private onConnect (evt: CustomEvent<PeerId>): void {
    const records = [this.own!, ...this.book.all().map(e => NameRecord.decode(e.record))]
    void this.send(evt.detail, records)
  }

  private onSelfUpdate (): void {
    void this.signOwn().then(() => {
      for (const peer of this.node.getPeers()) void this.send(peer, [this.own!])
    })
  }

  private async send (peer: PeerId, records: NameRecord[]): Promise<void> {
    for (let i = 0; i < records.length; i += MAX_RECORDS) {
      await this.sendOne(peer, { records: records.slice(i, i + MAX_RECORDS) })
    }
  }

  private async sendOne (peer: PeerId, announce: Announce): Promise<void> {
    const signal = AbortSignal.timeout(TIMEOUT_MS)
    let stream: Stream | undefined
    try {
      stream = await this.node.dialProtocol(peer, PROTOCOL, { signal, runOnLimitedConnection: true })
      await framed(stream, MAX_ANNOUNCE_BYTES).write(announce, Announce, { signal })
      await stream.close({ signal })
    } catch (err: any) {
      log('could not announce to %p - %e', peer, err)
      stream?.abort(asError(err))
    }
  }

  private async onAnnounce (stream: Stream, connection: Connection): Promise<void> {
    const signal = AbortSignal.timeout(TIMEOUT_MS)
    const learned: NameRecord[] = []
    try {
      const announce = await framed(stream, MAX_ANNOUNCE_BYTES)
        .read(Announce, { signal, limits: { records: MAX_RECORDS } })
      await stream.close({ signal })
      for (const record of announce.records) {
        if (await this.take(record, connection.remotePeer)) learned.push(record)
      }
    } catch (err: any) {
      log('bad announce from %p - %e', connection.remotePeer, err)
      stream.abort(asError(err))
    }
    if (learned.length === 0) return
    for (const peer of this.node.getPeers()) {
      if (!peer.equals(connection.remotePeer)) void this.send(peer, learned)
    }
  }

  /** Verify, pin-check and store one record; true when it told us something new. */
  private async take (record: NameRecord, from: PeerId): Promise<boolean> {
    let verified
    try {
      verified = await verifyRecord(record)
    } catch (err: any) {
      log('dropped a record from %p - %s', from, err.message)
      return false
    }
    const { entry, addrs } = verified
    if (entry.peerId === this.node.peerId.toString()) return false
    if (entry.name === this.name) {
      this.components.report(`refused a claim to our own name ${entry.name} by ${entry.peerId} (via ${from})`)
      return false
    }
    const offer = this.book.offer(entry)
    if (offer.outcome === 'conflict') {
      this.components.report(`refused a claim to ${entry.name} by ${entry.peerId} (via ${from}): the name is pinned to ${offer.pinnedTo}`)
      return false
    }
    if (offer.outcome !== 'new' && offer.outcome !== 'updated') return false
    await this.rememberAddrs(entry, addrs)
    log('learned %s → %s', entry.name, entry.peerId)
    this.dispatchEvent(new CustomEvent<Learned>('learned', { detail: { name: entry.name, peerId: peerIdFromString(entry.peerId) } }))
    return true
  }

  private async rememberAddrs (entry: NameEntry, addrs: Multiaddr[]): Promise<void> {
    if (addrs.length === 0) return
    await this.node.peerStore.merge(peerIdFromString(entry.peerId), { multiaddrs: addrs })
      .catch(err => { log('could not store addresses of %s - %e', entry.name, err) })
  }
}
