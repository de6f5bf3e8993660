import '../daemon/polyfill.ts'
/**
 * A NAT'd node as a relay sees one, run as its own process so that a test can stop it (SIGSTOP)
 * like a peer that stops reading, or kill it like one that vanishes: a bare libp2p node that
 * reserves a slot on the relay given as its argument (listening on /p2p-circuit reserves one,
 * NAT or not), and on each FLOOD_PROTOCOL stream grants the opener FLOOD_WINDOW bytes of Yamux
 * window at once (test/relay-memory.test.ts). It prints `peer ID` once it runs, `relayed ADDR`
 * once it can be reached through the relay, `granted` once it has granted a window, and
 * `received BYTES` when the opener has closed the stream. test/relay-holder.ts runs it.
 */
import { fileURLToPath } from 'node:url'
import { noise } from '@chainsafe/libp2p-noise'
import { circuitRelayTransport } from '@libp2p/circuit-relay-v2'
import { identify } from '@libp2p/identify'
import { tcp } from '@libp2p/tcp'
import { yamux } from '@libp2p/yamux'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'

export const FLOOD_PROTOCOL = '/hwd/test/flood/1.0.0'
export const FLOOD_WINDOW = 512 * 1024 * 1024

/** The Yamux stream members a window is granted through (@libp2p/yamux 8). */
interface YamuxStream { recvWindow: number, sendWindowUpdate: () => void }

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const node = await createLibp2p({
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0', '/p2p-circuit'] },
    transports: [tcp(), circuitRelayTransport()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux({ streamOptions: { maxStreamWindowSize: FLOOD_WINDOW, maxReadBufferLength: 2 * FLOOD_WINDOW } })],
    services: { identify: identify() }
  })
  await node.handle(FLOOD_PROTOCOL, stream => {
    const s = stream as unknown as YamuxStream
    s.recvWindow = FLOOD_WINDOW
    s.sendWindowUpdate()
    console.log('granted')
    let received = 0
    stream.addEventListener('message', evt => { received += evt.data.byteLength })
    stream.addEventListener('remoteCloseWrite', () => { console.log(`received ${received}`) })
  }, { runOnLimitedConnection: true })
  console.log(`peer ${node.peerId.toString()}`)
  await node.dial(multiaddr(process.argv[2]))
  const relayed = await new Promise<string>(resolve => {
    const check = (): void => {
      const addr = node.getMultiaddrs().find(a => a.toString().includes('/p2p-circuit/'))
      if (addr != null) resolve(addr.toString())
    }
    node.addEventListener('self:peer:update', check)
    check()
  })
  console.log(`relayed ${relayed}`)
}
