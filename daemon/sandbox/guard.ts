/**
 * Node 20's permission model does not check `connect()`: a package's process could reach the
 * daemon's control socket (`<home>/hwd.sock`, whose owner owns the node) by its path. Before the
 * package's code loads, its process refuses every Unix-domain socket connect. This guard is in
 * the package's own JavaScript realm, not the kernel: it holds because every socket connect goes
 * through `net.Socket.prototype.connect`, which is made unwritable here, and the package has no
 * other way to a socket's native binding (`process.binding` is refused under the permission
 * model; child processes, workers and addons too).
 */
import net from 'node:net'
import { AccessError } from './channel.ts'

export function refuseLocalSockets (): void {
  const connect = net.Socket.prototype.connect
  Object.defineProperty(net.Socket.prototype, 'connect', {
    writable: false,
    configurable: false,
    value: function (this: net.Socket, ...args: unknown[]) {
      // net.connect() passes its arguments normalized, as one array
      const first = Array.isArray(args[0]) ? args[0][0] : args[0]
      const path = typeof first === 'string' && !/^\d+$/.test(first) ? first : (first as { path?: unknown } | null)?.path
      if (path != null) throw Object.assign(new AccessError(`a sandboxed package may not connect to local sockets (${String(path).slice(0, 200)})`), { code: 'ERR_ACCESS_DENIED' })
      return Reflect.apply(connect, this, args)
    }
  })
}
