import { printable } from '../errors.ts'

/**
 * How long one peer's further refusals are counted before a line tells them: a peer retrying in
 * a loop costs its owner a line a window instead of hundreds a second, while the owner
 * still sees within seconds whether the refusals go on or have stopped.
 */
export const REFUSAL_WINDOW_MS = 10_000
/** Peers told apart at once; refusals of any further peer are counted together in one line. */
export const MAX_PEERS = 32
/** Further peers counted one by one; past this the line says "at least". */
const MAX_FOLDED = 4_096
/** Kinds of request a line names; past this it ends in "...". */
const MAX_KINDS = 6

/** Refusals counted in a window that began at `since`. */
interface Tally {
  since: number
  count: number
  kinds: Set<string>
  timer?: NodeJS.Timeout
  /** the peer's name (or id); none for the refusals of further peers, counted together */
  who?: string
  /** those further peers' ids */
  ids: Set<string>
}

/**
 * The terminal lines of refusals: a peer's first refusal in a line of its own, then at most one
 * line a window with the exact count of those that followed, while they go on. The names
 * protocol's Reports does not fit: it drops repeats uncounted, and its windows end only when the
 * peer speaks again, so there would be no moment to tell a count.
 */
export class RefusalLines {
  private readonly peers = new Map<string, Tally>()
  private folded?: Tally

  constructor (private readonly print: (text: string) => void, private readonly windowMs = REFUSAL_WINDOW_MS) {}

  /** Tell that `peer`, known as `who`, was refused `what` for `reason`. */
  tell (peer: string, who: string, what: string, reason: string): void {
    const tally = this.peers.get(peer)
    if (tally != null) {
      count(tally, what)
    } else if (this.peers.size < MAX_PEERS) {
      this.print(`refused ${printable(who)} (${printable(what)}): ${reason}`)
      this.peers.set(peer, this.open(who, () => this.peers.delete(peer)))
    } else {
      this.folded ??= this.open(undefined, () => { this.folded = undefined })
      if (this.folded.ids.size < MAX_FOLDED) this.folded.ids.add(peer)
      count(this.folded, what)
    }
  }

  /** Tell the counts not yet told, and keep no timer. */
  stop (): void {
    for (const tally of [...this.peers.values(), ...(this.folded != null ? [this.folded] : [])]) {
      clearTimeout(tally.timer)
      if (tally.count > 0) this.print(this.summary(tally))
    }
    this.peers.clear()
    this.folded = undefined
  }

  /**
   * A window that, when it ends, tells its count and opens the next; one that ends with nothing
   * counted is dropped, so the peer's next refusal is a first line again.
   */
  private open (who: string | undefined, drop: () => void): Tally {
    const tally: Tally = { who, since: 0, count: 0, kinds: new Set(), ids: new Set() }
    const start = (): void => {
      Object.assign(tally, { since: performance.now(), count: 0, kinds: new Set(), ids: new Set() })
      tally.timer = setTimeout(end, this.windowMs).unref()
    }
    const end = (): void => {
      if (tally.count === 0) { drop(); return }
      this.print(this.summary(tally))
      start()
    }
    start()
    return tally
  }

  private summary ({ since, count, kinds, who, ids }: Tally): string {
    const times = `${count === 1 ? 'time' : 'times'} in the last ${Math.max(1, Math.round((performance.now() - since) / 1000))} s`
    const what = [...kinds].slice(0, MAX_KINDS).map(printable).join(', ') + (kinds.size > MAX_KINDS ? ', ...' : '')
    if (who != null) return `refused ${printable(who)} ${count} more ${times} (${what})`
    const peers = `${ids.size >= MAX_FOLDED ? 'at least ' : ''}${ids.size} more ${ids.size === 1 ? 'peer' : 'peers'}`
    return `refused ${peers} ${count} ${times} (${what}), counted together past ${MAX_PEERS} refused peers at once`
  }
}

function count (tally: Tally, what: string): void {
  tally.count++
  if (tally.kinds.size <= MAX_KINDS) tally.kinds.add(what)
}
