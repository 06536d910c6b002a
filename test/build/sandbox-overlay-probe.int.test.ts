import type * as nodeFs from 'node:fs';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { runInSandbox } from '../../src/build/sandbox.js';
import { makeTestRoot } from '../helpers/rootfs.js';

// A runner without Docker may not have the overlay module loaded yet: /proc/filesystems then
// omits it, though `mount -t overlay` would load it.
vi.mock('node:fs', async (importOriginal) => {
  const fs = await importOriginal<typeof nodeFs>();
  const readFileSync = ((path: unknown, ...rest: unknown[]) => {
    const content = (fs.readFileSync as (...args: unknown[]) => string | Buffer)(path, ...rest);
    if (path !== '/proc/filesystems') return content;
    return content.toString().replace(/^.*\toverlay\n/m, '');
  }) as typeof fs.readFileSync;
  return { ...fs, readFileSync, default: { ...fs, readFileSync } };
});

describe('runInSandbox on a runner whose overlay module is not loaded yet', () => {
  let root: string;
  let runnerTemp: string;
  beforeAll(() => {
    root = makeTestRoot();
    runnerTemp = mkdtempSync(join(tmpdir(), 'bsp-runner-temp-'));
  });
  afterAll(() => {
    for (const path of [root, runnerTemp]) rmSync(path, { recursive: true, force: true });
  });

  it('still mounts the overlay instead of refusing or copying the root', async () => {
    const result = await runInSandbox({
      rootfs: root,
      tempDir: runnerTemp,
      argv: ['/bin/sh', '-c', 'awk \'$5 == "/" { print "root-fs=" $9 }\' /proc/self/mountinfo'],
      env: { PATH: '/bin' },
      title: 'overlay probe',
      strategy: 'overlay',
    });
    expect(result.exitCode).toBe(0);
    expect(result.output).toContain('root-fs=overlay\n');
  });
});
