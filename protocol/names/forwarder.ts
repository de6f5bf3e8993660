import type { PeerId } from '@libp2p/interface'
import { FORWARD_INTERVAL_MS, MAX_FORWARD_QUEUE, MAX_RECORDS } from './constants.ts'
import type { NameRecord } from './pb/names.ts'

interface Waiting { record: NameRecord, from: string }

/**
 * Passes records this node took on to its other peers, paced: at most MAX_RECORDS per
 * FORWARD_INTERVAL_MS, one announcement per peer at a time, the newest record of a name only.
 * What a flood can make this node send is bounded by what the quotas let it keep.
 */
export class Forwarder {
  private readonly queue = new Map<string, Waiting>()
  private timer?: NodeJS.Timeout
  private sending = false

  constructor (
    private readonly peers: () => PeerId[],
    private readonly send: (peer: PeerId, records: NameRecord[]) => Promise<void>
  ) {}

  start (): void {
    this.timer = setInterval(() => { void this.tick() }, FORWARD_INTERVAL_MS)
    this.timer.unref()
  }

  stop (): void {
    clearInterval(this.timer)
    this.queue.clear()
  }

  /** Pass `record`, taken from `from`, on to every other peer soon. */
  add (record: NameRecord, from: PeerId): void {
    this.queue.delete(record.name)
    this.queue.set(record.name, { record, from: from.toString() })
    if (this.queue.size > MAX_FORWARD_QUEUE) this.queue.delete(this.queue.keys().next().value!)
  }

  private async tick (): Promise<void> {
    if (this.sending || this.queue.size === 0) return
    const batch = [...this.queue.values()].slice(0, MAX_RECORDS)
    for (const { record } of batch) this.queue.delete(record.name)
    this.sending = true
    try {
      await Promise.all(this.peers().map(async peer => {
        const records = batch.filter(w => w.from !== peer.toString()).map(w => w.record)
        if (records.length > 0) await this.send(peer, records)
      }))
    } finally {
      this.sending = false
    }
  }
}
