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
 * What bounds a relay on this machine is measured in the same run. A plain TCP forwarder in the
 * relay's namespace copies fake2.dev's file to fake.dev: the kernel's work for two hops. Node's
 * ChaCha20-Poly1305, as noise uses it, seals and opens the file three times each: the six passes
 * of a relayed byte. Their processor seconds together, spread over every core, give the most any
 * relay that encrypts as libp2p does could reach here (`ceiling`), before streams, Yamux or
 * the file transfer's own work.
 *
 * Each round: tcp, forwarder, ceiling, hwd direct, hwd relayed; ratios against the TCP copy of
 * the same round; the medians are reported. Every copy goes file to file and ends with the
 * destination's fsync; each download is checked against the source's SHA-256 outside the timing.
 *
 * With `--delay MS`, each home's link to the public segment is a long one, MS each way
 * (bench/delay-line.py, since this kernel has no netem), and every link carries 9000-byte
 * frames so that the delay line keeps up: two homes far from their relay, as on the internet.
 * A byte through the relay then crosses both homes' links, the TCP copy only fake.dev's. What
 * bounds a download there is each connection's window over its round trip, not the processor:
 * this checks that a relayed stream's windows, end to end and on each hop, cover the longer
 * path.
 *
 * Run: npx tsc -p . && node dist/scripts/bench-relay.js [--size MiB] [--rounds N] [--delay MS]
 *      (defaults: 256 MiB, 3 rounds, no delay)
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto'
import { link, rm } from 'node:fs/promises'
import { availableParallelism } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { eventually, stopAll, type TestNode } from '../test/helpers.ts'
import { cannotBuildNat, NatTopology, RELAY, reserved } from '../test/nat-topology.ts'
import { drivePath, DRIVE, removeDownloaded, timedDownload, waitUntilKnows } from './bench/daemons.ts'
import { checkSize, makeRandomFile, type SourceFile } from './bench/files.ts'
import { runInTempDir, wholeNumber } from './bench/cli.ts'
import { cpuSeconds, mbps, median } from './bench/stats.ts'

const FILE = 'big.bin'
const MIB = 1024 * 1024
const GIB = 1024 * MIB
const GOAL = 0.5
const TCP_PORT = 9000
const TCP_END = fileURLToPath(new URL('./bench/tcp-end.js', import.meta.url))
/** Not compiled: tsc copies no .py to dist, so it is found beside the source. */
const DELAY_LINE = fileURLToPath(new URL('../../scripts/bench/delay-line.py', import.meta.url))
const JUMBO_MTU = 9000

interface Round { tcp: number, forwarded: number, ceiling: number, direct: number, relayed: number }

/** tcp-end.ts in a namespace: `line(word)` resolves to the words after `word` on the first line that starts with it. */
function tcpEnd (nat: NatTopology, host: 'relay' | 'n1' | 'n2', args: string[]): { line: (word: string) => Promise<string[]>, exited: Promise<void> } {
  const [command, ...rest] = [...nat.in(host), process.execPath, TCP_END, ...args]
  const proc = spawn(command, rest, { stdio: ['ignore', 'pipe', 'inherit'] })
  const lines: string[] = []
  const readline = createInterface({ input: proc.stdout })
  readline.on('line', l => { lines.push(l) })
  // on 'close', once its output is all read: 'exit' may come before its last line
  const exited = new Promise<void>((resolve, reject) => proc.once('close', code => { code === 0 ? resolve() : reject(new Error(`tcp-end ${args[0]} exited with ${code}`)) }))
  // a failure is reported by whichever wait meets it first; unawaited, it must not end the run before the clean-up
  exited.catch(() => {})
  const line = async (word: string): Promise<string[]> => await new Promise((resolve, reject) => {
    const match = (l: string): boolean => { if (!l.startsWith(`${word} `) && l !== word) return false; resolve(l.split(' ').slice(1)); return true }
    if (lines.some(match)) return
    readline.on('line', match)
    proc.once('close', code => { reject(new Error(`tcp-end ${args[0]} exited with ${code} before ${word}`)) })
  })
  return { line, exited }
}

async function tcpCopy (nat: NatTopology, src: SourceFile, dir: string): Promise<number> {
  const dst = join(dir, 'tcp-copy.bin')
  const server = tcpEnd(nat, 'relay', ['serve', src.path, RELAY, String(TCP_PORT)])
  await server.line('listening')
  const [bytes, ms] = await tcpEnd(nat, 'n1', ['fetch', RELAY, String(TCP_PORT), dst]).line('done')
  await server.exited
  await checkSize(dst, src.size)
  await rm(dst)
  if (Number(bytes) !== src.size) throw new Error(`tcp copied ${bytes} of ${src.size} bytes`)
  return mbps(src.size, Number(ms))
}

/**
 * The same copy from fake2.dev's namespace to fake.dev's through a plain TCP forwarder in the
 * relay's: its MB/s, and the processor seconds its three processes used for it.
 */
async function forwardedCopy (nat: NatTopology, src: SourceFile, dir: string): Promise<{ mbps: number, cpu: number }> {
  const dst = join(dir, 'tcp-forwarded.bin')
  const forwarder = tcpEnd(nat, 'relay', ['forward', RELAY, String(TCP_PORT), String(TCP_PORT + 1)])
  await forwarder.line('listening')
  const fetcher = tcpEnd(nat, 'n1', ['fetch', RELAY, String(TCP_PORT + 1), dst])
  const sender = tcpEnd(nat, 'n2', ['send', src.path, RELAY, String(TCP_PORT)])
  const [[bytes, ms, fetchCpu], [sendCpu], [forwardCpu]] = await Promise.all([fetcher.line('done'), sender.line('done'), forwarder.line('done')])
  await Promise.all([forwarder.exited, sender.exited, fetcher.exited])
  await checkSize(dst, src.size)
  await rm(dst)
  if (Number(bytes) !== src.size) throw new Error(`the forwarder copied ${bytes} of ${src.size} bytes`)
  return { mbps: mbps(src.size, Number(ms)), cpu: Number(fetchCpu) + Number(sendCpu) + Number(forwardCpu) }
}

/** A noise message's plaintext at most (65535 bytes, less the 16-byte tag). */
const NOISE_PLAINTEXT = 65519

/**
 * The processor seconds of a relayed byte's six ChaCha20-Poly1305 passes over `size` bytes, as
 * @chainsafe/libp2p-noise makes them with Node's cipher: one cipher a message, the message's
 * length as its associated data's plaintext length, the tag appended. One message's bytes are
 * sealed and opened over again, which keeps them in cache: a ceiling's cost, not a real one's.
 */
function cryptoSeconds (size: number): number {
  const key = randomBytes(32)
  const plaintext = randomBytes(NOISE_PLAINTEXT)
  const nonce = Buffer.alloc(12)
  const messages = Math.ceil(size / NOISE_PLAINTEXT)
  const started = process.cpuUsage()
  for (let pass = 0; pass < 3; pass++) {
    for (let n = 0; n < messages; n++) {
      nonce.writeUInt32LE(n, 4)
      const cipher = createCipheriv('chacha20-poly1305', key, nonce, { authTagLength: 16 })
      cipher.setAAD(Buffer.alloc(0), { plaintextLength: plaintext.byteLength })
      const sealed = Buffer.concat([cipher.update(plaintext), cipher.final(), cipher.getAuthTag()])
      const decipher = createDecipheriv('chacha20-poly1305', key, nonce, { authTagLength: 16 })
      decipher.setAAD(Buffer.alloc(0), { plaintextLength: plaintext.byteLength })
      decipher.setAuthTag(sealed.subarray(plaintext.byteLength))
      decipher.update(sealed.subarray(0, plaintext.byteLength))
      decipher.final()
    }
  }
  const { user, system } = process.cpuUsage(started)
  return (user + system) / 1e6
}

async function download (receiver: TestNode, sender: TestNode, src: SourceFile, relay: TestNode): Promise<{ mbps: number, cpu: number }> {
  const relayCpu = await cpuSeconds([relay.pid])
  const { ms, cpuSeconds: endsCpu, reply } = await timedDownload(receiver, sender, FILE)
  const cpu = endsCpu + (sender === relay ? 0 : await cpuSeconds([relay.pid]) - relayCpu)
  await removeDownloaded(receiver, FILE, src)
  console.log(`  ${sender.name}: ${reply}`)
  return { mbps: mbps(src.size, ms), cpu }
}

/** `ip` inside namespace `ns`, throwing with its words if it fails. */
function ip (ns: string, ...args: string[]): void {
  const r = spawnSync('ip', ['-n', ns, ...args], { encoding: 'utf8' })
  if (r.status !== 0) throw new Error(`ip -n ${ns} ${args.join(' ')}: ${r.stderr.trim()}`)
}

/**
 * Make each home router's link to the public segment (nat.sh's veth `wan`, bridged in the
 * switch) a delay line of `ms` each way, and every other link of the topology carry jumbo
 * frames. The delay lines run until `stop`.
 */
async function lengthenHomeLinks (nat: NatTopology, ms: number): Promise<{ stop: () => void }> {
  const ns = (name: string): string => `${nat.prefix}${name}`
  const lines: ChildProcess[] = []
  const stop = (): void => { for (const line of lines) line.kill() }
  try {
    for (const [host, side] of [['relay', 'eth0'], ['sw', 'r'], ['relay2', 'eth0'], ['sw', 'r2'], ['n1', 'eth0'], ['gw1', 'lan'], ['n2', 'eth0'], ['gw2', 'lan']]) ip(ns(host), 'link', 'set', side, 'mtu', String(JUMBO_MTU))
    for (const [i, wan] of [[1, '203.0.113.2/24'], [2, '203.0.113.3/24']] as const) {
      ip(ns(`gw${i}`), 'link', 'del', 'wan')
      const line = spawn('python3', [DELAY_LINE, ns('sw'), `${nat.prefix}l${i}`, ns(`gw${i}`), 'wan', String(ms), String(JUMBO_MTU)], { stdio: ['ignore', 'pipe', 'inherit'] })
      lines.push(line)
      await new Promise<void>((resolve, reject) => {
        createInterface({ input: line.stdout }).once('line', l => { l === 'ready' ? resolve() : reject(new Error(`delay line: ${l}`)) })
        line.once('exit', code => { reject(new Error(`delay line exited with ${code}`)) })
        line.once('error', reject)
      })
      ip(ns('sw'), 'link', 'set', `${nat.prefix}l${i}`, 'master', 'br0')
      ip(ns(`gw${i}`), 'addr', 'add', wan, 'dev', 'wan')
    }
  } catch (err) {
    stop()
    throw err
  }
  return { stop }
}

const perGiB = (seconds: number, size: number): string => (seconds / size * GIB).toFixed(2)

async function bench (dir: string, options: { size: number, rounds: number, delay: number }): Promise<void> {
  const skip = cannotBuildNat()
  if (skip != null) throw new Error(skip)
  const nat = new NatTopology(`bnr${process.pid % 10000}`)
  nat.up()
  let links: { stop: () => void } | undefined
  try {
    if (options.delay > 0) links = await lengthenHomeLinks(nat, options.delay)
    const relay = await nat.start('relay', 'r.dev', { home: join(dir, 'relay') })
    const receiver = await nat.start('n1', 'fake.dev', { home: join(dir, 'n1') })
    const sender = await nat.start('n2', 'fake2.dev', { home: join(dir, 'n2') })
    await eventually('both NAT\'d nodes reserved on the relay', async () => await reserved(receiver) && await reserved(sender), 30_000)
    await waitUntilKnows(receiver, 'fake2.dev')
    // the first record of a name may come before its relayed address does
    await eventually('fake.dev to reach fake2.dev through the relay', async () => (await receiver.run('ping', 'fake2.dev')).code === 0, 30_000)
    await waitUntilKnows(receiver, 'r.dev')
    const src = await makeRandomFile(join(dir, 'source.bin'), options.size)
    for (const node of [relay, sender]) await link(src.path, await drivePath(node.home, FILE))
    const cores = availableParallelism()
    const path = options.delay > 0 ? `each home ${options.delay} ms each way from the public segment, MTU ${JUMBO_MTU}` : 'links without delay'
    console.log(`${options.size / MIB} MiB, ${options.rounds} rounds, ${cores} cores, ${path}; fake.dev (behind a NAT) receives; drive ${DRIVE}`)
    const rounds: Round[] = []
    for (let i = 1; i <= options.rounds; i++) {
      const tcp = await tcpCopy(nat, src, dir)
      const forwarded = await forwardedCopy(nat, src, dir)
      const crypto = cryptoSeconds(src.size)
      const ceiling = src.size / ((forwarded.cpu + crypto) / cores) / 1e6
      console.log(`round ${i}: tcp r.dev→fake.dev ${tcp.toFixed(1)} MB/s; fake2.dev→forwarder on r.dev→fake.dev ${forwarded.mbps.toFixed(1)} MB/s (${(forwarded.mbps / tcp).toFixed(3)} of tcp), ${perGiB(forwarded.cpu, src.size)} CPU s/GiB; six cipher passes ${perGiB(crypto, src.size)} CPU s/GiB; ceiling ${ceiling.toFixed(1)} MB/s (${(ceiling / tcp).toFixed(3)} of tcp)`)
      const direct = await download(receiver, relay, src, relay)
      const relayed = await download(receiver, sender, src, relay)
      console.log(`round ${i}: hwd direct from r.dev ${direct.mbps.toFixed(1)} MB/s (${(direct.mbps / tcp).toFixed(3)} of tcp), relayed from fake2.dev ${relayed.mbps.toFixed(1)} MB/s (${(relayed.mbps / tcp).toFixed(3)} of tcp), ${perGiB(relayed.cpu, src.size)} CPU s/GiB in its three daemons`)
      rounds.push({ tcp, forwarded: forwarded.mbps, ceiling, direct: direct.mbps, relayed: relayed.mbps })
    }
    const ratio = (of: (r: Round) => number): number => median(rounds.map(r => of(r) / r.tcp))
    const mb = (of: (r: Round) => number): string => median(rounds.map(of)).toFixed(1)
    const relayed = ratio(r => r.relayed)
    console.log()
    console.log(`median MB/s: tcp ${mb(r => r.tcp)}, forwarder ${mb(r => r.forwarded)}, ceiling ${mb(r => r.ceiling)}, hwd direct ${mb(r => r.direct)}, hwd relayed ${mb(r => r.relayed)}`)
    console.log(`median ratios to tcp: forwarder ${ratio(r => r.forwarded).toFixed(3)}, ceiling ${ratio(r => r.ceiling).toFixed(3)}, direct ${ratio(r => r.direct).toFixed(3)}, relayed ${relayed.toFixed(3)} (goal ≥ ${GOAL}: ${relayed >= GOAL ? 'met' : 'MISSED'})`)
    console.log(`relayed / direct: ${ratio(r => r.relayed / r.direct * r.tcp).toFixed(3)}, relayed / ceiling: ${ratio(r => r.relayed / r.ceiling * r.tcp).toFixed(3)}`)
  } finally {
    await stopAll()
    links?.stop()
    nat.down()
  }
}

const code = await runInTempDir('bench-relay', () => {
  const { values } = parseArgs({ options: { size: { type: 'string' }, rounds: { type: 'string' }, delay: { type: 'string' } } })
  const delay = values.delay == null ? 0 : wholeNumber('delay', values.delay)
  return { size: wholeNumber('size', values.size ?? '256') * MIB, rounds: wholeNumber('rounds', values.rounds ?? '3'), delay }
}, bench)
process.exit(code)
