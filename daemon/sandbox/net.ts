/**
 * `net` for a sandboxed package, the daemon's side: connecting to nodes by name, and opening
 * and handling streams of its own protocols (`/<package>:<publisher>/...`), which the daemon
 * holds and carries over the channel (`streams.ts`). A peer the node's access list refuses
 * never reaches the package.
 */
import type { Stream } from '@libp2p/interface'
import type { NameService } from '../../protocol/names/index.ts'
import type { HwdLibp2p } from '../node.ts'
import type { PackageContext } from '../package-api.ts'
import { ownsProtocol } from './capabilities.ts'
import { AccessError, type Channel } from './channel.ts'
import { DEFAULT_INBOUND_STREAMS, DIAL_TIMEOUT_MS, MAX_INBOUND_STREAMS } from './limits.ts'
import type { HeldStreams } from './streams.ts'

export interface NetParts {
  node: HwdLibp2p
  names: NameService
  streams: HeldStreams
  /** the protocols it handles now, for the host to unhandle when it stops */
  protocols: Set<string>
  /** throws unless it holds `net` */
  granted(): void
  running(): boolean
}

export function serveNet (channel: Channel, ctx: PackageContext, parts: NetParts): void {
  const { id } = ctx
  const { node, names, streams, protocols, granted } = parts
  const own = (protocol: unknown, verb: string): string => {
    granted()
    if (!ownsProtocol(id, protocol)) throw new AccessError(`${id} may ${verb} only its own protocols, /${id}/...`)
    return protocol
  }
  channel.handle('connect', async ({ name }) => {
    granted()
    const connection = await ctx.connect(String(name))
    return { peer: connection.remotePeer.toString(), relay: ctx.relayOf(connection) }
  })
  channel.handle('dial', async ({ name, protocol }) => {
    const proto = own(protocol, 'dial')
    const connection = await ctx.connect(String(name))
    return { id: streams.adopt(await connection.newStream(proto, { signal: AbortSignal.timeout(DIAL_TIMEOUT_MS) })) }
  })
  channel.handle('handle', async ({ protocol, maxInboundStreams }) => {
    const proto = own(protocol, 'handle')
    await node.handle(proto, (stream: Stream, connection) => {
      if (!parts.running()) { stream.abort(new AccessError(`${id} is not running`)); return }
      const peer = connection.remotePeer
      // the node's access list holds before a peer's stream reaches the package
      const refused = ctx.refusal(peer, proto)
      if (refused != null) { stream.abort(new AccessError(refused)); return }
      channel.notify('s.incoming', { id: streams.adopt(stream), protocol: proto, peer: peer.toString(), name: names.nameOf(peer), relay: ctx.relayOf(connection) })
    }, { maxInboundStreams: Number.isInteger(maxInboundStreams) ? Math.min(maxInboundStreams, MAX_INBOUND_STREAMS) : DEFAULT_INBOUND_STREAMS })
    protocols.add(proto)
  })
  channel.handle('unhandle', async ({ protocol }) => {
    if (!protocols.delete(protocol)) return
    await node.unhandle(protocol)
  })
}
