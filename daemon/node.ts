import { isIP } from 'node:net'
import { circuitRelayServer, circuitRelayTransport, type CircuitRelayService } from '@libp2p/circuit-relay-v2'
import { identify, type Identify } from '@libp2p/identify'
import { mdns } from '@libp2p/mdns'
import { ping, type Ping } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import { createLibp2p, type Libp2p } from 'libp2p'
import type { PeerDiscovery, PrivateKey } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import { PortBusyError, UsageError } from '../errors.ts'
import { addressOrder } from './address-order.ts'
import { leanNoise } from './noise.ts'
import { holdWhileOtherHopFull, relayServerInit, type RelayLimits } from './relay.ts'
import { RelaySlots } from './relay-slots.ts'
import { leanYamux } from './yamux.ts'

/** mDNS is a service, not only a discovery source, so that we hear every answer it gets (see daemon.ts). */
export type HwdLibp2p = Libp2p<{ identify: Identify, ping: Ping, mdns?: PeerDiscovery, relay?: CircuitRelayService, relaySlots?: RelaySlots }>

export interface NodeOptions {
  privateKey: PrivateKey
  host: string
  port: number
  announce: string[]
  mdns: boolean
  /** serve as a relay for NAT'd nodes, with these limits (daemon/relay.ts), telling its owner through `print` whom it refuses a slot */
  relay?: RelayLimits & { print: (text: string) => void }
}

/**
 * Yamux grows a stream's receive window up to this; a paused reader keeps receiving until the
 * window is spent, so the read buffer must hold a whole window or the stream is reset.
 */
const STREAM_WINDOW = 16 * 1024 * 1024
const READ_BUFFER = 2 * STREAM_WINDOW
/**
 * A connection whose peer vanished (a cut cable, a stopped container) is found by ping and
 * closed. A ping waits behind whatever the connection already carries, so under load a short
 * timeout killed connections that were only busy (and every download on them): a ping goes
 * every 5 s and gets 10 to 20 s (libp2p adapts it to recent round trips), so a vanished peer
 * is noticed within 25 s, within 15 s while pings have been quick.
 */
const CONNECTION_MONITOR = { pingInterval: 5_000, pingTimeout: { minTimeout: 10_000, maxTimeout: 20_000 } }
/** The monitor's pings and a user's `ping` share the protocol; one stream at a time made them collide. */
const PING = { maxInboundStreams: 4, maxOutboundStreams: 4 }

export async function createNode (options: NodeOptions): Promise<HwdLibp2p> {
  const family = isIP(options.host)
  if (family === 0) throw new UsageError(`--host must be an IP address to listen on, not ${JSON.stringify(options.host)}`)
  const listen = `/ip${family}/${options.host}/tcp/${options.port}`
  let node: HwdLibp2p | undefined
  // the connection gater asks a relay's slots before each reservation (daemon/relay-slots.ts)
  const slots = options.relay != null ? new RelaySlots(() => node, { max: options.relay.reservations, perIp: options.relay.reservationsPerIp }, options.relay.print) : undefined
  try {
    node = await createLibp2p({
      privateKey: options.privateKey,
      addresses: { listen: [listen], announce: options.announce },
      // every node can dial a relayed address; it listens on one only once it finds itself NAT'd (daemon/reachability.ts)
      transports: [tcp(), circuitRelayTransport()],
      connectionEncrypters: [leanNoise()],
      streamMuxers: [leanYamux({
        streamOptions: { maxStreamWindowSize: STREAM_WINDOW, maxReadBufferLength: READ_BUFFER }
      })],
      connectionMonitor: CONNECTION_MONITOR,
      // a NAT'd peer's relayed addresses before its LAN address, when that LAN is not ours (daemon/address-order.ts)
      connectionManager: { addressSorter: addressOrder(() => node) },
      ...(slots != null ? { connectionGater: { denyInboundRelayReservation: slots.onRequest } } : {}),
      services: {
        identify: identify(),
        ping: ping(PING),
        ...(options.mdns ? { mdns: mdns() } : {}),
        ...(options.relay != null && slots != null ? { relay: circuitRelayServer(relayServerInit(options.relay)), relaySlots: () => slots } : {})
      }
    })
    if (node.services.relay != null) holdWhileOtherHopFull(node.services.relay)
    if (slots != null) node.addEventListener('peer:disconnect', slots.onDisconnect)
    return node
  } catch (err: any) {
    if (isAddrInUse(err)) throw new PortBusyError(`port ${options.port} on ${options.host} is already in use`)
    throw err
  }
}

function isAddrInUse (err: any): boolean {
  for (let e = err; e != null; e = e.cause) {
    if (e.code === 'EADDRINUSE' || /EADDRINUSE/.test(String(e.message))) return true
    if (Array.isArray(e.errors) && e.errors.some(isAddrInUse)) return true
  }
  return false
}

/** The addresses the node's listeners are bound to (`/ip4/0.0.0.0/tcp/8081`), before announce rewrites them. */
export function listenAddrs (node: HwdLibp2p): Multiaddr[] {
  return transportManagerOf(node).getAddrs()
}

/**
 * The node's transport manager, which libp2p keeps among its components: the only way to read
 * the bound addresses, or to add a listen address to a running node.
 */
export function transportManagerOf (node: HwdLibp2p): { getAddrs(): Multiaddr[], listen(addrs: Multiaddr[]): Promise<void> } {
  return (node as unknown as { components: { transportManager: { getAddrs(): Multiaddr[], listen(addrs: Multiaddr[]): Promise<void> } } }).components.transportManager
}
