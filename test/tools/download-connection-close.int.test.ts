// Integration: it starts Python's http.server (python3), which the unit project may not have.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import type { DownloadPolicy } from '../../src/tools/download.js';
import { downloadFile } from '../../src/tools/download.js';
import type { ClosingMirror } from '../helpers/closing-mirror.js';
import { installColdRepeatedly, startClosingMirror } from '../helpers/closing-mirror.js';
import { sha256 } from '../helpers/release-server.js';

let mirror: ClosingMirror;

beforeEach(async () => {
  mirror = await startClosingMirror();
});

afterEach(async () => {
  await mirror.stop();
});

const ONE_ATTEMPT: DownloadPolicy = { attempts: 1, backoffMs: 10, stallMs: 30_000 };

// undici 6 threw `AssertionError: assert(!this.paused)` from the socket's 'end' handler when a
// server closed the connection while the body was held back by backpressure: no try/catch sees
// it, so the tests collect what reaches the process. Four at once: Python's http.server accepts a
// backlog of only five connections.
async function uncaughtDuring(task: () => Promise<void>): Promise<unknown[]> {
  const uncaught: unknown[] = [];
  const collect = (error: unknown): void => void uncaught.push(error);
  process.on('uncaughtException', collect);
  try {
    await task();
  } finally {
    process.off('uncaughtException', collect);
  }
  return uncaught;
}

it('installs cold 100 times, 4 at once, from a mirror that closes every connection', async () => {
  const uncaught = await uncaughtDuring(async () => {
    const installed = await installColdRepeatedly(mirror, { rounds: 25, parallel: 2, download: ONE_ATTEMPT });
    expect(installed).toBe(100);
  });
  expect(uncaught).toEqual([]);
});

it('downloads a 1 MiB file 200 times, 4 at once, from a mirror that closes every connection', async () => {
  const body = randomBytes(1024 * 1024);
  mirror.put('/archive.bin', body);
  const folder = mkdtempSync(join(tmpdir(), 'closing-downloads-'));
  const uncaught = await uncaughtDuring(async () => {
    for (let round = 0; round < 50; round++) {
      const downloads = await Promise.all(
        Array.from({ length: 4 }, (_, index) =>
          downloadFile(`${mirror.url}/archive.bin`, join(folder, `${index}.bin`), ONE_ATTEMPT),
        ),
      );
      expect(downloads).toEqual(Array(4).fill({ sha256: sha256(body), bytes: body.length }));
    }
  }).finally(() => rmSync(folder, { recursive: true, force: true }));
  expect(uncaught).toEqual([]);
});
