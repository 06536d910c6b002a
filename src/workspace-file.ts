import type { Stats } from 'node:fs';
import { constants, lstatSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { isAbsolute, join, relative, resolve, sep } from 'node:path';

/**
 * The lstat of `path` (absolute, or relative to `workspace`) when it is a regular file inside the
 * workspace reached through no symbolic link below the workspace; otherwise throws saying what is
 * wrong and what to do. A committed link could lead to any file on the runner (a credential
 * file, say), and the action reads these files on the runner, outside any sandbox.
 */
export function lstatWorkspaceFile(workspace: string, path: string): Stats {
  const absolute = resolve(workspace, path);
  const inside = relative(workspace, absolute);
  if (inside === '' || inside === '..' || inside.startsWith(`..${sep}`) || isAbsolute(inside))
    throw new Error(`${absolute} is outside the workspace ${workspace}: give a file inside it.`);
  let current = workspace;
  let stats: Stats | undefined;
  for (const part of inside.split(sep)) {
    current = join(current, part);
    stats = lstatSync(current, { throwIfNoEntry: false });
    if (stats === undefined) throw new Error(`${absolute} does not exist.`);
    if (stats.isSymbolicLink())
      throw new Error(
        `${current} is a symbolic link, which the action does not follow here (it could lead to any ` +
          'file on the runner): replace the link with the file itself.',
      );
  }
  if (!stats!.isFile()) throw new Error(`${absolute} is not a regular file: give the path of a file.`);
  return stats!;
}

function tooBig(path: string, size: number, maxBytes: number): Error {
  return new Error(`${path} is ${size} bytes, more than the ${maxBytes} allowed for it: make it smaller.`);
}

/**
 * The text of a workspace file checked as `lstatWorkspaceFile` does, read from a descriptor opened
 * without following a link and proven to be the very file checked, so that swapping the file or
 * a folder above it for a link between the check and the read is refused; at most `maxBytes`.
 */
export async function readWorkspaceFile(workspace: string, path: string, maxBytes: number): Promise<string> {
  const checked = lstatWorkspaceFile(workspace, path);
  const absolute = resolve(workspace, path);
  if (checked.size > maxBytes) throw tooBig(absolute, checked.size, maxBytes);
  const changed = new Error(
    `${absolute} was replaced after it was checked; the action read nothing from it. ` +
      'Find the step that rewrites the workspace while this one runs.',
  );
  // O_NONBLOCK: were a FIFO swapped in, opening it must not wait for a writer forever.
  const handle = await open(absolute, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK).catch(
    (error: NodeJS.ErrnoException) => {
      throw error.code === 'ELOOP' ? changed : error;
    },
  );
  try {
    const opened = await handle.stat();
    if (!opened.isFile() || opened.dev !== checked.dev || opened.ino !== checked.ino) throw changed;
    // One byte more than allowed tells a file that grew since fstat from one that fits.
    const buffer = Buffer.alloc(maxBytes + 1);
    let length = 0;
    for (;;) {
      const { bytesRead } = await handle.read(buffer, length, buffer.length - length, length);
      if (bytesRead === 0) break;
      length += bytesRead;
      if (length === buffer.length) throw tooBig(absolute, Math.max(opened.size, length), maxBytes);
    }
    return buffer.subarray(0, length).toString('utf8');
  } finally {
    await handle.close();
  }
}
