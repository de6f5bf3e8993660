import '../daemon/polyfill.ts'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdir, readFile, symlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { after, afterEach, describe, it } from 'node:test'
import { eventually, hwd, knows, stopAll, tempHome, TestNode } from './helpers.ts'
import { writePackage } from './write-package.ts'

afterEach(stopAll)
after(stopAll)

const HELLO = `export function start (ctx) {
  return { scripts: { hello: async (args, { out }) => { out.line('hello from ' + ctx.id + ' on ' + ctx.our.name) } } }
}`
const helloScripts = { hello: { args: '', summary: 'say hello', minArgs: 0, maxArgs: 0 } }

describe('packages from outside', () => {
  it('scaffolds a package with hwd new that moves files and fetches several at once on two nodes', async () => {
    const work = await tempHome('hwd-pkg-')
    const made = await hwd(['new', 'photos', '--publisher', 'me.os', '--dir', work])
    assert.equal(made.code, 0, made.stderr)
    const dir = join(work, 'photos')
    assert.match(made.stdout, new RegExp(`^created ${dir}$`, 'm'))
    const again = await hwd(['new', 'photos', '--dir', work])
    assert.equal(again.code, 2)
    assert.match(again.stderr, /already exists/)

    const a = await TestNode.start({ name: 'fake.dev', extra: ['--package', dir] })
    const b = await TestNode.start({ name: 'fake2.dev', peers: [a.addr], extra: ['--package', dir] })
    assert.match(a.output, /^package\s+photos:me.os 0.1.0 \(sandboxed; holds file-transfer:template.os\)$/m)
    await eventually('names exchanged', async () => knows(await a.status(), 'fake2.dev', b.peerId))
    const help = await a.run('help')
    for (const s of ['download', 'list-files', 'fetch-all']) assert.match(help.stdout, new RegExp(`^${s}:photos:me.os `, 'm'))

    const theirs = join(b.home, 'vfs', 'photos:me.os', 'files')
    const files = new Map([['a.jpg', randomBytes(3 * 1024 * 1024)], ['b.jpg', randomBytes(1000)], ['c.jpg', randomBytes(2 * 1024 * 1024)], ['d.txt', Buffer.from('d')], ['e.bin', randomBytes(70_000)]])
    for (const [name, data] of files) await writeFile(join(theirs, name), data)
    const ours = join(a.home, 'vfs', 'photos:me.os', 'files')

    const one = await a.run('download:photos:me.os', 'd.txt', 'fake2.dev')
    assert.equal(one.code, 0, one.stderr)
    assert.equal(await readFile(join(ours, 'd.txt'), 'utf8'), 'd')

    const all = await a.run('fetch-all:photos:me.os', 'fake2.dev')
    assert.equal(all.code, 0, all.stderr)
    assert.match(all.stdout, /^fetched 5 files from fake2.dev$/m)
    for (const [name, data] of files) assert.ok((await readFile(join(ours, name))).equals(data), name)
    const other = await a.run('list-files:chat-with-file-transfer:template.os', 'fake2.dev')
    assert.match(other.stdout, /offers no files/, 'each package has its own drive')
  })

  it('hwd new into a folder that is missing or a file says so in one line', async () => {
    const work = await tempHome('hwd-pkg-')
    const missing = join(work, 'no', 'such')
    const gone = await hwd(['new', 'photos', '--dir', missing])
    assert.equal(gone.code, 2)
    assert.equal(gone.stderr, `hwd: no folder ${missing} to create the package in\n`)
    const file = join(work, 'a-file')
    await writeFile(file, '')
    const notDir = await hwd(['new', 'photos', '--dir', file])
    assert.equal(notDir.code, 2)
    assert.equal(notDir.stderr, `hwd: cannot create a folder under ${file}: a part of that path is a file\n`)
  })

  it('loads packages from <home>/packages at start', async () => {
    const home = await tempHome()
    await writePackage(join(home, 'packages'), 'greeter', { scripts: helloScripts }, HELLO)
    const a = await TestNode.start({ home })
    const r = await a.run('hello:greeter:test.os')
    assert.equal(r.stdout, 'hello from greeter:test.os on fake.dev\n')
    assert.deepEqual((await a.status()).packages.map(p => p.id), ['file-transfer:template.os', 'chat-with-file-transfer:template.os', 'greeter:test.os'])
  })

  it('refuses each bad package with its reason, and loads the rest', async () => {
    const home = await tempHome()
    const pkgs = join(home, 'packages')
    await writePackage(pkgs, 'good', { scripts: helloScripts }, HELLO)
    await writePackage(pkgs, 'needs-missing', { dependencies: ['nowhere:test.os'] }, HELLO)
    await writePackage(pkgs, 'loop-a', { dependencies: ['loop-b:test.os'] }, HELLO)
    await writePackage(pkgs, 'loop-b', { dependencies: ['loop-a:test.os'] }, HELLO)
    await writePackage(pkgs, 'throws', {}, 'export function start () { throw new Error("boom") }')
    await writePackage(pkgs, 'on-throws', { dependencies: ['throws:test.os'] }, HELLO)
    await writePackage(pkgs, 'no-start', {}, 'export const nothing = 1')
    await writePackage(pkgs, 'bad-meta', { version: 7 }, HELLO)
    await mkdir(join(pkgs, 'not-json'))
    await writeFile(join(pkgs, 'not-json', 'metadata.json'), '{ nope')
    const twin = await writePackage(join(home, 'elsewhere'), 'good', { scripts: helloScripts }, HELLO)
    const a = await TestNode.start({ home, extra: ['--package', twin] })
    const refusals = [
      /^refused package needs-missing:test.os: missing dependency nowhere:test.os$/m,
      /^refused package loop-[ab]:test.os: dependency cycle loop-[ab]:test.os → loop-[ab]:test.os → loop-[ab]:test.os$/m,
      /^refused package throws:test.os: failed to start: Error: boom$/m,
      /^refused package on-throws:test.os: its dependency throws:test.os did not load$/m,
      /^refused package no-start:test.os: its entry index.js exports no start function$/m,
      /^refused package at .*bad-meta: metadata.json needs a version$/m,
      /^refused package at .*not-json: cannot read metadata.json \(.*JSON.*\)$/m,
      /^refused package good:test.os at .*elsewhere\/good: duplicate of the one at .*packages\/good$/m
    ]
    for (const r of refusals) assert.match(a.output, r)
    assert.deepEqual((await a.status()).packages.map(p => p.id), ['file-transfer:template.os', 'chat-with-file-transfer:template.os', 'good:test.os'])
    assert.equal((await a.run('hello:good:test.os')).code, 0)
    const b = await TestNode.start({ name: 'fake2.dev', peers: [a.addr] })
    await writeFile(join(b.home, 'vfs', 'chat-with-file-transfer:template.os', 'files', 'x.txt'), 'x')
    await eventually('a knows fake2.dev', async () => knows(await a.status(), 'fake2.dev', b.peerId))
    assert.equal((await a.run('download:chat-with-file-transfer:template.os', 'x.txt', 'fake2.dev')).code, 0, 'the built-in packages work on')
  })
})

describe('package types', () => {
  it('a package written in TypeScript type-checks against hwd/package and hwd/file-transfer', async () => {
    const dir = await tempHome('hwd-ts-pkg-')
    const repo = fileURLToPath(new URL('../..', import.meta.url))
    await mkdir(join(dir, 'node_modules'))
    await symlink(repo, join(dir, 'node_modules', 'hwd'))
    await writeFile(join(dir, 'tsconfig.json'), JSON.stringify({
      compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, noEmit: true, skipLibCheck: true, lib: ['ES2024', 'DOM'], types: [] },
      files: ['index.ts']
    }))
    const entry = (body: string): string => `import type { PackageContext, PackageRuntime } from 'hwd/package'
import type { FileTransferApi } from 'hwd/file-transfer'
export function start (ctx: PackageContext): PackageRuntime {
  const files = ctx.deps['file-transfer:template.os'] as FileTransferApi
  ${body}
  return { scripts: { ...files.scripts(ctx) } }
}
`
    const tsc = join(repo, 'node_modules', 'typescript', 'bin', 'tsc')
    const check = (): ReturnType<typeof spawnSync> => spawnSync(process.execPath, [tsc, '-p', dir], { encoding: 'utf8' })
    await writeFile(join(dir, 'index.ts'), entry("files.startDownload(ctx, { isRequester: true, source: 'fake2.dev', file: 'a.txt' }).done.then(r => ctx.print(r.blake3))"))
    const good = check()
    assert.equal(good.status, 0, String(good.stdout))
    await writeFile(join(dir, 'index.ts'), entry("files.startDownload(ctx, { isRequester: true, source: 'fake2.dev', fiel: 'a.txt' })"))
    const bad = check()
    assert.notEqual(bad.status, 0)
    assert.match(String(bad.stdout), /fiel/)
  })
})
