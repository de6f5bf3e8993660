import { closeSync, constants, fstatSync, ftruncateSync, openSync, readSync, rmSync, statSync, writeSync } from 'node:fs'
import { tryLock, waitForLock } from 'fs-native-extensions'
import { HomeBusyError } from '../errors.ts'
import type { HomePaths } from './home.ts'

export type LockPaths = Pick<HomePaths, 'root' | 'lock' | 'lockGate'>

/**
 * One daemon per home, held by an OS file lock on `hwd.lock` (an open file description lock on
 * Linux, flock elsewhere). The kernel drops it when its holder dies, even while the dead process
 * waits as a zombie, so the home is held iff a live daemon holds it: a pid left by a crash, reused
 * since, or copied from another machine blocks nothing. It holds across containers of one host
 * that share the home's volume too.
 *
 * Not the control socket: a socket file left by a crash must be unlinked before the next bind,
 * and "unlink it if it is still the dead one" is not atomic, so two starts could each unlink and
 * bind. Nor an abstract socket: Linux only, and private to one network namespace.
 *
 * The pid written in `hwd.lock` only names the holder in a refusal. Taking the lock and writing
 * the pid happen under a second, brief lock (`hwd.lock.gate`), and so does reading it, so a
 * refused start never reads a pid not yet written, nor one a crash left.
 */
export class HomeLock {
  private constructor (private readonly paths: LockPaths, private readonly fd: number) {}

  static async acquire (paths: LockPaths): Promise<HomeLock> {
    const gate = await enterGate(paths.lockGate)
    try {
      const fd = openSync(paths.lock, constants.O_RDWR | constants.O_CREAT, 0o600)
      try {
        if (!tryLock(fd)) {
          throw new HomeBusyError(`home ${paths.root} is in use by another hwd daemon (pid ${readPid(fd) ?? 'unknown'})`)
        }
        ftruncateSync(fd)
        writeSync(fd, `${process.pid}\n`, 0)
        return new HomeLock(paths, fd)
      } catch (err) {
        closeSync(fd)
        throw err
      }
    } finally {
      closeSync(gate)
    }
  }

  /**
   * Removes both files, the lock's under the gate so that no start opens it meanwhile. A start
   * waiting on the gate we remove finds it gone once we let go, and makes a new one.
   */
  async release (): Promise<void> {
    const gate = await enterGate(this.paths.lockGate)
    try {
      rmSync(this.paths.lock, { force: true })
      rmSync(this.paths.lockGate, { force: true })
    } finally {
      closeSync(this.fd)
      closeSync(gate)
    }
  }
}

/** Waits for the gate's lock; retries when the file locked is no longer the gate's, removed by a release. */
async function enterGate (path: string): Promise<number> {
  for (;;) {
    const fd = openSync(path, constants.O_RDWR | constants.O_CREAT, 0o600)
    try {
      await waitForLock(fd)
      if (isFileAt(fd, path)) return fd
    } catch (err) {
      closeSync(fd)
      throw err
    }
    closeSync(fd)
  }
}

function isFileAt (fd: number, path: string): boolean {
  const open = fstatSync(fd)
  const named = statSync(path, { throwIfNoEntry: false })
  return named?.ino === open.ino && named.dev === open.dev
}

function readPid (fd: number): number | undefined {
  const buffer = Buffer.alloc(32)
  const pid = Number.parseInt(buffer.toString('utf8', 0, readSync(fd, buffer, 0, buffer.length, 0)), 10)
  return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined
}
