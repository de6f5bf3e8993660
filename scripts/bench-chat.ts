import '../daemon/polyfill.ts'
/**
 * Chat benchmark: latency and throughput of `send:chat-with-file-transfer:template.os` between
 * two real daemons on 127.0.0.1, each started through the CLI in its own temporary home.
 *
 * After 20 unmeasured warm-up messages, fake.dev sends 1,000 messages to fake2.dev through its
 * control socket in each of four phases: one at a time, then with 4, 8 and 16 requests in
 * flight. For each phase it prints:
 *  - send→ack: the latency the sending daemon measures itself and reports in its reply (send,
 *    the receiver's fdatasync, acknowledgement; the sender's own fdatasync runs meanwhile);
 *  - round trip: the wall-clock time of each whole control-socket request, as `hwd run` sees it
 *    (connect, name lookup, send→ack, the sender's own log append, reply);
 *  - messages per second over the 1,000, wall clock.
 * Goals: p50 send→ack < 5 ms and ≥ 500 msg/s, held against each phase, and met when one phase
 * meets both. One at a time, every message waits on three processes' wake-ups, fdatasync and
 * a control-socket round trip, so that phase's rate is bound by its latency; a client with a
 * few requests in flight is what the pipelined protocol and the logs' shared fdatasyncs serve.
 * A missed goal is reported, not an error: the exit status is 1 only when the benchmark itself
 * fails.
 *
 * Run: npx tsc -p . && node dist/scripts/bench-chat.js
 */
import { rm } from 'node:fs/promises'
import { chatBenchmark } from './bench/chat.ts'
import { stopAll } from '../test/helpers.ts'

async function main (): Promise<number> {
  const homes: string[] = []
  try {
    await chatBenchmark(homes)
    return 0
  } catch (err) {
    console.error('bench-chat:', err)
    await stopAll()
    return 1
  } finally {
    await Promise.all(homes.map(async h => { await rm(h, { recursive: true, force: true }) }))
  }
}

process.exitCode = await main()
