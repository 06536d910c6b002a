// Root only: chattr +i and +a, and folders no user may enter, are what a build run as root can leave.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { removePath } from '../src/cleanup.js';

describe('removePath on whatever a build can leave', () => {
  const roots: string[] = [];
  afterAll(() => {
    // Whatever a failed test left: chattr fails on fifos and symlinks (exit 1) but clears the rest.
    for (const root of roots) {
      spawnSync('chattr', ['-R', '-i', '-a', root]);
      spawnSync('rm', ['-rf', '--one-file-system', '--', root]);
    }
  });
  const scratch = (): string => {
    const root = mkdtempSync(join(tmpdir(), 'bsp-cleanup-hostile-'));
    roots.push(root);
    return root;
  };
  /** Runs a shell line in `dir`: relative paths are the only way to reach past PATH_MAX. */
  const shell = (dir: string, line: string): void => {
    execFileSync('sh', ['-c', line], { cwd: dir });
  };

  it('removes a tree 2,200 levels deep holding a mode-000 folder, a setuid file, a fifo and a symlink out', async () => {
    const root = scratch();
    const outside = join(root, 'runner-file');
    writeFileSync(outside, 'keep me');
    const tree = join(root, 'sandbox-work');
    mkdirSync(tree);
    shell(
      tree,
      [
        'i=0',
        // 22 × 100 levels. -P: dash resolves a logical cd against $PWD, which fails past PATH_MAX.
        `while [ $i -lt 22 ]; do mkdir -p ${'d/'.repeat(100)} && cd -P ${'d/'.repeat(100)} || exit 1; i=$((i + 1)); done`,
        'mkdir locked && touch locked/inside && chmod 000 locked',
        'touch setuid && chmod 4755 setuid',
        'mkfifo fifo',
        `ln -s ${outside} link-out`,
      ].join('\n'),
    );

    await removePath(tree);

    expect(existsSync(tree)).toBe(false);
    expect(readFileSync(outside, 'utf8')).toBe('keep me');
  });

  it('clears immutable and append-only attributes when they stop the removal', async () => {
    const root = scratch();
    const tree = join(root, 'output');
    mkdirSync(tree);
    shell(tree, 'touch frozen && chattr +i frozen && mkdir log && touch log/entry && chattr +a log');

    await removePath(tree);

    expect(existsSync(tree)).toBe(false);
  });

  it('says which path could not be removed and what to check', async () => {
    const root = scratch();
    // An immutable parent: neither rm nor chattr -R on the child can make its entry removable.
    const parent = join(root, 'parent');
    const tree = join(parent, 'tree');
    mkdirSync(tree, { recursive: true });
    writeFileSync(join(tree, 'file'), '');
    execFileSync('chattr', ['+i', parent]);

    await expect(removePath(tree)).rejects.toThrow(
      new RegExp(`cannot remove ${tree}:[^]*Operation not permitted[^]*lsattr`),
    );
  });
});
