import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { CancelledError, TransferTable, type TransferInfo } from '../daemon/transfers.ts'
import { HwdError } from '../errors.ts'

const info = (id: string, drive: string): TransferInfo => ({ id, label: 'a.bin', drive, peer: 'fake2.dev', direction: 'download', done: 0, startedAt: Date.now() })

describe('the transfer table', () => {
  it('keeps a cancelled transfer, and its file, until its worker ends; a finishing one is not cancelled', () => {
    const table = new TransferTable()
    const reasons: string[] = []
    table.begin(info('one', 'x:p'), err => { reasons.push(err.message) })
    table.begin(info('two', 'y:p'), err => { reasons.push(err.message) })
    assert.deepEqual(table.find('a.bin').map(t => t.id), ['one', 'two'], 'a file names every transfer of it')
    assert.deepEqual(table.find('one').map(t => t.id), ['one'], 'an id names one')
    assert.ok(table.cancel('one'))
    assert.deepEqual(reasons, ['a.bin: cancelled'])
    assert.ok(table.has('download', 'x:p', 'a.bin'), 'cleaning up, it still holds its file')
    assert.ok(!table.cancel('one'), 'a transfer is cancelled once')
    assert.deepEqual(table.find('a.bin').map(t => t.id), ['two'], 'what is cancelled is not found again')
    table.end('one')
    assert.ok(!table.has('download', 'x:p', 'a.bin'))
    assert.ok(table.has('download', 'y:p', 'a.bin'), 'the same name in another drive is another transfer')
    assert.ok(!table.has('upload', 'y:p', 'a.bin'))
    table.begin(info('three', 'x:p'), () => { assert.fail('a finishing transfer is not cancelled') })
    table.finishing('three')
    assert.ok(!table.cancel('three'))
    assert.deepEqual(table.find('three'), [])
  })
  it('remembers how each transfer ended as its worker said, a finishing one that failed included', () => {
    const table = new TransferTable()
    const outcome = (id: string, direction: TransferInfo['direction'], error?: unknown, steps?: (id: string) => void): unknown => {
      table.begin({ ...info(id, 'x:p'), direction }, () => {})
      steps?.(id)
      table.end(id, error)
      const { outcome, error: reason } = table.recent().at(-1)!
      return { outcome, reason }
    }
    assert.deepEqual(outcome('saved', 'download'), { outcome: 'done', reason: undefined })
    assert.deepEqual(outcome('all sent', 'upload'), { outcome: 'sent', reason: undefined })
    assert.deepEqual(outcome('rename failed', 'download', new HwdError('a.bin: cannot be saved into x:p (EISDIR)'), id => { table.finishing(id) }),
      { outcome: 'failed', reason: 'a.bin: cannot be saved into x:p (EISDIR)' })
    assert.deepEqual(outcome('reset', 'upload', new Error('the peer\u001b[2J\nwent')), { outcome: 'failed', reason: 'Error: the peer\\u001b[2J\\u000awent' }, 'escaped as the terminal prints it')
    assert.deepEqual(outcome('stopped', 'download', new CancelledError('a.bin: cancelled'), id => { table.cancel(id) }), { outcome: 'cancelled', reason: 'a.bin: cancelled' })
  })
})
