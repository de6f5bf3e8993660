import '../daemon/polyfill.ts'
/**
 * Names flood benchmark: what 100,000 valid name records from a stock libp2p peer do to a node.
 *
 * V (fake.dev) runs with a witness W (fake2.dev) and a chat peer C (fake3.dev) peered to it. An
 * attacker, a bare js-libp2p node (test/raw-peer.ts), signs FLOOD_RECORDS records for distinct
 * names, each with a key of its own, and announces them to V, MAX_RECORDS per announcement, on
 * STREAMS streams at once, each waiting for V's receipt before the next. Throughout, as in a
 * baseline phase of the same length without the flood just before, it measures:
 *  - `status` of V through its control socket (what `hwd status` waits on), one after another;
 *  - a chat message from C to V, acknowledged, one after another;
 *  - V's RSS (sampled peak) and the bytes V wrote to disk (/proc/<pid>/io write_bytes);
 * then how many names V kept and W received through V. Goals: status and chat under 1 s
 * throughout, RSS under 200 MB, disk writes proportional to the names kept, W at most its quota.
 * A missed goal is reported; the exit status is 1 only when the benchmark itself fails.
 *
 * Run: npx tsc -p . && node dist/scripts/bench-names-flood.js
 */
import { readFile, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { request } from '../daemon/control-client.ts'
import type { Status } from '../daemon/daemon.ts'
import { PEER_QUOTA } from '../protocol/names/constants.ts'
import { runInTempDir } from './bench/cli.ts'
import { stopCleanly, waitUntilKnows } from './bench/daemons.ts'
import { MemoryWatch } from './bench/memory.ts'
import { ascending, mb, percentile } from './bench/stats.ts'
import { eventually, TestNode } from '../test/helpers.ts'
import { announceAll, signedRecords } from '../test/name-records.ts'
import { RawPeer } from '../test/raw-peer.ts'

const FLOOD_RECORDS = 100_000
const STREAMS = 4
const BASELINE_MS = 10_000
const PAUSE_MS = 100
const GOAL_MS = 1_000
const GOAL_RSS = 200e6
const CHAT = 'send:chat-with-file-transfer:template.os'

interface Samples { statusMs: number[], chatMs: number[] }

async function timedStatus (node: TestNode): Promise<{ ms: number, status: Status }> {
  let status: Status | undefined
  const started = performance.now()
  await request(node.socket, node.home, { op: 'status' }, { status: s => { status = s as Status } })
  return { ms: performance.now() - started, status: status! }
}

async function timedChat (from: TestNode, n: number): Promise<number> {
  let reply = ''
  const started = performance.now()
  await request(from.socket, from.home, { op: 'run', argv: [CHAT, 'fake.dev', `message ${n} during the names flood benchmark`] }, { line: text => { reply = text } })
  if (!reply.startsWith('delivered')) throw new Error(`chat not delivered: ${reply}`)
  return performance.now() - started
}

/** Measure status of `v` and chat from `c` to `v` one after another until `done` settles. */
async function sample (v: TestNode, c: TestNode, done: Promise<unknown>): Promise<Samples> {
  const samples: Samples = { statusMs: [], chatMs: [] }
  const over = new AbortController()
  void done.finally(() => { over.abort() })
  const pause = async (): Promise<void> => { await new Promise(resolve => setTimeout(resolve, PAUSE_MS)) }
  await Promise.all([
    (async () => { while (!over.signal.aborted) { samples.statusMs.push((await timedStatus(v)).ms); await pause() } })(),
    (async () => { for (let n = 0; !over.signal.aborted; n++) { samples.chatMs.push(await timedChat(c, n)); await pause() } })()
  ])
  return samples
}

async function writeBytes (pid: number): Promise<number> {
  return Number(/^write_bytes: (\d+)$/m.exec(await readFile(`/proc/${pid}/io`, 'utf8'))![1])
}

function summary (label: string, s: Samples): { statusMax: number, chatMax: number, statusP50: number, chatP50: number } {
  const st = ascending(s.statusMs)
  const ch = ascending(s.chatMs)
  const r = { statusP50: percentile(st, 50), statusMax: st.at(-1)!, chatP50: percentile(ch, 50), chatMax: ch.at(-1)! }
  console.log(`${label}: status ${st.length}× p50 ${r.statusP50.toFixed(1)} ms max ${r.statusMax.toFixed(1)} ms; chat ${ch.length}× p50 ${r.chatP50.toFixed(1)} ms max ${r.chatMax.toFixed(1)} ms`)
  return r
}

async function bench (dir: string): Promise<void> {
  console.log(`signing ${FLOOD_RECORDS} records, a key each…`)
  const records = await signedRecords(FLOOD_RECORDS, 'flood')
  const v = await TestNode.start({ name: 'fake.dev', home: join(dir, 'v') })
  const w = await TestNode.start({ name: 'fake2.dev', home: join(dir, 'w'), peers: [v.addr] })
  const c = await TestNode.start({ name: 'fake3.dev', home: join(dir, 'c'), peers: [v.addr] })
  await waitUntilKnows(v, 'fake2.dev')
  await waitUntilKnows(c, 'fake.dev')
  await timedChat(c, -1) // the first message pays for the chat log's creation

  let memory = await MemoryWatch.start([v.pid])
  let written = await writeBytes(v.pid)
  const base = summary('baseline', await sample(v, c, new Promise(resolve => setTimeout(resolve, BASELINE_MS))))
  const [baseMem] = await memory.stop()
  const baseWritten = await writeBytes(v.pid) - written
  console.log(`baseline: V RSS peak ${mb(baseMem.hwm)}, wrote ${mb(baseWritten)}`)

  const raw = await RawPeer.start()
  memory = await MemoryWatch.start([v.pid])
  written = await writeBytes(v.pid)
  const started = performance.now()
  const flooding = announceAll(raw, v, records, STREAMS)
  const during = summary('flood', await sample(v, c, flooding))
  const result = await flooding
  const floodMs = performance.now() - started
  const [floodMem] = await memory.stop()
  const floodWritten = await writeBytes(v.pid) - written
  await raw.stop()
  // W takes what V passes on at V's forwarding pace: a few seconds for its quota
  const floodNames = async (node: TestNode): Promise<number> => (await timedStatus(node)).status.names.filter(n => n.name.startsWith('flood')).length
  await eventually('W to take what V passed on', async () => await floodNames(w) >= Math.min(result.kept, PEER_QUOTA - 1), 30_000)
  const witness = await floodNames(w)
  const kept = await floodNames(v)
  const log = (await stat(join(dir, 'v', 'names.log'))).size

  console.log(`flood: ${FLOOD_RECORDS} records in ${(floodMs / 1000).toFixed(1)} s (${(FLOOD_RECORDS / floodMs * 1000).toFixed(0)} records/s offered); V kept ${result.kept}, dropped ${result.overQuota} over quota; V knows ${kept} flood names`)
  console.log(`flood: V RSS peak ${mb(floodMem.hwm)} (${(floodMem.hwm / baseMem.hwm).toFixed(2)}× baseline), wrote ${mb(floodWritten)} (names.log ${mb(log)}, ${(floodWritten / Math.max(1, result.kept)).toFixed(0)} B per name kept)`)
  console.log(`flood: status p50 ${(during.statusP50 / base.statusP50).toFixed(2)}× baseline, chat p50 ${(during.chatP50 / base.chatP50).toFixed(2)}× baseline`)
  console.log(`witness W received ${witness} flood names through V (quota ${PEER_QUOTA})`)
  console.log()
  console.log(`goal status < ${GOAL_MS} ms throughout: ${during.statusMax < GOAL_MS ? 'met' : 'MISSED'} (max ${during.statusMax.toFixed(1)} ms)`)
  console.log(`goal chat acknowledged < ${GOAL_MS} ms throughout: ${during.chatMax < GOAL_MS ? 'met' : 'MISSED'} (max ${during.chatMax.toFixed(1)} ms)`)
  console.log(`goal RSS < ${mb(GOAL_RSS)}: ${floodMem.hwm < GOAL_RSS ? 'met' : 'MISSED'} (${mb(floodMem.hwm)})`)
  console.log(`goal W ≤ its quota: ${witness <= PEER_QUOTA ? 'met' : 'MISSED'} (${witness})`)
  await Promise.all([v, w, c].map(stopCleanly))
}

process.exitCode = await runInTempDir('bench-names-flood', () => undefined, bench)
