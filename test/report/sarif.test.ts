import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { parseIgnoreFile } from '../../src/gate/ignore.js';
import type { Policy } from '../../src/gate/policy.js';
import { decide } from '../../src/gate/policy.js';
import { attributeLayers } from '../../src/report/layer-attribution.js';
import type { SarifLog } from '../../src/report/sarif.js';
import { rewriteSarif } from '../../src/report/sarif.js';
import type { ImageConfig } from '../../src/build/tarball.js';
import type { TrivyReport } from '../../src/scan/trivy-report.js';
import { policy } from '../helpers/policy.js';
import { TRIVY_FIXTURES, trivyFixture } from '../scan/trivy-fixtures.js';

const attributionDir = join(import.meta.dirname, '..', 'fixtures', 'attribution');
const trivySarif = () =>
  JSON.parse(readFileSync(join(TRIVY_FIXTURES, 'alpine-310.sarif'), 'utf8')) as SarifLog;
const category = 'build-scan-push:ghcr.io/octo/app';

function rewrite(
  report: TrivyReport,
  options: { policy?: Policy; dockerfileText?: string; imageConfig?: ImageConfig; limits?: object } = {},
) {
  const attribution = attributeLayers({
    dockerfileText: options.dockerfileText ?? 'FROM alpine:3.10\nRUN apk add --no-cache curl\n',
    imageConfig: options.imageConfig,
    report,
  });
  return rewriteSarif(trivySarif(), {
    category,
    dockerfilePath: 'docker/Dockerfile',
    attribution,
    decision: decide(report, options.policy ?? policy()),
    limits: options.limits,
  });
}

describe('rewriteSarif on the SARIF Trivy wrote for alpine-310', () => {
  it('sets the category, points every result at the FROM line of the Dockerfile and keeps the image path', () => {
    const { sarif, results, dropped, hiddenByPolicy } = rewrite(trivyFixture('alpine-310.json'));
    expect([results, dropped, hiddenByPolicy]).toEqual([4, [], 0]);
    const run = sarif.runs[0]!;
    expect(run.automationDetails).toEqual({ id: `${category}/` });
    for (const result of run.results!) {
      expect(result.locations).toHaveLength(1);
      expect(result.locations![0]!.physicalLocation).toEqual({
        artifactLocation: { uri: 'docker/Dockerfile' },
        region: { startLine: 1, startColumn: 1 },
      });
    }
    expect(run.results![0]!.locations![0]!.message!.text).toBe(
      'In the image: testdata/fixtures/images/alpine-310.tar.gz: libcrypto1.1@1.1.1c-r0; came with the base image (Dockerfile line 1: FROM alpine:3.10)',
    );
    expect(run.results![0]!.message.text).toMatch(
      /^Package: libcrypto1\.1\n.*\nIn the image: testdata\/fixtures\/images\/alpine-310\.tar\.gz\nLayer came with the base image/s,
    );
    const fingerprints = run.results!.map((result) => result.partialFingerprints!['buildScanPushFinding/v1']);
    expect(new Set(fingerprints).size).toBe(4);
    expect(run.tool.driver.rules!.map((rule) => rule.id)).toEqual(['CVE-2019-1549', 'CVE-2019-1551']);
  });

  it('a category that already ends with a slash is kept as it is', () => {
    const report = trivyFixture('alpine-310.json');
    const { sarif } = rewriteSarif(trivySarif(), {
      category: 'images/app/',
      dockerfilePath: 'Dockerfile',
      attribution: attributeLayers({ dockerfileText: 'FROM alpine\n', report }),
      decision: decide(report, policy()),
    });
    expect(sarif.runs[0]!.automationDetails!.id).toBe('images/app/');
  });

  it('leaves out what the policy hides and prunes and renumbers the rules', () => {
    const ignores = parseIgnoreFile('CVE-2019-1549\n', '.trivyignore');
    const { sarif, results, hiddenByPolicy } = rewrite(trivyFixture('alpine-310.json'), {
      policy: policy({ ignores }),
    });
    expect([results, hiddenByPolicy]).toEqual([2, 2]);
    const run = sarif.runs[0]!;
    expect(run.tool.driver.rules!.map((rule) => rule.id)).toEqual(['CVE-2019-1551']);
    expect(run.results!.map((result) => [result.ruleId, result.ruleIndex])).toEqual([
      ['CVE-2019-1551', 0],
      ['CVE-2019-1551', 0],
    ]);
    expect(rewrite(trivyFixture('alpine-310.json'), { policy: policy({ severity: ['HIGH'] }) }).results).toBe(
      0,
    );
  });

  it('a finding in a layer made by the Dockerfile points at that instruction', () => {
    const report = structuredClone(trivyFixture('alpine-310.json')) as unknown as {
      Results: { Vulnerabilities: { Layer: { DiffID: string; Digest?: string } }[] }[];
    };
    for (const vulnerability of report.Results[0]!.Vulnerabilities)
      vulnerability.Layer = { DiffID: `sha256:${'2'.repeat(64)}` };
    const { sarif } = rewrite(report as unknown as TrivyReport, {
      dockerfileText: readFileSync(join(attributionDir, 'Dockerfile'), 'utf8'),
      imageConfig: JSON.parse(readFileSync(join(attributionDir, 'kaniko-final.json'), 'utf8')) as ImageConfig,
    });
    const location = sarif.runs[0]!.results![0]!.locations![0]!;
    expect(location.physicalLocation!.region!.startLine).toBe(13);
    expect(location.message!.text).toMatch(
      /introduced by Dockerfile line 13: RUN apk add --no-cache ca-certificates curl$/,
    );
  });

  it('over the results limit keeps the most severe and says what was dropped', () => {
    const report = structuredClone(trivyFixture('alpine-310.json')) as unknown as {
      Results: { Vulnerabilities: { Severity: string }[] }[];
    };
    report.Results[0]!.Vulnerabilities[3]!.Severity = 'CRITICAL';
    const { sarif, dropped } = rewrite(report as unknown as TrivyReport, { limits: { resultsPerRun: 1 } });
    expect(sarif.runs[0]!.results!.map((result) => result.message.text!.split('\n')[0])).toEqual([
      'Package: libssl1.1',
    ]);
    expect(sarif.runs[0]!.results![0]!.ruleId).toBe('CVE-2019-1551');
    expect(dropped).toEqual([
      "dropped 3 results (3 MEDIUM) to stay within GitHub's limit of 1 results per run; the JSON report lists every finding.",
    ]);
  });

  it('over the gzipped size limit drops results until the upload fits', () => {
    const limit = 1_500;
    const { sarif, results, dropped } = rewrite(trivyFixture('alpine-310.json'), {
      limits: { gzippedBytes: limit },
    });
    expect(gzipSync(JSON.stringify(sarif)).length).toBeLessThanOrEqual(limit);
    expect(results).toBeLessThan(4);
    expect(dropped.join('\n')).toMatch(
      /MEDIUM\) to stay within GitHub's limit of 1500 bytes gzipped per upload/,
    );
  });

  it('refuses an empty Dockerfile path rather than writing an empty URI', () => {
    const report = trivyFixture('alpine-310.json');
    expect(() =>
      rewriteSarif(trivySarif(), {
        category,
        dockerfilePath: '',
        attribution: attributeLayers({ dockerfileText: 'FROM alpine\n', report }),
        decision: decide(report, policy()),
      }),
    ).toThrow(/never empty/);
  });
});
