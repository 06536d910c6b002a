import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  copyFileSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const BUSYBOX = '/bin/busybox';
export const STANDIN_EXECUTOR = join(import.meta.dirname, '..', 'standins', 'kaniko-executor-standin.sh');
/** What the test root's executor CA bundle holds before the runner's is appended. */
export const EXECUTOR_CA_MARKER = '# executor CA bundle of the test root\n';

/**
 * A small root filesystem like the kaniko executor image's, made from busybox-static: /bin with
 * every applet linked to busybox, /kaniko/executor (the stand-in, unless `executor` is given)
 * and /kaniko/ssl/certs/ca-certificates.crt. No /etc, /proc, /dev, /workspace or /tmp: the
 * sandbox must create its mount points in the overlay.
 */
export function makeTestRoot(options: { executor?: string } = {}): string {
  const root = mkdtempSync(join(tmpdir(), 'bsp-rootfs-'));
  // An image's root is 0755; mkdtemp's 0700 would be carried into images built FROM this one.
  chmodSync(root, 0o755);
  mkdirSync(join(root, 'bin'));
  copyFileSync(BUSYBOX, join(root, 'bin', 'busybox'));
  chmodSync(join(root, 'bin', 'busybox'), 0o755);
  const applets = execFileSync(BUSYBOX, ['--list'], { encoding: 'utf8' }).split('\n').filter(Boolean);
  for (const applet of applets) if (applet !== 'busybox') symlinkSync('busybox', join(root, 'bin', applet));
  mkdirSync(join(root, 'kaniko', 'ssl', 'certs'), { recursive: true });
  copyFileSync(options.executor ?? STANDIN_EXECUTOR, join(root, 'kaniko', 'executor'));
  chmodSync(join(root, 'kaniko', 'executor'), 0o755);
  writeFileSync(join(root, 'kaniko', 'ssl', 'certs', 'ca-certificates.crt'), EXECUTOR_CA_MARKER);
  return root;
}

/** A hash of a whole tree: every path, type, mode, owner, link target and file content. */
export function hashTree(root: string): string {
  const hash = createHash('sha256');
  const walk = (dir: string, prefix: string): void => {
    for (const name of readdirSync(dir).sort()) {
      const path = join(dir, name);
      const stat = lstatSync(path);
      hash.update(`${prefix}/${name}\0${stat.mode}\0${stat.uid}:${stat.gid}\0${stat.mtimeMs}\0`);
      if (stat.isSymbolicLink()) hash.update(readlinkSync(path));
      else if (stat.isFile()) hash.update(readFileSync(path));
      else if (stat.isDirectory()) walk(path, `${prefix}/${name}`);
      hash.update('\0');
    }
  };
  const top = lstatSync(root);
  hash.update(`${top.mode}\0${top.uid}:${top.gid}\0${top.mtimeMs}\0`);
  walk(root, '');
  return hash.digest('hex');
}

/** Mount points in this process's mount table whose path starts with `prefix`. */
export function mountsUnder(prefix: string): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((line) => line.split(' ')[4] ?? '')
    .filter((mountPoint) => mountPoint.startsWith(prefix));
}
