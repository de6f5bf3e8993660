import '../daemon/polyfill.ts'
import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { after, afterEach, describe, it } from 'node:test'
import { CLI, eventually, stopAll, tempHome, TestNode } from './helpers.ts'

const parents = new Set<ChildProcess>()

/** Kill the zombies' parents too; the zombies go with them. */
async function stopParents (): Promise<void> {
  await Promise.all([...parents].map(async p => {
    if (p.exitCode == null && p.signalCode == null) {
      p.kill('SIGKILL')
      await new Promise(resolve => p.once('exit', resolve))
    }
    parents.delete(p)
  }))
}

afterEach(async () => { await stopParents(); await stopAll() })
after(async () => { await stopParents(); await stopAll() })

/** A process's state letter from /proc: R, S, Z (a zombie: dead, not yet reaped)... */
function stateOf (pid: number): string | undefined {
  try {
    return /\) (\S) /.exec(readFileSync(`/proc/${pid}/stat`, 'utf8'))?.[1]
  } catch {
    return undefined
  }
}

/**
 * A daemon whose parent never reaps it: sh starts it in the background, prints its pid and
 * becomes `sleep`. Killed, the daemon stays a zombie until the test kills the sleep.
 */
async function startOrphanable (home: string): Promise<{ pid: number }> {
  const script = '"$1" "$2" start --name fake.dev --home "$3" --host 127.0.0.1 --port 0 --no-mdns & echo "daemon $!"; exec sleep 1000'
  const parent = spawn('sh', ['-c', script, 'sh', process.execPath, CLI, home], { stdio: ['ignore', 'pipe', 'inherit'] })
  parents.add(parent)
  let output = ''
  await new Promise<void>((resolve, reject) => {
    parent.stdout!.setEncoding('utf8').on('data', (d: string) => {
      output += d
      if (/^daemon \d+$/m.test(output) && /^home\s+/m.test(output)) resolve()
    })
    parent.once('exit', () => { reject(new Error(`the daemon's parent exited:\n${output}`)) })
  })
  return { pid: Number(/^daemon (\d+)$/m.exec(output)![1]) }
}

describe('the home lock', () => {
  it('is not held by a killed daemon that is still a zombie', async () => {
    const home = await tempHome()
    const { pid } = await startOrphanable(home)
    process.kill(pid, 'SIGKILL')
    await eventually('the killed daemon is a zombie', async () => stateOf(pid) === 'Z')
    process.kill(pid, 0) // a zombie still answers the signal-0 probe a pid lock relies on
    const next = await TestNode.start({ home })
    assert.equal((await next.status()).pid, next.pid)
    assert.equal(stateOf(pid), 'Z', 'the first daemon was still a zombie when the second started')
  })

  it('is not held by a lock file naming a live process that is no daemon', async () => {
    const home = await tempHome()
    // as a crash followed by pid reuse would leave, or a home copied from another machine
    await writeFile(join(home, 'hwd.lock'), `${process.pid}\n`)
    await writeFile(join(home, 'hwd.lock.gate'), '')
    const a = await TestNode.start({ home })
    assert.equal((await a.status()).pid, a.pid)
    assert.equal(readFileSync(join(home, 'hwd.lock'), 'utf8'), `${a.pid}\n`)
    assert.equal(await a.stop(), 0)
    for (const file of ['hwd.lock', 'hwd.lock.gate', 'hwd.sock']) assert.ok(!existsSync(join(home, file)), `${file} removed`)
  })

  it('lets exactly one of three starts racing on a home run, the others told its pid', async () => {
    const home = await tempHome()
    // each round races over what the last winner left: nothing after a clean stop, its lock after a kill
    for (const ending of ['SIGTERM', 'SIGKILL', 'SIGTERM', 'SIGKILL'] as const) {
      const results = await Promise.allSettled([1, 2, 3].map(async () => await TestNode.start({ home })))
      const winners = results.flatMap(r => r.status === 'fulfilled' ? [r.value] : [])
      assert.equal(winners.length, 1, `one daemon runs: ${results.map(r => r.status === 'rejected' ? String(r.reason) : 'started').join('\n')}`)
      const [winner] = winners
      for (const r of results) {
        if (r.status === 'fulfilled') continue
        const message = String(r.reason)
        assert.match(message, /exited \(1\)/)
        assert.ok(message.includes(`hwd: home ${home} is in use by another hwd daemon (pid ${winner.pid})\n`), message)
      }
      assert.equal((await winner.status()).pid, winner.pid)
      await winner.stop(ending)
    }
  })
})
