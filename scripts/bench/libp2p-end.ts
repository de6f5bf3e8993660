/**
 * One end of the two-process libp2p baseline (`libp2pProcessesCopy` in baseline.ts): a bare node
 * in a process of its own, as each hwd daemon is. It speaks to its parent in lines:
 *   receive DST   prints `listening ADDR`; once a stream's bytes are in DST and fsynced,
 *                 `done BYTES CPU_SECONDS`, and exits
 *   send SRC      prints `ready`; on `go ADDR` from stdin sends SRC to ADDR, prints
 *                 `sent CPU_SECONDS`, and exits when stdin ends: stopping the node at once
 *                 would cut off what the connection has not yet written (close() resolves once
 *                 the stream has handed its data on, not once it is on the wire)
 * CPU_SECONDS is the processor time the process used for the copy.
 */
import { once } from 'node:events'
import { createInterface } from 'node:readline'
import { cpuSince, createNode, dialAndSend, receiveInto } from './baseline.ts'

const [mode, path] = process.argv.slice(2)
const node = await createNode()
try {
  if (mode === 'receive') {
    const { received } = await receiveInto(node, path)
    const cpu = process.cpuUsage()
    console.log(`listening ${node.getMultiaddrs()[0].toString()}`)
    const bytes = await received
    console.log(`done ${bytes} ${cpuSince(cpu)}`)
  } else if (mode === 'send') {
    const lines = createInterface({ input: process.stdin })
    console.log('ready')
    const [line] = await once(lines, 'line') as [string]
    const cpu = process.cpuUsage()
    await dialAndSend(node, line.replace(/^go /, ''), path)
    console.log(`sent ${cpuSince(cpu)}`)
    await once(lines, 'close')
  } else {
    throw new Error(`usage: libp2p-end receive DST | send SRC, not ${mode}`)
  }
} finally {
  await node.stop()
}
