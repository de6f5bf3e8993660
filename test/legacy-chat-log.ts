/**
 * A chat history as versions before the database kept it: `chat.log` in the chat package's
 * state folder, one JSON line per message, and a later line `{ unconfirmed, line }` marking an
 * outgoing message whose acknowledgement never came. For the migration's tests and benchmark.
 */
import { once } from 'node:events'
import { createWriteStream } from 'node:fs'
import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { homePaths } from '../storage/home.ts'

const CHAT_STATE = 'chat-with-file-transfer:template.os'

/** The text of message `i` of a written log: each holds its number, to be found alone. */
export function legacyText (i: number): string {
  return `legacy message #${i}# of a long history, from before the database`
}

/** The chat package's state folder in `home`. */
export function chatState (home: string): string {
  return join(homePaths(home).state, CHAT_STATE)
}

/**
 * Write `count` messages with `peer` to `home`'s chat.log, alternately ours and theirs, a
 * millisecond apart from `start`; every `markEvery`-th of ours is marked unconfirmed.
 */
export async function writeLegacyLog (home: string, peer: string, count: number, options: { start?: number, markEvery?: number, tornTail?: boolean } = {}): Promise<string> {
  const dir = chatState(home)
  await mkdir(dir, { recursive: true })
  const path = join(dir, 'chat.log')
  const out = createWriteStream(path)
  const start = options.start ?? Date.UTC(2026, 0, 1)
  let line = 0
  const write = async (value: object): Promise<void> => {
    line++
    if (!out.write(JSON.stringify(value) + '\n')) await once(out, 'drain')
  }
  for (let i = 0; i < count; i++) {
    const ours = i % 2 === 0
    await write({ peer, dir: ours ? 'out' : 'in', from: ours ? 'fake.dev' : 'fake2.dev', text: legacyText(i), at: start + i })
    if (ours && options.markEvery != null && i % options.markEvery === 0) await write({ unconfirmed: `no ack for #${i}`, line: line - 1 })
  }
  // a crash while appending leaves half a line, never acknowledged
  if (options.tornTail === true) out.write('{"peer":"torn')
  out.end()
  await once(out, 'close')
  return path
}
