/**
 * A release mirror served by Python's `http.server` speaking HTTP/1.0: every response is followed
 * by the server closing the connection (a FIN right after the last body byte), as the plain
 * mirrors that crashed undici's parser do. Plus the loop that installs Trivy and crane from it
 * cold, several at once, as the action does.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { installCrane } from '../../src/tools/install-crane.js';
import type { DownloadPolicy } from '../../src/tools/download.js';
import { CRANE_DEFAULT, TRIVY_DEFAULT } from '../../src/tools/releases.js';
import { installTrivy } from '../../src/tools/install-trivy.js';
import { publishCrane, publishTrivy } from './release-server.js';

export interface ClosingMirror {
  /** `http://127.0.0.1:<port>`: pass it as `tool-mirror`. */
  readonly url: string;
  put(path: string, body: Buffer | string): void;
  stop(): Promise<void>;
}

export async function startClosingMirror(): Promise<ClosingMirror> {
  const root = mkdtempSync(join(tmpdir(), 'closing-mirror-'));
  // Port 0 lets the kernel pick a free port; -u makes Python print the chosen one at once.
  const server = spawn(
    'python3',
    ['-u', '-m', 'http.server', '--protocol', 'HTTP/1.0', '--bind', '127.0.0.1', '--directory', root, '0'],
    { stdio: ['ignore', 'pipe', 'ignore'] },
  );
  const exited = new Promise<void>((resolve) => server.once('exit', () => resolve()));
  const port = await new Promise<string>((resolve, reject) => {
    let output = '';
    server.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      const match = /port (\d+)/.exec(output);
      if (match) resolve(match[1]!);
    });
    server.once('error', (error) =>
      reject(new Error(`python3 -m http.server did not start: ${error.message}`)),
    );
    server.once('exit', (code) =>
      reject(new Error(`python3 -m http.server exited with ${code} before listening; output: ${output}`)),
    );
  });
  return {
    url: `http://127.0.0.1:${port}`,
    put(path, body) {
      mkdirSync(dirname(join(root, path)), { recursive: true });
      writeFileSync(join(root, path), body);
    },
    async stop() {
      server.kill();
      await exited;
      rmSync(root, { recursive: true, force: true });
    },
  };
}

/** Large enough that the last socket read of a body fills undici's 16 KiB body buffer. */
const ARCHIVE_PADDING = 1024 * 1024;

/**
 * Installs Trivy and crane from `mirror` `rounds` times, each round into an empty tool cache and
 * `parallel` versions of each tool at once (2 × `parallel` downloads and extractions in flight).
 * Returns how many installs completed.
 */
export async function installColdRepeatedly(
  mirror: ClosingMirror,
  { rounds, parallel, download }: { rounds: number; parallel: number; download: DownloadPolicy },
): Promise<number> {
  const versions = Array.from({ length: parallel }, (_, index) => `0.75.${index}`);
  for (const version of versions) {
    publishTrivy(mirror, version, { padding: ARCHIVE_PADDING });
    publishCrane(mirror, version, {
      crane: '#!/bin/sh\n# Stand-in: never run by the tests.\nexit 1\n',
      padding: ARCHIVE_PADDING,
    });
  }
  const work = mkdtempSync(join(tmpdir(), 'cold-installs-'));
  let installed = 0;
  try {
    for (let round = 0; round < rounds; round++) {
      // @actions/tool-cache reads these on every call: a new cache per round keeps every install cold.
      process.env.RUNNER_TOOL_CACHE = join(work, `cache-${round}`);
      process.env.RUNNER_TEMP = join(work, `temp-${round}`);
      mkdirSync(process.env.RUNNER_TEMP, { recursive: true });
      const common = { arch: 'x64', toolMirror: mirror.url, download } as const;
      await Promise.all(
        versions.flatMap((version) => [
          installTrivy({ ...common, version, pinned: TRIVY_DEFAULT }),
          installCrane({ ...common, version, pinned: CRANE_DEFAULT }),
        ]),
      );
      installed += versions.length * 2;
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  return installed;
}
