/**
 * Install time from a loopback release mirror and registry: cold (empty tool cache, archives and
 * an executor image of roughly real size) and warm (everything from the tool cache; target under
 * 100 ms per tool). The tools are stand-ins; their sizes, not their behaviour, matter here.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { installCrane } from '../src/tools/install-crane.js';
import type { InstallOptions } from '../src/tools/install-tools.js';
import { installTools } from '../src/tools/install-tools.js';
import { installKaniko } from '../src/tools/install-kaniko.js';
import { CRANE_DEFAULT, TRIVY_DEFAULT } from '../src/tools/releases.js';
import { installTrivy } from '../src/tools/install-trivy.js';
import { writeImageTarball } from '../test/helpers/image-tarball.js';
import { startRegistry } from '../test/helpers/registry.js';
import { publishCrane, publishTrivy, startReleaseServer } from '../test/helpers/release-server.js';
import { formatTiming, peakRssMiB, time } from './measure.js';
import { Registries } from '../src/registries.js';

const MiB = 1024 * 1024;
const TRIVY_BYTES = 48 * MiB;
const CRANE_BYTES = 12 * MiB;
const EXECUTOR_BYTES = 24 * MiB;
const WARM_TARGET_MS = 100;
/** From the repository root: the bundled benchmark runs from a temporary folder. */
const CRANE_STANDIN = join(import.meta.dirname, '..', 'test/standins/crane-standin.mjs');

const root = mkdtempSync(join(tmpdir(), 'bench-install-'));
const server = await startReleaseServer();
const registry = await startRegistry();
try {
  publishTrivy(server, '0.75.0', { padding: TRIVY_BYTES });
  publishCrane(server, '0.22.1', {
    crane: `#!/bin/sh\n# Runs the crane stand-in, not crane.\nexec '${process.execPath}' '${CRANE_STANDIN}' "$@"\n`,
    padding: CRANE_BYTES,
  });
  const executor = join(root, 'executor.tar');
  const image = await writeImageTarball(executor, {
    layers: [{ 'kaniko/executor': randomBytes(EXECUTOR_BYTES), 'kaniko/ssl/certs/ca.crt': 'certificates\n' }],
  });
  const kanikoImage = `${registry.host}/osscontainertools/kaniko@${image.digest}`;
  await promisify(execFile)(process.execPath, [CRANE_STANDIN, 'push', '--insecure', executor, kanikoImage]);

  const options: InstallOptions = {
    trivyVersion: '0.75.0',
    craneVersion: '0.22.1',
    kanikoImage,
    toolMirror: server.url,
    registries: new Registries({ insecure: [registry.host] }),
    arch: 'x64',
  };
  const release = { arch: 'x64', toolMirror: server.url } as const;
  const trivy = (): Promise<unknown> =>
    installTrivy({ ...release, version: '0.75.0', pinned: TRIVY_DEFAULT });
  const crane = (): Promise<unknown> =>
    installCrane({ ...release, version: '0.22.1', pinned: CRANE_DEFAULT });
  let cranePath = '';
  const kaniko = (): Promise<unknown> =>
    installKaniko({
      image: options.kanikoImage,
      arch: 'x64',
      crane: () => Promise.resolve(cranePath),
      registries: new Registries({ insecure: [registry.host] }),
    });

  let run = 0;
  const freshCache = (): void => {
    process.env.RUNNER_TOOL_CACHE = join(root, `cache-${++run}`);
    process.env.RUNNER_TEMP = join(root, `temp-${run}`);
    mkdirSync(process.env.RUNNER_TEMP, { recursive: true });
  };
  const results: string[] = [];
  const quietly = async <T>(task: () => Promise<T>): Promise<T> => {
    // tool-cache and the install log write to stdout; keep the figures readable.
    const write = process.stdout.write.bind(process.stdout);
    process.stdout.write = (() => true) as typeof process.stdout.write;
    try {
      return await task();
    } finally {
      process.stdout.write = write;
    }
  };

  freshCache();
  cranePath = (
    (await quietly(() => installCrane({ ...release, version: '0.22.1', pinned: CRANE_DEFAULT }))) as {
      path: string;
    }
  ).path;

  const cold = async (label: string, task: () => Promise<unknown>): Promise<void> => {
    const timing = await quietly(() =>
      time(
        async () => {
          freshCache();
          await task();
        },
        3,
        0,
      ),
    );
    results.push(formatTiming(`cold ${label}`, timing));
  };
  await cold(`trivy (${TRIVY_BYTES / MiB} MiB archive)`, trivy);
  await cold(`crane (${CRANE_BYTES / MiB} MiB archive)`, crane);
  await cold(`kaniko (${EXECUTOR_BYTES / MiB} MiB root, crane stand-in export)`, kaniko);
  await cold('installTools, all three concurrently', () => installTools(options));

  // Warm: one cache filled by installTools, then every install served from it.
  const warmCache = process.env.RUNNER_TOOL_CACHE;
  const requestsBeforeWarm = server.requests.length;
  const warm = async (label: string, task: () => Promise<unknown>, target?: number): Promise<void> => {
    process.env.RUNNER_TOOL_CACHE = warmCache;
    results.push(formatTiming(`warm ${label}`, await quietly(() => time(task, 20, 2)), target));
  };
  await warm('trivy', trivy, WARM_TARGET_MS);
  await warm('crane', crane, WARM_TARGET_MS);
  await warm('kaniko (pinned digest, no crane run)', kaniko, WARM_TARGET_MS);
  await warm('installTools, all three', () => installTools(options), WARM_TARGET_MS * 3);
  results.push(`requests to the mirror during the warm runs: ${server.requests.length - requestsBeforeWarm}`);

  for (const line of results) console.log(line);
  console.log(`peak RSS ${peakRssMiB().toFixed(0)} MiB`);
} finally {
  await registry.stop();
  await server.stop();
  rmSync(root, { recursive: true, force: true });
}
