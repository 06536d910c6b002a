import * as core from '@actions/core';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { run } from '../src/exec.js';
import { FencedLog } from '../src/log-fence.js';
import { infoUntrusted, relayOutput } from '../src/reporter.js';
import { HOSTILE, captureStdout, runnerCommands } from './helpers/runner-log.js';

afterEach(() => {
  vi.restoreAllMocks();
});

describe('FencedLog', () => {
  it('relays hostile output as text: the runner processes none of its commands', () => {
    const written: string[] = [];
    const log = new FencedLog((text) => written.push(text.toString('utf8')));
    log.write(Buffer.from(`${HOSTILE}\n`));
    log.close();
    const relayed = written.join('');
    expect(relayed).toContain(HOSTILE);
    expect(runnerCommands(relayed)).toEqual([]);
  });

  it('keeps lines whole across chunks and ends a last line without newline before the close marker', () => {
    const written: string[] = [];
    const log = new FencedLog((text) => written.push(text.toString('utf8')));
    log.write('step 1 do');
    log.write('ne\n::add-mask::x');
    log.close();
    const relayed = written.join('');
    expect(
      relayed.split('\n').filter((line) => !/^::(stop-commands::)?[0-9a-f]{64}(::)?$/.test(line)),
    ).toEqual(['step 1 done', '::add-mask::x', '']);
    expect(runnerCommands(relayed)).toEqual([]);
    // Every marker opens or closes a fence at column 0.
    expect(relayed).toMatch(/^::stop-commands::[0-9a-f]{64}\n/);
    expect(relayed).toMatch(/\n::[0-9a-f]{64}::\n$/);
  });

  it('gives each relayed stream its own fresh token and closes its fence after every batch', () => {
    const written: string[] = [];
    const collect = (text: Buffer) => written.push(text.toString('utf8'));
    const build = new FencedLog(collect);
    const download = new FencedLog(collect);
    build.write('one\n');
    build.write('two\n');
    download.write('three\n');
    const tokens = written.map((batch) => /^::stop-commands::([0-9a-f]{64})\n/.exec(batch)?.[1]);
    expect(tokens[0]).toBe(tokens[1]);
    expect(tokens[2]).toMatch(/^[0-9a-f]{64}$/);
    expect(tokens[2]).not.toBe(tokens[0]);
    for (const [index, batch] of written.entries())
      expect(batch).toMatch(new RegExp(`\n::${tokens[index]}::\n$`));
  });

  it('closes the fence after each batch: the action speaks between batches of two relays at once', () => {
    const written = captureStdout();
    const build = new FencedLog();
    const download = new FencedLog();
    build.write('::add-mask::build\npartial ');
    download.write('::error::download\n');
    core.warning('the action still warns');
    core.setSecret('still masked');
    build.write('line\n');
    build.close();
    download.close();
    expect(runnerCommands(written.join(''))).toEqual([
      '::warning::the action still warns',
      '::add-mask::still masked',
    ]);
  });

  it('relays a line that never ends once it is long, rather than holding it', () => {
    const written: string[] = [];
    const log = new FencedLog((text) => written.push(text.toString('utf8')));
    log.write('x'.repeat(200_000));
    expect(written.join('')).toContain('x'.repeat(65_536));
  });
});

describe('relayOutput (the runner’s reporter)', () => {
  it('gives listeners for both streams and relays their unfinished last lines when the work ends', async () => {
    const written = captureStdout();
    const result = await relayOutput(async (listeners) => {
      listeners.stdout(Buffer.from('::add-mask::out'));
      listeners.stderr(Buffer.from('::add-mask::err'));
      return 'done';
    });
    expect(result).toBe('done');
    const relayed = written.join('');
    expect(relayed).toContain('::add-mask::out\n');
    expect(relayed).toContain('::add-mask::err\n');
    expect(runnerCommands(relayed)).toEqual([]);
  });
});

describe('run', () => {
  it("relays a tool's stdout and stderr live to stdout, fenced, and still returns them", async () => {
    const written = captureStdout();
    const result = await run('sh', [
      '-c',
      `printf '::add-mask::out\\n'; printf '::error::err' >&2; printf '##[set-output name=x]y'`,
    ]);
    expect(result).toEqual({
      exitCode: 0,
      stdout: '::add-mask::out\n##[set-output name=x]y',
      stderr: '::error::err',
    });
    const log = written.join('');
    expect(log).toContain('::add-mask::out');
    expect(log).toContain('::error::err');
    expect(runnerCommands(log)).toEqual([]);
  });

  it('keeps a silent run out of the log', async () => {
    const written = captureStdout();
    const result = await run('sh', ['-c', 'echo ::add-mask::x'], { silent: true });
    expect(result.stdout).toBe('::add-mask::x\n');
    expect(written).toEqual([]);
  });
});

describe('errors carrying a tool tail', () => {
  it('core.setFailed escapes newlines: a tail cannot start a command line of its own', () => {
    const written = captureStdout();
    core.setFailed('kaniko failed with exit code 1:\n::add-mask::x\r::error::y\n##[add-mask]z');
    process.exitCode = undefined;
    const log = written.join('');
    expect(log.split(/\r\n|\r|\n/).filter((line) => line.trimStart().startsWith('::add-mask'))).toEqual([]);
    expect(runnerCommands(log)).toHaveLength(1);
    expect(runnerCommands(log)[0]).toMatch(/^::error::kaniko failed/);
  });
});

describe('infoUntrusted (the runner’s reporter)', () => {
  it('logs the action’s line with text it does not control, which the runner then does not obey', () => {
    const written = captureStdout();
    infoUntrusted(`context paths: ${HOSTILE}`);
    const log = written.join('');
    expect(log).toContain('context paths: ::add-mask::policy failed');
    expect(runnerCommands(log)).toEqual([]);
  });
});
