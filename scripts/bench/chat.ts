/**
 * The chat benchmark's measurement (see scripts/bench-chat.ts): two daemons of one build, 20
 * warm-up messages, then 1,000 messages in each phase of 1, 4, 8 and 16 requests in flight;
 * each phase's figures printed, then the goals checked. bench-history runs it for two builds.
 */
import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { request } from '../../daemon/control-client.ts'
import { stopCleanly, waitUntilKnows } from './daemons.ts'
import { TestNode } from '../../test/helpers.ts'
import { ascending, percentile } from './stats.ts'

const SENDER = 'fake.dev'
const RECEIVER = 'fake2.dev'
const SEND_SCRIPT = 'send:chat-with-file-transfer:template.os'
const WARMUP = 20
const MESSAGES = 1_000
/** Requests in flight in each phase. */
const PHASES = [1, 4, 8, 16]
const GOAL_P50_MS = 5
const GOAL_RATE = 500
/** The sending daemon's reply to a delivered message, with its own send→ack time. */
const DELIVERED = /^delivered to \S+ \(acknowledged in (\d+(?:\.\d+)?) ms\)$/

interface Sample {
  /** send→ack as the sending daemon measured it */
  ackMs: number
  /** the whole control-socket request, as a client sees it */
  roundTripMs: number
}

interface PhaseResult {
  samples: Sample[]
  wallMs: number
}

async function makeHome (homes: string[]): Promise<string> {
  const home = await mkdtemp(join(tmpdir(), 'hwd-bench-chat-'))
  homes.push(home)
  return home
}

async function sendOne (from: TestNode, text: string): Promise<Sample> {
  let ackMs: number | undefined
  const started = performance.now()
  await request(from.socket, from.home, { op: 'run', argv: [SEND_SCRIPT, RECEIVER, text] }, {
    line: line => {
      const m = DELIVERED.exec(line)
      if (m != null) ackMs = Number(m[1])
    }
  })
  const roundTripMs = performance.now() - started
  if (ackMs == null) throw new Error(`"${text}": the daemon's reply carried no acknowledgement time`)
  return { ackMs, roundTripMs }
}

/** Send `count` messages with at most `concurrency` requests in flight. */
async function runPhase (from: TestNode, label: string, count: number, concurrency: number): Promise<PhaseResult> {
  const samples: Sample[] = []
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < count) {
      const n = ++next
      samples.push(await sendOne(from, `message ${n} of the ${label} phase of the chat benchmark`))
    }
  }
  const started = performance.now()
  await Promise.all(Array.from({ length: concurrency }, worker))
  return { samples, wallMs: performance.now() - started }
}

function rate (result: PhaseResult): number {
  return result.samples.length / (result.wallMs / 1000)
}

function report (title: string, result: PhaseResult): void {
  const ack = ascending(result.samples.map(s => s.ackMs))
  const trip = ascending(result.samples.map(s => s.roundTripMs))
  const ms = (v: number): string => `${v.toFixed(2)} ms`
  console.log(`${title}: ${result.samples.length} messages in ${result.wallMs.toFixed(0)} ms = ${rate(result).toFixed(1)} msg/s`)
  console.log(`  send→ack    p50 ${ms(percentile(ack, 50))}  p90 ${ms(percentile(ack, 90))}  p99 ${ms(percentile(ack, 99))}`)
  console.log(`  round trip  p50 ${ms(percentile(trip, 50))}  p99 ${ms(percentile(trip, 99))}`)
}

function checkGoals (phases: Array<{ concurrency: number, result: PhaseResult }>): void {
  console.log()
  let both: string | undefined
  for (const { concurrency, result } of phases) {
    const p50 = percentile(ascending(result.samples.map(s => s.ackMs)), 50)
    const fast = p50 < GOAL_P50_MS
    const many = rate(result) >= GOAL_RATE
    if (fast && many) both ??= `${concurrency} in flight`
    console.log(`${concurrency} in flight: p50 send→ack < ${GOAL_P50_MS} ms ${fast ? 'yes' : 'no'} (${p50.toFixed(2)} ms), ≥ ${GOAL_RATE} msg/s ${many ? 'yes' : 'no'} (${rate(result).toFixed(1)})`)
  }
  console.log(`goals p50 < ${GOAL_P50_MS} ms and ≥ ${GOAL_RATE} msg/s: ${both != null ? `met, both at ${both}` : 'MISSED in every phase'}`)
}

/** Run the phases between two daemons of `cli` (this build's if not given), in homes added to `homes`. */
export async function chatBenchmark (homes: string[], cli?: string): Promise<void> {
  const sender = await TestNode.start({ name: SENDER, home: await makeHome(homes), cli })
  const receiver = await TestNode.start({ name: RECEIVER, home: await makeHome(homes), peers: [sender.addr], cli })
  await waitUntilKnows(sender, RECEIVER)

  // The first messages pay for the first stream, JIT compilation and the log files' creation.
  await runPhase(sender, 'warm-up', WARMUP, 1)
  const phases = []
  for (const concurrency of PHASES) {
    const result = await runPhase(sender, `${concurrency} in flight`, MESSAGES, concurrency)
    report(`${concurrency} in flight`, result)
    phases.push({ concurrency, result })
  }
  checkGoals(phases)

  await Promise.all([sender, receiver].map(stopCleanly))
}
