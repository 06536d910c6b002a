import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Registries } from '../../src/registries.js';
import {
  dockerfileSuggestsJava,
  imageHoldsJavaArchive,
  someEntryName,
} from '../../src/scan/java-archives.js';
import type { DbCacheStore, TrivyDatabase } from '../../src/scan/trivy-databases.js';
import {
  TrivyDatabases,
  actionsCacheStore,
  writeDatabaseDockerConfig,
} from '../../src/scan/trivy-databases.js';
import {
  DEFAULT_TRIVY_CHECKS_REPOSITORIES,
  DEFAULT_TRIVY_DB_REPOSITORIES,
  DEFAULT_TRIVY_JAVA_DB_REPOSITORIES,
} from '../../src/scan/scan-settings.js';
import { scanImage } from '../../src/scan/trivy-scan.js';
import type { Scanner } from '../../src/vocabulary.js';
import { writeImageTarball } from '../helpers/image-tarball.js';
import { TRIVY_STANDIN, trivyStandinWith } from '../helpers/trivy-standin.js';

let root: string;
let javaImage: string;
let plainImage: string;
let cases = 0;
const now = new Date('2026-11-24T20:00:00Z');
const repositories = {
  vulnerability: DEFAULT_TRIVY_DB_REPOSITORIES,
  java: DEFAULT_TRIVY_JAVA_DB_REPOSITORIES,
  checks: DEFAULT_TRIVY_CHECKS_REPOSITORIES,
};

const noCacheService: DbCacheStore = {
  available: () => false,
  restore: () => Promise.reject(new Error('not available')),
  save: () => Promise.reject(new Error('not available')),
};

/** A fresh directory, Dockerfile, cache dir and call log per test. */
function setup(dockerfile = 'FROM alpine:3.20\n', env: Record<string, string> = {}) {
  cases += 1;
  const dir = join(root, `case-${cases}`);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'Dockerfile'), dockerfile);
  const log = join(dir, 'calls.jsonl');
  const trivyPath = trivyStandinWith({ TRIVY_STANDIN_LOG: log, ...env });
  return {
    dir,
    cacheDir: join(dir, 'cache'),
    trivyPath,
    argvs: (): string[][] =>
      existsSync(log)
        ? readFileSync(log, 'utf8')
            .trim()
            .split('\n')
            .map((line) => (JSON.parse(line) as { argv: string[] }).argv)
        : [],
    start: (scanners: Scanner[], store: DbCacheStore = noCacheService) =>
      TrivyDatabases.start({
        trivyPath,
        cacheDir: join(dir, 'cache'),
        scanners,
        repositories,
        registries: new Registries({ mask: () => undefined }),
        dockerConfigDir: join(dir, 'docker-config'),
        dockerfile: join(dir, 'Dockerfile'),
        store,
        now,
      }),
    scan: (tarball: string, scanners: Scanner[]) =>
      scanImage({
        trivyPath,
        tarball,
        outputDir: join(dir, 'out'),
        cacheDir: join(dir, 'cache'),
        scanners,
        sbom: 'none',
      }),
  };
}

/** A cache holding today's copy of every database: restoring fills the folder as the cache would. */
function warmCache(cacheDir: string) {
  const restored: string[] = [];
  const contents: Record<string, Record<string, string>> = {
    db: { 'trivy.db': 'db', 'metadata.json': '{}' },
    'java-db': { 'trivy-java.db': 'java', 'metadata.json': '{}' },
    policy: { 'content/x.rego': '', 'metadata.json': '{}' },
  };
  const store: DbCacheStore = {
    available: () => true,
    restore: async ([path], key) => {
      const folder = path!.slice(cacheDir.length + 1);
      for (const [name, content] of Object.entries(contents[folder]!)) {
        mkdirSync(join(path!, name, '..'), { recursive: true });
        writeFileSync(join(path!, name), content);
      }
      restored.push(folder);
      return key;
    },
    save: () => Promise.reject(new Error('a warm cache saves nothing')),
  };
  return { store, restored };
}

const downloads = (argvs: string[][], what: string) => argvs.filter((argv) => argv.includes(what));

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'bsp-trivy-dbs-'));
  javaImage = join(root, 'java.tar');
  plainImage = join(root, 'plain.tar');
  await writeImageTarball(javaImage, { layers: [{ 'etc/os-release': 'x' }, { 'app/lib/App.JAR': 'PK' }] });
  await writeImageTarball(plainImage, { layers: [{ 'etc/os-release': 'x', 'app/run.sh': 'echo' }] });
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('which image needs the Java DB', () => {
  it('a Java archive in any layer, any case, also under a long (GNU or PAX) name', async () => {
    expect(await imageHoldsJavaArchive(javaImage)).toBe(true);
    expect(await imageHoldsJavaArchive(plainImage)).toBe(false);
    for (const format of ['gnu', 'pax']) {
      const tree = join(root, `tree-${format}`);
      const deep = join(tree, 'opt', 'a'.repeat(90), 'b'.repeat(60));
      mkdirSync(deep, { recursive: true });
      writeFileSync(join(deep, 'service.war'), 'PK');
      const layer = execFileSync('tar', [`--format=${format}`, '-cf', '-', '-C', tree, '.']);
      const tarball = join(root, `long-${format}.tar`);
      await writeImageTarball(tarball, { layers: [{ 'etc/os-release': 'x' }, layer] });
      expect(await imageHoldsJavaArchive(tarball)).toBe(true);
    }
  });

  it('layers are walked together: a match in one stops the walks of the others', async () => {
    const big = { 'data/blob.bin': randomBytes(8 << 20) };
    const tarball = join(root, 'many-layers.tar');
    await writeImageTarball(tarball, { layers: [big, { 'app/app.jar': 'PK' }, big, { 'etc/x': 'y' }] });
    expect(await imageHoldsJavaArchive(tarball)).toBe(true);
    await writeImageTarball(tarball, { layers: [big, { 'etc/x': 'y' }, big] });
    expect(await imageHoldsJavaArchive(tarball)).toBe(false);
  });

  it('finds every name however the layer is cut into chunks', async () => {
    const tree = join(root, 'tree-chunks');
    const long = join('opt', 'c'.repeat(90), 'd'.repeat(60));
    mkdirSync(join(tree, long), { recursive: true });
    const expected = ['./', './opt/', `./${long}/`];
    for (let i = 0; i < 5; i++) {
      writeFileSync(join(tree, long, `lib-${i}.jar`), 'x'.repeat(i * 300));
      writeFileSync(join(tree, `small-${i}.txt`), 'y'.repeat(i * 700 + 1));
    }
    for (const format of ['gnu', 'pax']) {
      const layer = execFileSync('tar', [`--format=${format}`, '-cf', '-', '-C', tree, '.']);
      const all = execFileSync('tar', ['-tf', '-'], { input: layer, encoding: 'utf8' }).trim().split('\n');
      expect(all).toEqual(expect.arrayContaining(expected));
      for (const size of [1, 100, 511, 512, 513, 1000, 4096, layer.length]) {
        const seen: string[] = [];
        async function* chunks() {
          for (let at = 0; at < layer.length; at += size) yield layer.subarray(at, at + size);
        }
        const found = await someEntryName(chunks(), (name) => {
          seen.push(name);
          return false;
        });
        expect(found).toBe(false);
        expect(seen, `${format}, chunks of ${size}`).toEqual(all);
      }
    }
  });

  it('a stage FROM a JDK, JRE or Java build tool image suggests Java; others do not', () => {
    for (const base of [
      'eclipse-temurin:21-jre',
      'maven:3-eclipse-temurin-21 AS build',
      'gradle:8',
      'amazoncorretto:21',
    ])
      expect(dockerfileSuggestsJava(`FROM ${base}\nRUN true\n`)).toBe(true);
    expect(dockerfileSuggestsJava('FROM ghcr.io/acme/openjdk-runtime:17\n')).toBe(true);
    expect(dockerfileSuggestsJava('FROM alpine:3.20\nRUN apk add curl\n')).toBe(false);
    expect(dockerfileSuggestsJava('FROM node:22-slim\n')).toBe(false);
  });
});

describe('TrivyDatabases: everything the scan needs, ready before it starts', () => {
  it('an image with no Java archive makes no Java DB request at all, and its scan downloads nothing', async () => {
    const t = setup();
    await (await t.start(['vuln', 'secret'])).readyFor(plainImage);
    expect(t.argvs().map((argv) => argv.slice(0, 2))).toEqual([['image', '--download-db-only']]);
    await t.scan(plainImage, ['vuln', 'secret']);
    expect(
      t
        .argvs()
        .flat()
        .filter((arg) => /download-java-db|java-db-repository|trivy-java-db/.test(arg)),
    ).toEqual([]);
  });

  it('a Java image on a warm cache: every database restored, no download, the scan passes', async () => {
    const t = setup();
    const { store, restored } = warmCache(t.cacheDir);
    await (await t.start(['vuln', 'misconfig'], store)).readyFor(javaImage);
    expect(restored.sort()).toEqual(['db', 'java-db', 'policy']);
    expect(t.argvs()).toEqual([]);
    const result = await t.scan(javaImage, ['vuln', 'misconfig']);
    expect(result.report.Results!.length).toBeGreaterThan(0);
  });

  it('a Java image on a cold cache with a failing first repository: the next one, in order', async () => {
    const t = setup('FROM alpine:3.20\n', {
      TRIVY_STANDIN_FAIL_REPOS: DEFAULT_TRIVY_JAVA_DB_REPOSITORIES[0],
    });
    await (await t.start(['vuln'])).readyFor(javaImage);
    const java = downloads(t.argvs(), '--download-java-db-only');
    expect(java).toEqual(
      DEFAULT_TRIVY_JAVA_DB_REPOSITORIES.map((repository) => [
        'image',
        '--download-java-db-only',
        '--cache-dir',
        t.cacheDir,
        '--java-db-repository',
        repository,
        '--timeout',
        '10m',
        '--skip-version-check',
        '--disable-telemetry',
        '--no-progress',
      ]),
    );
    expect(readFileSync(join(t.cacheDir, 'java-db', 'trivy-java.db'), 'utf8')).toContain(
      DEFAULT_TRIVY_JAVA_DB_REPOSITORIES[1],
    );
    await t.scan(javaImage, ['vuln']);
  });

  it('a Dockerfile FROM a Java image starts the Java DB during the build, before the layers are read', async () => {
    const t = setup('FROM eclipse-temurin:21-jre\nCOPY app.jar /app/\n');
    const databases = await t.start(['vuln']);
    await databases.readyFor(plainImage);
    expect(downloads(t.argvs(), '--download-java-db-only')).toHaveLength(1);
  });

  it('without vuln neither DB is fetched; misconfig fetches the checks bundle with `trivy config`', async () => {
    const t = setup();
    await (await t.start(['secret', 'misconfig'])).readyFor(javaImage);
    expect(t.argvs()).toEqual([
      [
        'config',
        '--cache-dir',
        t.cacheDir,
        '--checks-bundle-repository',
        DEFAULT_TRIVY_CHECKS_REPOSITORIES[0],
        '--timeout',
        '10m',
        '--skip-version-check',
        '--disable-telemetry',
        '.',
      ],
    ]);
    expect(existsSync(join(t.cacheDir, 'policy', 'metadata.json'))).toBe(true);
    await t.scan(javaImage, ['secret', 'misconfig']);
  });

  it('a checks bundle that fails falls back in Trivy with exit 0; the action still calls it a failure', async () => {
    const t = setup('FROM alpine:3.20\n', { TRIVY_STANDIN_FAIL_REPOS: DEFAULT_TRIVY_CHECKS_REPOSITORIES[0] });
    const databases = await t.start(['misconfig']);
    await expect(databases.readyFor(plainImage)).rejects.toThrow(
      /Trivy checks bundle could not be downloaded from any repository:\n {2}mirror\.gcr\.io\/aquasec\/trivy-checks:2: .*ERROR.*no such host[\s\S]*`trivy-checks-repositories`/,
    );
  });
});

describe('TrivyDatabases.scanWhenReady: the scan starts while the layers are checked for Java', () => {
  /** A scan that notes, each time it runs, whether the Java DB was there; `outcome` is told too. */
  const recordingScan = (
    cacheDir: string,
    outcome: (javaDb: boolean, run: number) => Promise<string> = async (_javaDb, run) => `run ${run}`,
  ) => {
    const runs: { javaDb: boolean }[] = [];
    let running = 0;
    const scan = async (): Promise<string> => {
      expect(running).toBe(0);
      running += 1;
      const javaDb = existsSync(join(cacheDir, 'java-db', 'trivy-java.db'));
      runs.push({ javaDb });
      try {
        await new Promise((resolve) => setTimeout(resolve, 20));
        return await outcome(javaDb, runs.length);
      } finally {
        running -= 1;
      }
    };
    return { scan, runs };
  };

  it('an image with no Java archive: one scan, its outcome, no Java DB', async () => {
    const t = setup();
    const { scan, runs } = recordingScan(t.cacheDir);
    const databases = await t.start(['vuln', 'secret']);
    expect(await databases.scanWhenReady(plainImage, scan)).toBe('run 1');
    expect(runs).toEqual([{ javaDb: false }]);
    expect(downloads(t.argvs(), '--download-java-db-only')).toEqual([]);
    const failing = recordingScan(t.cacheDir, () => Promise.reject(new Error('scanner failed')));
    await expect(databases.scanWhenReady(plainImage, failing.scan)).rejects.toThrow('scanner failed');
  });

  it('the scan does not wait for the check: it starts while the layers are still being read', async () => {
    const t = setup();
    const big = join(root, 'big-plain.tar');
    await writeImageTarball(big, { layers: [{ 'data/zeros.bin': Buffer.alloc(96 << 20) }] });
    const said: string[] = [];
    const write = process.stdout.write.bind(process.stdout);
    process.stdout.write = ((chunk: string | Uint8Array) => {
      said.push(chunk.toString());
      return true;
    }) as typeof process.stdout.write;
    try {
      const databases = await t.start(['vuln'], warmCache(t.cacheDir).store);
      let decidedAtStart: boolean | undefined;
      await databases.scanWhenReady(big, async () => {
        decidedAtStart = said.join('').includes('no Java DB is needed');
        return 'scanned';
      });
      expect(decidedAtStart).toBe(false);
      expect(said.join('')).toContain('no Java DB is needed');
    } finally {
      process.stdout.write = write;
    }
  });

  it('a Java image: the run without the Java DB is discarded, whatever it gave, and the scan runs again with it', async () => {
    for (const first of [() => Promise.resolve('clean'), () => Promise.reject(new Error('no Java DB'))]) {
      const t = setup();
      const { scan, runs } = recordingScan(t.cacheDir, (javaDb) =>
        javaDb ? Promise.resolve('with java') : first(),
      );
      const databases = await t.start(['vuln']);
      expect(await databases.scanWhenReady(javaImage, scan)).toBe('with java');
      expect(runs.at(-1)).toEqual({ javaDb: true });
      expect(runs.length).toBeLessThanOrEqual(2);
      expect(downloads(t.argvs(), '--download-java-db-only')).toHaveLength(1);
    }
  });

  it('with the real scan: a Java image is scanned with the Java DB', async () => {
    const t = setup();
    const databases = await t.start(['vuln']);
    const result = await databases.scanWhenReady(javaImage, () => t.scan(javaImage, ['vuln']));
    expect(result.report.Results!.length).toBeGreaterThan(0);
    const scans = t.argvs().filter((argv) => argv.includes('--input'));
    expect(scans.length).toBeGreaterThanOrEqual(1);
    expect(existsSync(join(t.cacheDir, 'java-db', 'trivy-java.db'))).toBe(true);
  });

  it('a tarball whose layers cannot be read fails with that reason, after the scan has ended', async () => {
    const t = setup();
    const broken = join(root, 'broken.tar');
    const bytes = readFileSync(plainImage);
    const layerAt = bytes.indexOf(Buffer.from([0x1f, 0x8b]));
    bytes.fill(0x41, layerAt + 20, layerAt + 40);
    writeFileSync(broken, bytes);
    const { scan, runs } = recordingScan(t.cacheDir);
    const databases = await t.start(['vuln']);
    await expect(databases.scanWhenReady(broken, scan)).rejects.toThrow();
    expect(runs.length).toBeLessThanOrEqual(1);
  });

  it('no check when nothing is open: a Dockerfile FROM a Java image, or no vuln scanner', async () => {
    const java = setup('FROM eclipse-temurin:21-jre\n');
    const fromJava = recordingScan(java.cacheDir);
    expect(await (await java.start(['vuln'])).scanWhenReady(plainImage, fromJava.scan)).toBe('run 1');
    expect(fromJava.runs).toEqual([{ javaDb: true }]);
    const noVuln = setup();
    const withoutVuln = recordingScan(noVuln.cacheDir);
    expect(await (await noVuln.start(['secret'])).scanWhenReady(javaImage, withoutVuln.scan)).toBe('run 1');
    expect(withoutVuln.runs).toEqual([{ javaDb: false }]);
  });
});

describe('actionsCacheStore', () => {
  it('is available exactly when @actions/cache says so; without a cache URL it is not loaded', async () => {
    const saved = { ...process.env };
    try {
      for (const name of ['ACTIONS_RESULTS_URL', 'ACTIONS_CACHE_URL', 'ACTIONS_CACHE_SERVICE_V2'])
        delete process.env[name];
      expect(await actionsCacheStore.available()).toBe(false);
      process.env.ACTIONS_CACHE_URL = 'https://cache.example/';
      expect(await actionsCacheStore.available()).toBe(true);
      process.env.ACTIONS_CACHE_SERVICE_V2 = 'true';
      expect(await actionsCacheStore.available()).toBe(false);
      process.env.ACTIONS_RESULTS_URL = 'https://results.example/';
      expect(await actionsCacheStore.available()).toBe(true);
    } finally {
      for (const name of ['ACTIONS_RESULTS_URL', 'ACTIONS_CACHE_URL', 'ACTIONS_CACHE_SERVICE_V2'])
        if (saved[name] === undefined) delete process.env[name];
        else process.env[name] = saved[name];
    }
  });
});

describe('the private DOCKER_CONFIG for DB mirrors', () => {
  it('holds exactly the hosts with a credential, 0700/0600; none when no host has one', async () => {
    const dir = join(root, 'docker-config');
    const registries = new Registries({
      credentials: [
        { registry: 'mirror.example.com', username: 'u', password: 'p' },
        { registry: 'other.example.com', username: 'x', password: 'y' },
      ],
      mask: () => undefined,
    });
    expect(
      await writeDatabaseDockerConfig(dir, ['ghcr.io/aquasecurity/trivy-db:2'], registries),
    ).toBeUndefined();
    expect(existsSync(dir)).toBe(false);
    const written = await writeDatabaseDockerConfig(
      dir,
      [
        'mirror.example.com/trivy-db:2',
        'ghcr.io/aquasecurity/trivy-db:2',
        'mirror.example.com/trivy-java-db:1',
      ],
      registries,
    );
    expect(written).toBe(dir);
    expect(JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'))).toEqual({
      auths: { 'mirror.example.com': { auth: Buffer.from('u:p').toString('base64') } },
    });
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    expect(statSync(join(dir, 'config.json')).mode & 0o777).toBe(0o600);
  });
});

describe('the stand-in is as strict as Trivy v0.74.0', () => {
  const standin = (args: string[]) =>
    spawnSync(process.execPath, [TRIVY_STANDIN, ...args], { encoding: 'utf8' });

  function cacheWith(folders: TrivyDatabase[]) {
    const cacheDir = mkdtempSync(join(root, 'standin-cache-'));
    if (folders.includes('vulnerability')) {
      mkdirSync(join(cacheDir, 'db'));
      writeFileSync(join(cacheDir, 'db', 'trivy.db'), '');
      writeFileSync(join(cacheDir, 'db', 'metadata.json'), '{}');
    }
    return cacheDir;
  }
  const scanArgs = (cacheDir: string, tarball: string, ...extra: string[]) => [
    'image',
    '--input',
    tarball,
    '--format',
    'json',
    '--scanners',
    'vuln',
    '--cache-dir',
    cacheDir,
    '--skip-db-update',
    ...extra,
  ];

  it('refuses a Java image scan with --skip-java-db-update and no Java DB (pkg/javadb/client.go Update)', () => {
    const result = standin(scanArgs(cacheWith(['vulnerability']), javaImage, '--skip-java-db-update'));
    expect(result.status).not.toBe(0);
    expect(result.stderr).toContain("'--skip-java-db-update' cannot be specified on the first run");
    expect(standin(scanArgs(cacheWith(['vulnerability']), plainImage, '--skip-java-db-update')).status).toBe(
      0,
    );
  });

  it('refuses a scan that would download a database itself', () => {
    const result = standin(scanArgs(cacheWith(['vulnerability']), javaImage));
    expect(result.status).not.toBe(0);
    expect(result.stderr).toMatch(/would download the Java DB itself/);
  });

  it('refuses flags `trivy config` lacks', () => {
    for (const flag of [
      '--no-progress',
      '--download-db-only',
      '--scanners=misconfig',
      '--skip-java-db-update',
    ]) {
      const result = standin(['config', flag, root]);
      expect(result.status).not.toBe(0);
      expect(result.stderr).toMatch(/unknown flag/);
    }
  });
});
