import { createConnection } from 'node:net'
import { createInterface } from 'node:readline'
import { HwdError, NoDaemonError } from '../errors.ts'
import type { Progress } from './commands.ts'
import type { Reply, Request } from './control.ts'

export interface ClientHandlers {
  line?(text: string): void
  progress?(update: Progress): void
  status?(status: unknown): void
  ask?(question: string, argv: string[]): void
}

/** Raised with the daemon's own one-line reason when a command fails. */
export class CommandFailedError extends HwdError {
  static name = 'CommandFailedError'
  name = 'CommandFailedError'
}

/** Send one request to the daemon of `home` and hand its replies to `handlers` until it ends. */
export async function request (socketPath: string, home: string, req: Request, handlers: ClientHandlers): Promise<void> {
  const socket = createConnection(socketPath)
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve)
    socket.once('error', (err: any) => {
      if (err.code === 'ENOENT' || err.code === 'ECONNREFUSED') reject(new NoDaemonError(`no hwd daemon is running on home ${home}`))
      else reject(err)
    })
  })
  socket.write(JSON.stringify(req) + '\n')
  let final: Reply | undefined
  for await (const text of createInterface({ input: socket })) {
    const reply = JSON.parse(text) as Reply
    switch (reply.t) {
      case 'line': handlers.line?.(reply.text); break
      case 'progress': handlers.progress?.(reply); break
      case 'status': handlers.status?.(reply.status); break
      case 'ask': handlers.ask?.(reply.question, reply.argv); break
      default: final = reply
    }
  }
  if (final == null) throw new CommandFailedError(`the daemon on home ${home} closed the connection without an answer`)
  if (final.t === 'error') throw new CommandFailedError(final.message)
}
