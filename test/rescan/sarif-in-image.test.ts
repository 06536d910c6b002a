import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decide } from '../../src/gate/policy.js';
import { attributeLayers } from '../../src/report/layer-attribution.js';
import type { SarifLog } from '../../src/report/sarif.js';
import { rewriteSarif } from '../../src/report/sarif.js';
import { mergeSarif } from '../../src/rescan/sarif-merge.js';
import { platformManifests } from '../../src/rescan/pull-image.js';
import { policy } from '../helpers/policy.js';
import { TRIVY_FIXTURES, trivyFixture } from '../scan/trivy-fixtures.js';

const trivySarif = () =>
  JSON.parse(readFileSync(join(TRIVY_FIXTURES, 'alpine-310.sarif'), 'utf8')) as SarifLog;
const report = trivyFixture('alpine-310.json');
const decision = decide(report, policy());
const category = 'build-scan-push:ghcr.io/octo/app';
const fingerprints = (sarif: SarifLog) =>
  sarif.runs.flatMap((run) =>
    run.results!.map((result) => result.partialFingerprints!['buildScanPushFinding/v1']),
  );

describe('rewriteSarif for a pulled image (no Dockerfile)', () => {
  it('keeps each result at its path in the image, names its layer, and fingerprints it as the build did', () => {
    const pulled = rewriteSarif(trivySarif(), { category, decision }).sarif;
    const built = rewriteSarif(trivySarif(), {
      category,
      decision,
      dockerfilePath: 'Dockerfile',
      attribution: attributeLayers({ dockerfileText: 'FROM alpine:3.10\n', report }),
    }).sarif;
    const result = pulled.runs[0]!.results![0]!;
    expect(result.locations![0]!.physicalLocation).toEqual({
      artifactLocation: { uri: 'testdata/fixtures/images/alpine-310.tar.gz' },
      region: { startLine: 1, startColumn: 1 },
    });
    expect(result.locations![0]!.message!.text).toMatch(
      /; layer sha256:[0-9a-f]{64} \(a pulled image: no Dockerfile line is known\)$/,
    );
    expect(pulled.runs[0]!.automationDetails).toEqual({ id: `${category}/` });
    // Code scanning matches alerts by fingerprint: a rescan closes and opens the build's alerts.
    expect(fingerprints(pulled)).toEqual(fingerprints(built));
  });
});

describe('mergeSarif', () => {
  it('makes one run of several platforms, each finding once, rules merged and renumbered', () => {
    const amd64 = rewriteSarif(trivySarif(), { category, decision }).sarif;
    const arm64 = rewriteSarif(trivySarif(), { category, decision }).sarif;
    const extra = structuredClone(arm64);
    const rule = { id: 'CVE-2099-0001' };
    extra.runs[0]!.tool.driver.rules = [rule];
    extra.runs[0]!.results = [
      {
        ruleId: rule.id,
        ruleIndex: 0,
        message: { text: 'new' },
        partialFingerprints: { 'buildScanPushFinding/v1': 'x' },
      },
    ];
    const merged = mergeSarif([amd64, arm64, extra]);
    expect(merged.runs).toHaveLength(1);
    const run = merged.runs[0]!;
    expect(run.results).toHaveLength(amd64.runs[0]!.results!.length + 1);
    expect(run.tool.driver.rules!.map((r) => r.id)).toEqual([
      'CVE-2019-1549',
      'CVE-2019-1551',
      'CVE-2099-0001',
    ]);
    expect(run.results!.at(-1)!.ruleIndex).toBe(2);
    for (const result of run.results!)
      expect(run.tool.driver.rules![result.ruleIndex!]!.id).toBe(result.ruleId);
  });
});

describe('platformManifests', () => {
  const digest = `sha256:${'d'.repeat(64)}`;
  it("lists an index's platform images and leaves out attestation manifests", () => {
    const index = {
      manifests: [
        { digest: 'sha256:a', platform: { os: 'linux', architecture: 'amd64' } },
        { digest: 'sha256:b', platform: { os: 'linux', architecture: 'arm', variant: 'v7' } },
        { digest: 'sha256:c', platform: { os: 'unknown', architecture: 'unknown' } },
      ],
    };
    expect(platformManifests(index, digest)).toEqual([
      { platform: 'linux/amd64', digest: 'sha256:a' },
      { platform: 'linux/arm/v7', digest: 'sha256:b' },
    ]);
  });

  it('is the image itself for a plain manifest, and refuses an index without images', () => {
    expect(platformManifests({ config: { digest: 'sha256:e' } }, digest)).toEqual([{ digest }]);
    expect(() => platformManifests({ manifests: [] }, digest)).toThrow(/lists no platform image/);
  });
});
