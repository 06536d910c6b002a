import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  findGitConfigs,
  sanitizedGitConfigs,
  withoutGitCredentials,
} from '../../src/build/git-credentials.js';

const TOKEN = 'ghs_checkouttoken123';
const HEADER = `AUTHORIZATION: basic ${Buffer.from(`x-access-token:${TOKEN}`).toString('base64')}`;
const BASIC = Buffer.from(`x-access-token:${TOKEN}`).toString('base64');

function tree(files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), 'bsp-git-'));
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), content);
  }
  return root;
}

describe('withoutGitCredentials', () => {
  it('drops every extraheader line and the user:password of URLs, and keeps the rest', () => {
    const config = [
      '[remote "origin"]',
      '\turl = https://x-access-token:ghs_abc@github.com/o/r',
      '\tpushurl = ssh://git@github.com/o/r',
      '[http "https://github.com/"]',
      '\textraheader = AUTHORIZATION: basic eC1hY2Nlc3M=',
      '[http]',
      '    extraHeader=AUTHORIZATION: bearer t',
      '[user]',
      '\temail = a@b.example',
    ].join('\n');
    expect(withoutGitCredentials(config, 'config')).toBe(
      [
        '[remote "origin"]',
        '\turl = https://github.com/o/r',
        '\tpushurl = ssh://github.com/o/r',
        '[http "https://github.com/"]',
        '[http]',
        '[user]',
        '\temail = a@b.example',
      ].join('\n'),
    );
    expect(withoutGitCredentials('[core]\n\tbare = false\n', 'config')).toBe('[core]\n\tbare = false\n');
  });

  it.each([
    ['a key on the header line', `[http "https://github.com/"] extraheader = ${HEADER}\n`],
    ['a key on the header line, no spaces', `[http "https://github.com/"]extraHeader=${HEADER}\n`],
    ['upper case', `[http]\n\tEXTRAHEADER = ${HEADER}\n`],
    ['mixed case and tabs', `[HTTP "https://github.com/"]\n\t\t  ExtraHeader\t=\t${HEADER}\n`],
    ['a quoted value', `[http]\n\textraheader = "${HEADER}"\n`],
    ['a value continued on the next line', `[http]\n\textraheader = AUTHORIZATION: \\\nbasic ${BASIC}\n`],
    ['a continuation inside quotes', `[http]\n\textraheader = "AUTHORIZATION: basic \\\n${BASIC}"\n`],
    ['CRLF line ends', `[http]\r\n\textraheader = ${HEADER}\r\n[core]\r\n`],
    ['no line end at the end', `[http]\n\textraheader = ${HEADER}`],
    [
      'a legacy subsection',
      `[http.https://github.com/]\n\textraheader = ${HEADER}\n`.replace('https://github.com/', 'github'),
    ],
    [
      'a user and token in a URL value',
      `[remote "origin"]\n\turl = https://x-access-token:${TOKEN}@github.com/o/r\n`,
    ],
    ['a token alone in a URL', `[remote "origin"]\n\tpushurl = https://${TOKEN}@github.com/o/r\n`],
    [
      'a URL continued on the next line',
      `[remote "origin"]\n\turl = https://x:${TOKEN.slice(0, 8)}\\\n${TOKEN.slice(8)}@github.com/o\n`,
    ],
    ['a URL in quotes', `[remote "origin"]\n\turl = "https://x:${TOKEN}@github.com/o"\n`],
    ['an @ in the password', `[remote "origin"]\n\turl = https://x:${TOKEN}@more@github.com/o\n`],
    ['a proxy URL', `[http]\n\tproxy = http://user:${TOKEN}@proxy:3128\n`],
    [
      'an insteadOf subsection',
      `[url "https://x-access-token:${TOKEN}@github.com/"]\n\tinsteadOf = https://github.com/\n`,
    ],
    [
      'an escaped insteadOf subsection',
      `[url "https:\\/\\/x:${TOKEN}@github.com/"]\n\tinsteadOf = https://github.com/\n`,
    ],
    [
      'a commented-out URL',
      `[remote "origin"]\n\t# url = https://x:${TOKEN}@github.com/o\n\turl = https://github.com/o ; https://x:${TOKEN}@h\n`,
    ],
  ])('strips the credential from %s', (_title, config) => {
    const sanitized = withoutGitCredentials(config, 'config');
    expect(sanitized).not.toContain(TOKEN);
    expect(sanitized).not.toContain(BASIC);
    expect(sanitized).not.toContain(TOKEN.slice(8));
    expect(sanitized.toLowerCase()).not.toMatch(/extraheader/);
  });

  it('keeps the structure: headers stay, other keys stay as written', () => {
    expect(
      withoutGitCredentials(
        `[http "https://github.com/"] extraheader = ${HEADER}\n\tsslVerify = true\n`,
        'c',
      ),
    ).toBe('[http "https://github.com/"] \n\tsslVerify = true\n');
    expect(withoutGitCredentials(`[url "https://x:${TOKEN}@h/"]\n\tinsteadOf = https://h/\n`, 'c')).toBe(
      '[url "https://h/"]\n\tinsteadOf = https://h/\n',
    );
    expect(
      withoutGitCredentials(
        `[remote "o"]\n\turl = https://x:${TOKEN.slice(0, 4)}\\\n${TOKEN.slice(4)}@h/a\\"b\n`,
        'c',
      ),
    ).toBe('[remote "o"]\n\turl = "https://h/a\\"b"\n');
  });

  it('refuses what git refuses, naming the file and line but not the text', () => {
    for (const config of [
      `[http]\n\textraheader = "${HEADER}\n`,
      `[http "https://github.com/]\n\textraheader = ${HEADER}\n`,
      `[http]\n\t${TOKEN} ${TOKEN}\n`,
    ]) {
      let message = '';
      try {
        withoutGitCredentials(config, '/ctx/.git/config');
      } catch (error) {
        message = (error as Error).message;
      }
      expect(message).toMatch(/^\/ctx\/\.git\/config:[12] is not a valid git config/);
      expect(message).not.toContain(TOKEN);
      expect(message).not.toContain(BASIC);
    }
  });
});

describe('findGitConfigs and sanitizedGitConfigs', () => {
  const logged: string[] = [];
  const spyOnLog = () =>
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      logged.push(String(chunk));
      return true;
    });
  afterEach(() => {
    vi.restoreAllMocks();
    logged.length = 0;
  });

  it('finds the configs of nested checkouts, submodules and worktrees at any depth, without following links', async () => {
    const outside = tree({ '.git/config': `[http]\n\textraheader = ${HEADER}\n` });
    const context = tree({
      '.git/config': `[http "https://github.com/"]\n\textraheader = ${HEADER}\n`,
      '.git/modules/lib/config': `[http]\n\textraheader = ${HEADER}\n`,
      '.git/modules/lib/modules/inner/config': `[http]\n\textraheader = ${HEADER}\n`,
      '.git/worktrees/wt/config.worktree': `[http]\n\textraheader = ${HEADER}\n`,
      'lib/.git': 'gitdir: ../.git/modules/lib\n',
      'vendor/deep/tool/.git/config': `[http "https://github.com/"] extraHeader = ${HEADER}\n`,
      'vendor/deep/tool/.git/config.worktree': '[core]\n\tbare = false\n',
      'gitdirs/other/config': `[remote "origin"]\n\turl = https://x:${TOKEN}@github.com/o/r\n`,
      'checkout/.git': 'gitdir: ../gitdirs/other',
      'away/.git': `gitdir: ${join(outside, '.git')}\n`,
      'clean/.git/config': '[core]\n\tbare = false\n',
      'not-git/config': `[http]\n\textraheader = ${HEADER}\n`,
    });
    symlinkSync(join(outside, '.git'), join(context, 'linked-git'));
    mkdirSync(join(context, 'linked'));
    symlinkSync(join(outside, '.git'), join(context, 'linked', '.git'));
    const found = await findGitConfigs(context);
    expect(found.configs.map((path) => path.slice(context.length + 1)).sort()).toEqual([
      '.git/config',
      '.git/modules/lib/config',
      '.git/modules/lib/modules/inner/config',
      '.git/worktrees/wt/config.worktree',
      'clean/.git/config',
      'gitdirs/other/config',
      'vendor/deep/tool/.git/config',
      'vendor/deep/tool/.git/config.worktree',
    ]);
    expect(found.outside).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^away\/\.git \(to /),
        expect.stringMatching(/^linked\/\.git \(to /),
      ]),
    );

    spyOnLog();
    const files = await sanitizedGitConfigs(context, '/workspace');
    expect(files.map((file) => file.target).sort()).toEqual([
      '/workspace/.git/config',
      '/workspace/.git/modules/lib/config',
      '/workspace/.git/modules/lib/modules/inner/config',
      '/workspace/.git/worktrees/wt/config.worktree',
      '/workspace/gitdirs/other/config',
      '/workspace/vendor/deep/tool/.git/config',
    ]);
    for (const file of files) {
      expect(file.asMount).toBe(true);
      expect(String(file.content)).not.toContain(TOKEN);
      expect(String(file.content)).not.toContain(BASIC);
    }
    const warnings = logged.filter((line) => line.startsWith('::warning'));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain('6 git configs');
    expect(warnings[0]).toContain('vendor/deep/tool/.git/config');
    expect(warnings[0]).toContain('persist-credentials: false');
    expect(logged.join('')).toMatch(/outside[^]*away\/\.git/);
    expect(logged.join('')).not.toContain(TOKEN);
  });

  it('refuses a git config that is a link, which it cannot sanitize without following', async () => {
    const outside = tree({ credentials: `[http]\n\textraheader = ${HEADER}\n` });
    const context = tree({ 'sub/.git/HEAD': 'ref: refs/heads/main\n' });
    symlinkSync(join(outside, 'credentials'), join(context, 'sub/.git/config'));
    await expect(sanitizedGitConfigs(context, '/workspace')).rejects.toThrow(
      /sub\/\.git\/config is a git config but not a regular file[^]*Replace it with a regular file/,
    );
  });

  it('gives nothing and says nothing for a context without credentials', async () => {
    spyOnLog();
    const context = tree({ '.git/config': '[core]\n\tbare = false\n', 'app.txt': 'hello' });
    expect(await sanitizedGitConfigs(context, '/workspace')).toEqual([]);
    expect(logged.join('')).toBe('');
  });
});
