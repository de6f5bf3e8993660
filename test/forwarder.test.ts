import '../daemon/polyfill.ts'
/**
 * The names protocol's forwarder (protocol/names/forwarder.ts) on real timers: records a peer
 * did not take are offered to that peer again, and to it only, a tick later, up to three tries
 * in all, then never; peers that took them are not sent them twice.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { PeerId } from '@libp2p/interface'
import { Forwarder } from '../protocol/names/forwarder.ts'
import type { NameRecord } from '../protocol/names/pb/names.ts'
import { eventually } from './helpers.ts'
import { signedRecords } from './name-records.ts'

async function peer (): Promise<PeerId> {
  return peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
}

describe('the names forwarder', () => {
  it('offers what a peer did not take to that peer again, up to three tries, and nothing twice to a peer that took it', async () => {
    const [from, taking, failing] = await Promise.all([peer(), peer(), peer()])
    const sent: Array<{ to: string, names: string[] }> = []
    const forwarder = new Forwarder(() => [from, taking, failing], async (to, records: NameRecord[]) => {
      sent.push({ to: to.toString(), names: records.map(r => r.name) })
      return !to.equals(failing)
    })
    forwarder.start()
    try {
      for (const record of await signedRecords(3, 'fwd')) forwarder.add(record, from)
      const names = ['fwd-0.dev', 'fwd-1.dev', 'fwd-2.dev']
      await eventually('three tries to the failing peer', async () => sent.filter(s => s.to === failing.toString()).length >= 3, 10_000)
      assert.deepEqual(sent.filter(s => s.to === taking.toString()), [{ to: taking.toString(), names }], 'the peer that took them got them once')
      assert.deepEqual(sent.filter(s => s.to === failing.toString()).map(s => s.names), [names, names, names])
      assert.equal(sent.filter(s => s.to === from.toString()).length, 0, 'nothing goes back where it came from')
      // a record added after the third try goes out on a later tick, and the old ones do not go with it
      const [late] = await signedRecords(1, 'late')
      forwarder.add(late, from)
      await eventually('the late record taken', async () => sent.some(s => s.to === taking.toString() && s.names.includes(late.name)), 5_000)
      assert.equal(sent.filter(s => s.names.includes('fwd-0.dev') && s.to === failing.toString()).length, 3, 'no fourth try')
    } finally {
      forwarder.stop()
    }
  })
})
