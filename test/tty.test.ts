/**
 * The node's terminal and `hwd run` as a person sees them: on a pseudo-terminal (util-linux
 * `script`), with keys pressed one at a time. Elsewhere the same commands print
 * Hyperware's `progress: N%` lines; the other tests hold them to that.
 */
import '../daemon/polyfill.ts'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { stat, truncate, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { after, afterEach, describe, it } from 'node:test'
import { CHAT_PKG, CLI, drive, onTty, stopAll, TestNode } from './helpers.ts'

afterEach(stopAll)
after(stopAll)

/** Long enough on loopback for several redraws; sparse, so it costs no disk to make. */
const SIZE = 512 * 1024 * 1024
const ERASE_LINE_ABOVE = '\u001b[1A\u001b[K'

/** Every rendering of `file`'s job line in raw terminal output: its percent and what follows. */
function renderings (output: string, file: string): Array<{ at: number, percent: number, text: string }> {
  const found = []
  for (const m of output.matchAll(new RegExp(`${file.replace('.', '\\.')} \\[[#-]{20}\\] (\\d+)% [^\\r\\n]*`, 'g'))) {
    found.push({ at: m.index, percent: Number(m[1]), text: m[0] })
  }
  return found
}

/** A running download is one line, redrawn in place, with rate and time left; the summary follows it. */
function assertLiveLine (output: string, file: string): void {
  assert.doesNotMatch(output, /progress: \d+%/, 'no Hyperware progress lines on a terminal')
  const seen = renderings(output, file)
  assert.ok(new Set(seen.map(r => r.percent)).size >= 3, `redrawn as it goes: ${seen.map(r => r.percent).join(', ')}`)
  assert.ok(seen.some(r => / MB\/s, \d+:\d\d left$/.test(r.text)), `rate and time left: ${seen.map(r => r.text).join(' | ')}`)
  // each redraw first erases the line it replaces
  const erased = seen.slice(1).filter(r => output.lastIndexOf(ERASE_LINE_ABOVE, r.at) > seen[0].at)
  assert.equal(erased.length, seen.length - 1, 'every redraw replaces the line before it')
  const last = seen.at(-1)!
  assert.equal(last.percent, 100)
  assert.ok(output.indexOf(`downloaded ${file} from fake2.dev`) > last.at, 'the summary comes after the finished line')
}

describe('on a terminal', () => {
  it('the node\'s prompt completes commands, names and files, and shows a download as one live line', async () => {
    const b = await TestNode.start({ name: 'fake2.dev' })
    await truncate(await writeFile(join(drive(b), 'big.bin'), '').then(() => join(drive(b), 'big.bin')), SIZE)
    const a = await TestNode.start({ name: 'fake.dev', peers: [b.addr], tty: true, keepStdin: true })
    await a.waitForOutput(/fake2\.dev connected/)

    // a command: two match `list-files:`, `c` makes it one
    await a.press('list-f', /list-f/)
    await a.press('\t', /list-files:/)
    await a.press('c', /list-files:c/)
    await a.press('\t', /list-files:chat-with-file-transfer:template\.os/)
    // a node name: ours is not offered
    await a.press(' fa', /template\.os fa/)
    await a.press('\t', /fake2\.dev/)
    await a.press('\r', /big\.bin\s+512\.0 MiB/)

    // a file name, from the listing just made
    await a.press(`download:${CHAT_PKG} b`, /template\.os b/)
    await a.press('\t', /template\.os big\.bin/)
    const shown = await a.press(' fake2.dev\r', /downloaded big\.bin from fake2\.dev/, 60_000)
    assertLiveLine(shown, 'big.bin')
    assert.equal((await stat(join(drive(a), 'big.bin'))).size, SIZE)

    await a.press('\u0003', /SIGINT: stopping/)
    assert.equal(await a.stop(), 0)
  })

  it('hwd run shows a download as a bar with rate and time left, then its summary', async () => {
    const b = await TestNode.start({ name: 'fake2.dev' })
    await writeFile(join(drive(b), 'big2.bin'), '')
    await truncate(join(drive(b), 'big2.bin'), SIZE)
    const a = await TestNode.start({ name: 'fake.dev', peers: [b.addr] })
    await a.waitForOutput(/^fake2\.dev connected$/m)
    const [command, ...args] = onTty([process.execPath, CLI, 'run', '--home', a.home, `download:${CHAT_PKG}`, 'big2.bin', 'fake2.dev'])
    const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'inherit'] })
    child.stdin.end()
    let output = ''
    child.stdout.setEncoding('utf8').on('data', (d: string) => { output += d })
    const code = await new Promise(resolve => child.on('close', resolve))
    assert.equal(code, 0, output)
    assertLiveLine(output, 'big2.bin')
    assert.equal((await stat(join(drive(a), 'big2.bin'))).size, SIZE)
    // the node's own terminal, not a TTY here, still speaks Hyperware's lines for what clients run
    await a.waitForOutput(/^big2\.bin progress: 100%$/m)
  })
})
