/** `1.5 MiB`: sizes as people read them. */
export function formatBytes (n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB']
  let i = 0
  let v = n
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++ }
  return i === 0 ? `${n} B` : `${v.toFixed(1)} ${units[i]}`
}

/**
 * Text from a peer, safe to put on a terminal: control characters (newlines that would forge
 * a line from someone else, escape sequences that move the cursor) are shown escaped.
 */
export function printable (text: string): string {
  return text.replace(/[\u0000-\u001f\u007f-\u009f]/g, c => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)
}

/** Rows of cells as aligned columns, the first row a header. */
export function table (rows: string[][]): string[] {
  const widths = rows[0].map((_, c) => Math.max(...rows.map(r => r[c].length)))
  return rows.map(r => r.map((cell, c) => c === r.length - 1 ? cell : cell.padEnd(widths[c])).join('  '))
}
