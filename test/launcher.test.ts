import '../daemon/polyfill.ts'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { chmod, readFile } from 'node:fs/promises'
import { after, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { CLI, stopAll, tempHome, TestNode } from './helpers.ts'
import { nodeFlagsOf } from './launcher.ts'

after(stopAll)

/** The arguments a running process was started with. */
async function commandLine (pid: number): Promise<string[]> {
  return (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0').slice(0, -1)
}

/** What node was told before the script: the flags between the node binary and the CLI. */
function flagsBefore (argv: string[], cli: string): string[] {
  const at = argv.indexOf(cli)
  assert.ok(at > 0, `${cli} in ${argv.join(' ')}`)
  return argv.slice(1, at)
}

describe('node flags, set where the daemon is launched', () => {
  it('come from the CLI\'s first line: the heap growth, which V8 takes only at launch', () => {
    assert.ok(nodeFlagsOf(CLI).some(flag => /^--heap-growing-percent=\d+$/.test(flag)), nodeFlagsOf(CLI).join(' '))
  })

  it('reach a daemon started as the hwd bin, and the tests\' daemons, alike', async () => {
    // run as a user's `hwd` runs: the file itself, through its first line (npm and the
    // Dockerfile make it executable)
    await chmod(CLI, 0o755)
    const home = await tempHome()
    const bin = spawn(CLI, ['start', '--name', 'fake.dev', '--home', home, '--host', '127.0.0.1', '--port', '0', '--no-mdns'], { stdio: ['ignore', 'pipe', 'inherit'] })
    const exited = new Promise(resolve => bin.on('exit', resolve))
    try {
      let output = ''
      await new Promise<void>((resolve, reject) => {
        bin.stdout.setEncoding('utf8').on('data', (d: string) => { output += d; if (/^home\s+/m.test(output)) resolve() })
        bin.on('exit', code => { reject(new Error(`exited with ${code}: ${output}`)) })
      })
      const asBin = flagsBefore(await commandLine(bin.pid!), CLI)
      assert.deepEqual(asBin, nodeFlagsOf(CLI), 'env -S hands node the first line\'s flags')
      const node = await TestNode.start({ name: 'fake2.dev' })
      assert.deepEqual(flagsBefore(await commandLine(node.pid), CLI), asBin, 'TestNode starts its daemon as the bin does')
    } finally {
      bin.kill('SIGTERM')
      await exited
    }
  })

  it('reach a daemon started by npm start', async () => {
    const pkg = JSON.parse(await readFile(fileURLToPath(new URL('../../package.json', import.meta.url)), 'utf8')) as { scripts: { start: string } }
    assert.equal(pkg.scripts.start, `node ${nodeFlagsOf(CLI).join(' ')} dist/daemon/cli.js start`)
  })
})
