import '../daemon/polyfill.ts'
/**
 * A relay's slots against nodes that leave and a host that takes many (daemon/relay-slots.ts):
 * with `--relay-reservations-per-ip 1`, a second node at the same address as a holder is
 * refused a slot, in one line on the relay's terminal; a holder killed outright frees its slot
 * at once, and the next node takes it. With `--relay-reservation-ttl 60`, a holder renews its
 * slot before it ends and keeps it past its first expiry. The nodes are bare libp2p processes
 * (flood-target.ts), all at 127.0.0.1.
 */
import assert from 'node:assert/strict'
import { after, describe, it } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { eventually, stopAll, TestNode } from './helpers.ts'
import { Holder, killHolders } from './relay-holder.ts'

async function held (relay: TestNode): Promise<string[]> {
  return (await relay.status()).slots?.held.map(s => s.peerId) ?? []
}

/** When `peerId`'s slot on `relay` expires unless renewed, in ms since the epoch; NaN if it holds none. */
async function expiry (relay: TestNode, peerId: string): Promise<number> {
  return Date.parse((await relay.status()).slots?.held.find(s => s.peerId === peerId)?.expires ?? '')
}

describe('a relay\'s slots', () => {
  after(async () => {
    await killHolders()
    await stopAll()
  })

  it('one slot per address refuses a second node there in one line; a killed holder\'s slot is free at once', async () => {
    const relay = await TestNode.start({ name: 'r.dev', extra: ['--relay', '--relay-reservations-per-ip', '1'] })
    const first = new Holder(relay)
    const firstId = await first.peerId()
    assert.match(await first.relayed(), new RegExp(`/p2p/${relay.peerId}/p2p-circuit/p2p/${firstId}$`))
    assert.deepEqual(await held(relay), [firstId])

    const second = new Holder(relay)
    const secondId = await second.peerId()
    await relay.waitForOutput(new RegExp(`^refused a relay slot to ${secondId} \\(127\\.0\\.0\\.1\\): 1 slot is held from that address$`, 'm'), 15_000)
    assert.equal(relay.output.match(new RegExp(`^refused a relay slot to ${secondId} \\(`, 'mg'))?.length, 1, 'one line for the refusal')
    assert.deepEqual(await held(relay), [firstId], 'the second node holds no slot')
    assert.doesNotMatch(second.output, /^relayed/m)
    await second.kill()

    await first.kill()
    await eventually('the killed holder\'s slot freed', async () => (await held(relay)).length === 0)
    const third = new Holder(relay)
    const thirdId = await third.peerId()
    await third.relayed()
    assert.deepEqual(await held(relay), [thirdId])
    assert.doesNotMatch(relay.output, new RegExp(`^refused a relay slot to ${thirdId}`, 'm'), 'the third node was not refused')
  })

  it('a slot that lasts a minute is renewed before it ends, and held past its first expiry', async () => {
    const relay = await TestNode.start({ name: 'r.dev', extra: ['--relay', '--relay-reservation-ttl', '60'] })
    const holder = new Holder(relay)
    const id = await holder.peerId()
    await holder.relayed()
    const first = await expiry(relay, id)
    assert.ok(first - Date.now() > 50_000 && first - Date.now() <= 60_000, `expires in ${first - Date.now()} ms`)
    // libp2p's nodes renew a short slot 30 s after they took or last renewed it
    const renewed = await eventually('the slot renewed', async () => {
      const now = await expiry(relay, id)
      return now > first ? now : undefined
    }, 45_000)
    assert.ok(renewed - first >= 20_000, `renewed to ${renewed - first} ms past the first expiry`)
    // the property is about time itself: the slot must outlive its first expiry
    await sleep(first - Date.now() + 1_000)
    assert.deepEqual(await held(relay), [id], 'still held after the first expiry')
    assert.doesNotMatch(relay.output, /^refused /m, 'the renewal was not refused')
  })
})
