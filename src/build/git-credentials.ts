import type { Dirent } from 'node:fs';
import { lstat, readFile, readdir, realpath } from 'node:fs/promises';
import { dirname, isAbsolute, join, relative, sep } from 'node:path';
import type { SandboxFile } from './sandbox.js';
import { infoUntrusted, reporter } from '../reporter.js';

type Statement =
  | { readonly kind: 'header'; readonly start: number; readonly end: number; readonly subsection?: string }
  | {
      readonly kind: 'variable';
      readonly start: number;
      readonly end: number;
      readonly name: string;
      readonly value?: string;
    }
  | { readonly kind: 'comment'; readonly start: number; readonly end: number };

const KEY_CHAR = /[A-Za-z0-9-]/;
const SPACE = /[ \t\r\f\v]/;

/**
 * The statements of a git config, read the way git's config.c reads them: a variable may follow
 * its section header on the same line, names are case-insensitive, `\` joins lines, quotes and
 * escapes shape values, `#` and `;` start comments. Throws on what git itself would refuse.
 */
function parseGitConfig(text: string, file: string): Statement[] {
  const reader = new GitConfigReader(text, file);
  const statements: Statement[] = [];
  while (!reader.atEnd()) {
    const statement = reader.statement();
    if (statement) statements.push(statement);
  }
  return statements;
}

/** A cursor over one git config's text; each method reads one construct from `index` on. */
class GitConfigReader {
  private index: number;

  constructor(
    private readonly text: string,
    private readonly file: string,
  ) {
    this.index = text.startsWith('\uFEFF') ? 1 : 0;
  }

  atEnd(): boolean {
    return this.index >= this.text.length;
  }

  /** The statement at the cursor, or undefined after skipping a blank. */
  statement(): Statement | undefined {
    const char = this.text[this.index]!;
    if (char === '\n' || SPACE.test(char)) this.index++;
    else if (char === '#' || char === ';') return this.comment();
    else if (char === '[') return this.header();
    else if (/[A-Za-z]/.test(char)) return this.variable();
    else this.fail('a line must be a [section], a name = value or a comment');
    return undefined;
  }

  private fail(what: string): never {
    const line = this.text.slice(0, this.index).split('\n').length;
    throw new Error(
      `${this.file}:${line} is not a valid git config (${what}); git refuses it too. The action gives the build ` +
        'a copy of every git config without credentials and cannot tell what this one holds: fix or remove it.',
    );
  }

  private atNewline(): boolean {
    return this.text[this.index] === '\n' || this.text.startsWith('\r\n', this.index);
  }

  private skipNewline(): void {
    this.index += this.text[this.index] === '\r' ? 2 : 1;
  }

  private comment(): Statement {
    const start = this.index;
    while (!this.atEnd() && !this.atNewline()) this.index++;
    return { kind: 'comment', start, end: this.index };
  }

  private header(): Statement {
    const { text } = this;
    const start = this.index++;
    while (!this.atEnd() && text[this.index] !== ']' && !SPACE.test(text[this.index]!)) {
      if (!KEY_CHAR.test(text[this.index]!) && text[this.index] !== '.') this.fail('a bad section name');
      this.index++;
    }
    const subsection = SPACE.test(text[this.index] ?? '') ? this.subsection() : undefined;
    if (text[this.index++] !== ']') this.fail('an unterminated section header');
    return { kind: 'header', start, end: this.index, subsection };
  }

  /** `[section "sub"]`: the quoted part, where `\` escapes the next character. */
  private subsection(): string {
    const { text } = this;
    while (SPACE.test(text[this.index] ?? '')) this.index++;
    if (text[this.index++] !== '"') this.fail('a subsection must be quoted');
    let subsection = '';
    for (;;) {
      if (this.atEnd() || this.atNewline()) this.fail('an unterminated section header');
      let char = text[this.index++]!;
      if (char === '"') return subsection;
      if (char === '\\') {
        if (this.atEnd() || this.atNewline()) this.fail('an unterminated section header');
        char = text[this.index++]!;
      }
      subsection += char;
    }
  }

  private variable(): Statement {
    const { text } = this;
    const start = this.index;
    while (!this.atEnd() && KEY_CHAR.test(text[this.index]!)) this.index++;
    const name = text.slice(start, this.index).toLowerCase();
    while (SPACE.test(text[this.index] ?? '')) this.index++;
    if (this.atEnd() || this.atNewline()) return { kind: 'variable', start, end: this.index, name };
    if (text[this.index++] !== '=') this.fail('a variable name must be followed by = or the end of the line');
    const value = this.value();
    return { kind: 'variable', start, end: this.index, name, value };
  }

  /** A value to the end of its line: quotes, escapes, `\` joining lines, inner spaces kept. */
  private value(): string {
    const { text } = this;
    let value = '';
    let quoted = false;
    let comment = false;
    let spaces = 0;
    while (!this.atEnd() && !this.atNewline()) {
      const char = text[this.index++]!;
      if (comment) continue;
      if (SPACE.test(char) && !quoted) {
        if (value !== '') spaces++;
        continue;
      }
      if (!quoted && (char === '#' || char === ';')) {
        comment = true;
        continue;
      }
      value += ' '.repeat(spaces);
      spaces = 0;
      if (char === '"') quoted = !quoted;
      else if (char !== '\\') value += char;
      else if (this.atEnd()) break;
      else if (this.atNewline()) this.skipNewline();
      else value += this.escape();
    }
    if (quoted) this.fail('an unterminated quoted value');
    return value;
  }

  private escape(): string {
    const escaped = this.text[this.index++]!;
    const meaning = { n: '\n', t: '\t', b: '\b', '\\': '\\', '"': '"' }[escaped];
    if (meaning === undefined) this.fail('an unknown escape in a value');
    return meaning;
  }
}

/** `scheme://user:password@` and `scheme://token@` in any URL; the last `@` ends the user part. */
const URL_USERINFO = /([a-z][a-z0-9+.-]*:\/\/)[^/?#\s]*@/gi;
const withoutUserinfo = (text: string): string => text.replace(URL_USERINFO, '$1');
const quote = (text: string): string =>
  `"${text.replace(/[\\"]/g, '\\$&').replaceAll('\n', '\\n').replaceAll('\t', '\\t').replaceAll('\b', '\\b')}"`;

/** What statements mean to git, positions aside; '' for text git refuses. */
function meaning(text: string): string {
  try {
    return JSON.stringify(parseGitConfig(text, '').map((statement) => ({ ...statement, start: 0, end: 0 })));
  } catch {
    return '';
  }
}

/**
 * A statement without the user parts of its URLs: as written when dropping them from the text
 * keeps what git reads, else rewritten quoted (a URL split by `\` or escapes hides from a plain
 * replace).
 */
function withoutUserinfoIn(statement: Statement, raw: string): string {
  const stripped = withoutUserinfo(raw);
  let rewritten: string;
  if (statement.kind === 'variable' && statement.value !== undefined)
    rewritten = `${raw.slice(0, statement.name.length)} = ${quote(withoutUserinfo(statement.value))}`;
  else if (statement.kind === 'header' && statement.subsection !== undefined)
    rewritten = `${raw.slice(0, raw.search(/\s/))} ${quote(withoutUserinfo(statement.subsection))}]`;
  else return stripped;
  return meaning(stripped) === meaning(rewritten) ? stripped : rewritten;
}

/**
 * A git config without credentials: no `extraheader` variable in any section (actions/checkout
 * leaves `http.https://github.com/.extraheader = AUTHORIZATION: basic <token>` unless
 * `persist-credentials: false`) and no user or password in any URL, be it a value, a subsection
 * (`[url "https://user:token@host/"]`) or a comment. Everything else is kept as written. Pure.
 */
export function withoutGitCredentials(config: string, file: string): string {
  let sanitized = '';
  let copied = 0;
  for (const statement of parseGitConfig(config, file)) {
    let { start, end } = statement;
    const raw = config.slice(start, end);
    let replacement: string;
    if (statement.kind === 'variable' && statement.name === 'extraheader') {
      // A variable alone on its line(s) goes with its indentation and line break.
      const lineStart = config.lastIndexOf('\n', start - 1) + 1;
      if (lineStart >= copied && config.slice(lineStart, start).trim() === '') {
        start = lineStart;
        end += config.startsWith('\r\n', end) ? 2 : config[end] === '\n' ? 1 : 0;
      }
      replacement = '';
    } else replacement = withoutUserinfoIn(statement, raw);
    sanitized += config.slice(copied, start) + replacement;
    copied = end;
  }
  return sanitized + config.slice(copied);
}

const isInside = (root: string, path: string): boolean => {
  const fromRoot = relative(root, path);
  return fromRoot === '' || (fromRoot !== '..' && !fromRoot.startsWith(`..${sep}`) && !isAbsolute(fromRoot));
};

/** Paths inside a git directory that git reads as configuration, its submodules' and worktrees' too. */
const CONFIG_IN_GIT_DIR = /^(?:(?:modules|worktrees)\/.+\/)?config(?:\.worktree)?$/;

export interface GitConfigs {
  /** Absolute paths of the git config files inside the context. */
  readonly configs: readonly string[];
  /** `.git` files and links that lead outside the context (or nowhere), and where. */
  readonly outside: readonly string[];
}

/** The real path a pointer file names (`gitdir: <path>` in a `.git` file, a bare path in `commondir`). */
async function pointedTo(file: string, prefix: '' | 'gitdir:'): Promise<string> {
  const text = (await readFile(file, 'utf8')).trim();
  if (!text.startsWith(prefix)) throw new Error(`it is not a "${prefix}" file`);
  const target = text.slice(prefix.length).trim();
  return realpath(isAbsolute(target) ? target : join(dirname(file), target));
}

async function readContext(root: string): Promise<Dirent[]> {
  try {
    return await readdir(root, { recursive: true, withFileTypes: true });
  } catch (error) {
    throw new Error(
      `cannot look through the build context ${root} for git credentials (${(error as Error).message}): ` +
        'make every folder in it readable by the runner user.',
      { cause: error },
    );
  }
}

/**
 * Every git config in the context, at any depth: those of each `.git` folder, and of the git
 * directory a `.git` file (worktree, submodule) or link names when that is inside the context,
 * with its `commondir`. Links are never followed by the walk, and no other file is read.
 */
export async function findGitConfigs(context: string): Promise<GitConfigs> {
  const root = await realpath(context);
  const entries = await readContext(root);
  const gitDirs = new Set<string>();
  const outside: string[] = [];
  const addGitDir = async (dir: string): Promise<void> => {
    gitDirs.add(dir);
    const commondir = join(dir, 'commondir');
    if (!(await lstat(commondir).catch(() => undefined))?.isFile()) return;
    const common = await pointedTo(commondir, '').catch(() => undefined);
    if (common !== undefined && isInside(root, common)) gitDirs.add(common);
  };
  for (const entry of entries) {
    if (entry.name !== '.git' || !(entry.isDirectory() || entry.isFile() || entry.isSymbolicLink())) continue;
    const path = join(entry.parentPath, entry.name);
    if (entry.isDirectory()) {
      await addGitDir(path);
      continue;
    }
    try {
      const target = entry.isSymbolicLink() ? await realpath(path) : await pointedTo(path, 'gitdir:');
      if (isInside(root, target) && (await lstat(target)).isDirectory()) await addGitDir(target);
      else outside.push(`${relative(root, path)} (to ${target})`);
    } catch (error) {
      outside.push(`${relative(root, path)} (leads nowhere: ${(error as Error).message})`);
    }
  }
  const configs: string[] = [];
  for (const entry of entries) {
    if (entry.name !== 'config' && entry.name !== 'config.worktree') continue;
    const path = join(entry.parentPath, entry.name);
    const inGitDir = [...gitDirs].some((dir) =>
      CONFIG_IN_GIT_DIR.test(relative(dir, path).split(sep).join('/')),
    );
    if (!inGitDir) continue;
    if (!entry.isFile())
      throw new Error(
        `${path} is a git config but not a regular file (a link, say): the action gives the build a copy of ` +
          'every git config without credentials and cannot for this one. Replace it with a regular file, ' +
          'or keep that checkout out of the context.',
      );
    configs.push(path);
  }
  return { configs: configs.sort(), outside };
}

/**
 * Sanitized copies mounted over the context's git config files (at `sandboxContext`), so that no
 * RUN line can read a checkout token and no `COPY . .` bakes it into the image; the files on the
 * runner are untouched. One warning names every file that held a credential.
 */
export async function sanitizedGitConfigs(context: string, sandboxContext: string): Promise<SandboxFile[]> {
  const root = await realpath(context);
  const { configs, outside } = await findGitConfigs(root);
  const files: SandboxFile[] = [];
  for (const path of configs) {
    const original = await readFile(path, 'utf8');
    const sanitized = withoutGitCredentials(original, path);
    if (sanitized === original) continue;
    const inContext = relative(root, path).split(sep).join('/');
    files.push({ target: `${sandboxContext}/${inContext}`, content: sanitized, asMount: true });
  }
  if (files.length > 0)
    reporter().warning(
      `${files.length === 1 ? 'A git config' : `${files.length} git configs`} in the build context ${root} ` +
        `${files.length === 1 ? 'holds' : 'hold'} a git credential: ${files.map((file) => file.target.slice(sandboxContext.length + 1)).join(', ')}. ` +
        'actions/checkout keeps its token there unless `persist-credentials: false`; the build sees copies ' +
        'without it, so it is kept out of the image. Set `persist-credentials: false` on actions/checkout ' +
        'when later steps need no git credentials.',
    );
  if (outside.length > 0)
    infoUntrusted(
      `These .git files or links of the build context lead outside it, so the build cannot see ` +
        `their git directories and nothing there is sanitized: ${outside.join(', ')}.`,
    );
  return files;
}
