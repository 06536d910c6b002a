import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Debian's build of the distribution (v2) registry, the same server code as Docker's `registry:2`. */
const REGISTRY_BINARY = '/usr/bin/docker-registry';

export interface RunningRegistry {
  /** `127.0.0.1:PORT`, ready to be used as the registry part of an image reference. */
  readonly host: string;
  stop(): Promise<void>;
}

/**
 * Starts a real registry on a free loopback port with storage in a fresh temporary directory,
 * and waits until `GET /v2/` answers. `stop()` kills it and deletes its storage.
 */
export async function startRegistry(): Promise<RunningRegistry> {
  const root = await mkdtemp(join(tmpdir(), 'registry-'));
  try {
    // The port is found first and handed to the registry; another process may grab it in between,
    // so a registry that dies at start is tried again on a new port.
    for (let attempt = 1; ; attempt++) {
      const port = await freeLoopbackPort();
      const host = `127.0.0.1:${port}`;
      const configPath = join(root, 'config.yml');
      await writeFile(configPath, registryConfig(join(root, 'storage'), host));
      const child = spawn(REGISTRY_BINARY, ['serve', configPath], { stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
      const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
      child.once('error', () => undefined);
      const ready = await waitUntilReady(host, exited);
      if (ready) {
        return {
          host,
          async stop() {
            if (child.exitCode === null && child.signalCode === null) {
              child.kill('SIGKILL');
              await exited;
            }
            await rm(root, { recursive: true, force: true });
          },
        };
      }
      child.kill('SIGKILL');
      await exited;
      if (attempt >= 3)
        throw new Error(`${REGISTRY_BINARY} did not start on ${host}: ${stderr.trim() || 'no output'}`);
    }
  } catch (error) {
    await rm(root, { recursive: true, force: true });
    throw error;
  }
}

function registryConfig(storageDir: string, host: string): string {
  return [
    'version: 0.1',
    'log:',
    '  level: error',
    '  accesslog:',
    '    disabled: true',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${JSON.stringify(storageDir)}`,
    '  delete:',
    '    enabled: true',
    '  maintenance:',
    '    uploadpurging:',
    '      enabled: false',
    'http:',
    `  addr: ${host}`,
    '',
  ].join('\n');
}

export function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port')),
      );
    });
  });
}

/** Polls `/v2/` every 10 ms for up to 10 s; false when the process exits first. */
async function waitUntilReady(host: string, exited: Promise<number | null>): Promise<boolean> {
  let hasExited = false;
  void exited.then(() => (hasExited = true));
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline && !hasExited) {
    try {
      const response = await fetch(`http://${host}/v2/`);
      await response.body?.cancel();
      if (response.status === 200) return true;
    } catch {
      // Not listening yet.
    }
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return false;
}
