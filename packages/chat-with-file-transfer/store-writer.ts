/**
 * The thread that commits new messages to the chat database (see chat-store.ts for why a
 * thread). Group commit: what arrives while a commit syncs waits in this thread's queue, and the
 * next turn commits it all in one transaction, one sync for the batch. Each write is answered
 * once its transaction is committed: `{ n, id }`, or `{ n, error }` when it was rolled back.
 */
import { parentPort, workerData } from 'node:worker_threads'
import { openChatDb, Writes, type Write } from './chat-db.ts'

export interface WriteRequest { n: number, write: Write }
export type WriteReply = { n: number, id: number } | { n: number, error: { message: string, code?: string } }

const db = openChatDb((workerData as { path: string }).path)
const writes = new Writes(db)
const commit = db.transaction((batch: WriteRequest[]) => batch.map(r => writes.apply(r.write)))
let queue: WriteRequest[] = []
let scheduled = false

function flush (): void {
  const batch = queue
  queue = []
  scheduled = false
  let replies: WriteReply[]
  try {
    const ids = commit(batch)
    replies = batch.map((r, i) => ({ n: r.n, id: ids[i] }))
  } catch (err: any) {
    replies = batch.map(r => ({ n: r.n, error: { message: String(err.message), code: err.code } }))
  }
  parentPort!.postMessage(replies)
}

parentPort!.on('message', (request: WriteRequest | 'close') => {
  if (request === 'close') {
    if (scheduled) flush()
    db.close()
    parentPort!.close()
    return
  }
  queue.push(request)
  if (!scheduled) {
    scheduled = true
    setImmediate(flush)
  }
})
