/**
 * # Names protocol `/hwd/names/2.0.0`
 *
 * Binds human names (`fake2.dev`) to keys, with no registry.
 *
 * Participants: any two connected nodes; any peer that opens a stream is heard. Goal: every
 * node learns the names of its peers and of its peers' peers, and no peer can make a node do
 * unbounded work, hold unbounded state or pass a flood on. Non-goals: global uniqueness,
 * revocation, hiding who holds a name, proving that a name belongs to whoever claims it.
 *
 * ## Records
 * A `NameRecord` (pb/names.proto) claims `name` for `public_key` (libp2p's protobuf encoding;
 * the peer id derives from it), lists up to MAX_ADDRS `addrs` (binary multiaddrs without
 * `/p2p`, each at most MAX_ADDR_BYTES), and carries `seq` (higher replaces lower for the same
 * key) and `issued_at` (ms since the Unix epoch). `signature` is the key's signature over the
 * bytes of SIGNING_DOMAIN followed by the record's protobuf encoding with `signature` unset
 * (fields in field-number order, proto3 defaults left out, as protons and every standard
 * encoder write them). A name is lower-case DNS-like: dot-separated labels of letters, digits
 * and inner hyphens, at most MAX_NAME_LENGTH bytes (name.ts).
 *
 * A receiver drops, one by one and without telling, a record that: has an invalid name, too
 * many or too long addresses, an address that is no multiaddr, a key that does not decode, a
 * bad signature; was issued more than TTL_MS ago or more than MAX_CLOCK_SKEW_MS ahead; claims
 * the receiver's own name (reported) or is the receiver's own.
 *
 * ## An exchange
 * Frames are protobuf messages after their length as an unsigned LEB128 varint of at most 5
 * bytes; limits count the message, not the prefix. The opener writes one `Announce` of at most
 * MAX_RECORDS records and MAX_ANNOUNCE_BYTES. The receiver processes every record while the
 * stream stays open (so MAX_INBOUND_STREAMS bounds a peer's work in flight), then writes one
 * `Receipt`: `kept`, the records that told it something new; `over_quota`, those dropped for
 * the quota, and when there are some a one-line `reason`; then it closes. The opener reads the
 * receipt and closes. An oversized, malformed or late frame (TIMEOUT_MS for the whole exchange)
 * resets the stream. Fields a codec does not know are skipped.
 *
 * ## What a node keeps
 * - Quotas: a record for a name not in the book counts against its sender's PEER_QUOTA and the
 *   node's TOTAL_QUOTA of new names per QUOTA_WINDOW_MS (a window begins at first use); past
 *   either it is dropped unverified, and the sender's receipt and one terminal line say so. A
 *   peer's first record of its own key is free. Updates to names held cost no quota.
 * - Pins: the first key taken for a name is pinned. A record of another key is refused and
 *   reported, except that a first-hand record (sent by the key's holder itself) replaces a
 *   pin learned second-hand (passed on by another peer), which is reported too. A pin made by
 *   the user (`trust`) is replaced by nothing; `forget` removes a pin. For the pinned key, a
 *   higher `seq` replaces the record (fresher addresses); lower or equal changes nothing.
 * - Bounds: at most BOOK_CAPACITY names; past it the least recently seen leave, save the user's
 *   pins. A record not re-issued within TTL_MS leaves the book (the user's pins stay).
 *
 * ## What a node sends
 * - On a new connection: its own record and the CONNECT_RECORDS most recently seen records of
 *   its book, MAX_RECORDS per announcement, one announcement after another.
 * - Records it kept (new, fresher, or a pin replaced), passed on to its other peers: at most
 *   MAX_RECORDS per FORWARD_INTERVAL_MS, one announcement per peer at a time, never back to the
 *   peer it came from. A record dropped or refused is never passed on. An announcement that
 *   fails (no receipt within TIMEOUT_MS, a cut) is offered to that peer again, up to three
 *   tries in all.
 * - Its own record, re-signed with a new `seq` and `issued_at`, to all peers when its addresses
 *   change and every REFRESH_MS.
 *
 * Implemented by: both sides in `NameService` (below): announcing in `onConnect`, `send` and
 * `sendOne`, receiving in `onAnnounce`, `takeAll` and `take`; quotas in quota.ts, passing on in
 * forwarder.ts, terminal lines in reports.ts; records signed and checked by `signRecord` and
 * `verifyRecord` (record.ts); names pinned in `AddressBook` (storage/address-book.ts).
 */
import { setImmediate as nextTurn } from 'node:timers/promises'
import { publicKeyToProtobuf } from '@libp2p/crypto/keys'
import { logger } from '@libp2p/logger'
import { peerIdFromString } from '@libp2p/peer-id'
import { isLoopback } from '@libp2p/utils'
import { CODE_P2P, multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import { equals } from 'uint8arrays'
import type { Connection, Libp2p, PeerId, PrivateKey, Stream } from '@libp2p/interface'
import { asError, PeerOfflineError, quoted, UnknownNameError, UsageError } from '../../errors.ts'
import type { AddressBook, NameEntry } from '../../storage/address-book.ts'
import { deadline } from '../deadline.ts'
import { framed } from '../framing.ts'
import {
  CONNECT_RECORDS, EXPIRE_SWEEP_MS, MAX_ANNOUNCE_BYTES, MAX_CLOCK_SKEW_MS, MAX_INBOUND_STREAMS, MAX_OUTBOUND_STREAMS,
  MAX_RECORDS, PEER_QUOTA, PROTOCOL, QUOTA_WINDOW_MS, RECORDS_PER_TURN, REFRESH_MS, TIMEOUT_MS, TOTAL_QUOTA, TTL_MS
} from './constants.ts'
import { Forwarder } from './forwarder.ts'
import { isValidName } from './name.ts'
import { Announce, NameRecord, Receipt } from './pb/names.ts'
import { Quota, type QuotaLimit } from './quota.ts'
import { Reports } from './reports.ts'
import { signRecord, verifyRecord } from './record.ts'

export { PROTOCOL } from './constants.ts'
export { isValidName } from './name.ts'
export { fingerprint } from './record.ts'

/** How many of the known names an unknown-name error lists. */
const KNOWN_IN_ERROR = 20

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
  private readonly quota = new Quota(PEER_QUOTA, TOTAL_QUOTA, QUOTA_WINDOW_MS)
  private readonly forwarder: Forwarder
  private readonly reports: Reports
  private readonly timers: NodeJS.Timeout[] = []
  private own?: NameRecord

  constructor (private readonly components: NameServiceComponents) {
    super()
    this.node = components.node
    this.book = components.book
    this.reports = new Reports(components.report, QUOTA_WINDOW_MS)
    this.forwarder = new Forwarder(() => this.node.getPeers(), async (peer, records) => await this.send(peer, records))
    this.onConnect = this.onConnect.bind(this)
    this.onSelfUpdate = this.onSelfUpdate.bind(this)
  }

  get name (): string {
    return this.components.name
  }

  async start (): Promise<void> {
    this.book.expire(Date.now() - TTL_MS)
    await this.signOwn()
    for (const entry of this.book.all()) {
      // the book holds only records verified when they came
      if (entry.record != null) await this.rememberAddrs(entry, NameRecord.decode(entry.record).addrs.map(a => multiaddr(a)))
    }
    await this.node.handle(PROTOCOL, async (stream, connection) => { await this.onAnnounce(stream, connection) }, {
      maxInboundStreams: MAX_INBOUND_STREAMS,
      maxOutboundStreams: MAX_OUTBOUND_STREAMS,
      // a NAT'd node is met through a relay first, and its name is what lets us dial it
      runOnLimitedConnection: true
    })
    this.node.addEventListener('peer:connect', this.onConnect)
    this.node.addEventListener('self:peer:update', this.onSelfUpdate)
    this.forwarder.start()
    this.timers.push(setInterval(this.onSelfUpdate, REFRESH_MS), setInterval(() => { this.book.expire(Date.now() - TTL_MS) }, EXPIRE_SWEEP_MS))
    for (const timer of this.timers) timer.unref()
  }

  async stop (): Promise<void> {
    for (const timer of this.timers) clearInterval(timer)
    this.forwarder.stop()
    this.node.removeEventListener('peer:connect', this.onConnect)
    this.node.removeEventListener('self:peer:update', this.onSelfUpdate)
    await this.node.unhandle(PROTOCOL)
    await this.book.close()
  }

  /** The names this node knows, its own first. */
  names (): Array<{ name: string, peerId: string }> {
    const ours = { name: this.name, peerId: this.node.peerId.toString() }
    return [ours, ...this.book.all().filter(e => e.name !== this.name).map(e => ({ name: e.name, peerId: e.peerId }))]
  }

  /** Every name in the book with how it came, for `names`. */
  entries (): NameEntry[] {
    return this.book.all()
  }

  nameOf (peerId: PeerId): string | undefined {
    return this.book.namesOf(peerId.toString())[0]
  }

  /** How to tell the peer `id` to a user: its name, or the id itself where it holds none. */
  nameOrId (id: string): string {
    return this.book.namesOf(id)[0] ?? id
  }

  /** The peer holding `name`, or an error listing the names we do know. */
  resolve (name: string): PeerId {
    if (name === this.name) return this.node.peerId
    const entry = this.book.get(name)
    if (entry == null) {
      // the book holds up to BOOK_CAPACITY names: the error names a few
      const known = this.names().map(n => n.name)
      const shown = known.slice(0, KNOWN_IN_ERROR).join(', ') + (known.length > KNOWN_IN_ERROR ? `, and ${known.length - KNOWN_IN_ERROR} more (see names)` : '')
      throw new UnknownNameError(`unknown node ${quoted(name.slice(0, 256))}; known names: ${shown}`)
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

  /** Pin `name` to `peerId` on the user's word (`trust`); a line saying what changed. */
  trust (name: string, peerId: string): string {
    if (!isValidName(name)) throw new UsageError(`not a node name: ${quoted(name.slice(0, 64))}`)
    if (name === this.name) throw new UsageError(`${name} is this node's own name`)
    let id: PeerId
    try {
      id = peerIdFromString(peerId)
    } catch {
      throw new UsageError(`not a peer id: ${quoted(peerId.slice(0, 64))}`)
    }
    if (id.publicKey == null) throw new UsageError(`${peerId} does not hold its key; only Ed25519 and secp256k1 peer ids can be pinned`)
    const before = this.book.trust(name, id.toString(), Date.now())
    return before != null && before.peerId !== id.toString()
      ? `${name} is now pinned to ${id.toString()} (it was pinned to ${before.peerId})`
      : `${name} is now pinned to ${id.toString()}`
  }

  /** Unpin `name`: the next record for it is taken as a first one. */
  forget (name: string): string {
    const before = this.book.forget(name)
    if (before == null) throw new UnknownNameError(`unknown node ${quoted(name.slice(0, 64))}`)
    return `forgot ${name} (it was pinned to ${before.peerId})`
  }

  private async signOwn (): Promise<void> {
    const now = Date.now()
    this.own = await signRecord(this.components.privateKey, this.name, this.advertised(), BigInt(now), now)
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

  /** A new peer gets our record and the names seen most recently: never the whole of a large book. */
  private onConnect (evt: CustomEvent<PeerId>): void {
    const others = this.book.recent(CONNECT_RECORDS).flatMap(e => e.record != null ? [NameRecord.decode(e.record)] : [])
    void this.send(evt.detail, [this.own!, ...others])
  }

  private onSelfUpdate (): void {
    this.signOwn().then(() => {
      for (const peer of this.node.getPeers()) void this.send(peer, [this.own!])
    }, err => { log.error('could not sign our record - %e', err) })
  }

  /** Whether `peer` took every announcement (it may still have dropped records over its quota, and said so). */
  private async send (peer: PeerId, records: NameRecord[]): Promise<boolean> {
    let took = true
    for (let i = 0; i < records.length; i += MAX_RECORDS) {
      took = await this.sendOne(peer, { records: records.slice(i, i + MAX_RECORDS) }) && took
    }
    return took
  }

  private async sendOne (peer: PeerId, announce: Announce): Promise<boolean> {
    const signal = AbortSignal.timeout(TIMEOUT_MS)
    let stream: Stream | undefined
    try {
      stream = await this.node.dialProtocol(peer, PROTOCOL, { signal, runOnLimitedConnection: true })
      const pb = framed(stream, MAX_ANNOUNCE_BYTES)
      await pb.write(announce, Announce, { signal })
      const receipt = await pb.read(Receipt, { signal })
      await stream.close({ signal })
      if (receipt.overQuota > 0) log('%p dropped %d of our records - %s', peer, receipt.overQuota, receipt.reason)
      return true
    } catch (err: any) {
      log('could not announce to %p - %e', peer, err)
      stream?.abort(asError(err))
      return false
    }
  }

  /** Records are processed as they are read, the stream held open meanwhile: the stream limit paces a peer. */
  private async onAnnounce (stream: Stream, connection: Connection): Promise<void> {
    const signal = AbortSignal.timeout(TIMEOUT_MS)
    const from = connection.remotePeer
    try {
      const pb = framed(stream, MAX_ANNOUNCE_BYTES)
      const announce = await pb.read(Announce, { signal, limits: { records: MAX_RECORDS } })
      const receipt = await this.takeAll(announce.records, from)
      await pb.write(receipt, Receipt, { signal })
      await stream.close({ signal })
    } catch (err: any) {
      log('bad announce from %p - %e', from, err)
      stream.abort(asError(err))
    }
  }

  private async takeAll (records: NameRecord[], from: PeerId): Promise<Receipt> {
    const receipt: Receipt = { kept: 0, overQuota: 0, reason: '' }
    const senderKey = from.publicKey != null ? publicKeyToProtobuf(from.publicKey) : undefined
    let limit: QuotaLimit | undefined
    for (let i = 0; i < records.length; i++) {
      if (i > 0 && i % RECORDS_PER_TURN === 0) await nextTurn()
      const record = records[i]
      const held = this.book.get(record.name)
      if (held?.record != null && equals(held.record, NameRecord.encode(record))) continue
      // a new name costs the sender's quota before any work is spent on it
      const over = held == null ? this.quota.take(from.toString(), senderKey != null && equals(record.publicKey, senderKey)) : undefined
      if (over != null) {
        limit = over
        receipt.overQuota++
        continue
      }
      if (await this.take(record, from)) {
        receipt.kept++
        this.forwarder.add(record, from)
      }
    }
    if (limit != null) {
      receipt.reason = limit === 'peer'
        ? `over quota: at most ${PEER_QUOTA} new names an hour from one peer`
        : `over quota: at most ${TOTAL_QUOTA} new names an hour from all peers`
      this.reports.tell(from.toString(), `dropping new names from ${this.describe(from)}: ${receipt.reason}; told it so`)
    }
    return receipt
  }

  /** Verify, check the pins of and store one record; true when it told us something new. */
  private async take (record: NameRecord, from: PeerId): Promise<boolean> {
    const now = Date.now()
    if (record.issuedAt < now - TTL_MS || record.issuedAt > now + MAX_CLOCK_SKEW_MS) {
      log('dropped a record from %p - issued at %d, expired or from the future', from, record.issuedAt)
      return false
    }
    let verified
    try {
      verified = await verifyRecord(record)
    } catch (err: any) {
      log('dropped a record from %p - %s', from, err.message)
      return false
    }
    const { addrs } = verified
    const entry: NameEntry = { ...verified.entry, via: verified.entry.peerId === from.toString() ? undefined : from.toString() }
    if (entry.peerId === this.node.peerId.toString()) return false
    if (entry.name === this.name) {
      this.reports.tell(from.toString(), `refused a claim to our own name ${entry.name} by ${entry.peerId} (via ${from})`)
      return false
    }
    const offer = this.book.offer(entry)
    if (offer.outcome === 'conflict') {
      this.reports.tell(from.toString(), `refused a claim to ${entry.name} by ${entry.peerId} (via ${from}): the name is pinned to ${offer.pinnedTo}`)
      return false
    }
    if (offer.outcome === 'replaced') {
      this.components.report(`${entry.name} is now pinned to ${entry.peerId}, which claimed it itself; it was pinned to ${offer.previous.peerId}, learned via ${offer.previous.via === '' ? 'an unknown peer' : offer.previous.via}`)
    } else if (offer.outcome !== 'new' && offer.outcome !== 'updated') {
      return false
    }
    await this.rememberAddrs(entry, addrs)
    log('learned %s → %s', entry.name, entry.peerId)
    this.dispatchEvent(new CustomEvent<Learned>('learned', { detail: { name: entry.name, peerId: peerIdFromString(entry.peerId) } }))
    return true
  }

  private describe (peer: PeerId): string {
    const name = this.nameOf(peer)
    return name != null ? `${name} (${peer.toString()})` : peer.toString()
  }

  private async rememberAddrs (entry: NameEntry, addrs: Multiaddr[]): Promise<void> {
    if (addrs.length === 0) return
    await this.node.peerStore.merge(peerIdFromString(entry.peerId), { multiaddrs: addrs })
      .catch(err => { log('could not store addresses of %s - %e', entry.name, err) })
  }
}
