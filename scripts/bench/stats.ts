/** Figures the benchmarks share: percentiles, MB, a file's SHA-256, a process's CPU time. */
import { execFileSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { pipeline } from 'node:stream/promises'

export function ascending (values: number[]): number[] {
  return [...values].sort((a, b) => a - b)
}

/** Nearest-rank percentile of an ascending list; NaN for an empty one. */
export function percentile (sorted: number[], p: number): number {
  return sorted.length === 0 ? NaN : sorted[Math.max(0, Math.ceil(p / 100 * sorted.length) - 1)]
}

/** The middle value, or the mean of the two middle values of an even count. */
export function median (values: number[]): number {
  const sorted = ascending(values)
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
}

/** Megabytes (1e6 bytes) per second. */
export function mbps (bytes: number, ms: number): number {
  return bytes / 1e6 / (ms / 1000)
}

/** MB = 1e6 bytes. */
export function mb (bytes: number): string {
  return `${(bytes / 1e6).toFixed(1)} MB`
}

export async function sha256File (path: string): Promise<string> {
  const hash = createHash('sha256')
  await pipeline(createReadStream(path, { highWaterMark: 1024 * 1024 }), hash)
  return hash.digest('hex')
}

/** Clock ticks per second, the unit of /proc/<pid>/stat's times. */
const TICKS_PER_SECOND = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }))

/** User and system time some processes have used in all, in seconds: fields 14 and 15 of /proc/<pid>/stat. */
export async function cpuSeconds (pids: number[]): Promise<number> {
  const each = await Promise.all(pids.map(async pid => {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8')
    // the command name, in parentheses, may hold spaces: count fields after it
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND
  }))
  return each.reduce((a, b) => a + b, 0)
}
