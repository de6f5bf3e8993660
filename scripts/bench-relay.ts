import '../daemon/polyfill.ts'
/**
 * Relay benchmark, over scripts/nat.sh's topology (root, iproute2, iptables): fake.dev behind
 * one NAT downloads from fake2.dev behind the other, through r.dev (`--relay`), against a plain
 * TCP copy between the relay's namespace and fake.dev's in the same run, the path every
 * relayed byte takes its last hop on. Between them, fake.dev downloads the same file from r.dev
 * itself, directly: hwd's cost on that path without the relay in the middle.
 *
 * A relayed byte crosses two TCP connections and is encrypted twice, once for each hop
 * (Noise between fake2.dev and r.dev, and between r.dev and fake.dev) and once end to end
 * (Noise between fake2.dev and fake.dev, over a Yamux stream of each hop), three processes
 * sharing the machine's cores. Goal: through the relay ≥ 0.5 × the TCP copy.
 *
 * Each round: tcp, hwd direct, hwd relayed; ratios against the TCP copy of the same round; the
 * medians are reported. Every copy goes file to file and ends with the destination's fsync;
 * each download is checked against the source's SHA-256 outside the timing.
 *
 * Run: npx tsc -p . && node dist/scripts/bench-relay.js [--size MiB] [--rounds N]
 *      (defaults: 256 MiB, 3 rounds)
 */
import { spawn } from 'node:child_process'
import { link, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { eventually, stopAll, type TestNode } from '../test/helpers.ts'
import { cannotBuildNat, NatTopology, RELAY, reserved } from '../test/nat-topology.ts'
import { drivePath, DRIVE, removeDownloaded, timedDownload, waitUntilKnows } from './bench/daemons.ts'
import { checkSize, makeRandomFile, type SourceFile } from './bench/files.ts'
import { runInTempDir, wholeNumber } from './bench/cli.ts'
import { mbps, median } from './bench/stats.ts'

const FILE = 'big.bin'
const MIB = 1024 * 1024
const GOAL = 0.5
const TCP_PORT = 9000
const TCP_END = fileURLToPath(new URL('./bench/tcp-end.js', import.meta.url))

interface Round { tcp: number, direct: number, relayed: number }

/** Run tcp-end.ts in a namespace; resolves to the words of the line starting with `word`. */
function tcpEnd (nat: NatTopology, host: 'relay' | 'n1', args: string[], word: string): { line: Promise<string[]>, exited: Promise<void> } {
  const [command, ...rest] = [...nat.in(host), process.execPath, TCP_END, ...args]
  const proc = spawn(command, rest, { stdio: ['ignore', 'pipe', 'inherit'] })
  const line = new Promise<string[]>((resolve, reject) => {
    createInterface({ input: proc.stdout }).on('line', l => { if (l.startsWith(word)) resolve(l.split(' ').slice(1)) })
    proc.once('exit', code => { reject(new Error(`tcp-end ${args[0]} exited with ${code} before ${word}`)) })
  })
  const exited = new Promise<void>((resolve, reject) => proc.once('exit', code => { code === 0 ? resolve() : reject(new Error(`tcp-end ${args[0]} exited with ${code}`)) }))
  return { line, exited }
}

async function tcpCopy (nat: NatTopology, src: SourceFile, dir: string): Promise<number> {
  const dst = join(dir, 'tcp-copy.bin')
  const server = tcpEnd(nat, 'relay', ['serve', src.path, RELAY, String(TCP_PORT)], 'listening')
  await server.line
  const [bytes, ms] = await tcpEnd(nat, 'n1', ['fetch', RELAY, String(TCP_PORT), dst], 'done').line
  await server.exited
  await checkSize(dst, src.size)
  await rm(dst)
  if (Number(bytes) !== src.size) throw new Error(`tcp copied ${bytes} of ${src.size} bytes`)
  return mbps(src.size, Number(ms))
}

async function download (receiver: TestNode, sender: TestNode, src: SourceFile): Promise<number> {
  const { ms, reply } = await timedDownload(receiver, sender, FILE)
  await removeDownloaded(receiver, FILE, src)
  console.log(`  ${sender.name}: ${reply}`)
  return mbps(src.size, ms)
}

async function bench (dir: string, options: { size: number, rounds: number }): Promise<void> {
  const skip = cannotBuildNat()
  if (skip != null) throw new Error(skip)
  const nat = new NatTopology(`bnr${process.pid % 10000}`)
  nat.up()
  try {
    const relay = await nat.start('relay', 'r.dev', { home: join(dir, 'relay') })
    const receiver = await nat.start('n1', 'fake.dev', { home: join(dir, 'n1') })
    const sender = await nat.start('n2', 'fake2.dev', { home: join(dir, 'n2') })
    await eventually('both NAT\'d nodes reserved on the relay', async () => await reserved(receiver) && await reserved(sender), 30_000)
    await waitUntilKnows(receiver, 'fake2.dev')
    await waitUntilKnows(receiver, 'r.dev')
    const src = await makeRandomFile(join(dir, 'source.bin'), options.size)
    for (const node of [relay, sender]) await link(src.path, await drivePath(node.home, FILE))
    console.log(`${options.size / MIB} MiB, ${options.rounds} rounds; fake.dev (behind a NAT) receives; drive ${DRIVE}`)
    const rounds: Round[] = []
    for (let i = 1; i <= options.rounds; i++) {
      const tcp = await tcpCopy(nat, src, dir)
      console.log(`round ${i}: tcp relay→fake.dev ${tcp.toFixed(1)} MB/s`)
      const direct = await download(receiver, relay, src)
      const relayed = await download(receiver, sender, src)
      console.log(`round ${i}: hwd direct from r.dev ${direct.toFixed(1)} MB/s (${(direct / tcp).toFixed(3)} of tcp), relayed from fake2.dev ${relayed.toFixed(1)} MB/s (${(relayed / tcp).toFixed(3)} of tcp)`)
      rounds.push({ tcp, direct, relayed })
    }
    const ratio = (of: (r: Round) => number): number => median(rounds.map(r => of(r) / r.tcp))
    const relayed = ratio(r => r.relayed)
    console.log()
    console.log(`median MB/s: tcp ${median(rounds.map(r => r.tcp)).toFixed(1)}, hwd direct ${median(rounds.map(r => r.direct)).toFixed(1)}, hwd relayed ${median(rounds.map(r => r.relayed)).toFixed(1)}`)
    console.log(`median ratios to tcp: direct ${ratio(r => r.direct).toFixed(3)}, relayed ${relayed.toFixed(3)} (goal ≥ ${GOAL}: ${relayed >= GOAL ? 'met' : 'MISSED'})`)
    console.log(`relayed / direct: ${ratio(r => r.relayed / r.direct * r.tcp).toFixed(3)}`)
  } finally {
    await stopAll()
    nat.down()
  }
}

const code = await runInTempDir('bench-relay', () => {
  const { values } = parseArgs({ options: { size: { type: 'string' }, rounds: { type: 'string' } } })
  return { size: wholeNumber('size', values.size ?? '256') * MIB, rounds: wholeNumber('rounds', values.rounds ?? '3') }
}, bench)
process.exit(code)
