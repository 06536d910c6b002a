import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { finishBackgroundRemovals, mountsBelow, removeInBackground, removePaths } from '../src/cleanup.js';

describe('mountsBelow', () => {
  const mountinfo = [
    '22 1 8:1 / / rw,relatime - ext4 /dev/vda rw',
    '90 22 0:50 / /tmp/bsp/sandbox/merged rw - overlay overlay rw',
    '91 90 0:5 / /tmp/bsp/sandbox/merged/proc rw - proc proc rw',
    '92 22 0:51 / /tmp/bsp/other\\040dir rw - tmpfs tmpfs rw',
    '93 22 0:52 / /tmp/bsp/sandboxed rw - tmpfs tmpfs rw',
  ].join('\n');

  it('lists mounts at or below a path, deepest first, and not its siblings', () => {
    expect(mountsBelow('/tmp/bsp/sandbox', mountinfo)).toEqual([
      '/tmp/bsp/sandbox/merged/proc',
      '/tmp/bsp/sandbox/merged',
    ]);
  });

  it('decodes the octal escapes of mountinfo', () => {
    expect(mountsBelow('/tmp/bsp/other dir', mountinfo)).toEqual(['/tmp/bsp/other dir']);
  });
});

describe('removePaths', () => {
  it('removes every path and is harmless when run twice', async () => {
    const root = mkdtempSync(join(tmpdir(), 'bsp-cleanup-'));
    const credentials = join(root, 'docker-config');
    mkdirSync(credentials);
    writeFileSync(join(credentials, 'config.json'), '{"auths":{}}', { mode: 0o600 });
    await removePaths([credentials, join(root, 'never-created')]);
    expect(existsSync(credentials)).toBe(false);
    await expect(removePaths([credentials])).resolves.toBeUndefined();
  });
});

describe('removeInBackground', () => {
  const tree = (): string => {
    const dir = mkdtempSync(join(tmpdir(), 'bsp-background-'));
    for (let i = 0; i < 50; i++) writeFileSync(join(dir, `file-${i}`), 'x');
    return dir;
  };

  it('returns before the tree is gone; finishBackgroundRemovals waits until every tree is', async () => {
    const first = tree();
    const second = tree();
    removeInBackground(first);
    removeInBackground(second);
    expect(existsSync(first)).toBe(true);
    expect(await finishBackgroundRemovals()).toEqual([]);
    expect(existsSync(first)).toBe(false);
    expect(existsSync(second)).toBe(false);
  });

  it('with `after`, removes nothing until that has settled, fulfilled or not', async () => {
    const kept = tree();
    const alsoKept = tree();
    let release!: () => void;
    let fail!: (error: Error) => void;
    removeInBackground(kept, new Promise<void>((resolve) => (release = resolve)));
    removeInBackground(alsoKept, new Promise<void>((_resolve, reject) => (fail = reject)));
    const finished = finishBackgroundRemovals();
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(existsSync(kept)).toBe(true);
    expect(existsSync(alsoKept)).toBe(true);
    release();
    fail(new Error('the holder failed'));
    expect(await finished).toEqual([]);
    expect(existsSync(kept)).toBe(false);
    expect(existsSync(alsoKept)).toBe(false);
  });

  it('is done at once when nothing was started', async () => {
    expect(await finishBackgroundRemovals()).toEqual([]);
  });
});
