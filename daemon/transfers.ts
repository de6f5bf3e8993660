import type { Progress } from './commands.ts'

export interface TransferInfo extends Progress {
  peer: string
  direction: 'download' | 'upload'
  startedAt: number
}

/** The transfers running on this node, for `transfers` and `hwd status`. */
export class TransferTable {
  private readonly running = new Map<string, TransferInfo>()

  begin (info: TransferInfo): void {
    this.running.set(info.id, info)
  }

  update (id: string, done: number, total?: number): void {
    const info = this.running.get(id)
    if (info == null) return
    info.done = done
    if (total != null) info.total = total
  }

  end (id: string): void {
    this.running.delete(id)
  }

  list (): TransferInfo[] {
    return [...this.running.values()].sort((a, b) => a.startedAt - b.startedAt)
  }
}
