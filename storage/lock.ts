import { open, readFile, unlink } from 'node:fs/promises'
import { HomeBusyError } from '../errors.ts'

/**
 * One daemon per home. The lock file holds the owner's pid; a lock whose pid is no longer
 * alive was left by a crash and is taken over.
 */
export class HomeLock {
  private constructor (private readonly path: string) {}

  static async acquire (path: string, home: string): Promise<HomeLock> {
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        const file = await open(path, 'wx', 0o600)
        await file.writeFile(`${process.pid}\n`)
        await file.close()
        return new HomeLock(path)
      } catch (err: any) {
        if (err.code !== 'EEXIST') throw err
      }
      const pid = await readPid(path)
      if (pid != null && pid !== process.pid && isAlive(pid)) {
        throw new HomeBusyError(`home ${home} is in use by another hwd daemon (pid ${pid})`)
      }
      await unlink(path).catch(() => {})
    }
    throw new HomeBusyError(`could not lock home ${home}: ${path} keeps reappearing`)
  }

  async release (): Promise<void> {
    await unlink(this.path).catch(() => {})
  }
}

async function readPid (path: string): Promise<number | undefined> {
  try {
    const pid = Number.parseInt(await readFile(path, 'utf8'), 10)
    return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined
  } catch {
    return undefined
  }
}

function isAlive (pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err: any) {
    return err.code === 'EPERM'
  }
}
