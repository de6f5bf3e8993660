import '../daemon/polyfill.ts'
/**
 * Compare this build's downloads with another build's: a daemon pair of each, on 127.0.0.1,
 * downloading the same file in turns. What one build changes in speed is often smaller than
 * how much the machine drifts from one minute to the next, so the two pairs alternate, round
 * by round (which goes first swaps each round), and each round's ratio compares downloads made
 * seconds apart. Each round: a new version of the file (its times touched), a first download
 * from each pair (the sender hashes the file as it sends it), then another of the same version
 * from each (its hash known). Both pairs stay up throughout, idle while the other runs.
 *
 * Reported: each download's MB/s and the processor time both its daemons used, in s/GB; then
 * per kind the medians, and this build's speed over the other's, round by round and its
 * median. MB = 1e6 bytes. Every download is checked against the source, outside the timing.
 *
 * The other build: a checkout of another revision, installed and built, such as
 *   git worktree add ../hwd-base REV && (cd ../hwd-base && npm ci)
 * Run: npx tsc -p . && node dist/scripts/bench-compare.js --base ../hwd-base [--size MiB] [--rounds N]
 *      (defaults: 1024 MiB, 6 rounds)
 */
import { access, link, utimes } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { parseArgs } from 'node:util'
import { RACY_MS } from '../packages/file-transfer/upload.ts'
import type { TestNode } from '../test/helpers.ts'
import { drivePath, removeDownloaded, startPair, stopCleanly, timedDownload } from './bench/daemons.ts'
import { makeRandomFile, type SourceFile } from './bench/files.ts'
import { runInTempDir, wholeNumber } from './bench/cli.ts'
import { mbps, median } from './bench/stats.ts'

const FILE = 'big.bin'
const MIB = 1024 * 1024
const KINDS = ['first', 'again'] as const

interface Download {
  mbps: number
  cpuPerGb: number
}

interface Build {
  label: string
  receiver: TestNode
  sender: TestNode
  downloads: Record<typeof KINDS[number], Download[]>
}

interface Options {
  /** the other build's CLI */
  baseCli: string
  size: number
  rounds: number
}

async function optionsFromArgs (): Promise<Options> {
  const { values } = parseArgs({ options: { base: { type: 'string' }, size: { type: 'string' }, rounds: { type: 'string' } } })
  if (values.base == null) throw new Error('--base DIR names the other build: a checkout with `npm ci` done in it')
  const baseCli = join(resolve(values.base), 'dist', 'daemon', 'cli.js')
  await access(baseCli).catch(() => { throw new Error(`${baseCli} is missing: run npm ci in ${values.base}`) })
  return { baseCli, size: wholeNumber('size', values.size ?? '1024') * MIB, rounds: wholeNumber('rounds', values.rounds ?? '6') }
}

async function startBuild (label: string, dir: string, src: SourceFile, cli?: string): Promise<Build> {
  const { receiver, sender } = await startPair(join(dir, label), cli)
  // a hard link shares the source's inode: both senders serve one file, one version at a time
  await link(src.path, await drivePath(sender.home, FILE))
  return { label, receiver, sender, downloads: { first: [], again: [] } }
}

async function download (build: Build, kind: typeof KINDS[number], src: SourceFile): Promise<void> {
  const { ms, cpuSeconds } = await timedDownload(build.receiver, build.sender, FILE)
  await removeDownloaded(build.receiver, FILE, src)
  const d = { mbps: mbps(src.size, ms), cpuPerGb: cpuSeconds / (src.size / 1e9) }
  build.downloads[kind].push(d)
  console.log(`${build.label.padEnd(4)} ${kind.padEnd(5)} ${d.mbps.toFixed(1).padStart(7)} MB/s, CPU ${d.cpuPerGb.toFixed(2)} s/GB`)
}

function summarize (base: Build, ours: Build): void {
  console.log()
  for (const kind of KINDS) {
    const figures = (b: Build): string => `${median(b.downloads[kind].map(d => d.mbps)).toFixed(1)} MB/s, ${median(b.downloads[kind].map(d => d.cpuPerGb)).toFixed(2)} s/GB`
    const ratios = ours.downloads[kind].map((d, i) => d.mbps / base.downloads[kind][i].mbps)
    console.log(`${kind}: this ${figures(ours)}; base ${figures(base)}; this / base = ${median(ratios).toFixed(3)} (rounds: ${ratios.map(r => r.toFixed(3)).join(', ')})`)
  }
}

async function bench (dir: string, { baseCli, size, rounds }: Options): Promise<void> {
  console.log(`making a random file of ${size} bytes (${size / MIB} MiB) in ${dir}`)
  const src = await makeRandomFile(join(dir, 'source.bin'), size)
  const builds = [await startBuild('base', dir, src, baseCli), await startBuild('this', dir, src)]
  try {
    for (let round = 1; round <= rounds; round++) {
      console.log(`round ${round} of ${rounds}`)
      const order = round % 2 === 1 ? builds : [...builds].reverse()
      // a new version, hashed as it is sent once it is older than a file system's time granule
      await utimes(src.path, new Date(), new Date())
      await sleep(RACY_MS)
      for (const kind of KINDS) {
        for (const build of order) await download(build, kind, src)
      }
    }
    summarize(builds[0], builds[1])
  } finally {
    await Promise.all(builds.flatMap(b => [b.receiver, b.sender]).map(stopCleanly))
  }
}

process.exitCode = await runInTempDir('bench-compare', optionsFromArgs, bench)
