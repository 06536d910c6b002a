import { execFileSync } from 'node:child_process';
import { linkSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openUntrustedRegularFile, readUntrustedText } from '../src/untrusted-file.js';

const SECRET = 'root:$6$runner-shadow-secret';
let dir: string;
let secret: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'bsp-untrusted-'));
  secret = join(dir, 'runner-secret');
  writeFileSync(secret, SECRET);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let count = 0;
const fresh = (): string => {
  const folder = join(dir, `case-${++count}`);
  mkdirSync(folder);
  return folder;
};

describe('readUntrustedText', () => {
  it('reads a small regular file', async () => {
    const path = join(fresh(), 'digest');
    writeFileSync(path, 'sha256:abc\n');
    await expect(readUntrustedText(path, 256)).resolves.toBe('sha256:abc\n');
  });

  it('refuses a symlink without reading its target and without naming its content', async () => {
    const path = join(fresh(), 'digest');
    symlinkSync(secret, path);
    const failure = await readUntrustedText(path, 256).catch((error: Error) => error);
    expect(failure).toBeInstanceOf(Error);
    expect((failure as Error).message).toMatch(/digest is a symbolic link/);
    expect((failure as Error).message).not.toContain(SECRET);
  });

  it('refuses a fifo without blocking on it', async () => {
    const path = join(fresh(), 'digest');
    execFileSync('mkfifo', [path]);
    // No writer ever opens the fifo: a blocking open would hang this test until its timeout.
    await expect(readUntrustedText(path, 256)).rejects.toThrow(/digest is a fifo, not a regular file/);
  });

  it('refuses a directory and a file with a second hard link', async () => {
    const folder = fresh();
    mkdirSync(join(folder, 'digest'));
    await expect(readUntrustedText(join(folder, 'digest'), 256)).rejects.toThrow(
      /digest is a directory, not a regular file/,
    );
    const linked = join(fresh(), 'digest');
    linkSync(secret, linked);
    const failure = await readUntrustedText(linked, 256).catch((error: Error) => error);
    expect((failure as Error).message).toMatch(/digest has 2 hard links/);
    expect((failure as Error).message).not.toContain(SECRET);
  });

  it('refuses a file larger than the bound', async () => {
    const path = join(fresh(), 'digest');
    writeFileSync(path, 'x'.repeat(257));
    await expect(readUntrustedText(path, 256)).rejects.toThrow(/digest is 257 bytes, more than the 256/);
  });

  it('says when the file does not exist', async () => {
    await expect(readUntrustedText(join(fresh(), 'digest'), 256)).rejects.toMatchObject({ code: 'ENOENT' });
  });
});

describe('openUntrustedRegularFile', () => {
  it('gives an open handle and the stat of exactly the file it opened', async () => {
    const path = join(fresh(), 'image.tar');
    writeFileSync(path, 'tar bytes');
    const { handle, stat } = await openUntrustedRegularFile(path);
    try {
      expect(stat.isFile()).toBe(true);
      expect(stat.size).toBe(9);
      expect((await handle.stat()).ino).toBe(stat.ino);
      expect((await handle.readFile()).toString()).toBe('tar bytes');
    } finally {
      await handle.close();
    }
  });

  it('refuses a symlink to another regular file', async () => {
    const path = join(fresh(), 'image.tar');
    symlinkSync(secret, path);
    await expect(openUntrustedRegularFile(path)).rejects.toThrow(/image\.tar is a symbolic link/);
  });
});
