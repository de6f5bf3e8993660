/**
 * One end of a plain TCP file copy, run as a child inside a network namespace (bench-relay.ts):
 *   serve SRC HOST PORT   prints `listening`, sends SRC to the first connection, exits
 *   fetch HOST PORT DST   writes what it receives to DST, fsyncs it, prints `done BYTES MS CPU`
 *   send SRC HOST PORT    connects, sends SRC, prints `done CPU`
 *   forward HOST IN OUT   prints `listening`, takes one connection on each port, copies what
 *                         arrives on IN to OUT, prints `done CPU`: a relay with no work of its own
 * MS runs from the connect to the fsync, as the other baselines' (bench/baseline.ts). CPU is the
 * processor seconds the copy used, the process's own and the kernel's on its behalf.
 */
import { createReadStream, createWriteStream } from 'node:fs'
import { open } from 'node:fs/promises'
import { connect, createServer, type Socket } from 'node:net'
import { pipeline } from 'node:stream/promises'

const CHUNK = 1024 * 1024
const SINK_BUFFER = 8 * CHUNK

/** Processor seconds since `base` (from process.cpuUsage()), so that starting node is not counted. */
function cpuSince (base: NodeJS.CpuUsage): string {
  const { user, system } = process.cpuUsage(base)
  return String((user + system) / 1e6)
}

const [mode, a, b, c] = process.argv.slice(2)
if (mode === 'serve') {
  const server = createServer(socket => {
    pipeline(createReadStream(a, { highWaterMark: CHUNK }), socket).then(() => { server.close() }, err => { console.error(err); process.exit(1) })
  })
  server.listen(Number(c), b, () => { console.log('listening') })
} else if (mode === 'send') {
  const base = process.cpuUsage()
  await pipeline(createReadStream(a, { highWaterMark: CHUNK }), connect(Number(c), b))
  console.log(`done ${cpuSince(base)}`)
} else if (mode === 'forward') {
  const accepted = [b, c].map(async port => {
    const server = createServer()
    const socket = new Promise<Socket>(resolve => server.once('connection', socket => { server.close(); resolve(socket) }))
    await new Promise<void>((resolve, reject) => { server.once('error', reject).listen(Number(port), a, resolve) })
    return { socket }
  })
  // an async function cannot resolve to a promise, hence the object: each server is listening, its connection still to come
  const listening = await Promise.all(accepted)
  console.log('listening')
  const [from, to] = await Promise.all(listening.map(async l => await l.socket))
  const base = process.cpuUsage()
  await pipeline(from, to)
  console.log(`done ${cpuSince(base)}`)
} else if (mode === 'fetch') {
  const started = performance.now()
  const base = process.cpuUsage()
  const socket = connect(Number(b), a)
  let bytes = 0
  socket.on('data', (d: Buffer) => { bytes += d.byteLength })
  await pipeline(socket, createWriteStream(c, { highWaterMark: SINK_BUFFER }))
  const file = await open(c, 'r')
  await file.sync()
  await file.close()
  console.log(`done ${bytes} ${performance.now() - started} ${cpuSince(base)}`)
} else {
  console.error('usage: tcp-end serve SRC HOST PORT | fetch HOST PORT DST | send SRC HOST PORT | forward HOST IN OUT')
  process.exit(2)
}
