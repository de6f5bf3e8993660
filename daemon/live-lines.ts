import { printable } from '../errors.ts'
import type { Progress } from './commands.ts'
import { formatBytes } from './format.ts'
import { RateMeter } from './rate.ts'

/** Running jobs are redrawn at most this often: often enough to look live, rarely enough to cost nothing. */
const REDRAW_MS = 200
const BAR_CELLS = 20

interface Job {
  label: string
  done: number
  total?: number
  meter: RateMeter
}

/**
 * Lines at the foot of a terminal that update in place, one per running job (name, bar,
 * percent, MB/s, time left), with lines that stay printed above them. When a job ends its last
 * state stays as a line, so what follows it (a download's summary) comes after it.
 *
 * `after` runs after each redraw, for a prompt that must come back below the jobs.
 */
export class LiveLines {
  private readonly jobs = new Map<string, Job>()
  /** how many job lines stand at the foot now */
  private drawn = 0
  private timer?: NodeJS.Timeout

  constructor (private readonly stream: NodeJS.WriteStream, private readonly after: () => void = () => {}) {}

  /** A line that stays. Lines carry what peers said: control characters are shown escaped. */
  print (text: string): void {
    this.paint([printable(text)])
  }

  update (update: Progress): void {
    let job = this.jobs.get(update.id)
    if (job == null) {
      job = { label: printable(update.label), done: 0, meter: new RateMeter() }
      this.jobs.set(update.id, job)
    }
    job.done = update.done
    job.total = update.total
    job.meter.update(update.done)
    if (job.total != null && job.done >= job.total) this.end([update.id])
    else this.timer ??= setTimeout(() => { this.timer = undefined; this.paint([]) }, REDRAW_MS)
  }

  /** Jobs that ended: their last state stays as a line. */
  end (ids: Iterable<string>): void {
    const ended: string[] = []
    for (const id of ids) {
      const job = this.jobs.get(id)
      if (job == null) continue
      ended.push(this.render(job))
      this.jobs.delete(id)
    }
    if (ended.length > 0) this.paint(ended)
  }

  stop (): void {
    clearTimeout(this.timer)
    this.timer = undefined
  }

  /** Clear the job lines (and a prompt below them), print `above`, then the job lines again. */
  private paint (above: string[]): void {
    let out = '\r\x1b[K' + '\x1b[1A\x1b[K'.repeat(this.drawn)
    for (const line of above) out += line + '\n'
    const lines = [...this.jobs.values()].map(job => this.render(job))
    for (const line of lines) out += line + '\n'
    this.drawn = lines.length
    this.stream.write(out)
    this.after()
  }

  /** `my_file.txt [########------------] 42% 1.2 GiB / 3.0 GiB, 118.3 MB/s, 0:42 left`, cut to the width */
  private render (job: Job): string {
    let amount = formatBytes(job.done)
    if (job.total != null) {
      const share = Math.min(job.done / Math.max(job.total, 1), 1)
      const filled = Math.round(share * BAR_CELLS)
      amount = `[${'#'.repeat(filled)}${'-'.repeat(BAR_CELLS - filled)}] ${Math.floor(share * 100)}% ${amount} / ${formatBytes(job.total)}`
    }
    const rate = job.meter.describe(job.total)
    const line = `${job.label} ${amount}${rate === '' ? '' : `, ${rate}`}`
    // a line that wraps would throw off the count of lines to clear
    const columns = this.stream.columns > 0 ? this.stream.columns : 80 // a terminal that gives no size
    return line.slice(0, Math.max(columns - 1, 20))
  }
}
