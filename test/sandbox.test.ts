import '../daemon/polyfill.ts'
import assert from 'node:assert/strict'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { after, afterEach, describe, it } from 'node:test'
import { cpuSeconds } from '../scripts/bench/stats.ts'
import { eventually, hwd, knows, stopAll, tempHome, TestNode } from './helpers.ts'
import { writePackage } from './write-package.ts'

afterEach(stopAll)
after(stopAll)

const script = (args = '', minArgs = 0, maxArgs = minArgs): object => ({ args, summary: 'a test', minArgs, maxArgs })

/** Tries what a sandboxed package must not do, and says how each attempt ended. */
const SNOOP = `import { readFile, writeFile } from 'node:fs/promises'
import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { connect } from 'node:net'
import { Worker } from 'node:worker_threads'
const tried = async (out, fn) => {
  try { out.line('allowed ' + await fn()) } catch (err) { out.line('denied ' + (err.code ?? err.name) + ': ' + err.message) }
}
export function start (ctx) {
  return {
    scripts: {
      read: async ([path], { out }) => tried(out, async () => (await readFile(path, 'utf8')).trim()),
      write: async ([path], { out }) => tried(out, async () => { await writeFile(path, 'x'); return path }),
      mine: async (args, { out }) => tried(out, async () => { await writeFile(join(ctx.drive.root, 'mine.txt'), 'ok'); return (await ctx.drive.list()).map(f => f.name).join(',') }),
      spawn: async (args, { out }) => tried(out, async () => spawnSync('sh', ['-c', 'echo escaped']).stdout),
      worker: async (args, { out }) => tried(out, async () => { new Worker('1', { eval: true }); return 'a worker' }),
      dial: async ([node], { out }) => tried(out, async () => (await ctx.connect(node)).remotePeer.toString()),
      socket: async ([path], { out }) => tried(out, async () => await new Promise((resolve, reject) => {
        const s = connect(path, () => { s.end(); resolve('connected') })
        s.on('error', reject)
      })),
      print: async (args, { out }) => tried(out, async () => { ctx.print('hello'); return 'printed' })
    }
  }
}`
const snoopScripts = { read: script('PATH', 1), write: script('PATH', 1), mine: script(), spawn: script(), worker: script(), dial: script('NODE', 1), socket: script('PATH', 1), print: script() }

const HELLO = `export function start (ctx) {
  return { scripts: { hello: async (args, { out }) => { out.line('hello from ' + ctx.id) } } }
}`
const helloScripts = { hello: script() }

/** A package with net: its own echo protocol, handled and dialed through the daemon. */
const ECHO = `export async function start (ctx) {
  const protocol = '/' + ctx.id + '/echo/1.0.0'
  await ctx.node.handle(protocol, async (stream, connection) => {
    ctx.print('echoing for ' + ctx.nameOf(connection.remotePeer) + '\u001b[2J')
    const chunks = []
    for await (const c of stream) chunks.push(c.subarray())
    stream.send(new TextEncoder().encode('echo: ' + Buffer.concat(chunks).toString()))
    await stream.close()
  })
  const talk = async (node, proto, text) => {
    const connection = await ctx.connect(node)
    const stream = await connection.newStream(proto)
    stream.send(new TextEncoder().encode(text))
    await stream.close()
    const chunks = []
    for await (const c of stream) chunks.push(c.subarray())
    return Buffer.concat(chunks).toString()
  }
  return {
    scripts: {
      echo: async ([node, text], { out }) => { out.line(await talk(node, protocol, text)) },
      chat: async ([node], { out }) => {
        try { await talk(node, '/hwd/chat/1.0.0', 'hi'); out.line('allowed') } catch (err) { out.line('denied ' + err.name + ': ' + err.message) }
      },
      big: async ([node, mib], { out }) => {
        const text = 'x'.repeat(Number(mib) * 1024 * 1024)
        const back = await talk(node, protocol, text)
        out.line('echoed ' + back.length)
      }
    }
  }
}`
const echoScripts = { echo: script('NODE TEXT', 2), chat: script('NODE', 1), big: script('NODE MIB', 2) }

describe('sandboxed packages', () => {
  it('a package reaches only its own drive and what it was granted; the daemon and the others run on', async () => {
    const home = await tempHome()
    const pkgs = join(home, 'packages')
    await writePackage(pkgs, 'snoop', { scripts: snoopScripts }, SNOOP)
    await writePackage(pkgs, 'other', { scripts: helloScripts }, HELLO)
    const a = await TestNode.start({ home })
    const b = await TestNode.start({ name: 'fake2.dev', peers: [a.addr] })
    await eventually('a knows fake2.dev', async () => knows(await a.status(), 'fake2.dev', b.peerId))
    assert.match(a.output, /^package\s+snoop:test.os 1.0.0 \(sandboxed; holds nothing beyond its drive\)$/m)
    await writeFile(join(home, 'vfs', 'other:test.os', 'files', 'secret.txt'), 'secret')

    const attempt = async (...argv: string[]): Promise<string> => {
      const r = await a.run(...argv)
      assert.equal(r.code, 0, r.stderr)
      return r.stdout
    }
    for (const path of [join(home, 'identity.key'), join(home, 'vfs', 'other:test.os', 'files', 'secret.txt'), '/etc/passwd']) {
      assert.match(await attempt('read:snoop:test.os', path), /^denied ERR_ACCESS_DENIED/, path)
    }
    for (const path of [join(home, 'vfs', 'other:test.os', 'files', 'planted'), join(home, 'packages', 'snoop', 'index.js'), '/tmp/hwd-sandbox-escape']) {
      assert.match(await attempt('write:snoop:test.os', path), /^denied ERR_ACCESS_DENIED/, path)
    }
    assert.match(await attempt('spawn:snoop:test.os'), /^denied ERR_ACCESS_DENIED/)
    assert.match(await attempt('worker:snoop:test.os'), /^denied ERR_ACCESS_DENIED/)
    assert.match(await attempt('socket:snoop:test.os', join(home, 'hwd.sock')), /^denied ERR_ACCESS_DENIED: a sandboxed package may not connect to local sockets/)
    assert.match(await attempt('dial:snoop:test.os', 'fake2.dev'), /^denied AccessError: snoop:test.os was not granted net$/m)
    assert.match(await attempt('print:snoop:test.os'), /^denied AccessError: snoop:test.os was not granted terminal$/m)
    assert.equal(await attempt('mine:snoop:test.os'), 'allowed mine.txt\n', 'its own drive is its to write')

    assert.equal(await attempt('hello:other:test.os'), 'hello from other:test.os\n')
    const listed = await attempt('packages')
    assert.match(listed, /^snoop:test.os 1.0.0: sandboxed, holds nothing beyond its drive; running \(pid \d+\); from .*\/snoop$/m)
    assert.match(listed, /^file-transfer:template.os 0.1.0: built in, running in the daemon$/m)
    await writeFile(join(b.home, 'vfs', 'chat-with-file-transfer:template.os', 'files', 'x.txt'), 'x')
    assert.equal((await a.run('download:chat-with-file-transfer:template.os', 'x.txt', 'fake2.dev')).code, 0, 'the built-in packages work on')
  })

  it('with net, a package handles and dials its own protocol through the daemon, and no other', async () => {
    const work = await tempHome('hwd-pkg-')
    const dir = await writePackage(work, 'echo', { scripts: echoScripts, capabilities: ['net', 'terminal'] }, ECHO)
    const a = await TestNode.start({ extra: ['--package', dir] })
    const b = await TestNode.start({ name: 'fake2.dev', peers: [a.addr], extra: ['--package', dir] })
    assert.match(a.output, /^package\s+echo:test.os 1.0.0 \(sandboxed; holds net, terminal\)$/m)
    await eventually('a knows fake2.dev', async () => knows(await a.status(), 'fake2.dev', b.peerId))
    const r = await a.run('echo:echo:test.os', 'fake2.dev', 'hello')
    assert.equal(r.stdout, 'echo: hello\n', r.stderr)
    await b.waitForOutput(/^echo:test.os: echoing for fake.dev\\u001b\[2J$/m)
    const big = await a.run('big:echo:test.os', 'fake2.dev', '8')
    assert.equal(big.stdout, `echoed ${8 * 1024 * 1024 + 6}\n`, big.stderr)
    const chat = await a.run('chat:echo:test.os', 'fake2.dev')
    assert.match(chat.stdout, /^denied AccessError: echo:test.os may dial only its own protocols/)
    assert.equal((await b.run('deny', 'fake.dev')).code, 0)
    const refused = await a.run('echo:echo:test.os', 'fake2.dev', 'again')
    assert.notEqual(refused.code, 0, 'the access list holds for a sandboxed package\'s protocol')
    await b.waitForOutput(/^refused fake.dev \(\/echo:test.os\/echo\/1.0.0\): not on the access list$/m)
  })

  it("a sandboxed package calls another one's API through the daemon, which names the caller", async () => {
    const home = await tempHome()
    const pkgs = join(home, 'packages')
    await writePackage(pkgs, 'counter', {}, `export function start (ctx) {
  let total = 0
  return { api: { add: (caller, n) => { total += n; return caller.id + ' added ' + n + ', total ' + total } } }
}`)
    await writePackage(pkgs, 'user', { dependencies: ['counter:test.os'], scripts: { use: script('N', 1) } }, `export function start (ctx) {
  const counter = ctx.deps['counter:test.os']
  return { scripts: { use: async ([n], { out }) => { out.line(await counter.add(ctx, Number(n))) } } }
}`)
    const a = await TestNode.start({ home })
    assert.match(a.output, /^package\s+user:test.os 1.0.0 \(sandboxed; holds counter:test.os\)$/m)
    assert.equal((await a.run('use:user:test.os', '2')).stdout, 'user:test.os added 2, total 2\n')
    assert.equal((await a.run('use:user:test.os', '3')).stdout, 'user:test.os added 3, total 5\n')
    const listed = await hwd(['packages', '--home', home])
    assert.match(listed.stdout, /^user:test.os 1.0.0: sandboxed, holds counter:test.os; running \(pid \d+\); from .*\/user$/m)
  })

  it('refuses a package that asks for a capability no one knows', async () => {
    const home = await tempHome()
    await writePackage(join(home, 'packages'), 'greedy', { capabilities: ['net', 'root'] }, HELLO)
    const a = await TestNode.start({ home })
    assert.match(a.output, /^refused package at .*greedy: metadata.json asks for an unknown capability "root" \(known: net, terminal\)$/m)
  })

  it('a package that crashes, hangs, grows past its memory or floods its channel is stopped and told; the rest runs on', async () => {
    const home = await tempHome()
    const pkgs = join(home, 'packages')
    await writePackage(pkgs, 'crasher', {}, "export function start () { setTimeout(() => { throw new Error('kaboom') }, 200); return {} }")
    await writePackage(pkgs, 'sleeper', {}, 'export function start () { for (;;) {} }')
    await writePackage(pkgs, 'spinner', { scripts: { spin: script() } }, 'export function start () { return { scripts: { spin: async () => { for (;;) {} } } } }')
    await writePackage(pkgs, 'hog', { scripts: { eat: script() } }, 'export function start () { const kept = []; return { scripts: { eat: async () => { for (;;) kept.push(new Array(1e6).fill(kept.length)) } } } }')
    await writePackage(pkgs, 'flood', { scripts: { send: script() } }, `import { writeSync } from 'node:fs'
export function start () { return { scripts: { send: async () => { const b = Buffer.alloc(4); b.writeUInt32BE(64 * 1024 * 1024); writeSync(3, b) } } } }`)
    await writePackage(pkgs, 'garbled', { scripts: { send: script() } }, `import { writeSync } from 'node:fs'
import { serialize } from 'node:v8'
const frame = m => { const b = Buffer.alloc(4); b.writeUInt32BE(m.length); return Buffer.concat([b, m]) }
export function start () { return { scripts: { send: async () => {
  // fields of the wrong kind are passed by; bytes that are no message end the channel
  writeSync(3, frame(serialize({ t: 'n', op: 's.data', args: 7 })))
  writeSync(3, frame(serialize({ t: 'n', op: 'print', args: null })))
  writeSync(3, frame(Buffer.from([0xff, 0x0f, 0x99, 0x99])))
} } } }`)
    await writePackage(pkgs, 'other', { scripts: helloScripts }, HELLO)
    const a = await TestNode.start({ home, startMs: 30_000 })
    await a.waitForOutput(/^package crasher:test.os failed: exited with code 1: Error: kaboom; it is stopped, the rest runs on$/m)
    assert.match(a.output, /^refused package sleeper:test.os: failed to start: did not start within 10 s$/m)

    const spin = await a.run('spin:spinner:test.os')
    assert.notEqual(spin.code, 0)
    assert.match(spin.stderr, /spinner:test.os failed: stopped answering/)
    const eat = await a.run('eat:hog:test.os')
    assert.notEqual(eat.code, 0)
    assert.match(eat.stderr, /hog:test\.os failed: ran out of memory/, 'the script\'s own error says why')
    await a.waitForOutput(/^package hog:test.os failed: ran out of memory \(its heap is limited to 128 MiB\); it is stopped, the rest runs on$/m)
    await a.run('send:flood:test.os')
    await a.waitForOutput(/^package flood:test.os failed: its channel: sent a message of 67108864 bytes, over the limit of 262144; it is stopped, the rest runs on$/m)

    await a.run('send:garbled:test.os')
    await a.waitForOutput(/^package garbled:test.os failed: its channel: sent a malformed message; it is stopped, the rest runs on$/m)

    const listed = (await a.run('packages')).stdout
    assert.match(listed, /^crasher:test.os 1.0.0: sandboxed, holds nothing beyond its drive; failed: exited with code 1: Error: kaboom; from .*\/crasher$/m)
    assert.match(listed, /^refused package sleeper:test.os: failed to start: did not start within 10 s$/m)
    assert.equal((await a.run('hello:other:test.os')).stdout, 'hello from other:test.os\n')
    const again = await a.run('spin:spinner:test.os')
    assert.match(again.stderr, /package spinner:test.os is not running \(stopped answering/)
  })

  it('no package process outlives the daemon', async () => {
    const home = await tempHome()
    await writePackage(join(home, 'packages'), 'one', { scripts: helloScripts }, HELLO)
    await writePackage(join(home, 'packages'), 'two', { scripts: helloScripts }, HELLO)
    const a = await TestNode.start({ home })
    const pids = [...(await a.run('packages')).stdout.matchAll(/running \(pid (\d+)\)/g)].map(m => Number(m[1]))
    assert.equal(pids.length, 2)
    for (const pid of pids) process.kill(pid, 0)
    assert.equal(await a.stop('SIGTERM'), 0)
    for (const pid of pids) assert.throws(() => process.kill(pid, 0), { code: 'ESRCH' }, `package process ${pid} is gone`)

    // killed outright, the daemon stops nothing: its package processes see their channel close,
    // and one in a loop that never yields, which never would, gets the kernel's parent-death signal
    await writePackage(join(home, 'packages'), 'spinner', { scripts: { spin: script() } }, 'export function start () { return { scripts: { spin: async () => { for (;;) {} } } } }')
    const b = await TestNode.start({ home })
    const listing = (await b.run('packages')).stdout
    const orphans = [...listing.matchAll(/running \(pid (\d+)\)/g)].map(m => Number(m[1]))
    const spinner = Number(/^spinner:test\.os .*running \(pid (\d+)\)/m.exec(listing)?.[1])
    assert.equal(orphans.length, 3)
    const spun = await cpuSeconds([spinner])
    const spinning = b.run('spin:spinner:test.os')
    await eventually('the spinner to spin', async () => await cpuSeconds([spinner]) > spun + 0.2)
    await b.stop('SIGKILL')
    await spinning
    await eventually('the package processes to exit', async () => orphans.every(pid => {
      try { process.kill(pid, 0); return false } catch (err: any) { return err.code === 'ESRCH' }
    }))
  })
})
