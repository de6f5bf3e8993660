import '../daemon/polyfill.ts'
import { noise } from '@chainsafe/libp2p-noise'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { tcp } from '@libp2p/tcp'
import { pbStream } from '@libp2p/utils'
import { yamux } from '@libp2p/yamux'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p, type Libp2p } from 'libp2p'
import type { Connection, PrivateKey, Stream } from '@libp2p/interface'
import { PROTOCOL as NAMES } from '../protocol/names/index.ts'
import { Announce, type NameRecord } from '../protocol/names/pb/names.ts'
import { signRecord } from '../protocol/names/record.ts'
import { eventually, knows, type TestNode } from './helpers.ts'

/**
 * A bare libp2p node that speaks hwd's protocols only as far as a test makes it: to throw
 * hostile frames at a daemon, or to pose as a named node that misbehaves.
 */
export class RawPeer {
  private readonly connections = new Map<string, Connection>()

  private constructor (readonly node: Libp2p, readonly key: PrivateKey) {}

  static async start (): Promise<RawPeer> {
    const key = await generateKeyPair('Ed25519')
    const node = await createLibp2p({
      privateKey: key,
      addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
      transports: [tcp()],
      connectionEncrypters: [noise()],
      // room to hold streams the tests leave unread without a reset on our side
      streamMuxers: [yamux({ streamOptions: { maxReadBufferLength: 64 * 1024 * 1024 } })]
    })
    return new RawPeer(node, key)
  }

  get peerId (): string {
    return this.node.peerId.toString()
  }

  /** A new stream on one connection per address: daemons refuse many connections a second from one host. */
  async open (addr: string, protocol: string): Promise<Stream> {
    let connection = this.connections.get(addr)
    if (connection == null || connection.status !== 'open') {
      connection = await this.node.dial(multiaddr(addr), { signal: AbortSignal.timeout(5_000) })
      this.connections.set(addr, connection)
    }
    return await connection.newStream(protocol, { signal: AbortSignal.timeout(5_000) })
  }

  /** Tell `node` that this peer is called `name`, with a properly signed record, and wait until it knows. */
  async claim (node: TestNode, name: string): Promise<void> {
    const record = await this.record(name)
    const stream = await this.open(node.addr, NAMES)
    await pbStream(stream).write({ records: [record] }, Announce)
    await stream.close()
    await eventually(`${node.name} knows ${name}`, async () => knows(await node.status(), name, this.peerId))
  }

  /** This peer's own record for `name`, signed now. */
  async record (name: string): Promise<NameRecord> {
    return await signRecord(this.key, name, this.node.getMultiaddrs().map(a => multiaddr(a.toString().replace(/\/p2p\/.*/, ''))), BigInt(Date.now()), Date.now())
  }

  async stop (): Promise<void> {
    await this.node.stop()
  }
}

/** Resolves when the stream is reset or closed by the other side, with the error if any. */
export async function closed (stream: Stream, timeoutMs = 10_000): Promise<Error | undefined> {
  if (stream.status === 'closed' || stream.status === 'aborted' || stream.status === 'reset') return undefined
  return await new Promise((resolve, reject) => {
    const timer = setTimeout(() => { reject(new Error(`stream still ${stream.status} after ${timeoutMs} ms`)) }, timeoutMs)
    stream.addEventListener('close', (evt: any) => { clearTimeout(timer); resolve(evt.error) }, { once: true })
  })
}
