import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { assertSuccess, run } from '../src/exec.js';
import type { TimeLimit } from '../src/timeout-settings.js';
import { ToolError, ToolTimeoutError } from '../src/tool-error.js';

/** Whether a process runs (a zombie, dead but not yet reaped, does not). */
function running(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

/** A shell that starts a child of its own, notes both PIDs in `pidFile` and waits forever. */
function hangingShell(pidFile: string): string[] {
  return [
    '-c',
    `sleep 600 & echo $! > ${pidFile}.tmp; echo $$ >> ${pidFile}.tmp; mv ${pidFile}.tmp ${pidFile}; wait`,
  ];
}

/** Starts a hanging shell under `limit`; `pids` resolves with its PIDs once both are running. */
async function startHanging(limit: TimeLimit): Promise<{ hanging: Promise<unknown>; pids: number[] }> {
  const pidFile = join(mkdtempSync(join(tmpdir(), 'bsp-exec-')), 'pids');
  const hanging = run('sh', hangingShell(pidFile), { silent: true, timeLimit: limit });
  hanging.catch(() => undefined);
  while (!existsSync(pidFile)) await new Promise((resolve) => setTimeout(resolve, 10));
  return { hanging, pids: readFileSync(pidFile, 'utf8').trim().split('\n').map(Number) };
}

describe('run', () => {
  it('returns the exit code and both outputs, and does not throw on a failure', async () => {
    const result = await run('sh', ['-c', 'echo out; echo err >&2; exit 3'], { silent: true });
    expect(result).toEqual({ exitCode: 3, stdout: 'out\n', stderr: 'err\n' });
  });

  it('reports a signal as 128 + its number, as a shell does', async () => {
    const result = await run('sh', ['-c', 'kill -TERM $$'], { silent: true });
    expect(result).toMatchObject({ exitCode: 143, signal: 'SIGTERM' });
  });

  it('gives the child only the environment it is handed', async () => {
    const result = await run('sh', ['-c', 'env'], {
      silent: true,
      env: { PATH: process.env.PATH!, ONLY: 'me' },
    });
    expect(result.stdout).toContain('ONLY=me');
    expect(result.stdout).not.toMatch(/^(HOME|GITHUB_TOKEN|INPUT_[^=]*)=/m);
  });

  it('writes bytes or a stream to stdin, and gives an empty stdin otherwise', async () => {
    expect((await run('cat', [], { silent: true, input: 'secret\n' })).stdout).toBe('secret\n');
    const piped = await run('cat', [], { silent: true, input: Readable.from(['a', 'b', 'c']) });
    expect(piped.stdout).toBe('abc');
    expect(await run('cat', [], { silent: true })).toMatchObject({ exitCode: 0, stdout: '' });
  });

  it('streams stdout into a writable instead of capturing it, one tool into another', async () => {
    const pipe = new PassThrough();
    const [producer, consumer] = await Promise.all([
      run('sh', ['-c', 'head -c 3000000 /dev/zero'], { silent: true, stdout: pipe }),
      run('wc', ['-c'], { silent: true, input: pipe }),
    ]);
    expect(producer).toMatchObject({ exitCode: 0, stdout: '' });
    expect(consumer.stdout.trim()).toBe('3000000');
  });

  it('rejects when the program cannot be started', async () => {
    await expect(run('/nonexistent/tool', [], { silent: true })).rejects.toThrow(
      /could not start \/nonexistent\/tool/,
    );
  });
});

describe('run under a time limit', () => {
  it('kills a tool that hangs past its limit with every process it started, and names stage, tool and limit', async () => {
    const { hanging, pids } = await startHanging({ stage: 'push', ms: 1_000 });
    const error = await hanging.catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(ToolTimeoutError);
    expect((error as Error).message).toMatch(
      /^sh timed out after 1 s in the push stage and was stopped with every process it started; raise `timeouts: push=…` if the registry is slow\.$/,
    );
    expect(pids.filter(running)).toEqual([]);
  });

  it('kills the whole group when the step is cancelled, as the child no longer gets the signal itself', async () => {
    const { hanging: started, pids } = await startHanging({ stage: 'scan', ms: 600_000 });
    process.emit('SIGTERM', 'SIGTERM');
    await expect(started).rejects.toThrow(
      'sh was stopped with every process it started: the step was cancelled (SIGTERM).',
    );
    expect(pids.filter(running)).toEqual([]);
    expect(process.listenerCount('SIGTERM')).toBe(0);
  });

  it('leaves a tool that ends in time alone, and stops listening for signals', async () => {
    const result = await run('sh', ['-c', 'echo done'], {
      silent: true,
      timeLimit: { stage: 'scan', ms: 600_000 },
    });
    expect(result).toMatchObject({ exitCode: 0, stdout: 'done\n' });
    expect(process.listenerCount('SIGINT') + process.listenerCount('SIGTERM')).toBe(0);
  });
});

describe('assertSuccess', () => {
  it('passes a success through', async () => {
    const result = await run('true', [], { silent: true });
    expect(assertSuccess(result, 'true')).toBe(result);
  });

  it('throws a ToolError with the tool, argv, exit code, last lines and what to do', async () => {
    const argv = ['-c', 'for i in $(seq 1 30); do echo line $i >&2; done; exit 4'];
    const result = await run('sh', argv, { silent: true });
    let error: unknown;
    try {
      assertSuccess(result, 'counting', 'Count less.', { tool: 'sh', argv });
    } catch (thrown) {
      error = thrown;
    }
    expect(error).toBeInstanceOf(ToolError);
    const failure = error as ToolError;
    expect(failure).toMatchObject({ tool: 'sh', argv, exitCode: 4 });
    expect(failure.message).toMatch(
      /^counting failed with exit code 4:\nline 11\n[^]*line 30\nCount less\.$/,
    );
    expect(failure.message).not.toContain('line 10\n');
    expect(failure.stderr).toContain('line 1\n');
  });

  it('names the tool and its argv when no step is given, and falls back to stdout for the tail', () => {
    const error = new ToolError({
      tool: 'crane',
      argv: ['digest', 'r'],
      exitCode: 1,
      stderr: '',
      stdout: 'oops\n',
    });
    expect(error.message).toBe('crane digest r failed with exit code 1:\noops');
    expect(JSON.stringify(error)).not.toMatch(/PATH|HOME/);
  });
});
