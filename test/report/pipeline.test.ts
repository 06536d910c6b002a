// Scan → gate → SARIF rewrite → upload → summary, with the Trivy stand-in and the loopback
// code-scanning API: the pieces agree with each other on real reports.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseIgnoreFile } from '../../src/gate/ignore.js';
import { decide } from '../../src/gate/policy.js';
import { attributeLayers } from '../../src/report/layer-attribution.js';
import type { SarifLog } from '../../src/report/sarif.js';
import { rewriteSarif } from '../../src/report/sarif.js';
import { renderSummary, scanOutputs } from '../../src/report/summary.js';
import { uploadSarif } from '../../src/report/upload.js';
import { scanImage } from '../../src/scan/trivy-scan.js';
import { prepareTrivyDatabase } from '../../src/scan/trivy-databases.js';
import { startCodeScanningApi } from '../helpers/github-api.js';
import { trivyStandinWith } from '../helpers/trivy-standin.js';

let root: string;
let tarball: string;

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'bsp-pipeline-'));
  mkdirSync(join(root, 'image'));
  writeFileSync(join(root, 'image', 'manifest.json'), '[]');
  tarball = join(root, 'image.tar');
  execFileSync('tar', ['-cf', tarball, '-C', join(root, 'image'), 'manifest.json']);
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

async function scan(report: string) {
  const cacheDir = join(root, `cache-${report}`);
  const trivyPath = trivyStandinWith({ TRIVY_STANDIN_REPORT: report });
  const store = { available: () => false, restore: async () => undefined, save: async () => undefined };
  await prepareTrivyDatabase('vulnerability', {
    trivyPath,
    cacheDir,
    repositories: ['mirror.gcr.io/aquasec/trivy-db:2'],
    store,
  });
  return scanImage({
    trivyPath,
    tarball,
    cacheDir,
    outputDir: join(root, `out-${report}`),
    scanners: ['vuln', 'secret'],
    sbom: 'cyclonedx',
  });
}

describe('scan → gate → SARIF → upload → summary', () => {
  it.each([
    ['debian-buster.json', '', { pass: false, results: 2, hidden: 0, critical: '1', secrets: '0' }],
    [
      'secrets.json',
      'secrets:\n  - id: mysecret\n    statement: test data\n',
      { pass: false, results: 1, hidden: 1, critical: '0', secrets: '1' },
    ],
    [
      'distroless-base.json',
      'vulnerabilities:\n  - id: CVE-2019-1551\n',
      { pass: true, results: 2, hidden: 2, critical: '0', secrets: '0' },
    ],
  ])('%s', async (report, ignoreFile, expected) => {
    const scanned = await scan(report);
    const decision = decide(scanned.report, {
      failOn: ['CRITICAL', 'HIGH'],
      severity: ['UNKNOWN', 'LOW', 'MEDIUM', 'HIGH', 'CRITICAL'],
      ignoreUnfixed: false,
      scanners: ['vuln', 'secret'],
      ignores: parseIgnoreFile(ignoreFile, '.trivyignore.yaml'),
      now: new Date('2026-11-24T20:00:00Z'),
    });
    const attribution = attributeLayers({
      dockerfileText: 'FROM scratch\nCOPY . /\n',
      report: scanned.report,
    });
    const rewritten = rewriteSarif(JSON.parse(readFileSync(scanned.sarifPath, 'utf8')) as SarifLog, {
      category: 'build-scan-push:ghcr.io/octo/app',
      dockerfilePath: 'docker/Dockerfile',
      attribution,
      decision,
    });
    expect([decision.pass, rewritten.results, rewritten.hiddenByPolicy]).toEqual([
      expected.pass,
      expected.results,
      expected.hidden,
    ]);
    const outputs = scanOutputs(decision, {
      report: scanned.reportPath,
      sarif: scanned.sarifPath,
      sbom: scanned.sbomPath,
    });
    expect([outputs.critical, outputs.secrets, outputs.policy]).toEqual([
      expected.critical,
      expected.secrets,
      expected.pass ? 'pass' : 'fail',
    ]);
    const summary = renderSummary({
      decision,
      image: 'ghcr.io/octo/app',
      digest: 'sha256:0',
      dockerfilePath: 'docker/Dockerfile',
      attribution,
      failOn: ['CRITICAL', 'HIGH'],
    });
    expect(summary).toContain(
      `| ${outputs.critical} | ${outputs.high} | ${outputs.medium} | ${outputs.low} | 0 | ${outputs.secrets} | 0 | ${outputs.licenses} | ${decision.ignored.length} |`,
    );

    const api = await startCodeScanningApi({ processing: ['pending', 'complete'] });
    try {
      const result = await uploadSarif({
        sarif: rewritten.sarif,
        token: 'ghs_x',
        apiUrl: api.url,
        owner: 'octo',
        repo: 'app',
        ref: 'refs/heads/main',
        commitSha: 'a'.repeat(40),
        checkoutPath: root,
        startedAt: new Date(),
        pollIntervalMs: 5,
      });
      expect(result.status).toBe('complete');
      const received = api.uploads[0]!.sarif as SarifLog;
      expect(received.runs[0]!.automationDetails).toEqual({ id: 'build-scan-push:ghcr.io/octo/app/' });
      expect(received.runs[0]!.results).toHaveLength(expected.results);
      for (const sarifResult of received.runs[0]!.results!) {
        const location = sarifResult.locations![0]!.physicalLocation!;
        expect(location.artifactLocation!.uri).toBe('docker/Dockerfile');
        expect(location.region!.startLine).toBeGreaterThanOrEqual(1);
      }
    } finally {
      await api.close();
    }
  });
});
