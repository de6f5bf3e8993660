/**
 * The process a sandboxed package runs in, started by `host.ts` under Node's permission model:
 * it reads only its own code, hwd's library code, its drive and its state folder, and writes
 * only the last two. Everything else the package's `ctx` offers is a call to the daemon over
 * the channel on fd 3, which checks it against what the package was granted.
 */
import '../polyfill.ts'
import { Socket } from 'node:net'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import type { Connection, Libp2p, StreamHandler } from '@libp2p/interface'
import { logger } from '@libp2p/logger'
import { peerIdFromString } from '@libp2p/peer-id'
import { HwdError, UnknownNameError } from '../../errors.ts'
import { Drive } from '../../storage/vfs.ts'
import type { PackageContext, PackageEntry, PackageMetadata, PackageRuntime } from '../package-api.ts'
import { fileTransferProxy } from './bridge.ts'
import { AccessError, Channel, outputAsNotices } from './channel.ts'
import { refuseLocalSockets } from './guard.ts'
import { IpcStreams } from './streams.ts'

/** What the daemon tells the child at start. */
export interface StartInit {
  id: string
  dir: string
  metadata: PackageMetadata
  vfs: string
  stateDir: string
  our: { name: string, peerId: string }
  capabilities: string[]
  /** how each dependency's API is reached: the file-transfer bridge, another sandbox, or none */
  deps: Record<string, 'file-transfer' | 'sandbox' | 'none'>
  names: Array<{ name: string, peerId: string }>
}

// the daemon is trusted: its messages are bounded only to stop a runaway
const channel = new Channel(new Socket({ fd: 3, readable: true, writable: true }), { maxMessageBytes: 64 * 1024 * 1024, maxBytesPerSecond: Infinity, maxMessagesPerSecond: Infinity, maxCallsInFlight: Infinity })
// the daemon is gone: nothing is left to do
channel.whenClosed(() => { process.exit(0) })
refuseLocalSockets()
const streams = new IpcStreams(channel)
const controller = new AbortController()
let runtime: PackageRuntime | undefined
let context: PackageContext | undefined

channel.handle('start', async (init: StartInit) => {
  context = await contextFor(init)
  const entry = await import(pathToFileURL(join(init.dir, init.metadata.entry)).href) as Partial<PackageEntry>
  if (typeof entry.start !== 'function') throw Object.assign(new HwdError(`package ${init.id}: its entry ${init.metadata.entry} exports no start function`), { name: 'PackageError' })
  runtime = await entry.start(context) ?? {}
  const api = runtime.api as Record<string, unknown> | undefined
  return {
    scripts: Object.keys(runtime.scripts ?? {}).filter(s => typeof runtime?.scripts?.[s] === 'function'),
    api: api != null && typeof api === 'object'
  }
})

channel.handle('script', async ({ name, args }, { signal, notify }) => {
  const script = runtime?.scripts?.[name]
  if (script == null) throw new AccessError(`no script ${name}`)
  await script(args, { out: outputAsNotices(notify), signal: AbortSignal.any([signal, controller.signal]) })
})

channel.handle('api.call', async ({ caller, fn, args, ctxAt }) => {
  const api = runtime?.api as Record<string, unknown> | undefined
  const f = api != null && Object.hasOwn(api, fn) ? api[fn] : undefined
  if (typeof f !== 'function') throw new AccessError(`${context?.id} exports no function ${String(fn).slice(0, 64)}`)
  // where the caller passed its ctx, its id as the daemon vouches for it
  for (const at of ctxAt) args[at] = { id: caller }
  return await f.apply(api, args)
})

channel.handle('ping', () => true)
channel.handle('stop', async () => {
  controller.abort()
  await runtime?.stop?.()
})

async function contextFor (init: StartInit): Promise<PackageContext> {
  const names = new Map(init.names.map(n => [n.name, n.peerId]))
  channel.on('names', (list: StartInit['names']) => { for (const n of list) names.set(n.name, n.peerId) })
  const granted = (cap: string): void => {
    if (!init.capabilities.includes(cap)) throw new AccessError(`${init.id} was not granted ${cap}`)
  }
  /** the relay each connection the package was given goes through, as the daemon told it */
  const relays = new WeakMap<Connection, string | undefined>()
  const connection = (name: string, peer: string, relay?: string): Connection => {
    const c = {
      remotePeer: peerIdFromString(peer),
      newStream: async (protocols: string | string[]) => {
        const protocol = Array.isArray(protocols) ? protocols[0] : protocols
        const { id } = await channel.request<{ id: number }>('dial', { name, protocol })
        return streams.open(id, protocol, 'outbound')
      }
    } as unknown as Connection
    relays.set(c, relay)
    return c
  }
  const handlers = new Map<string, StreamHandler>()
  channel.on('s.incoming', ({ id, protocol, peer, name, relay }) => {
    const handler = handlers.get(protocol)
    if (handler != null) void Promise.resolve(handler(streams.open(id, protocol, 'inbound'), connection(name ?? peer, peer, relay))).catch(() => {})
  })
  const node = {
    peerId: peerIdFromString(init.our.peerId),
    handle: async (protocol: string, handler: StreamHandler, options: { maxInboundStreams?: number } = {}) => {
      granted('net')
      await channel.request('handle', { protocol, maxInboundStreams: options.maxInboundStreams })
      handlers.set(protocol, handler)
    },
    unhandle: async (protocol: string) => {
      handlers.delete(protocol)
      await channel.request('unhandle', { protocol })
    }
  }
  const deps: Record<string, unknown> = {}
  for (const [dep, how] of Object.entries(init.deps)) {
    if (how === 'file-transfer') deps[dep] = fileTransferProxy(channel)
    if (how === 'sandbox') deps[dep] = apiProxy(dep, () => context)
  }
  return {
    id: init.id,
    metadata: init.metadata,
    our: { name: init.our.name, peerId: peerIdFromString(init.our.peerId) },
    node: unavailableBeyond(node, 'ctx.node', 'peerId, handle and unhandle') as unknown as Libp2p,
    drive: await Drive.open(init.vfs, init.id),
    stateDir: init.stateDir,
    deps: Object.freeze(deps),
    transfers: unavailableBeyond({}, 'ctx.transfers', 'nothing: the workers of file-transfer:template.os list their transfers themselves') as any,
    log: logger(`hwd:pkg:${init.id}`),
    signal: controller.signal,
    print: text => {
      granted('terminal')
      channel.notify('print', { text: String(text) })
    },
    publish: (topic, detail) => { channel.notify('publish', { topic: String(topic), detail }) },
    connect: async (name, options = {}) => {
      granted('net')
      options.signal?.throwIfAborted()
      const { peer, relay } = await channel.request<{ peer: string, relay?: string }>('connect', { name })
      return connection(name, peer, relay)
    },
    resolve: name => {
      granted('net')
      const peer = names.get(name)
      if (peer == null) throw new UnknownNameError(`unknown node ${JSON.stringify(name)}; known names: ${[...names.keys()].join(', ') || 'none yet'}`)
      return peerIdFromString(peer)
    },
    nameOf: peer => {
      granted('net')
      for (const [name, id] of names) if (id === peer.toString()) return name
      return undefined
    },
    // the daemon refused the peers its access list does not allow before their streams came here
    refusal: () => undefined,
    relayOf: c => relays.get(c)
  }
}

/** An object whose other members fail with one line saying what a sandboxed package has. */
function unavailableBeyond<T extends object> (target: T, what: string, offered: string): T {
  return new Proxy(target, {
    get (t, key) {
      if (typeof key === 'symbol' || key === 'then' || Object.hasOwn(t, key)) return Reflect.get(t, key)
      throw new AccessError(`${what}.${key} is not available to a sandboxed package (it has ${offered})`)
    }
  })
}

/** Another sandboxed package's API: each function a call through the daemon, with plain data in and out. */
function apiProxy (dep: string, ctx: () => PackageContext | undefined): unknown {
  return new Proxy({}, {
    get (_, fn) {
      if (typeof fn === 'symbol' || fn === 'then') return undefined
      return async (...args: unknown[]) => {
        const ctxAt = args.flatMap((a, i) => a === ctx() ? [i] : [])
        return await channel.request('dep.call', { dep, fn, args: args.map((a, i) => ctxAt.includes(i) ? null : a), ctxAt })
      }
    }
  })
}
