import '../daemon/polyfill.ts'
import assert from 'node:assert/strict'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey, peerIdFromString } from '@libp2p/peer-id'
import { after, afterEach, describe, it } from 'node:test'
import { fingerprint } from '../protocol/names/index.ts'
import { MAX_CLOCK_SKEW_MS, PEER_QUOTA, TOTAL_QUOTA, TTL_MS } from '../protocol/names/constants.ts'
import { signRecord } from '../protocol/names/record.ts'
import { eventually, knows, pair, stopAll, TestNode } from './helpers.ts'
import { announceAll, signedRecords } from './name-records.ts'
import { RawPeer } from './raw-peer.ts'

afterEach(stopAll)
after(stopAll)

function count (text: string, pattern: RegExp): number {
  return [...text.matchAll(new RegExp(pattern, 'gm'))].length
}

async function floodNames (node: TestNode): Promise<number> {
  return (await node.status()).names.filter(n => n.name.startsWith('flood')).length
}

describe('names from a hostile peer', () => {
  it('keeps at most a quota of new names from one peer, tells it so and the user once, and passes on only what it kept', async () => {
    const v = await TestNode.start({ name: 'fake.dev' })
    const w = await TestNode.start({ name: 'fake2.dev', peers: [v.addr] })
    await eventually('w knows v', async () => knows(await w.status(), 'fake.dev', v.peerId))
    const raw = await RawPeer.start()
    try {
      const receipt = await announceAll(raw, v, await signedRecords(PEER_QUOTA + 100, 'flood'))
      assert.deepEqual(receipt, { kept: PEER_QUOTA, overQuota: 100, reason: `over quota: at most ${PEER_QUOTA} new names an hour from one peer` })
      const again = await announceAll(raw, v, await signedRecords(10, 'flood-again'))
      assert.equal(again.overQuota, 10)
      assert.equal(await floodNames(v), PEER_QUOTA)
      assert.equal(count(v.output, new RegExp(`^dropping new names from ${raw.peerId}: over quota`)), 1, 'one line for the user, not one per record')
      // v passes its 500 on to w, which takes them: its quota of new names from v is the same
      await eventually('w has every name v kept', async () => await floodNames(w) === PEER_QUOTA, 30_000)
      const further = await announceAll(raw, v, await signedRecords(5, 'flood-more'))
      assert.equal(further.kept, 0)
      assert.equal(await floodNames(w), PEER_QUOTA, 'w got nothing v dropped')
    } finally {
      await raw.stop()
    }
  })

  it('keeps at most a total quota of new names from all peers', async () => {
    const v = await TestNode.start({ name: 'fake.dev' })
    const peers = await Promise.all(Array.from({ length: TOTAL_QUOTA / PEER_QUOTA + 1 }, async () => await RawPeer.start()))
    try {
      for (const [i, raw] of peers.slice(0, -1).entries()) {
        assert.equal((await announceAll(raw, v, await signedRecords(PEER_QUOTA, `flood${i}`))).kept, PEER_QUOTA)
      }
      const last = await announceAll(peers.at(-1)!, v, await signedRecords(10, 'flood-last'))
      assert.deepEqual(last, { kept: 0, overQuota: 10, reason: `over quota: at most ${TOTAL_QUOTA} new names an hour from all peers` })
      assert.equal(await floodNames(v), TOTAL_QUOTA)
      const own = await peers.at(-1)!.record('newcomer.dev')
      assert.equal((await announceAll(peers.at(-1)!, v, [own])).kept, 1, 'a peer\'s own first record is taken all the same')
    } finally {
      await Promise.all(peers.map(async p => { await p.stop() }))
    }
  })

  it('refuses records expired or issued in the future', async () => {
    const v = await TestNode.start({ name: 'fake.dev' })
    const raw = await RawPeer.start()
    try {
      const now = Date.now()
      const expired = await signedRecords(1, 'expired', now - TTL_MS - 60_000)
      const future = await signedRecords(1, 'future', now + MAX_CLOCK_SKEW_MS + 60_000)
      const fresh = await signedRecords(1, 'fresh', now - TTL_MS + 60 * 60_000)
      assert.equal((await announceAll(raw, v, [...expired, ...future, ...fresh])).kept, 1)
      assert.deepEqual((await v.status()).names.map(n => n.name), ['fake.dev', 'fresh-0.dev'])
    } finally {
      await raw.stop()
    }
  })

  it('lets a first-hand claim take a name learned second-hand, and no second-hand claim take a first-hand one', async () => {
    const [a, b] = await pair()
    const raw = await RawPeer.start()
    try {
      const other = await generateKeyPair('Ed25519')
      const stolen = await signRecord(other, 'fake2.dev', [], BigInt(Date.now()), Date.now())
      assert.equal((await announceAll(raw, a, [stolen])).kept, 0)
      assert.ok(knows(await a.status(), 'fake2.dev', b.peerId))
      await a.waitForOutput(new RegExp(`^refused a claim to fake2.dev by ${peerIdFromPrivateKey(other).toString()} \\(via ${raw.peerId}\\): the name is pinned to ${b.peerId}$`, 'm'))

      const early = await signRecord(other, 'fake3.dev', [], BigInt(Date.now()), Date.now())
      assert.equal((await announceAll(raw, a, [early])).kept, 1)
      const listed = await a.run('names')
      assert.match(listed.stdout, new RegExp(`^fake3.dev +${peerIdFromPrivateKey(other).toString()} +SHA256:\\S+ +via ${raw.peerId} +\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d$`, 'm'))
      assert.match(listed.stdout, new RegExp(`^fake2.dev +${b.peerId} +${fingerprint(peerIdFromString(b.peerId)).replaceAll('+', '\\+')} +first-hand +[\\d-]+ [\\d:]+ +connected$`, 'm'))

      const c = await TestNode.start({ name: 'fake3.dev', peers: [a.addr] })
      await eventually('a takes fake3.dev from its holder', async () => knows(await a.status(), 'fake3.dev', c.peerId))
      await a.waitForOutput(new RegExp(`^fake3.dev is now pinned to ${c.peerId}, which claimed it itself; it was pinned to ${peerIdFromPrivateKey(other).toString()}, learned via ${raw.peerId}$`, 'm'))
    } finally {
      await raw.stop()
    }
  })

  it('pins a name on the user\'s word with trust, and unpins it with forget', async () => {
    const v = await TestNode.start({ name: 'fake.dev' })
    const [holder, claimer] = [await RawPeer.start(), await RawPeer.start()]
    try {
      const trusted = await v.run('trust', 'fake3.dev', holder.peerId)
      assert.equal(trusted.stdout, `fake3.dev is now pinned to ${holder.peerId}\n`)
      assert.match((await v.run('names')).stdout, new RegExp(`^fake3.dev +${holder.peerId} +SHA256:\\S+ +trusted by you +[\\d-]+ [\\d:]+$`, 'm'))
      assert.equal((await announceAll(claimer, v, [await claimer.record('fake3.dev')])).kept, 0, 'a first-hand claim does not take a name the user pinned')
      assert.equal((await announceAll(holder, v, [await holder.record('fake3.dev')])).kept, 1, 'the pinned key\'s own record is taken, with its addresses')
      assert.match((await v.run('names')).stdout, /^fake3.dev .* trusted by you /m)

      assert.equal((await v.run('forget', 'fake3.dev')).stdout, `forgot fake3.dev (it was pinned to ${holder.peerId})\n`)
      assert.equal((await announceAll(claimer, v, [await claimer.record('fake3.dev')])).kept, 1, 'after forget the next claim is a first one')
      assert.ok(knows(await v.status(), 'fake3.dev', claimer.peerId))

      for (const [argv, stderr] of [
        [['trust', 'Bad Name', holder.peerId], 'hwd: not a node name: "Bad Name"\n'],
        [['trust', 'fake.dev', holder.peerId], 'hwd: fake.dev is this node\'s own name\n'],
        [['trust', 'x.dev', 'not-a-peer-id'], 'hwd: not a peer id: "not-a-peer-id"\n'],
        [['forget', 'nobody.dev'], 'hwd: unknown node "nobody.dev"\n']
      ] as Array<[string[], string]>) {
        const r = await v.run(...argv)
        assert.equal(r.code, 1, argv.join(' '))
        assert.equal(r.stderr, stderr)
      }
    } finally {
      await Promise.all([holder.stop(), claimer.stop()])
    }
  })
})
