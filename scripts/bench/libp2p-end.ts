/**
 * One end of the two-process libp2p baseline (`libp2pProcessesCopy` in baseline.ts): a bare node
 * in a process of its own, as each hwd daemon is. It speaks to its parent in lines:
 *   receive DST   prints `listening ADDR`; once a stream's bytes are in DST and fsynced,
 *                 `done BYTES`, and exits
 *   send SRC      prints `ready`; on `go ADDR` from stdin sends SRC to ADDR, prints
 *                 `sent`, and exits when stdin ends: stopping the node at once
 *                 would cut off what the connection has not yet written (close() resolves once
 *                 the stream has handed its data on, not once it is on the wire)
 */
import { once } from 'node:events'
import { createInterface } from 'node:readline'
import { createNode, dialAndSend, receiveInto } from './baseline.ts'

const [mode, path] = process.argv.slice(2)
const node = await createNode()
try {
  if (mode === 'receive') {
    const { received } = await receiveInto(node, path)
    console.log(`listening ${node.getMultiaddrs()[0].toString()}`)
    console.log(`done ${await received}`)
  } else if (mode === 'send') {
    const lines = createInterface({ input: process.stdin })
    console.log('ready')
    const [line] = await once(lines, 'line') as [string]
    await dialAndSend(node, line.replace(/^go /, ''), path)
    console.log('sent')
    await once(lines, 'close')
  } else {
    throw new Error(`usage: libp2p-end receive DST | send SRC, not ${mode}`)
  }
} finally {
  await node.stop()
}
