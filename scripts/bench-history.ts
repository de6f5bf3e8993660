import '../daemon/polyfill.ts'
/**
 * Chat history at scale: what a home holding a long history costs a daemon, against an empty one.
 *
 * Builds a home with --messages messages (default 1,000,000) with fake2.dev, written as the
 * legacy chat.log and moved into the database at the first start (timed), and an empty home
 * that knows the same names. Then, in alternating rounds, starts each and prints:
 *  - start time: from spawning `hwd start` to its `home` line, the packages started;
 *  - resident memory (VmRSS) once started, and again after the history queries;
 *  - for the full home, `history fake2.dev --last 50` and a search for one message among all,
 *    each a control-socket request timed whole.
 * Goals: start time and memory within 1.5× of the empty home's; `history --last 50` < 50 ms.
 * Then the chat benchmark (scripts/bench/chat.ts) for the other build given by --base, before,
 * and for this one, after, in turns, twice.
 *
 * Run: npx tsc -p . && node dist/scripts/bench-history.js [--base ../hwd-base] [--messages N] [--rounds N]
 */
import { access, rm } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { performance } from 'node:perf_hooks'
import { parseArgs } from 'node:util'
import { request } from '../daemon/control-client.ts'
import { TestNode } from '../test/helpers.ts'
import { writeLegacyLog } from '../test/legacy-chat-log.ts'
import { chatBenchmark } from './bench/chat.ts'
import { runInTempDir, wholeNumber } from './bench/cli.ts'
import { stopCleanly, waitUntilKnows } from './bench/daemons.ts'
import { readMemory } from './bench/memory.ts'
import { mb, median } from './bench/stats.ts'

const HISTORY = 'history:chat-with-file-transfer:template.os'
const SEARCH = 'search:chat-with-file-transfer:template.os'
const GOAL_RATIO = 1.5
const GOAL_HISTORY_MS = 50
/** Queries timed per start, of each kind. */
const QUERIES = 20
/** Runs of the chat benchmark for each build. */
const CHAT_ROUNDS = 2

interface Options {
  messages: number
  rounds: number
  /** the other build's CLI, for the chat benchmark before */
  baseCli?: string
}

interface Start { ms: number, rss: number, rssAfter?: number, historyMs?: number[], searchMs?: number[] }

async function optionsFromArgs (): Promise<Options> {
  const { values } = parseArgs({ options: { base: { type: 'string' }, messages: { type: 'string' }, rounds: { type: 'string' } } })
  const options: Options = { messages: wholeNumber('messages', values.messages ?? '1000000'), rounds: wholeNumber('rounds', values.rounds ?? '3') }
  if (values.base != null) {
    options.baseCli = join(resolve(values.base), 'dist', 'daemon', 'cli.js')
    await access(options.baseCli).catch(() => { throw new Error(`${options.baseCli} is missing: run npm ci in ${values.base}`) })
  }
  return options
}

/** One control-socket request, timed whole; its lines. */
async function timedRun (node: TestNode, argv: string[]): Promise<{ ms: number, lines: string[] }> {
  const lines: string[] = []
  const started = performance.now()
  await request(node.socket, node.home, { op: 'run', argv }, { line: l => { lines.push(l) } })
  return { ms: performance.now() - started, lines }
}

async function startOnce (home: string, query: boolean, messages: number): Promise<Start> {
  const started = performance.now()
  const node = await TestNode.start({ name: 'fake.dev', home, startMs: 120_000 })
  const result: Start = { ms: performance.now() - started, rss: (await readMemory(node.pid)).rss }
  if (query) {
    result.historyMs = []
    result.searchMs = []
    for (let i = 0; i < QUERIES; i++) {
      const h = await timedRun(node, [HISTORY, 'fake2.dev'])
      if (h.lines.length !== 51) throw new Error(`history gave ${h.lines.length} lines, not a page of 50 and the line before`)
      result.historyMs.push(h.ms)
      const wanted = Math.floor(messages * i / QUERIES)
      const s = await timedRun(node, [SEARCH, `#${wanted}#`])
      if (s.lines.length !== 1) throw new Error(`a search for message ${wanted} found ${s.lines.length} lines`)
      result.searchMs.push(s.ms)
    }
    result.rssAfter = (await readMemory(node.pid)).rss
  }
  await stopCleanly(node)
  return result
}

async function buildHomes (dir: string, messages: number): Promise<{ full: string, empty: string }> {
  // fake.dev learns fake2.dev's name in both homes; the full one then gets the history
  const homes: Record<string, string> = {}
  let peer = ''
  for (const name of ['full', 'empty']) {
    const a = await TestNode.start({ name: 'fake.dev', home: join(dir, name) })
    const b = await TestNode.start({ name: 'fake2.dev', home: join(dir, `${name}-peer`), peers: [a.addr] })
    await waitUntilKnows(a, 'fake2.dev')
    await Promise.all([a, b].map(stopCleanly))
    homes[name] = a.home
    peer ||= b.peerId
  }
  let started = performance.now()
  await writeLegacyLog(homes.full, peer, messages)
  console.log(`wrote a chat.log of ${messages} messages in ${((performance.now() - started) / 1000).toFixed(1)} s`)
  started = performance.now()
  const first = await TestNode.start({ name: 'fake.dev', home: homes.full, startMs: 600_000 })
  console.log(`first start, moving it into the database: ${((performance.now() - started) / 1000).toFixed(1)} s`)
  await stopCleanly(first)
  return { full: homes.full, empty: homes.empty }
}

function ratio (a: number, b: number): string {
  return `${(a / b).toFixed(2)}×`
}

async function bench (dir: string, options: Options): Promise<void> {
  const { full, empty } = await buildHomes(dir, options.messages)
  const starts: { full: Start[], empty: Start[] } = { full: [], empty: [] }
  for (let r = 0; r < options.rounds; r++) {
    starts.empty.push(await startOnce(empty, false, options.messages))
    starts.full.push(await startOnce(full, true, options.messages))
  }
  const ms = (v: number): string => `${v.toFixed(1)} ms`
  const of = (kind: 'full' | 'empty', f: (s: Start) => number): number => median(starts[kind].map(f))
  const startFull = of('full', s => s.ms)
  const startEmpty = of('empty', s => s.ms)
  const rssFull = of('full', s => s.rss)
  const rssEmpty = of('empty', s => s.rss)
  const history = median(starts.full.flatMap(s => s.historyMs!))
  console.log(`\nmedians of ${options.rounds} starts each, ${options.messages} messages against none:`)
  console.log(`start   ${ms(startFull)} against ${ms(startEmpty)}: ${ratio(startFull, startEmpty)} (goal ≤ ${GOAL_RATIO}×)`)
  console.log(`RSS     ${mb(rssFull)} against ${mb(rssEmpty)}: ${ratio(rssFull, rssEmpty)} (goal ≤ ${GOAL_RATIO}×); ${mb(of('full', s => s.rssAfter!))} after ${QUERIES * 2} queries`)
  console.log(`history --last 50: median ${ms(history)}, slowest ${ms(Math.max(...starts.full.flatMap(s => s.historyMs!)))} (goal < ${GOAL_HISTORY_MS} ms)`)
  console.log(`search for one message: median ${ms(median(starts.full.flatMap(s => s.searchMs!)))}`)

  const homes: string[] = []
  try {
    // in turns, since the machine drifts from one minute to the next
    for (let r = 1; r <= CHAT_ROUNDS; r++) {
      if (options.baseCli != null) {
        console.log(`\nchat benchmark, round ${r}, before: ${options.baseCli}`)
        await chatBenchmark(homes, options.baseCli)
      }
      console.log(`\nchat benchmark, round ${r}, after: this build`)
      await chatBenchmark(homes)
    }
  } finally {
    await Promise.all(homes.map(async h => { await rm(h, { recursive: true, force: true }) }))
  }
}

process.exitCode = await runInTempDir('bench-history', optionsFromArgs, bench)
