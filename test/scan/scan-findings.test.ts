import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decide } from '../../src/gate/policy.js';
import { parseIgnoreFile } from '../../src/gate/ignore.js';
import type { VexDocument } from '../../src/gate/vex.js';
import { readVexDocuments } from '../../src/gate/vex.js';
import { attributeLayers } from '../../src/report/layer-attribution.js';
import { runnerPathsOf } from '../../src/report/runner-paths.js';
import type { SarifLog } from '../../src/report/sarif.js';
import { rewriteSarif } from '../../src/report/sarif.js';
import { renderSummary, scanOutputs } from '../../src/report/summary.js';
import type { ScanFiles, ScanOptions, ScanResult } from '../../src/scan/trivy-scan.js';
import { scanImage } from '../../src/scan/trivy-scan.js';
import type { Scanner } from '../../src/vocabulary.js';
import { TRIVY_STANDIN, trivyStandinWith } from '../helpers/trivy-standin.js';
import { policy } from '../helpers/policy.js';

// A GitHub token in the shape of Trivy's github-pat rule; not a real one.
const TOKEN = `ghp_${'a1B2c3D4e5'.repeat(3)}f6G7h8`;
const DOCKERFILE = ['FROM alpine:3.10', 'ARG TOKEN', 'ENV API_TOKEN=$TOKEN', 'RUN apk add curl', ''].join(
  '\n',
);
const IMAGE = 'ghcr.io/octo/app';
let root: string;
let cases = 0;

/** A docker-archive whose config holds ENV values, as kaniko writes one for DOCKERFILE. */
function imageTarball(env: readonly string[]): string {
  const dir = join(root, `image-${(cases += 1)}`);
  mkdirSync(dir);
  const config = {
    architecture: 'amd64',
    os: 'linux',
    config: { Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', ...env] },
    history: [
      { created_by: 'ARG TOKEN', empty_layer: true },
      { created_by: 'ENV API_TOKEN=$TOKEN', empty_layer: true },
    ],
    rootfs: { type: 'layers', diff_ids: [] },
  };
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
  writeFileSync(
    join(dir, 'manifest.json'),
    JSON.stringify([{ Config: 'config.json', RepoTags: [], Layers: [] }]),
  );
  const tarball = join(dir, 'image.tar');
  execFileSync('tar', ['-cf', tarball, '-C', dir, 'manifest.json', 'config.json']);
  return tarball;
}

/** Scans through the stand-in with a DB in place, as after prepareTrivyDb. */
async function scan(
  tarball: string,
  scanners: Scanner[],
  extra: Partial<ScanOptions> = {},
  env: Record<string, string> = {},
): Promise<ScanResult & ScanFiles> {
  const dir = join(root, `scan-${(cases += 1)}`);
  const cacheDir = join(dir, 'cache');
  mkdirSync(join(cacheDir, 'db'), { recursive: true });
  writeFileSync(join(cacheDir, 'db', 'trivy.db'), '');
  writeFileSync(join(cacheDir, 'db', 'metadata.json'), '{}');
  return scanImage({
    trivyPath: trivyStandinWith(env),
    tarball,
    outputDir: join(dir, 'out'),
    cacheDir,
    scanners,
    sbom: 'none',
    ...extra,
  });
}

/** What a reader sees: the rewritten SARIF (as uploaded) and the summary. */
function shown(result: ScanResult & ScanFiles, decision: ReturnType<typeof decide>, tarball: string) {
  const attribution = attributeLayers({ dockerfileText: DOCKERFILE, report: result.report });
  const runnerPaths = runnerPathsOf(IMAGE, tarball, result.vexNames);
  const rawSarif = readFileSync(result.sarifPath, 'utf8');
  const sarif = rewriteSarif(JSON.parse(rawSarif) as SarifLog, {
    category: 'build-scan-push',
    dockerfilePath: 'Dockerfile',
    attribution,
    decision,
    runnerPaths,
  }).sarif;
  const summary = renderSummary({
    decision,
    image: IMAGE,
    digest: 'sha256:0',
    dockerfilePath: 'Dockerfile',
    attribution,
    failOn: ['CRITICAL', 'HIGH'],
    runnerPaths,
  });
  return { rawSarif, sarif, summary };
}

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'bsp-findings-test-'));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('a secret in the image config', () => {
  it('blocks the push, and the summary names the ENV instruction and its Dockerfile line', async () => {
    const tarball = imageTarball([`API_TOKEN=${TOKEN}`]);
    const result = await scan(tarball, ['vuln', 'secret']);
    const decision = decide(result.report, policy());

    expect(decision.pass).toBe(false);
    const [blocking] = decision.blocking;
    expect(blocking?.finding).toMatchObject({ kind: 'secret', id: 'github-pat', origin: 'image-config' });
    const { rawSarif, sarif, summary } = shown(result, decision, tarball);
    expect(summary).toContain(
      '| CRITICAL | github-pat | image config |  |  | Dockerfile:3 <code>ENV API&#95;TOKEN=$TOKEN</code> |',
    );
    const secretResult = sarif.runs[0]!.results!.find((r) => r.ruleId === 'github-pat');
    expect(secretResult?.locations?.[0]?.physicalLocation?.region?.startLine).toBe(3);
    // Trivy names the image config (and OS packages) by the tarball's path; nobody sees it.
    expect(rawSarif).toContain(tarball);
    expect(JSON.stringify(sarif)).not.toContain(root);
    expect(summary).not.toContain(root);
    expect(JSON.stringify(sarif)).not.toContain(TOKEN);
  });

  it('without the secret scanner the config is not scanned for secrets', async () => {
    const result = await scan(imageTarball([`API_TOKEN=${TOKEN}`]), ['vuln']);
    expect(decide(result.report, policy({ scanners: ['vuln'] })).secrets).toBe(0);
  });

  it('a config without a secret passes', async () => {
    const result = await scan(imageTarball(['MODE=production']), ['vuln', 'secret']);
    expect(decide(result.report, policy()).secrets).toBe(0);
  });
});

describe('VEX', () => {
  const openVex = (status: string) =>
    JSON.stringify({
      '@context': 'https://openvex.dev/ns/v0.2.0',
      '@id': 'https://example.com/vex-1',
      author: 'octo',
      timestamp: '2026-11-01T00:00:00Z',
      version: 1,
      statements: [
        {
          vulnerability: { name: 'CVE-2019-1549' },
          products: [{ '@id': 'pkg:apk/alpine/libcrypto1.1@1.1.1c-r0?arch=x86_64&distro=3.10.2' }],
          status,
          justification: 'vulnerable_code_not_in_execute_path',
        },
      ],
    });
  const vexDocument = (text: string): VexDocument => ({
    name: 'security/app.vex.json',
    text,
    format: 'OpenVEX',
  });

  it('a not_affected CVE is out of counts, gate and SARIF, and listed with its justification', async () => {
    const tarball = imageTarball([]);
    const result = await scan(tarball, ['vuln', 'secret'], { vex: [vexDocument(openVex('not_affected'))] });
    const decision = decide(result.report, policy({ vexNames: result.vexNames }));
    const without = decide((await scan(tarball, ['vuln', 'secret'])).report, policy());

    // The statement names libcrypto1.1's PURL; the same CVE in libssl1.1 stays.
    expect(
      decision.findings
        .filter(({ finding }) => finding.id === 'CVE-2019-1549')
        .map(({ finding }) => finding.packageName),
    ).toEqual(['libssl1.1']);
    expect(decision.counts.MEDIUM).toBe(without.counts.MEDIUM - 1);
    expect(decision.vexSuppressed).toMatchObject([
      {
        finding: { id: 'CVE-2019-1549', packageName: 'libcrypto1.1' },
        status: 'not_affected',
        statement: 'vulnerable_code_not_in_execute_path',
        source: 'security/app.vex.json',
      },
    ]);
    const { sarif, summary } = shown(result, decision, tarball);
    const cveResults = sarif.runs[0]!.results!.filter((r) => r.ruleId === 'CVE-2019-1549');
    expect(cveResults.map((r) => /^Package: (.*)$/m.exec(r.message.text ?? '')?.[1])).toEqual(['libssl1.1']);
    expect(summary).toContain(
      '| MEDIUM | CVE-2019-1549 | libcrypto1.1 | not&#95;affected | vulnerable&#95;code&#95;not&#95;in&#95;execute&#95;path | security/app.vex.json |',
    );
    expect(summary).not.toContain(root);
  });

  it('an under_investigation statement suppresses nothing, as in Trivy', async () => {
    const result = await scan(imageTarball([]), ['vuln'], {
      vex: [vexDocument(openVex('under_investigation'))],
    });
    const decision = decide(result.report, policy({ scanners: ['vuln'] }));
    expect(decision.vexSuppressed).toEqual([]);
    expect(decision.findings.some(({ finding }) => finding.id === 'CVE-2019-1549')).toBe(true);
  });

  it('a VEX file that cannot be read or does not parse fails, naming it, without echoing it', async () => {
    const workspace = join(root, 'workspace');
    mkdirSync(workspace, { recursive: true });
    writeFileSync(join(workspace, 'broken.json'), '{"@context": "x", "statements": [ SECRET-TEXT');
    writeFileSync(
      join(workspace, 'bom.json'),
      JSON.stringify({ bomFormat: 'CycloneDX', vulnerabilities: [] }),
    );
    writeFileSync(join(workspace, 'other.json'), JSON.stringify({ hello: 'world' }));
    writeFileSync(join(workspace, 'good.json'), openVex('fixed'));
    symlinkSync('/etc/passwd', join(workspace, 'link.json'));
    const files = ['broken.json', 'bom.json', 'other.json', 'missing.json', 'link.json', 'good.json'];
    const reading = readVexDocuments(
      workspace,
      files.map((name) => ({ path: join(workspace, name), name })),
    );
    await expect(reading).rejects.toThrow(
      /broken\.json is not valid JSON[\s\S]*bom\.json is CycloneDX VEX, which Trivy applies only when scanning a CycloneDX SBOM[\s\S]*other\.json is neither OpenVEX[\s\S]*missing\.json does not exist[\s\S]*link\.json is a symbolic link/,
    );
    await expect(reading).rejects.not.toThrow(/SECRET-TEXT|good\.json/);
    await expect(
      readVexDocuments(workspace, [{ path: join(workspace, 'good.json'), name: 'good.json' }]),
    ).resolves.toMatchObject([{ name: 'good.json', format: 'OpenVEX' }]);
  });
});

describe('licenses', () => {
  const licenseReport = (): string => {
    const report = JSON.parse(
      readFileSync(join(import.meta.dirname, '..', 'fixtures', 'trivy', 'alpine-310.json'), 'utf8'),
    );
    // The shape of Trivy's DetectedLicense (pkg/types/license.go) in a Class "license" result.
    report.Results.push({
      Target: 'OS Packages',
      Class: 'license',
      Licenses: [
        {
          Severity: 'HIGH',
          Category: 'restricted',
          PkgName: 'busybox',
          FilePath: '',
          Name: 'GPL-2.0-only',
          Text: '',
          Confidence: 1,
          Link: '',
        },
        {
          Severity: 'LOW',
          Category: 'notice',
          PkgName: 'musl',
          FilePath: '',
          Name: 'MIT',
          Text: '',
          Confidence: 1,
          Link: '',
        },
      ],
    });
    const path = join(root, `license-${(cases += 1)}.json`);
    writeFileSync(path, JSON.stringify(report));
    return path;
  };

  it('are counted, filtered by severity, ignorable, and block only when their severity is in fail-on', async () => {
    const tarball = imageTarball([]);
    const result = await scan(
      tarball,
      ['vuln', 'secret', 'license'],
      {},
      { TRIVY_STANDIN_REPORT: licenseReport() },
    );
    const scanners: Scanner[] = ['vuln', 'secret', 'license'];

    const gated = decide(result.report, policy({ scanners }));
    expect(gated.licenses).toBe(2);
    expect(gated.blocking.map(({ finding }) => finding.id)).toEqual(['GPL-2.0-only']);
    expect(scanOutputs(gated, { report: 'r', sarif: 's' }).licenses).toBe('2');
    const { sarif } = shown(result, gated, tarball);
    expect(sarif.runs[0]!.results!.map((r) => r.ruleId)).toContain('busybox:GPL-2.0-only');

    const notFailing = decide(result.report, policy({ scanners, failOn: ['CRITICAL'] }));
    expect(notFailing.pass).toBe(true);
    const onlyHigh = decide(result.report, policy({ scanners, severity: ['HIGH', 'CRITICAL'] }));
    expect(onlyHigh.licenses).toBe(1);
    expect(shown(result, onlyHigh, tarball).sarif.runs[0]!.results!.map((r) => r.ruleId)).not.toContain(
      'musl:MIT',
    );
    const ignores = parseIgnoreFile(
      'licenses:\n  - id: GPL-2.0-only\n    statement: approved by legal\n',
      '.trivyignore.yaml',
    );
    const ignored = decide(result.report, policy({ scanners, ignores }));
    expect(ignored.pass).toBe(true);
    expect(ignored.ignored.map(({ finding }) => finding.id)).toEqual(['GPL-2.0-only']);
  });

  it('without the license scanner none is reported', async () => {
    const result = await scan(imageTarball([]), ['vuln'], {}, { TRIVY_STANDIN_REPORT: licenseReport() });
    expect(decide(result.report, policy({ scanners: ['vuln'] })).licenses).toBe(0);
  });
});

describe('the Dockerfile itself', () => {
  const dockerfile = ['FROM alpine:3.10', 'ADD app.sh /app.sh', 'USER root', 'RUN apk add curl', ''].join(
    '\n',
  );

  it('a misconfiguration is gated and shown on its own Dockerfile line', async () => {
    const tarball = imageTarball([]);
    const result = await scan(tarball, ['vuln', 'secret', 'misconfig'], { dockerfileText: dockerfile });
    const decision = decide(
      result.report,
      policy({ scanners: ['vuln', 'secret', 'misconfig'] }),
      result.dockerfileReport,
    );

    const fromDockerfile = decision.findings.filter(({ finding }) => finding.origin === 'dockerfile');
    expect(fromDockerfile.map(({ finding, verdict }) => [finding.id, finding.line, verdict])).toEqual([
      ['DS-0002', 3, 'blocking'],
      ['DS-0005', 2, 'reported'],
    ]);
    const attribution = attributeLayers({ dockerfileText: dockerfile, report: result.report });
    const sarif = rewriteSarif(JSON.parse(readFileSync(result.sarifPath, 'utf8')) as SarifLog, {
      category: 'c',
      dockerfilePath: 'docker/Dockerfile',
      attribution,
      decision,
    }).sarif;
    const root = sarif.runs[0]!.results!.find((r) => r.ruleId === 'DS-0002');
    expect(root?.locations?.[0]).toMatchObject({
      physicalLocation: { artifactLocation: { uri: 'docker/Dockerfile' }, region: { startLine: 3 } },
      message: { text: 'Dockerfile line 3: USER root' },
    });
    const summary = renderSummary({
      decision,
      image: IMAGE,
      digest: 'sha256:0',
      dockerfilePath: 'docker/Dockerfile',
      attribution,
      failOn: ['CRITICAL', 'HIGH'],
    });
    expect(summary).toContain(
      '| HIGH | DS-0002 | Dockerfile |  |  | docker/Dockerfile:3 <code>USER root</code> |',
    );
  });

  it('is not scanned without misconfig', async () => {
    const result = await scan(imageTarball([]), ['vuln', 'secret'], { dockerfileText: dockerfile });
    expect(result.dockerfileReport).toBeUndefined();
  });
});

describe('the stand-in refuses what Trivy refuses', () => {
  const trivy = (...args: string[]) =>
    spawnSync(process.execPath, [TRIVY_STANDIN, ...args], { encoding: 'utf8' });

  it('--image-config-scanners takes only misconfig and secret (pkg/flag/image_flags.go)', () => {
    const refused = trivy('image', '--input', '/nonexistent.tar', '--image-config-scanners', 'secret,vuln');
    expect(refused.status).not.toBe(0);
    expect(refused.stderr).toContain(
      'invalid argument "[secret vuln]" for "--image-config-scanners" flag: must be one of ["misconfig" "secret"]',
    );
  });

  it('trivy config has no --no-progress, --scanners or --show-suppressed (NewConfigCommand)', () => {
    for (const flag of ['--no-progress', '--scanners=vuln', '--show-suppressed'])
      expect(trivy('config', flag, '.').stderr).toContain(`unknown flag: ${flag.split('=')[0]}`);
  });
});
