import '../daemon/polyfill.ts'
/**
 * Sandbox benchmark: what running a package in its own process costs a user's download.
 *
 * Two daemons on 127.0.0.1, each loading the package `hwd new` scaffolds (sandboxed, in a process
 * of its own). fake2.dev offers the same 20 files of 8 MiB in the package's drive and in
 * `file-transfer:template.os`'s. Each round, alternately, fake.dev fetches all 20:
 *  - sandboxed: `fetch-all:bench:me.os fake2.dev`, the package asking the daemon for the
 *    downloads over its channel (4 at a time, as the scaffold does);
 *  - in the daemon: the same 20 `download:file-transfer:template.os` commands, 4 at a time.
 * It prints each round's milliseconds, the median ratio in-daemon / sandboxed (goal ≥ 0.9), and
 * the resident memory of each package process (now and its peak).
 *
 * Run: npx tsc -p . && node dist/scripts/bench-sandbox.js [--rounds N]
 */
import { copyFile, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { performance } from 'node:perf_hooks'
import { request } from '../daemon/control-client.ts'
import { scaffold } from '../daemon/scaffold.ts'
import { homePaths } from '../storage/home.ts'
import { Drive } from '../storage/vfs.ts'
import { TestNode } from '../test/helpers.ts'
import { runInTempDir, wholeNumber } from './bench/cli.ts'
import { startPair, stopCleanly } from './bench/daemons.ts'
import { checkCopy, makeRandomFile, type SourceFile } from './bench/files.ts'
import { readMemory } from './bench/memory.ts'
import { median } from './bench/stats.ts'

const FILES = 20
const FILE_BYTES = 8 * 1024 * 1024
const PARALLEL = 4
const PKG = 'bench:me.os'
const BUILTIN = 'file-transfer:template.os'

async function command (node: TestNode, argv: string[]): Promise<void> {
  await request(node.socket, node.home, { op: 'run', argv }, { line: () => {}, progress: () => {} })
}

async function drive (node: TestNode, id: string): Promise<Drive> {
  return await Drive.open(homePaths(node.home).vfs, id)
}

async function timed (fn: () => Promise<void>): Promise<number> {
  const start = performance.now()
  await fn()
  return performance.now() - start
}

process.exitCode = await runInTempDir('bench-sandbox', () => {
  const { values } = parseArgs({ options: { rounds: { type: 'string', default: '5' } } })
  return { rounds: wholeNumber('rounds', values.rounds) }
}, async (dir, { rounds }) => {
  const pkg = await scaffold('bench', 'me.os', dir)
  const { receiver, sender } = await startPair(dir, undefined, ['--package', pkg])
  // each drive's folder, opened once
  const root = {
    sender: { [PKG]: (await drive(sender, PKG)).root, [BUILTIN]: (await drive(sender, BUILTIN)).root },
    receiver: { [PKG]: (await drive(receiver, PKG)).root, [BUILTIN]: (await drive(receiver, BUILTIN)).root }
  }
  const names = Array.from({ length: FILES }, (_, i) => `f${String(i).padStart(2, '0')}.bin`)
  const sources: SourceFile[] = []
  for (const name of names) {
    const src = await makeRandomFile(join(root.sender[PKG], name), FILE_BYTES)
    await copyFile(src.path, join(root.sender[BUILTIN], name))
    sources.push(src)
  }
  const clear = async (id: keyof typeof root.receiver): Promise<void> => {
    for (const name of names) await rm(join(root.receiver[id], name), { force: true })
  }
  const sandboxed = async (): Promise<number> => {
    await clear(PKG)
    return await timed(async () => { await command(receiver, [`fetch-all:${PKG}`, 'fake2.dev']) })
  }
  const inDaemon = async (): Promise<number> => {
    await clear(BUILTIN)
    let next = 0
    return await timed(async () => {
      await Promise.all(Array.from({ length: PARALLEL }, async () => {
        while (next < names.length) await command(receiver, [`download:${BUILTIN}`, names[next++], 'fake2.dev'])
      }))
    })
  }
  const ratios: number[] = []
  for (let round = 1; round <= rounds; round++) {
    // alternated, so that neither side always runs on a warmer machine
    let a: number, b: number
    if (round % 2 === 1) { a = await inDaemon(); b = await sandboxed() } else { b = await sandboxed(); a = await inDaemon() }
    ratios.push(a / b)
    console.log(`round ${round}: in the daemon ${a.toFixed(0)} ms, sandboxed ${b.toFixed(0)} ms, ratio ${(a / b).toFixed(3)}`)
  }
  for (const [i, src] of sources.entries()) {
    await checkCopy(join(root.receiver[PKG], names[i]), src)
    await checkCopy(join(root.receiver[BUILTIN], names[i]), src)
  }
  console.log(`median ratio in-daemon / sandboxed: ${median(ratios).toFixed(3)} (goal ≥ 0.9); ${FILES} files of ${FILE_BYTES / 1024 / 1024} MiB, ${rounds} rounds, every copy checked`)
  for (const node of [receiver, sender]) {
    let listing = ''
    await request(node.socket, node.home, { op: 'run', argv: ['packages'] }, { line: t => { listing += t + '\n' }, progress: () => {} })
    for (const m of listing.matchAll(/^(\S+) .*\(pid (\d+)\)/gm)) {
      const mem = await readMemory(Number(m[2]))
      console.log(`${node.name} package process ${m[1]}: RSS ${(mem.rss / 2 ** 20).toFixed(1)} MiB, peak ${(mem.hwm / 2 ** 20).toFixed(1)} MiB`)
    }
  }
  await stopCleanly(receiver)
  await stopCleanly(sender)
})
