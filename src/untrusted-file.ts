import type { Stats } from 'node:fs';
import { constants } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { open } from 'node:fs/promises';

export interface UntrustedFile {
  readonly handle: FileHandle;
  /** The fstat of `handle`: the file that was opened, whatever the path names by now. */
  readonly stat: Stats;
}

// O_NOFOLLOW: a symlink at the path is refused (ELOOP), never followed to a runner file.
// O_NONBLOCK: opening a fifo returns at once instead of waiting for a writer that never comes.
const OPEN_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK | constants.O_NOCTTY;

function kindOf(stat: Stats): string {
  if (stat.isDirectory()) return 'a directory';
  if (stat.isFIFO()) return 'a fifo';
  if (stat.isSocket()) return 'a socket';
  if (stat.isCharacterDevice()) return 'a character device';
  if (stat.isBlockDevice()) return 'a block device';
  return 'not a regular file';
}

/**
 * Opens a file written by code the workflow author does not control (a build's output folder)
 * only if it is what it claims to be: a regular file, reached without a symlink, with one link
 * (a second hard link would let its content be changed from elsewhere), at most `maxBytes`
 * long when given. Refusals name the path and why, never the content. A missing file rejects
 * with the system's ENOENT error so that callers can treat absence on its own.
 */
export async function openUntrustedRegularFile(
  path: string,
  { maxBytes }: { readonly maxBytes?: number } = {},
): Promise<UntrustedFile> {
  let handle: FileHandle;
  try {
    handle = await open(path, OPEN_FLAGS);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ELOOP') throw error;
    throw new Error(`${path} is a symbolic link; it is not followed, so nothing it points at is read`, {
      cause: error,
    });
  }
  try {
    const stat = await handle.stat();
    if (!stat.isFile()) throw new Error(`${path} is ${kindOf(stat)}, not a regular file`);
    if (stat.nlink !== 1)
      throw new Error(`${path} has ${stat.nlink} hard links; only a file with a single link is accepted`);
    if (maxBytes !== undefined && stat.size > maxBytes)
      throw new Error(`${path} is ${stat.size} bytes, more than the ${maxBytes} it may have`);
    return { handle, stat };
  } catch (error) {
    await handle.close();
    throw error;
  }
}

/** The text of a small untrusted file, checked as `openUntrustedRegularFile` does. */
export async function readUntrustedText(path: string, maxBytes: number): Promise<string> {
  const { handle } = await openUntrustedRegularFile(path, { maxBytes });
  try {
    // One byte more than allowed: a file that grew after the check is refused, not cut short.
    const buffer = Buffer.alloc(maxBytes + 1);
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
    if (bytesRead > maxBytes) throw new Error(`${path} is more than the ${maxBytes} bytes it may have`);
    return buffer.subarray(0, bytesRead).toString('utf8');
  } finally {
    await handle.close();
  }
}
