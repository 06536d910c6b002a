import { readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { TrivyReport } from '../../src/scan/trivy-report.js';
import {
  ReportError,
  findingsOf,
  parseTrivyReport,
  scannedImageMismatch,
} from '../../src/scan/trivy-report.js';
import { TRIVY_FIXTURES, trivyFixture } from './trivy-fixtures.js';

describe('parseTrivyReport', () => {
  it('reads every real report in the fixtures', () => {
    const files = readdirSync(TRIVY_FIXTURES).filter((file) => file.endsWith('.json'));
    expect(files.length).toBeGreaterThanOrEqual(7);
    for (const file of files) expect(trivyFixture(file).SchemaVersion).toBe(2);
  });

  it.each([
    ['not json', /report r\.json is not valid JSON/],
    ['[]', /report r\.json is not a JSON object/],
    ['{"SchemaVersion":1}', /SchemaVersion 1, expected 2/],
    ['{"SchemaVersion":2,"Results":{}}', /Results that is not a list/],
    ['{"SchemaVersion":2,"Results":[{"Class":"os-pkgs"}]}', /Results\[0\] without a Target/],
    [
      '{"SchemaVersion":2,"Results":[{"Target":"t","Vulnerabilities":[{"VulnerabilityID":"CVE-1"}]}]}',
      /Vulnerabilities\[0\] without VulnerabilityID or Severity/,
    ],
  ])('rejects %s', (text, message) => {
    expect(() => parseTrivyReport(text, 'r.json')).toThrow(ReportError);
    expect(() => parseTrivyReport(text, 'r.json')).toThrow(message);
  });

  it('accepts a clean report with no Results (Trivy omits the field)', () => {
    expect(findingsOf(parseTrivyReport('{"SchemaVersion":2,"ArtifactName":"x"}', 'r.json'))).toEqual([]);
  });
});

describe('findingsOf', () => {
  it('flattens vulnerabilities with package, versions, status, purl and layer', () => {
    const [first] = findingsOf(trivyFixture('debian-buster.json')).filter((f) => f.id === 'CVE-2019-18224');
    expect(first).toEqual({
      kind: 'vulnerability',
      id: 'CVE-2019-18224',
      severity: 'CRITICAL',
      target: 'testdata/fixtures/images/debian-buster.tar.gz (debian 10.1)',
      title: expect.stringContaining('libidn2'),
      packageName: 'libidn2-0',
      installedVersion: '2.0.5-1',
      fixedVersion: '2.0.5-1+deb10u1',
      status: 'fixed',
      purl: expect.stringMatching(/^pkg:deb\/debian\/libidn2-0@2\.0\.5-1/),
      path: '',
      layerDiffId: expect.stringMatching(/^sha256:78c1b94199762/),
      layerDigest: expect.stringMatching(/^sha256:/),
    });
  });

  it('flattens secrets with their file and line', () => {
    expect(
      findingsOf(trivyFixture('secrets.json')).map(({ kind, id, severity, path, line }) => [
        kind,
        id,
        severity,
        path,
        line,
      ]),
    ).toEqual([
      ['secret', 'aws-access-key-id', 'CRITICAL', 'deploy.sh', 3],
      ['secret', 'mysecret', 'HIGH', 'deploy.sh', 7],
    ]);
  });

  it('an unknown severity string becomes UNKNOWN', () => {
    const report = parseTrivyReport(
      '{"SchemaVersion":2,"Results":[{"Target":"t","Vulnerabilities":[{"VulnerabilityID":"X","PkgName":"p","Severity":"weird"}]}]}',
      'r.json',
    );
    expect(findingsOf(report)[0]!.severity).toBe('UNKNOWN');
  });
});

describe('scannedImageMismatch', () => {
  const identity = { configDigest: `sha256:${'a'.repeat(64)}`, diffIds: [`sha256:${'b'.repeat(64)}`] };
  const report = (metadata: TrivyReport['Metadata']): TrivyReport => ({
    SchemaVersion: 2,
    Metadata: metadata,
  });

  it('accepts the report of the image the build wrote', () => {
    expect(
      scannedImageMismatch(report({ ImageID: identity.configDigest, DiffIDs: identity.diffIds }), identity),
    ).toBeUndefined();
  });

  it('refuses a report of another image, other layers, or no image at all', () => {
    expect(
      scannedImageMismatch(
        report({ ImageID: `sha256:${'c'.repeat(64)}`, DiffIDs: identity.diffIds }),
        identity,
      ),
    ).toMatch(/scanned image sha256:c+, but the build wrote sha256:a+/);
    expect(scannedImageMismatch(report({ ImageID: identity.configDigest, DiffIDs: [] }), identity)).toMatch(
      /layers \(none\)/,
    );
    expect(scannedImageMismatch(report(undefined), identity)).toMatch(/does not name the image/);
  });
});
