import { HwdError } from '../errors.ts'
import type { Progress } from './commands.ts'

export interface TransferInfo extends Progress {
  /** the package whose drive the file is read from or written into */
  drive: string
  peer: string
  direction: 'download' | 'upload'
  startedAt: number
}

export class CancelledError extends HwdError {
  static name = 'CancelledError'
  name = 'CancelledError'
}

/** The transfers running on this node, for `transfers`, `cancel` and `hwd status`. */
export class TransferTable {
  private readonly running = new Map<string, { info: TransferInfo, cancel: (err: CancelledError) => void, cancelled: boolean }>()

  /**
   * `cancel` stops the transfer's worker; it is called at most once, by `cancel`. The transfer
   * stays in the table until its worker calls `end`, done cleaning up: so no other transfer
   * takes its file meanwhile.
   */
  begin (info: TransferInfo, cancel: (err: CancelledError) => void): void {
    this.running.set(info.id, { info, cancel, cancelled: false })
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
    if (entry != null) entry.cancelled = true
  }

  /** Whether `label` is being moved in that direction in that drive. */
  has (direction: TransferInfo['direction'], drive: string, label: string): boolean {
    return [...this.running.values()].some(({ info }) => info.direction === direction && info.drive === drive && info.label === label)
  }

  end (id: string): void {
    this.running.delete(id)
  }

  list (): TransferInfo[] {
    return [...this.running.values()].map(e => ({ ...e.info })).sort((a, b) => a.startedAt - b.startedAt)
  }

  /** Cancel the transfers with this id, or of this file; returns what was cancelled. */
  cancel (idOrFile: string): TransferInfo[] {
    const hits = [...this.running.values()].filter(e => !e.cancelled && (e.info.id === idOrFile || e.info.label === idOrFile))
    for (const e of hits) {
      e.cancelled = true
      e.cancel(new CancelledError(`${e.info.label}: cancelled`))
    }
    return hits.map(e => e.info)
  }
}
