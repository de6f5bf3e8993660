/**
 * One end of a plain TCP file copy, run as a child inside a network namespace (bench-relay.ts):
 *   serve SRC HOST PORT   prints `listening`, sends SRC to the first connection, exits
 *   fetch HOST PORT DST   writes what it receives to DST, fsyncs it, prints `done BYTES MS`
 * MS runs from the connect to the fsync, as the other baselines' (bench/baseline.ts).
 */
import { createReadStream, createWriteStream } from 'node:fs'
import { open } from 'node:fs/promises'
import { connect, createServer } from 'node:net'
import { pipeline } from 'node:stream/promises'

const CHUNK = 1024 * 1024
const SINK_BUFFER = 8 * CHUNK

const [mode, a, b, c] = process.argv.slice(2)
if (mode === 'serve') {
  const server = createServer(socket => {
    pipeline(createReadStream(a, { highWaterMark: CHUNK }), socket).then(() => { server.close() }, err => { console.error(err); process.exit(1) })
  })
  server.listen(Number(c), b, () => { console.log('listening') })
} else if (mode === 'fetch') {
  const started = performance.now()
  const socket = connect(Number(b), a)
  let bytes = 0
  socket.on('data', (d: Buffer) => { bytes += d.byteLength })
  await pipeline(socket, createWriteStream(c, { highWaterMark: SINK_BUFFER }))
  const file = await open(c, 'r')
  await file.sync()
  await file.close()
  console.log(`done ${bytes} ${performance.now() - started}`)
} else {
  console.error('usage: tcp-end serve SRC HOST PORT | fetch HOST PORT DST')
  process.exit(2)
}
