import { lookup } from 'node:dns/promises'
import { isIP } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import { logger } from '@libp2p/logger'
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import type { PeerId } from '@libp2p/interface'
import { UsageError } from '../errors.ts'
import { deadline } from '../protocol/deadline.ts'
import type { HwdLibp2p } from './node.ts'

const log = logger('hwd:peer-keeper')

/** First retry after this; each failure doubles it up to MAX_BACKOFF_MS, a success resets it. */
const MIN_BACKOFF_MS = 250
const MAX_BACKOFF_MS = 10_000
const DIAL_TIMEOUT_MS = 5_000

/**
 * A `--peer` target: a multiaddr, or `host:port` where host may be a DNS name (a compose
 * service). Host names are looked up again before every dial, since containers move.
 */
export class PeerTarget {
  private constructor (readonly text: string, private readonly addr?: Multiaddr, private readonly host?: string, private readonly port?: number) {}

  static parse (text: string): PeerTarget {
    if (text.startsWith('/')) {
      try {
        return new PeerTarget(text, multiaddr(text))
      } catch (err: any) {
        throw new UsageError(`--peer ${text}: not a valid multiaddr (${err.message})`)
      }
    }
    const m = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(text)
    const port = m == null ? NaN : Number(m[3])
    if (m == null || port < 1 || port > 65535) {
      throw new UsageError(`--peer ${text}: expected a multiaddr (/ip4/10.0.0.2/tcp/8081) or host:port`)
    }
    return new PeerTarget(text, undefined, m[1] ?? m[2], port)
  }

  async resolve (): Promise<Multiaddr> {
    if (this.addr != null) return this.addr
    const host = this.host!
    const { address, family } = isIP(host) !== 0 ? { address: host, family: isIP(host) } : await lookup(host)
    return multiaddr(`/ip${family}/${address}/tcp/${this.port}`)
  }
}

/** Keeps a connection to every `--peer` target: dials at start and again whenever it drops. */
export class PeerKeeper {
  private readonly controller = new AbortController()
  private readonly loops: Array<Promise<void>> = []

  constructor (private readonly node: HwdLibp2p, private readonly targets: PeerTarget[]) {}

  start (): void {
    for (const target of this.targets) this.loops.push(this.keep(target))
  }

  async stop (): Promise<void> {
    this.controller.abort()
    await Promise.all(this.loops)
  }

  private async keep (target: PeerTarget): Promise<void> {
    const signal = this.controller.signal
    let backoff = MIN_BACKOFF_MS
    while (!signal.aborted) {
      try {
        const addr = await target.resolve()
        const connection = await this.node.dial(addr, { signal: deadline(DIAL_TIMEOUT_MS, signal) })
        log('connected to %s as %p', target.text, connection.remotePeer)
        backoff = MIN_BACKOFF_MS
        await this.disconnected(connection.remotePeer, signal)
        log('lost %s; re-dialing', target.text)
      } catch (err: any) {
        if (signal.aborted) return
        log('cannot reach %s, next try in %dms - %s', target.text, backoff, err.message)
        await sleep(backoff, undefined, { signal }).catch(() => {})
        backoff = Math.min(backoff * 2, MAX_BACKOFF_MS)
      }
    }
  }

  private async disconnected (peer: PeerId, signal: AbortSignal): Promise<void> {
    await new Promise<void>(resolve => {
      const done = (): void => {
        this.node.removeEventListener('peer:disconnect', onDisconnect)
        signal.removeEventListener('abort', done)
        resolve()
      }
      const onDisconnect = (evt: CustomEvent<PeerId>): void => { if (evt.detail.equals(peer)) done() }
      this.node.addEventListener('peer:disconnect', onDisconnect)
      signal.addEventListener('abort', done)
      if (this.node.getConnections(peer).length === 0) done()
    })
  }
}
