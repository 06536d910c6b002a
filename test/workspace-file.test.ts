import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { lstatWorkspaceFile, readWorkspaceFile } from '../src/workspace-file.js';
import { makeWorkspace } from './helpers/github-context.js';

const SECRET = 'ghp_SECRETtoken0123456789';

function credentialOutside(): string {
  const path = join(mkdtempSync(join(tmpdir(), 'bsp-creds-')), 'credentials');
  writeFileSync(path, `token: ${SECRET}\n`);
  return path;
}

async function readError(workspace: string, path: string, maxBytes = 1024): Promise<string> {
  try {
    await readWorkspaceFile(workspace, path, maxBytes);
  } catch (error) {
    return (error as Error).message;
  }
  throw new Error(`expected ${path} to be refused`);
}

describe('readWorkspaceFile', () => {
  it('reads a regular file inside the workspace, given relative or absolute', async () => {
    const workspace = makeWorkspace({ 'ci/.trivyignore': 'CVE-1\n' });
    await expect(readWorkspaceFile(workspace, 'ci/.trivyignore', 1024)).resolves.toBe('CVE-1\n');
    await expect(readWorkspaceFile(workspace, join(workspace, 'ci/.trivyignore'), 6)).resolves.toBe(
      'CVE-1\n',
    );
  });

  it('refuses a symbolic link, even to a file inside the workspace, naming it and saying what to do', async () => {
    const workspace = makeWorkspace({ 'real.yaml': 'vulnerabilities: []\n' });
    symlinkSync(credentialOutside(), join(workspace, '.trivyignore.yaml'));
    symlinkSync(join(workspace, 'real.yaml'), join(workspace, 'inside.yaml'));
    for (const name of ['.trivyignore.yaml', 'inside.yaml']) {
      const message = await readError(workspace, name);
      expect(message).toContain(`${join(workspace, name)} is a symbolic link`);
      expect(message).toMatch(/replace the link with the file itself/);
      expect(message).not.toContain(SECRET);
    }
  });

  it('refuses a path through a linked folder, a dangling link, a folder and a path outside', async () => {
    const workspace = makeWorkspace();
    mkdirSync(join(workspace, 'dir'));
    symlinkSync(join(credentialOutside(), '..'), join(workspace, 'linked'));
    symlinkSync(join(workspace, 'missing'), join(workspace, 'dangling'));
    expect(await readError(workspace, 'linked/credentials')).toContain(
      `${join(workspace, 'linked')} is a symbolic link`,
    );
    expect(await readError(workspace, 'dangling')).toContain(
      `${join(workspace, 'dangling')} is a symbolic link`,
    );
    expect(await readError(workspace, 'dir')).toMatch(/dir is not a regular file/);
    expect(await readError(workspace, '../etc/passwd')).toMatch(/is outside the workspace/);
    expect(await readError(workspace, 'nothing')).toMatch(/nothing does not exist/);
  });

  it('refuses a file larger than the bound, without reading it into the error', async () => {
    const workspace = makeWorkspace({ big: `${SECRET}\n`.repeat(100) });
    const message = await readError(workspace, 'big', 100);
    expect(message).toMatch(/big is \d+ bytes, more than the 100 allowed/);
    expect(message).not.toContain(SECRET);
  });
});

describe('lstatWorkspaceFile', () => {
  it('returns the stats of a regular file reached through no link', () => {
    const workspace = makeWorkspace({ 'a/b': 'x' });
    expect(lstatWorkspaceFile(workspace, 'a/b').size).toBe(1);
  });
});
