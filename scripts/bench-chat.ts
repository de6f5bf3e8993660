import '../daemon/polyfill.ts'
/**
 * Chat benchmark: latency and throughput of `send:chat-with-file-transfer:template.os` between
 * two real daemons on 127.0.0.1, each started through the CLI in its own temporary home.
 *
 * After 20 unmeasured warm-up messages, fake.dev sends 1,000 messages to fake2.dev through its
 * control socket, first one at a time, then with 16 requests in flight. For each phase it prints:
 *  - send→ack: the latency the sending daemon measures itself and reports in its reply (open a
 *    stream, send, the receiver's fdatasync, acknowledgement);
 *  - round trip: the wall-clock time of each whole control-socket request, as `hwd run` sees it
 *    (connect, name lookup, send→ack, the sender's own log append, reply);
 *  - messages per second over the 1,000, wall clock.
 * Goals: p50 send→ack < 5 ms, one at a time (latency unloaded), and ≥ 500 msg/s with 16 in
 * flight (what a daemon sustains: the protocol pipelines and the logs share their fdatasyncs).
 * One at a time, each message waits for two processes' wake-ups, two fdatasyncs (overlapped)
 * and a control-socket round trip, so its rate is bound by latency; it is printed too.
 * A missed goal is reported, not an error: the exit status is 1 only when the benchmark
 * itself fails.
 *
 * Run: npx tsc -p . && node dist/scripts/bench-chat.js
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { request } from '../daemon/control-client.ts'
import { DaemonProcess, waitUntilKnows } from './bench/daemons.ts'

const SENDER = 'fake.dev'
const RECEIVER = 'fake2.dev'
const SEND_SCRIPT = 'send:chat-with-file-transfer:template.os'
const WARMUP = 20
const MESSAGES = 1_000
const CONCURRENCY = 16
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

async function sendOne (from: DaemonProcess, text: string): Promise<Sample> {
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
async function runPhase (from: DaemonProcess, label: string, count: number, concurrency: number): Promise<PhaseResult> {
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

/** Nearest-rank percentile of an ascending list. */
function percentile (sorted: number[], p: number): number {
  return sorted[Math.ceil(p / 100 * sorted.length) - 1]
}

function ascending (values: number[]): number[] {
  return [...values].sort((a, b) => a - b)
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

function checkGoals (sequential: PhaseResult, concurrent: PhaseResult): void {
  const p50 = percentile(ascending(sequential.samples.map(s => s.ackMs)), 50)
  const verdict = (met: boolean): string => met ? 'met' : 'MISSED'
  console.log(`goal p50 send→ack < ${GOAL_P50_MS} ms, one at a time: ${verdict(p50 < GOAL_P50_MS)} (${p50.toFixed(2)} ms)`)
  console.log(`goal ≥ ${GOAL_RATE} msg/s, ${CONCURRENCY} in flight: ${verdict(rate(concurrent) >= GOAL_RATE)} (${rate(concurrent).toFixed(1)} msg/s)`)
}

async function bench (nodes: DaemonProcess[], homes: string[]): Promise<void> {
  const sender = DaemonProcess.spawn(SENDER, await makeHome(homes))
  nodes.push(sender)
  await sender.started()
  const receiver = DaemonProcess.spawn(RECEIVER, await makeHome(homes), ['--peer', `/ip4/127.0.0.1/tcp/${sender.port}`])
  nodes.push(receiver)
  await receiver.started()
  await waitUntilKnows(sender, RECEIVER)

  // The first messages pay for the first stream, JIT compilation and the log files' creation.
  await runPhase(sender, 'warm-up', WARMUP, 1)
  const sequential = await runPhase(sender, 'sequential', MESSAGES, 1)
  report('one at a time', sequential)
  const concurrent = await runPhase(sender, 'concurrent', MESSAGES, CONCURRENCY)
  report(`${CONCURRENCY} in flight`, concurrent)
  checkGoals(sequential, concurrent)

  await Promise.all(nodes.map(async n => { await n.stop() }))
}

async function main (): Promise<number> {
  const nodes: DaemonProcess[] = []
  const homes: string[] = []
  try {
    await bench(nodes, homes)
    return 0
  } catch (err) {
    console.error('bench-chat:', err)
    await Promise.all(nodes.map(async n => { await n.kill() }))
    return 1
  } finally {
    await Promise.all(homes.map(async h => { await rm(h, { recursive: true, force: true }) }))
  }
}

process.exitCode = await main()
