/** `1.5 MiB`: sizes as people read them. */
export function formatBytes (n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB']
  let i = 0
  let v = n
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++ }
  return i === 0 ? `${n} B` : `${v.toFixed(1)} ${units[i]}`
}

/** `1.5 MiB / 3.0 MiB (50%)`, or `connecting` while the total is not known yet. */
export function formatProgress (done: number, total?: number): string {
  return total == null ? 'connecting' : `${formatBytes(done)} / ${formatBytes(total)} (${Math.floor(done * 100 / Math.max(total, 1))}%)`
}

/** Rows of cells as aligned columns, the first row a header. */
export function table (rows: string[][]): string[] {
  const widths = rows[0].map((_, c) => Math.max(...rows.map(r => r[c].length)))
  return rows.map(r => r.map((cell, c) => c === r.length - 1 ? cell : cell.padEnd(widths[c])).join('  '))
}

/** A moment to the minute, in UTC, as the terminal shows times: `2026-12-06 07:38`. */
export function formatMinute (when: Date | string): string {
  return new Date(when).toISOString().slice(0, 16).replace('T', ' ')
}

/** How a node is reached (`Status.reachability`), in words: `hwd status`'s `reached` line, and the web page's. */
export const REACHED = {
  direct: 'directly',
  relayed: 'through relays (behind a NAT)',
  unreachable: 'not from outside (behind a NAT, and no relay holds a slot for it)',
  relay: 'directly; relaying for others'
} as const
