import { describeError, HwdError, printable } from '../errors.ts'
import type { Progress } from './commands.ts'

export interface TransferInfo extends Progress {
  /** the package whose drive the file is read from or written into */
  drive: string
  peer: string
  direction: 'download' | 'upload'
  startedAt: number
}

/** How a transfer ended, as its worker reported it: a download checked and saved, an upload all sent, cancelled, or failed. */
export type Outcome = 'done' | 'sent' | 'cancelled' | 'failed'

export interface EndedTransfer extends TransferInfo {
  outcome: Outcome
  /** why it failed or was cancelled: the worker's own one line, as the terminal prints it */
  error?: string
}

/** Transfers that ended are remembered this many at most, newest kept, for the web page. */
const RECENT = 20

export class CancelledError extends HwdError {
  static name = 'CancelledError'
  name = 'CancelledError'
}

/** The transfers running on this node, for `transfers`, `cancel` and `hwd status`. */
export class TransferTable {
  /** `settled`: cancelled already, or finishing; either way `cancel` passes it by */
  private readonly running = new Map<string, { info: TransferInfo, cancel: (err: CancelledError) => void, settled: boolean, cancelled: boolean }>()
  private readonly ended: EndedTransfer[] = []

  /**
   * `cancel` stops the transfer's worker; it is called at most once, by `cancel`. The transfer
   * stays in the table until its worker calls `end`, done cleaning up: so no other transfer
   * takes its file meanwhile.
   */
  begin (info: TransferInfo, cancel: (err: CancelledError) => void): void {
    this.running.set(info.id, { info, cancel, settled: false, cancelled: false })
  }

  /** `total` once it is known: a download learns it from the source's answer */
  update (id: string, done: number, total?: number): void {
    const entry = this.running.get(id)
    if (entry == null) return
    entry.info.done = done
    if (total != null) entry.info.total = total
  }

  /** From now on `cancel` passes this transfer by: it is finishing, and will end either way. */
  finishing (id: string): void {
    const entry = this.running.get(id)
    if (entry != null) entry.settled = true
  }

  /** Whether `label` is being moved in that direction in that drive. */
  has (direction: TransferInfo['direction'], drive: string, label: string): boolean {
    return [...this.running.values()].some(({ info }) => info.direction === direction && info.drive === drive && info.label === label)
  }

  /**
   * The worker is done: `error` is what it failed with (what its command prints), none if it
   * succeeded. Its last step (a rename, a flush) may fail after every byte moved: only the
   * worker knows how it ended.
   */
  end (id: string, error?: unknown): void {
    const entry = this.running.get(id)
    if (entry == null) return
    this.running.delete(id)
    const { info } = entry
    const outcome = entry.cancelled ? 'cancelled' : error != null ? 'failed' : info.direction === 'download' ? 'done' : 'sent'
    // a peer's words may be in it (a file name, a reason): escaped as the terminal shows them
    this.ended.push({ ...info, outcome, ...(error != null ? { error: printable(describeError(error)) } : {}) })
    if (this.ended.length > RECENT) this.ended.shift()
  }

  /** The transfers that ended last, oldest first, with how each ended. */
  recent (): EndedTransfer[] {
    return this.ended.map(t => ({ ...t }))
  }

  list (): TransferInfo[] {
    return [...this.running.values()].map(e => ({ ...e.info })).sort((a, b) => a.startedAt - b.startedAt)
  }

  /**
   * The running transfers `cancel` could stop that `idOrFile` names: the one with that id, or
   * else every one of that file (in any drive, either direction).
   */
  find (idOrFile: string): TransferInfo[] {
    const live = [...this.running.values()].filter(e => !e.settled)
    const byId = live.filter(e => e.info.id === idOrFile)
    return (byId.length > 0 ? byId : live.filter(e => e.info.label === idOrFile)).map(e => ({ ...e.info }))
  }

  /** Cancel the transfer with this id; false if it has ended, is finishing or was cancelled. */
  cancel (id: string): boolean {
    const entry = this.running.get(id)
    if (entry == null || entry.settled) return false
    entry.settled = true
    entry.cancelled = true
    entry.cancel(new CancelledError(`${entry.info.label}: cancelled`))
    return true
  }
}
