/**
 * The executor flags the action owns: those it sets itself (see kanikoArgv) and those that move
 * where kaniko reads the build from or writes its work, snapshots and output. `kaniko-args` may
 * set none of them, in any spelling pflag accepts.
 */
const NO_INPUT = 'remove it: no input changes it, as the action decides where kaniko reads and writes';

/**
 * Executor flags (long names, as kaniko's cmd/executor/cmd/root.go defines them) that
 * `kaniko-args` may not give, each with what to use instead: the flags the action sets itself,
 * and those that move where kaniko reads the build from or writes its work, snapshots and output.
 */
export const KANIKO_OWNED_FLAGS: Readonly<Record<string, string>> = {
  context: 'use the `context` input',
  'context-sub-path': 'use the `context` input',
  bucket: 'use the `context` input',
  dockerfile: 'use the `file` input',
  destination: 'use the `image` and `tags` inputs',
  'no-push': 'use the `push` input',
  'push-retry': 'use the `push` input',
  'push-ignore-immutable-tag-errors': 'use the `push` input',
  'build-arg': 'use the `build-args` input',
  label: 'use the `labels` input',
  target: 'use the `target` input',
  reproducible: 'use the `reproducible` input',
  cache: 'use the `cache` and `cache-repo` inputs',
  'cache-repo': 'use the `cache` and `cache-repo` inputs',
  'cache-dir': 'use the `cache` and `cache-repo` inputs',
  'custom-platform': 'use the `platforms` input',
  'insecure-registry': 'use the `insecure-registries` input',
  'skip-tls-verify-registry': 'use the `insecure-registries` input',
  insecure: 'use the `insecure-registries` input',
  'skip-tls-verify': 'use the `insecure-registries` input',
  'registry-mirror': NO_INPUT,
  'registry-map': NO_INPUT,
  force: NO_INPUT,
  'tar-path': NO_INPUT,
  tarPath: NO_INPUT,
  'digest-file': NO_INPUT,
  'image-name-with-digest-file': NO_INPUT,
  'image-name-tag-with-digest-file': NO_INPUT,
  'oci-layout-path': NO_INPUT,
  'kaniko-dir': NO_INPUT,
  'ignore-path': NO_INPUT,
  'ignore-var-run': NO_INPUT,
  'whitelist-var-run': NO_INPUT,
};

/** The executor's one-letter flags; cobra adds `-h`, the only one that takes no value. */
const KANIKO_SHORTHANDS: Readonly<Record<string, string>> = {
  b: 'bucket',
  c: 'context',
  d: 'destination',
  f: 'dockerfile',
  h: 'help',
  v: 'verbosity',
};
const KANIKO_BOOL_SHORTHANDS = new Set(['h']);

/**
 * The long names of the flags one argv entry sets, read as pflag reads it: `--name[=value]`, or a
 * group of shorthands where each boolean one lets the next letter be a flag too, and the first
 * that takes a value takes the rest of the entry (`-fVALUE`, `-f=VALUE`, `-f VALUE`, `-hfVALUE`).
 */
export function kanikoFlagsOf(arg: string): string[] {
  if (arg.startsWith('--')) return [arg.slice(2).split('=', 1)[0]!];
  const flags: string[] = [];
  for (let index = 1; index < arg.length; index++) {
    const shorthand = arg[index]!;
    flags.push(KANIKO_SHORTHANDS[shorthand] ?? shorthand);
    if (!KANIKO_BOOL_SHORTHANDS.has(shorthand) || arg[index + 1] === '=') break;
  }
  return flags;
}
