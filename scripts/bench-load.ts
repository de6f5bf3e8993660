import '../daemon/polyfill.ts'
/**
 * Load benchmark: one serving daemon under many downloads and a stream of chat at once.
 *
 * Six real daemons on 127.0.0.1, each started through the CLI in its own temporary home with
 * mDNS off: fake.dev serves 10 random files of 8 MiB from its chat-with-file-transfer drive;
 * fake2.dev … fake6.dev each `--peer` it. Then, all at once:
 *  - 50 downloads: every client asks for all 10 files at the same moment, each through its own
 *    control-socket request (`download:chat-with-file-transfer:template.os FILE fake.dev`);
 *  - 1,000 chat messages from the clients to fake.dev (`send:...`), round robin, 8 requests in
 *    flight, started together with the downloads.
 * Every received file is then checked against its source's SHA-256; every message must be
 * acknowledged. Any failure is an error, and errors must be 0.
 *
 * Reported: the load's wall time, the downloads' aggregate throughput (all bytes over the time
 * from the first request to the last file complete) and per-download times, chat messages per
 * second and the send→ack latency the sending daemons report (`acknowledged in X ms`), split
 * by whether downloads were still running, and the RSS of every daemon: before, the peak
 * sampled every 100 ms, and the kernel's peak (VmHWM, reset when the load starts). And, to tell
 * a busy daemon from a slow connection, how long the server takes to answer `status` on its
 * control socket, every 500 ms. (Not `ping`: a user's ping that overlaps the one libp2p's
 * connection monitor sends makes the monitor abort the connection, which would add failures
 * the load did not cause.) A request that gets no answer within REQUEST_DEADLINE_MS is an
 * error, not a hang. MB = 1e6 bytes.
 *
 * Run: npx tsc -p . && node dist/scripts/bench-load.js     (exit status 1 on any error)
 */
import { createHash, randomBytes } from 'node:crypto'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { setTimeout as sleep } from 'node:timers/promises'
import { describeError } from '../errors.ts'
import { request, type ClientHandlers } from '../daemon/control-client.ts'
import type { Request } from '../daemon/control.ts'
import { homePaths } from '../storage/home.ts'
import { MemoryWatch, type Memory } from './bench/memory.ts'
import { stopCleanly, waitUntilKnows } from './bench/daemons.ts'
import { stopAll, TestNode } from '../test/helpers.ts'
import { ascending, mb, percentile, sha256File } from './bench/stats.ts'

const SERVER = 'fake.dev'
const CLIENTS = ['fake2.dev', 'fake3.dev', 'fake4.dev', 'fake5.dev', 'fake6.dev']
const PKG = 'chat-with-file-transfer:template.os'
const DOWNLOAD_SCRIPT = `download:${PKG}`
const SEND_SCRIPT = `send:${PKG}`
const FILES = 10
const FILE_BYTES = 8 * 1024 * 1024
const MESSAGES = 1_000
const CHAT_IN_FLIGHT = 8
const STATUS_SAMPLE_MS = 500
/** A download of 8 MiB, or a message, that has no answer after this will not get one. */
const REQUEST_DEADLINE_MS = 120_000
/** The sending daemon's reply to a delivered message, with its own send→ack time. */
const DELIVERED = /^delivered to \S+ \(acknowledged in (\d+(?:\.\d+)?) ms\)$/

/** Send one request to a daemon, failing if it has not ended within REQUEST_DEADLINE_MS. */
async function ask (node: TestNode, req: Request, handlers: ClientHandlers = {}): Promise<void> {
  let timer: NodeJS.Timeout | undefined
  const deadline = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => { reject(new Error(`${req.op === 'run' ? req.argv[0] : req.op}: no answer within ${REQUEST_DEADLINE_MS / 1000} s`)) }, REQUEST_DEADLINE_MS)
  })
  try {
    // a request past its deadline is left to end when its daemon stops
    await Promise.race([request(node.socket, node.home, req, handlers), deadline])
  } finally {
    clearTimeout(timer)
  }
}

async function run (node: TestNode, argv: string[], handlers: ClientHandlers = {}): Promise<void> {
  await ask(node, { op: 'run', argv }, handlers)
}

function drive (home: string): string {
  return join(homePaths(home).vfs, PKG, 'files')
}

function ms (value: number): string {
  return `${value.toFixed(2)} ms`
}

interface DownloadResult {
  client: string
  file: string
  ms: number
}

interface ChatSample {
  /** send→ack as the sending daemon measured it */
  ackMs: number
  /** the whole control-socket request, as a client sees it */
  roundTripMs: number
  /** whether some download was still running when the acknowledgement came back */
  underDownloads: boolean
}

class Errors {
  readonly list: string[] = []

  add (what: string): void {
    this.list.push(what)
    if (this.list.length <= 20) console.error(`error: ${what}`)
  }
}

async function bench (dir: string, errors: Errors): Promise<void> {
  // The server's files, each with its hash, made before any daemon runs.
  const serverHome = join(dir, 'server')
  await mkdir(drive(serverHome), { recursive: true })
  const files: Array<{ name: string, sha256: string }> = []
  for (let i = 0; i < FILES; i++) {
    const name = `file-${i}.bin`
    const data = randomBytes(FILE_BYTES)
    // flushed now, so that writing it back does not happen during the timed load
    await writeFile(join(drive(serverHome), name), data, { flush: true })
    files.push({ name, sha256: createHash('sha256').update(data).digest('hex') })
  }
  console.log(`${FILES} random files of ${FILE_BYTES / 1024 / 1024} MiB on ${SERVER}; homes in ${dir}`)

  const server = await TestNode.start({ name: SERVER, home: serverHome })
  const clients = await Promise.all(CLIENTS.map(async (name, i) => await TestNode.start({ name, home: join(dir, `client-${i + 2}`), peers: [server.addr] })))
  const nodes = [server, ...clients]
  await Promise.all([...CLIENTS.map(async name => { await waitUntilKnows(server, name) }), ...clients.map(async c => { await waitUntilKnows(c, SERVER) })])
  console.log(`${SERVER} and ${CLIENTS.length} clients up and named`)

  const watch = await MemoryWatch.start([server.pid, ...clients.map(c => c.pid)])
  const started = performance.now()
  let downloadsRunning = clients.length * files.length

  const downloads = clients.flatMap(client => files.map(async (file): Promise<DownloadResult | undefined> => {
    const t0 = performance.now()
    try {
      await run(client, [DOWNLOAD_SCRIPT, file.name, SERVER])
      return { client: client.name, file: file.name, ms: performance.now() - t0 }
    } catch (err) {
      errors.add(`${client.name}: download of ${file.name} failed: ${describeError(err)}`)
      return undefined
    } finally {
      downloadsRunning--
    }
  }))

  const samples: ChatSample[] = []
  let next = 0
  const chatStarted = performance.now()
  const chatWorker = async (): Promise<void> => {
    while (next < MESSAGES) {
      const n = next++
      const client = clients[n % clients.length]
      const text = `load message ${n + 1} of ${MESSAGES} from ${client.name}`
      let ackMs: number | undefined
      const t0 = performance.now()
      try {
        await run(client, [SEND_SCRIPT, SERVER, text], {
          line: line => {
            const m = DELIVERED.exec(line)
            if (m != null) ackMs = Number(m[1])
          }
        })
        if (ackMs == null) errors.add(`${client.name}: message ${n + 1}: the reply carried no acknowledgement time`)
        else samples.push({ ackMs, roundTripMs: performance.now() - t0, underDownloads: downloadsRunning > 0 })
      } catch (err) {
        errors.add(`${client.name}: message ${n + 1} failed: ${describeError(err)}`)
      }
    }
  }
  const chat = Promise.all(Array.from({ length: CHAT_IN_FLIGHT }, chatWorker)).then(() => performance.now() - chatStarted)

  // Responsiveness while the load runs: not part of it, and its failures are not errors.
  const stopSampling = new AbortController()
  const statusMs: number[] = []
  const sampleStatus = async (): Promise<void> => {
    while (!stopSampling.signal.aborted) {
      const t0 = performance.now()
      await ask(server, { op: 'status' }).then(() => { statusMs.push(performance.now() - t0) }, () => {})
      await sleep(STATUS_SAMPLE_MS)
    }
  }
  const sampling = sampleStatus()

  const results = (await Promise.all(downloads)).filter((r): r is DownloadResult => r != null)
  const downloadsMs = performance.now() - started
  const chatMs = await chat
  const totalMs = performance.now() - started
  stopSampling.abort()
  const [serverMemory, ...clientMemory] = await watch.stop()
  await sampling

  // Every file, byte for byte, outside the timing.
  let checked = 0
  await Promise.all(clients.map(async client => {
    for (const file of files) {
      if (!results.some(r => r.client === client.name && r.file === file.name)) continue
      try {
        const got = await sha256File(join(drive(client.home), file.name))
        if (got !== file.sha256) errors.add(`${client.name}: ${file.name} differs from the source (sha256 ${got.slice(0, 16)}…)`)
        else checked++
      } catch (err) {
        errors.add(`${client.name}: cannot read the received ${file.name}: ${describeError(err)}`)
      }
    }
  }))
  for (const node of nodes) {
    if (!node.running) errors.add(`${node.name} is not running after the load`)
  }

  const bytes = results.length * FILE_BYTES
  const perDownload = ascending(results.map(r => r.ms))
  const ack = ascending(samples.map(s => s.ackMs))
  const trip = ascending(samples.map(s => s.roundTripMs))
  const ackUnder = ascending(samples.filter(s => s.underDownloads).map(s => s.ackMs))
  const ackAfter = ascending(samples.filter(s => !s.underDownloads).map(s => s.ackMs))
  console.log()
  console.log(`total time      ${(totalMs / 1000).toFixed(2)} s (downloads and chat together)`)
  console.log(`downloads       ${results.length}/${clients.length * files.length} complete, ${checked} checked by sha256, ${mb(bytes)} in ${(downloadsMs / 1000).toFixed(2)} s = ${(bytes / 1e6 / (downloadsMs / 1000)).toFixed(1)} MB/s aggregate`)
  console.log(`  per download  p50 ${(percentile(perDownload, 50) / 1000).toFixed(2)} s, max ${(percentile(perDownload, 100) / 1000).toFixed(2)} s`)
  console.log(`chat            ${samples.length}/${MESSAGES} acknowledged in ${(chatMs / 1000).toFixed(2)} s = ${(samples.length / (chatMs / 1000)).toFixed(1)} msg/s, ${CHAT_IN_FLIGHT} in flight`)
  console.log(`  send→ack      p50 ${ms(percentile(ack, 50))}  p99 ${ms(percentile(ack, 99))}  max ${ms(percentile(ack, 100))}`)
  console.log(`    while downloads ran (${ackUnder.length})   p50 ${ms(percentile(ackUnder, 50))}  p99 ${ms(percentile(ackUnder, 99))}`)
  console.log(`    after (${ackAfter.length})   p50 ${ms(percentile(ackAfter, 50))}  p99 ${ms(percentile(ackAfter, 99))}`)
  console.log(`  round trip    p50 ${ms(percentile(trip, 50))}  p99 ${ms(percentile(trip, 99))}`)
  const status = ascending(statusMs)
  console.log(`server status   p50 ${ms(percentile(status, 50))}  max ${ms(percentile(status, 100))} (${status.length} samples on its control socket)`)
  console.log('memory (RSS before, sampled peak, VmHWM during the load)')
  const row = (role: string, name: string, m: Memory): void => {
    console.log(`  ${role.padEnd(6)} ${name.padEnd(9)} ${mb(m.before).padStart(9)} ${mb(m.sampledPeak).padStart(9)} ${mb(m.hwm).padStart(9)}`)
  }
  row('server', server.name, serverMemory)
  clients.forEach((c, i) => { row('client', c.name, clientMemory[i]) })
  for (const node of nodes) {
    try {
      await stopCleanly(node)
    } catch (err) {
      errors.add(describeError(err))
    }
  }
  // last, so that a daemon that failed to stop is counted too
  console.log(`errors          ${errors.list.length}`)
}

async function main (): Promise<number> {
  const dir = await mkdtemp(join(tmpdir(), 'hwd-bench-load-'))
  const errors = new Errors()
  try {
    await bench(dir, errors)
  } catch (err) {
    console.error('bench-load:', err)
    errors.add(describeError(err))
  } finally {
    await stopAll()
    await rm(dir, { recursive: true, force: true })
  }
  return errors.list.length === 0 ? 0 : 1
}

process.exitCode = await main()
