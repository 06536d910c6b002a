import { existsSync, realpathSync } from 'node:fs';
import { isAbsolute, relative, resolve } from 'node:path';
import { TAG_PATTERN } from './metadata.js';
import { isDigest, parseReference } from './reference.js';
import { lstatWorkspaceFile } from './workspace-file.js';

/** How an input's value is read: `core.getInput` on a runner, the local runner's flags otherwise. */
export type InputReader = (name: string) => string;

/** Every bad input at once, each line naming the input, the value and what is accepted. */
export class InputError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(
      problems.length === 1
        ? `Invalid input: ${problems[0]}`
        : `${problems.length} invalid inputs:\n${problems.map((problem) => `  - ${problem}`).join('\n')}`,
    );
    this.name = 'InputError';
  }
}

/** Splits a list input on newlines (and commas where values cannot contain them). */
export function listInput(value: string, { commas = false } = {}): string[] {
  return value
    .split(commas ? /[\n,]/ : /\n/)
    .map((item) => item.trim())
    .filter((item) => item !== '' && !item.startsWith('#'));
}

function quote(value: string): string {
  return JSON.stringify(value.length > 200 ? `${value.slice(0, 200)}…` : value);
}

/**
 * The inputs of one stage, with their defaults, read through the small checks every stage
 * shares. A problem is recorded, never thrown, so that every bad input is reported together;
 * each check returns a harmless value so parsing can go on.
 */
export class StageInputs<Name extends string> {
  constructor(
    private readonly defaults: Readonly<Record<Name, string>>,
    private readonly reader: InputReader,
    private readonly problems: string[],
    readonly workspace: string,
  ) {}

  /** The value as given, trimmed; '' when not given. */
  given(name: Name): string {
    return this.reader(name).trim();
  }

  /** The value as given, or the default when empty. */
  value(name: Name): string {
    return this.given(name) || this.defaults[name];
  }

  problem(name: Name, value: string, message: string): void {
    this.problems.push(`\`${name}\` ${quote(value)} ${message}`);
  }

  /** A whole-input problem whose message says everything (no value to quote). */
  problemText(name: Name, message: string): void {
    this.problems.push(`\`${name}\`: ${message}`);
  }

  /** Problems recorded so far, in this stage and every stage parsed before it. */
  get problemCount(): number {
    return this.problems.length;
  }

  bool(name: Name): boolean {
    const value = this.value(name);
    if (/^(true|false)$/i.test(value)) return value.toLowerCase() === 'true';
    this.problem(name, value, 'is not a boolean: use true or false');
    return false;
  }

  oneOf<T extends string>(name: Name, allowed: readonly T[]): T {
    const value = this.value(name);
    if ((allowed as readonly string[]).includes(value)) return value as T;
    this.problem(name, value, `is not one of: ${allowed.join(', ')}`);
    return allowed[0]!;
  }

  list(name: Name, options: { commas?: boolean } = {}): string[] {
    return listInput(this.value(name), options);
  }

  /** Several values from a fixed vocabulary, in the vocabulary's order; unknown ones are a problem. */
  someOf<T extends string>(
    name: Name,
    vocabulary: readonly T[],
    what: string,
    normalize: (value: string) => string = (value) => value,
  ): T[] {
    const values = listInput(normalize(this.value(name)), { commas: true });
    const unknown = values.filter((value) => !(vocabulary as readonly string[]).includes(value));
    if (unknown.length > 0)
      this.problem(name, unknown.join(','), `has an unknown ${what}: use ${vocabulary.join(', ')}`);
    return vocabulary.filter((item) => values.includes(item));
  }

  /** A path that exists and, links resolved, stays inside the workspace; undefined after a problem. */
  pathInWorkspace(name: Name, value: string): string | undefined {
    const absolute = resolve(this.workspace, value);
    if (!existsSync(absolute)) {
      this.problem(name, value, `does not exist (looked for ${absolute})`);
      return undefined;
    }
    const real = realpathSync(absolute);
    const fromWorkspace = relative(realpathSync(this.workspace), real);
    if (fromWorkspace.startsWith('..') || isAbsolute(fromWorkspace)) {
      this.problem(name, value, `resolves to ${real}, outside the workspace ${this.workspace}`);
      return undefined;
    }
    return real;
  }

  /** A regular file inside the workspace reached through no link; '' after a problem. */
  workspaceFile(name: Name, value: string, path: string, failure: string): string {
    try {
      lstatWorkspaceFile(this.workspace, path);
      return resolve(this.workspace, path);
    } catch (error) {
      this.problem(name, value, `${failure}: ${(error as Error).message}`);
      return '';
    }
  }
}

const HOST =
  /^(?:localhost|(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)+|\[[0-9a-fA-F:]+\])(?::\d{1,5})?$/;
const HOST_WITH_PORT = /^(?:[a-zA-Z0-9-]+)(?::\d{1,5})$/;
const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;

/** A registry host, with or without a port. */
export function isRegistryHost(host: string): boolean {
  return HOST.test(host) || HOST_WITH_PORT.test(host);
}

/** `registry/path` with no tag or digest, or the problem with it. */
export function imageProblem(image: string): string | undefined {
  const { tag, digest } = parseReference(image);
  if (tag !== undefined || digest !== undefined)
    return 'must not contain a tag or digest (give tags in `tags`)';
  const [registry = '', ...path] = image.split('/');
  if (path.length === 0 || !isRegistryHost(registry))
    return 'must start with a registry host, e.g. ghcr.io/owner/app';
  if (image !== image.trim()) return 'must not contain white space';
  const bad = path.find((component) => !PATH_COMPONENT.test(component));
  if (bad !== undefined)
    return `path component "${bad}" is not allowed: use lower-case letters, digits and single separators (. _ __ -)`;
  if (image.length > 255) return 'is longer than 255 characters';
  return undefined;
}

/** A full image reference with a tag and/or digest, as `kaniko-image` and DB repositories take. */
export function referenceProblem(reference: string): string | undefined {
  const { name, tag, digest } = parseReference(reference);
  if (digest !== undefined && !isDigest(digest)) return `digest "${digest}" is not sha256:<64 hex>`;
  if (tag !== undefined && !TAG_PATTERN.test(tag)) return `tag "${tag}" is not a valid tag`;
  return imageProblem(name);
}
