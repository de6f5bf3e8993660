import '../daemon/polyfill.ts'
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { Stream } from '@libp2p/interface'
import { defaultLogger, enable } from '@libp2p/logger'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { multiaddrConnectionPair } from '@libp2p/utils'
import { createNode, type HwdLibp2p } from '../daemon/node.ts'
import { leanNoise } from '../daemon/noise.ts'
import { unpatched } from '../daemon/unpatched.ts'

const PROTOCOL = '/hwd/test/patches/1.0.0'

async function node (): Promise<HwdLibp2p> {
  return await createNode({ privateKey: await generateKeyPair('Ed25519'), host: '127.0.0.1', port: 0, announce: [], mdns: false })
}

/** What the patches replace, on the objects of one real connection (the dialer's side). */
interface Patched {
  muxer: { maConn: { stream: object } }
}

describe('the patches to libp2p (daemon/yamux.ts, daemon/noise.ts)', () => {
  it('hook the pinned versions\' internals on a real connection, and none says it does not apply', async () => {
    const [a, b] = await Promise.all([node(), node()])
    try {
      const accepted = Promise.withResolvers<Stream>()
      await b.handle(PROTOCOL, stream => { accepted.resolve(stream) })
      const streams = [await a.dialProtocol(b.getMultiaddrs()[0], PROTOCOL), await accepted.promise]
      const { muxer } = a.getConnections()[0] as unknown as Patched
      // each patch sets its own member on the instance; the stock ones are on the prototypes
      assert.ok(Object.hasOwn(muxer, '_newStream'), 'yamux: the muxer makes its streams through the patch')
      for (const stream of streams) {
        assert.ok(Object.hasOwn(stream, 'handleWindowUpdate'), 'yamux: drains held while the connection is full')
        assert.ok(Object.hasOwn(stream, 'sendWindowUpdate'), 'yamux: window updates at half')
      }
      assert.ok(Object.hasOwn(muxer.maConn, 'decrypt'), 'noise: decrypt without a copy')
      assert.ok(Object.hasOwn(muxer.maConn.stream, 'sendData'), 'noise: batched socket writes')
      assert.deepEqual([...unpatched], [], 'no patch said it does not apply')
    } finally {
      await Promise.all([a.stop(), b.stop()])
    }
  })

  it('says once, through the log, that a patch does not apply to a connection of another shape', async () => {
    // noise over an in-memory connection: not @libp2p/tcp's, so its writes cannot be batched
    const privateKey = await generateKeyPair('Ed25519')
    const encrypter = leanNoise()({ privateKey, peerId: peerIdFromPrivateKey(privateKey), logger: defaultLogger(), upgrader: undefined as never })
    const said: string[] = []
    const write = process.stderr.write
    enable('hwd:patches:error')
    process.stderr.write = ((text: string) => { said.push(String(text)); return true }) as typeof process.stderr.write
    try {
      for (let i = 0; i < 2; i++) {
        const [outbound, inbound] = multiaddrConnectionPair()
        const options = { skipStreamMuxerNegotiation: true }
        const [secured] = await Promise.all([encrypter.secureOutbound(outbound, options), encrypter.secureInbound(inbound, options)])
        assert.ok(Object.hasOwn(secured.connection, 'decrypt'), 'the decrypt patch applies all the same')
      }
    } finally {
      process.stderr.write = write
      enable(process.env.DEBUG ?? '')
    }
    assert.ok(unpatched.has('daemon/noise.ts, batched socket writes'), 'the write patch says it does not apply')
    assert.ok(!unpatched.has('daemon/noise.ts, decrypt without a copy'), 'the decrypt patch does not')
    const lines = said.filter(line => line.includes('batched socket writes does not apply'))
    assert.equal(lines.length, 1, `said once: ${said.join('')}`)
  })
})
