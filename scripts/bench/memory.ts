/** Resident memory of daemons during a benchmark, from /proc: sampled peaks and the kernel's own. */
import { readFile, writeFile } from 'node:fs/promises'

const MEMORY_SAMPLE_MS = 100

export interface Memory {
  before: number
  /** the highest of the samples */
  sampledPeak: number
  /** the kernel's peak since the watch began: it also catches spikes between samples */
  hwm: number
}

/** Kilobytes from a `/proc/<pid>/status` line such as `VmRSS:   81234 kB`, in bytes. */
function statusField (status: string, field: string): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(status)
  if (m == null) throw new Error(`no ${field} in /proc status`)
  return Number(m[1]) * 1024
}

export async function readMemory (pid: number): Promise<{ rss: number, hwm: number }> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8')
  return { rss: statusField(status, 'VmRSS'), hwm: statusField(status, 'VmHWM') }
}

/** The RSS of some processes from now until `stop`. */
export class MemoryWatch {
  private readonly peaks: number[]
  private readonly timer: NodeJS.Timeout
  private sampling: Promise<void> = Promise.resolve()
  private error: unknown

  private constructor (private readonly pids: number[], private readonly before: number[]) {
    this.peaks = [...before]
    this.timer = setInterval(() => {
      // Chained, so that `stop` can wait for the last one; an error is kept for `stop` to throw,
      // since a rejection nobody waits for would end this process.
      this.sampling = this.sampling.then(async () => { await this.sample() }).catch(err => { this.error ??= err })
    }, MEMORY_SAMPLE_MS)
    // A run that fails never calls `stop`: the timer must not keep this process alive then.
    this.timer.unref()
  }

  static async start (pids: number[]): Promise<MemoryWatch> {
    // Writing 5 to clear_refs resets VmHWM to the current RSS, so the VmHWM read in `stop` is the
    // peak of what is watched alone, not of the daemon's whole life.
    await Promise.all(pids.map(async pid => { await writeFile(`/proc/${pid}/clear_refs`, '5') }))
    const before = await Promise.all(pids.map(async pid => (await readMemory(pid)).rss))
    return new MemoryWatch(pids, before)
  }

  async stop (): Promise<Memory[]> {
    clearInterval(this.timer)
    await this.sampling
    if (this.error != null) throw this.error
    const end = await Promise.all(this.pids.map(readMemory))
    return end.map((m, i) => ({ before: this.before[i], sampledPeak: Math.max(this.peaks[i], m.rss), hwm: m.hwm }))
  }

  private async sample (): Promise<void> {
    const now = await Promise.all(this.pids.map(readMemory))
    now.forEach((m, i) => { this.peaks[i] = Math.max(this.peaks[i], m.rss) })
  }
}
