import { readFileSync } from 'node:fs'

/** How the CLI's first line starts node (tsc keeps it): `#!/usr/bin/env -S node FLAGS`, or no flags. */
const SHEBANG = /^#!\/usr\/bin\/env (?:-S )?node((?: \S+)*)$/

/**
 * The node flags the first line of a CLI file (a build's dist/daemon/cli.js) starts it with, so
 * that a daemon spawned as `process.execPath FLAGS CLI` runs as `hwd` runs: that line is the
 * one place they are written. Another build's CLI, to compare with, brings its own.
 */
export function nodeFlagsOf (cli: string): string[] {
  const first = readFileSync(cli, 'utf8').split('\n', 1)[0]
  const match = SHEBANG.exec(first)
  if (match == null) throw new Error(`${cli} starts with ${JSON.stringify(first)}, not #!/usr/bin/env -S node FLAGS`)
  return match[1].split(' ').filter(flag => flag !== '')
}
