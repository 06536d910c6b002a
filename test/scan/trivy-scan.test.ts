import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DbCacheStore } from '../../src/scan/trivy-databases.js';
import { Registries } from '../../src/registries.js';
import { prepareTrivyDatabase } from '../../src/scan/trivy-databases.js';
import { scanImage } from '../../src/scan/trivy-scan.js';
import { ReportError } from '../../src/scan/trivy-report.js';
import { TRIVY_FIXTURES } from './trivy-fixtures.js';
import { TRIVY_STANDIN, trivyStandinWith } from '../helpers/trivy-standin.js';

const standin = TRIVY_STANDIN;
const repositories = [
  'mirror.gcr.io/aquasec/trivy-db:2',
  'ghcr.io/aquasecurity/trivy-db:2',
  'public.ecr.aws/aquasecurity/trivy-db:2',
];
let root: string;
let tarball: string;
let calls = 0;

interface Call {
  argv: string[];
  cwd: string;
  env: string[];
}

/** A fresh cache dir and call log per test; the stand-in appends one JSON line per run. */
function setup(extraEnv: Record<string, string> = {}) {
  calls += 1;
  const dir = join(root, `case-${calls}`);
  mkdirSync(dir, { recursive: true });
  const log = join(dir, 'calls.jsonl');
  return {
    cacheDir: join(dir, 'cache'),
    outputDir: join(dir, 'out'),
    log,
    calls: (): Call[] =>
      existsSync(log)
        ? readFileSync(log, 'utf8')
            .trim()
            .split('\n')
            .map((line) => JSON.parse(line) as Call)
        : [],
    process: { trivyPath: trivyStandinWith({ TRIVY_STANDIN_LOG: log, ...extraEnv }) },
  };
}

const noCacheService: DbCacheStore = {
  available: () => false,
  restore: () => Promise.reject(new Error('not available')),
  save: () => Promise.reject(new Error('not available')),
};

function fakeStore(restoredKey: string | undefined, fillOnRestore: () => void) {
  const saved: string[] = [];
  const store: DbCacheStore = {
    available: () => true,
    restore: async () => {
      if (restoredKey) fillOnRestore();
      return restoredKey;
    },
    save: async (_paths, key) => {
      saved.push(key);
    },
  };
  return { store, saved };
}

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'bsp-scan-test-'));
  const image = join(root, 'image');
  mkdirSync(image);
  writeFileSync(
    join(image, 'manifest.json'),
    JSON.stringify([{ Config: 'config.json', RepoTags: [], Layers: [] }]),
  );
  writeFileSync(join(image, 'config.json'), '{}');
  tarball = join(root, 'image.tar');
  execFileSync('tar', ['-cf', tarball, '-C', image, 'manifest.json', 'config.json']);
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe("prepareTrivyDatabase('vulnerability')", () => {
  const now = new Date('2026-11-24T20:00:00Z');

  it('without a cache service downloads from the first repository', async () => {
    const t = setup();
    const result = await prepareTrivyDatabase('vulnerability', {
      ...t.process,
      cacheDir: t.cacheDir,
      repositories,
      store: noCacheService,
      now,
    });
    expect(result).toMatchObject({ source: 'download', repository: repositories[0] });
    expect(result.cacheKey).toMatch(/^build-scan-push-trivy-db-v2-.+-2026-11-24$/);
    expect(existsSync(join(t.cacheDir, 'db', 'trivy.db'))).toBe(true);
    expect(t.calls().map((call) => call.argv)).toEqual([
      [
        'image',
        '--download-db-only',
        '--cache-dir',
        t.cacheDir,
        '--db-repository',
        repositories[0],
        '--timeout',
        '10m',
        '--skip-version-check',
        '--disable-telemetry',
        '--no-progress',
      ],
    ]);
  });

  it('passes --insecure only for a DB repository on a registry listed as insecure', async () => {
    const t = setup();
    await prepareTrivyDatabase('vulnerability', {
      ...t.process,
      cacheDir: t.cacheDir,
      repositories: ['mirror.internal:5000/trivy-db:2'],
      registries: new Registries({ insecure: ['mirror.internal:5000'] }),
      store: noCacheService,
      now,
    });
    await prepareTrivyDatabase('vulnerability', {
      ...t.process,
      cacheDir: t.cacheDir,
      repositories,
      registries: new Registries({ insecure: ['mirror.internal:5000'] }),
      store: noCacheService,
      now,
    });
    const [insecure, secure] = t.calls().map((call) => call.argv);
    expect(insecure).toContain('--insecure');
    expect(secure).not.toContain('--insecure');
  });

  it('tries the next repository itself when one fails on the network', async () => {
    const t = setup({ TRIVY_STANDIN_FAIL_REPOS: repositories[0]! });
    const result = await prepareTrivyDatabase('vulnerability', {
      ...t.process,
      cacheDir: t.cacheDir,
      repositories,
      store: noCacheService,
      now,
    });
    expect(result).toMatchObject({ source: 'download', repository: repositories[1] });
    expect(t.calls().map((call) => call.argv[5])).toEqual([repositories[0], repositories[1]]);
  });

  it('fails with every repository and its error when none works', async () => {
    const t = setup({ TRIVY_STANDIN_FAIL_REPOS: repositories.join(',') });
    const error = await prepareTrivyDatabase('vulnerability', {
      ...t.process,
      cacheDir: t.cacheDir,
      repositories,
      store: noCacheService,
      now,
    }).catch((e: Error) => e);
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).message).toMatch(
      /Trivy vulnerability DB could not be downloaded from any repository/,
    );
    for (const repository of repositories) expect((error as Error).message).toContain(`  ${repository}: `);
    expect((error as Error).message).toMatch(/no such host/);
    expect((error as Error).message).toMatch(/trivy-db-repositories/);
  });

  it("a cache hit on today's key needs no download", async () => {
    const t = setup();
    const fill = () => {
      mkdirSync(join(t.cacheDir, 'db'), { recursive: true });
      writeFileSync(join(t.cacheDir, 'db', 'trivy.db'), 'db');
      writeFileSync(join(t.cacheDir, 'db', 'metadata.json'), '{}');
    };
    const today = `build-scan-push-trivy-db-v2-${process.platform}-${process.arch}-2026-11-24`;
    const { store, saved } = fakeStore(today, fill);
    expect(
      await prepareTrivyDatabase('vulnerability', {
        ...t.process,
        cacheDir: t.cacheDir,
        repositories,
        store,
        now,
      }),
    ).toEqual({
      source: 'cache',
      cacheKey: today,
    });
    expect(t.calls()).toEqual([]);
    expect(saved).toEqual([]);
  });

  it("yesterday's DB is refreshed and saved under today's key; a miss is downloaded and saved", async () => {
    for (const restored of ['build-scan-push-trivy-db-v2-linux-x64-2026-11-23', undefined]) {
      const t = setup();
      const { store, saved } = fakeStore(restored, () => undefined);
      const result = await prepareTrivyDatabase('vulnerability', {
        ...t.process,
        cacheDir: t.cacheDir,
        repositories,
        store,
        now,
      });
      expect(result.source).toBe('download');
      expect(saved).toEqual([result.cacheKey]);
    }
  });
});

describe('scanImage through the Trivy stand-in', () => {
  /** A vulnerability-only scan with no SBOM: what most cases below need. */
  const scanVuln = (t: ReturnType<typeof setup>) =>
    scanImage({
      ...t.process,
      tarball,
      outputDir: t.outputDir,
      cacheDir: t.cacheDir,
      scanners: ['vuln'],
      sbom: 'none',
    });

  async function readyDb(t: ReturnType<typeof setup>) {
    await prepareTrivyDatabase('vulnerability', {
      ...t.process,
      cacheDir: t.cacheDir,
      repositories,
      store: noCacheService,
    });
  }

  it('scans once, then converts that report to SARIF and an SBOM', async () => {
    const t = setup();
    await readyDb(t);
    const result = await scanImage({
      ...t.process,
      tarball,
      outputDir: t.outputDir,
      cacheDir: t.cacheDir,
      scanners: ['vuln', 'secret'],
      sbom: 'cyclonedx',
    });
    expect(result.report.ArtifactName).toBe(tarball);
    expect(result.report.Results![0]!.Vulnerabilities).toHaveLength(4);
    expect(result.reportPath).toBe(join(t.outputDir, 'trivy-report.json'));
    const sarif = JSON.parse(readFileSync(result.sarifPath, 'utf8')) as { runs: { results: unknown[] }[] };
    expect(sarif.runs[0]!.results).toHaveLength(4);
    const sbom = JSON.parse(readFileSync(result.sbomPath!, 'utf8')) as {
      bomFormat: string;
      components: { name: string }[];
    };
    expect(sbom.bomFormat).toBe('CycloneDX');
    expect(sbom.components.map((c) => c.name).sort()).toEqual(['libcrypto1.1', 'libssl1.1']);

    const [, scan, ...converts] = t.calls();
    expect(scan!.argv).toEqual([
      'image',
      '--input',
      tarball,
      '--format',
      'json',
      '--output',
      result.reportPath,
      '--scanners',
      'vuln,secret',
      '--image-config-scanners',
      'secret',
      '--list-all-pkgs',
      '--cache-dir',
      t.cacheDir,
      '--skip-db-update',
      '--skip-java-db-update',
      '--skip-check-update',
      '--exit-code',
      '0',
      '--timeout',
      '15m',
      '--skip-version-check',
      '--disable-telemetry',
      '--no-progress',
    ]);
    // The vulnerability predicate is written without a Trivy process (vulnerabilityPredicate).
    expect(converts.map((call) => call.argv.slice(0, 3)).sort()).toEqual([
      ['convert', '--format', 'cyclonedx'],
      ['convert', '--format', 'sarif'],
    ]);
    for (const call of t.calls()) {
      expect(call.cwd).not.toBe(process.cwd());
      expect(existsSync(call.cwd)).toBe(false);
    }
  });

  it('the vulnerability predicate is the same report, attested by the scanner that wrote it', async () => {
    const t = setup();
    await readyDb(t);
    const before = Date.now();
    const result = await scanVuln(t);
    expect(result.vulnerabilityPredicatePath).toBe(join(t.outputDir, 'vulnerability-predicate.json'));
    const predicate = JSON.parse(readFileSync(result.vulnerabilityPredicatePath, 'utf8')) as {
      invocation: unknown;
      scanner: { uri: string; version: string; db: unknown; result: typeof result.report };
      metadata: { scanStartedOn: string; scanFinishedOn: string };
    };
    const report = JSON.parse(readFileSync(result.reportPath, 'utf8')) as typeof result.report & {
      Trivy?: { Version?: string };
    };
    // The subject actions/attest binds it to is the image the report names: its config and layers.
    expect(predicate.scanner.result).toEqual(report);
    expect(predicate.scanner.result.Metadata?.ImageID).toBe(result.report.Metadata?.ImageID);
    expect(predicate.scanner.result.Results![0]!.Vulnerabilities).toHaveLength(4);
    expect(predicate.scanner.version).toBe('0.74.0');
    expect(predicate.scanner.version).toBe(report.Trivy?.Version);
    expect(predicate.scanner.uri).toBe('pkg:github/aquasecurity/trivy@0.74.0');
    expect(predicate.scanner.db).toEqual({ uri: '', version: '' });
    expect(predicate.invocation).toEqual({ parameters: null, uri: '', event_id: '', 'builder.id': '' });
    expect(Date.parse(predicate.metadata.scanStartedOn)).toBeGreaterThanOrEqual(before);
    expect(predicate.metadata.scanFinishedOn).toBe(predicate.metadata.scanStartedOn);
    expect(t.calls().some((call) => call.argv.includes('cosign-vuln'))).toBe(false);
    // What `trivy convert --format cosign-vuln` (here the stand-in) writes for the same report.
    const converted = JSON.parse(
      execFileSync(
        process.execPath,
        [TRIVY_STANDIN, 'convert', '--format', 'cosign-vuln', result.reportPath],
        {
          encoding: 'utf8',
        },
      ),
    ) as typeof predicate;
    const { metadata: _times, ...rest } = converted;
    expect(Object.keys(predicate)).toEqual(Object.keys(converted));
    expect(predicate).toMatchObject(rest);
    expect(Object.keys(predicate.scanner)).toEqual(['uri', 'version', 'db', 'result']);
  });

  it('a report that names no plain Trivy version gets its predicate from trivy convert', async () => {
    const t = setup({ TRIVY_STANDIN_VERSION: '0.75.0-rc.1' });
    await readyDb(t);
    const result = await scanVuln(t);
    const predicate = JSON.parse(readFileSync(result.vulnerabilityPredicatePath, 'utf8')) as {
      scanner: { version: string };
    };
    expect(predicate.scanner.version).toBe('0.75.0-rc.1');
    const convert = t.calls().find((call) => call.argv.includes('cosign-vuln'));
    expect(convert!.argv).toEqual([
      'convert',
      '--format',
      'cosign-vuln',
      '--output',
      result.vulnerabilityPredicatePath,
      result.reportPath,
    ]);
  });

  it('spdx-json and none', async () => {
    const t = setup();
    await readyDb(t);
    const base = {
      ...t.process,
      tarball,
      outputDir: t.outputDir,
      cacheDir: t.cacheDir,
      scanners: ['vuln'] as const,
    };
    const spdx = await scanImage({ ...base, sbom: 'spdx-json' });
    expect(JSON.parse(readFileSync(spdx.sbomPath!, 'utf8'))).toMatchObject({ spdxVersion: 'SPDX-2.3' });
    const none = await scanImage({ ...base, sbom: 'none' });
    expect(none.sbomPath).toBeUndefined();
    expect(t.calls().at(-2)!.argv).not.toContain('--list-all-pkgs');
  });

  it('Trivy never sees GITHUB_TOKEN, INPUT_*, ACTIONS_* or TRIVY_* from the runner', async () => {
    const t = setup();
    await readyDb(t);
    const saved = { ...process.env };
    Object.assign(process.env, {
      GITHUB_TOKEN: 'ghs_not_for_trivy',
      INPUT_GITHUB_TOKEN: 'ghs_not_for_trivy',
      ACTIONS_RUNTIME_TOKEN: 'x',
      TRIVY_SEVERITY: 'CRITICAL',
    });
    try {
      await scanVuln(t);
    } finally {
      for (const name of ['GITHUB_TOKEN', 'INPUT_GITHUB_TOKEN', 'ACTIONS_RUNTIME_TOKEN', 'TRIVY_SEVERITY'])
        delete process.env[name];
      Object.assign(process.env, saved);
    }
    for (const call of t.calls()) {
      expect(call.env.filter((name) => /^(GITHUB_|INPUT_|ACTIONS_)/.test(name))).toEqual([]);
      expect(call.env.filter((name) => name.startsWith('TRIVY_'))).toEqual(['TRIVY_STANDIN_LOG']);
    }
  });

  it('a trivy.yaml in the workspace does not change the scan (the stand-in honours it where it runs)', async () => {
    const t = setup();
    await readyDb(t);
    const workspace = join(root, `workspace-${calls}`);
    mkdirSync(workspace);
    writeFileSync(join(workspace, 'trivy.yaml'), 'severity:\n  - CRITICAL\nexit-code: 1\n');
    // Control: run where the file is, the stand-in filters as Trivy would.
    const direct = spawnSync(
      process.execPath,
      [
        standin,
        'image',
        '--input',
        tarball,
        '--format',
        'json',
        '--cache-dir',
        t.cacheDir,
        '--skip-db-update',
      ],
      { cwd: workspace, encoding: 'utf8' },
    );
    expect(JSON.parse(direct.stdout).Results[0].Vulnerabilities).toEqual([]);
    const before = process.cwd();
    process.chdir(workspace);
    try {
      const result = await scanVuln(t);
      expect(result.report.Results![0]!.Vulnerabilities).toHaveLength(4);
    } finally {
      process.chdir(before);
    }
  });

  it('a non-zero exit is a scanner failure even when a report was written', async () => {
    const t = setup({ TRIVY_STANDIN_EXIT: '2' });
    await readyDb(t);
    await expect(scanVuln(t)).rejects.toThrow(
      /Trivy scan of .*image\.tar failed with exit code 2[\s\S]*nothing is pushed/,
    );
  });

  it('a report that is not JSON is a scanner failure', async () => {
    const t = setup({ TRIVY_STANDIN_REPORT: 'garbage' });
    await readyDb(t);
    const error = await scanVuln(t).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ReportError);
    expect((error as Error).message).toMatch(/trivy-report\.json is not valid JSON/);
  });

  it('a Trivy that exits 0 without writing never has an earlier report read as its own', async () => {
    const t = setup();
    await readyDb(t);
    const options = {
      tarball,
      outputDir: t.outputDir,
      cacheDir: t.cacheDir,
      scanners: ['vuln'] as const,
      sbom: 'none' as const,
    };
    await scanImage({ ...t.process, ...options });
    expect(existsSync(join(t.outputDir, 'trivy-report.json'))).toBe(true);
    const silent = join(t.outputDir, '..', 'silent-trivy');
    writeFileSync(
      silent,
      '#!/bin/sh\n# A broken scanner for this test: exits 0 and writes nothing.\nexit 0\n',
      { mode: 0o755 },
    );
    await expect(scanImage({ trivyPath: silent, ...options })).rejects.toThrow(
      /exited 0 but wrote no report/,
    );
  });

  it('scanning before the DB is ready fails (--skip-db-update on the first run)', async () => {
    const t = setup();
    await expect(scanVuln(t)).rejects.toThrow(/--skip-db-update cannot be specified on the first run/);
  });

  it('a file that is not an image tarball fails the scan', async () => {
    const t = setup();
    await readyDb(t);
    const notImage = join(root, 'not-an-image.tar');
    writeFileSync(notImage, 'hello');
    await expect(
      scanImage({
        ...t.process,
        tarball: notImage,
        outputDir: t.outputDir,
        cacheDir: t.cacheDir,
        scanners: ['vuln'],
        sbom: 'none',
      }),
    ).rejects.toThrow(/no manifest\.json/);
  });
});

describe('the stand-in writes SARIF in the shape real Trivy wrote for alpine-310', () => {
  it('same rules, results, levels, messages and locations', () => {
    const converted = spawnSync(
      process.execPath,
      [standin, 'convert', '--format', 'sarif', join(TRIVY_FIXTURES, 'alpine-310.json')],
      { encoding: 'utf8' },
    );
    expect(converted.status).toBe(0);
    type Run = {
      tool: { driver: { rules: { id: string; properties: Record<string, unknown> }[] } };
      results: { ruleId: string; ruleIndex: number; level: string; message: unknown; locations: unknown[] }[];
    };
    const mine = (JSON.parse(converted.stdout) as { runs: Run[] }).runs[0]!;
    const real = (
      JSON.parse(readFileSync(join(TRIVY_FIXTURES, 'alpine-310.sarif'), 'utf8')) as { runs: Run[] }
    ).runs[0]!;
    const pick = (run: Run) => ({
      rules: run.tool.driver.rules.map((rule) => [
        rule.id,
        rule.properties['security-severity'],
        rule.properties.tags,
      ]),
      results: run.results.map(({ ruleId, ruleIndex, level, message, locations }) => ({
        ruleId,
        ruleIndex,
        level,
        message,
        locations,
      })),
    });
    expect(pick(mine)).toEqual(pick(real));
  });

  it('rejects bad argv with a non-zero exit and a message', () => {
    const result = spawnSync(process.execPath, [standin, 'image', '--bogus'], { encoding: 'utf8' });
    expect(result.status).not.toBe(0);
    expect(result.stderr).toMatch(/unknown flag: --bogus/);
  });

  it('convert takes only the flags trivy convert has, and exactly one report', () => {
    const report = join(TRIVY_FIXTURES, 'alpine-310.json');
    const convert = (...args: string[]) =>
      spawnSync(process.execPath, [standin, 'convert', '--format', 'cosign-vuln', ...args], {
        encoding: 'utf8',
      });
    expect(convert('--skip-db-update', report).stderr).toMatch(/unknown flag: --skip-db-update/);
    expect(convert('--no-progress', report).status).not.toBe(0);
    expect(convert().stderr).toMatch(/Require at least 1 argument/);
    expect(convert(report, report).stderr).toMatch(/multiple targets/);
    expect(convert('--quiet', report).status).toBe(0);
  });
});
