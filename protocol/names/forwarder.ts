import type { PeerId } from '@libp2p/interface'
import { FORWARD_INTERVAL_MS, MAX_FORWARD_QUEUE, MAX_RECORDS } from './constants.ts'
import type { NameRecord } from './pb/names.ts'

/** A record to pass on: to every peer but the one it came `from`, or, retried, to `to` only. */
interface Waiting { record: NameRecord, from: string, to?: string, tries: number }

/** Sends to a peer that failed (a cut, a busy peer's timeout) are retried this many times in all, a tick apart. */
const MAX_TRIES = 3

/**
 * Passes records this node took on to its other peers, paced: at most MAX_RECORDS per
 * FORWARD_INTERVAL_MS, one announcement per peer at a time, the newest record of a name only.
 * What a flood can make this node send is bounded by what the quotas let it keep. Records a
 * peer did not take (the announcement failed) wait for that peer again, behind the others.
 */
export class Forwarder {
  private readonly queue = new Map<string, Waiting>()
  private timer?: NodeJS.Timeout
  private sending = false

  constructor (
    private readonly peers: () => PeerId[],
    /** resolves to whether the peer took them */
    private readonly send: (peer: PeerId, records: NameRecord[]) => Promise<boolean>
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
    this.enqueue(record.name, { record, from: from.toString(), tries: 1 })
  }

  private enqueue (key: string, waiting: Waiting): void {
    this.queue.set(key, waiting)
    if (this.queue.size > MAX_FORWARD_QUEUE) this.queue.delete(this.queue.keys().next().value!)
  }

  private async tick (): Promise<void> {
    if (this.sending || this.queue.size === 0) return
    const batch = [...this.queue.entries()].slice(0, MAX_RECORDS)
    for (const [key] of batch) this.queue.delete(key)
    this.sending = true
    try {
      await Promise.all(this.peers().map(async peer => {
        const id = peer.toString()
        const waiting = batch.map(([, w]) => w).filter(w => w.from !== id && (w.to == null || w.to === id))
        if (waiting.length === 0 || await this.send(peer, waiting.map(w => w.record))) return
        // keyed apart from the name's own entry: a newer record of the name, which goes to every peer, does not replace it;
        // only into room left, so that retries for slow peers never push out records for the others
        for (const w of waiting) if (w.tries < MAX_TRIES && this.queue.size < MAX_FORWARD_QUEUE) this.queue.set(`${id}\n${w.record.name}`, { ...w, to: id, tries: w.tries + 1 })
      }))
    } finally {
      this.sending = false
    }
  }
}
