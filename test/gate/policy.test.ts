import { describe, expect, it } from 'vitest';
import { parseIgnoreFile } from '../../src/gate/ignore.js';
import { decide } from '../../src/gate/policy.js';
import { policy } from '../helpers/policy.js';
import { trivyFixture } from '../scan/trivy-fixtures.js';

const counts = (critical: number, high: number, medium: number, low: number, unknown = 0) => ({
  CRITICAL: critical,
  HIGH: high,
  MEDIUM: medium,
  LOW: low,
  UNKNOWN: unknown,
});
const ids = (items: readonly { finding: { id: string; packageName?: string } }[]) =>
  items.map(({ finding }) => `${finding.id} ${finding.packageName ?? ''}`.trim());

describe('decide on alpine-310 (4 MEDIUM, all fixed: CVE-2019-1549/1551 in libcrypto1.1 and libssl1.1)', () => {
  const report = trivyFixture('alpine-310.json');

  it('passes the default policy and counts the four MEDIUMs', () => {
    const decision = decide(report, policy());
    expect(decision).toMatchObject({
      pass: true,
      counts: counts(0, 0, 4, 0),
      secrets: 0,
      blocking: [],
      ignored: [],
    });
    expect(decision.reported).toHaveLength(4);
  });

  it('fails when MEDIUM is in fail-on, with every finding and its reason', () => {
    const decision = decide(report, policy({ failOn: ['MEDIUM'] }));
    expect(decision.pass).toBe(false);
    expect(ids(decision.blocking)).toEqual([
      'CVE-2019-1549 libcrypto1.1',
      'CVE-2019-1551 libcrypto1.1',
      'CVE-2019-1549 libssl1.1',
      'CVE-2019-1551 libssl1.1',
    ]);
    expect(decision.blocking[0]!.reason).toBe('MEDIUM is in fail-on');
  });

  it('a .trivyignore line hides that ID in both packages; the other two still block', () => {
    const ignores = parseIgnoreFile('# accepted\nCVE-2019-1549 exp:2027-06-01\n', '.trivyignore');
    const decision = decide(report, policy({ failOn: ['MEDIUM'], ignores }));
    expect(decision.counts).toEqual(counts(0, 0, 2, 0));
    expect(ids(decision.ignored)).toEqual(['CVE-2019-1549 libcrypto1.1', 'CVE-2019-1549 libssl1.1']);
    expect(decision.ignored[0]).toMatchObject({ reason: 'listed in .trivyignore:2', until: '2027-06-01' });
    expect(ids(decision.blocking)).toEqual(['CVE-2019-1551 libcrypto1.1', 'CVE-2019-1551 libssl1.1']);
    expect(decision.warnings).toEqual([]);
  });

  it('a .trivyignore.yaml purl scopes the ignore to one package and carries the statement', () => {
    const ignores = parseIgnoreFile(
      'vulnerabilities:\n  - id: CVE-2019-1551\n    purls: ["pkg:apk/alpine/libssl1.1"]\n    statement: TLS is terminated upstream\n',
      '.trivyignore.yaml',
    );
    const decision = decide(report, policy({ failOn: ['MEDIUM'], ignores }));
    expect(ids(decision.ignored)).toEqual(['CVE-2019-1551 libssl1.1']);
    expect(decision.ignored[0]!.reason).toBe(
      'TLS is terminated upstream (.trivyignore.yaml: vulnerabilities[0])',
    );
    expect(decision.ignored[0]!.until).toBeUndefined();
    expect(decision.counts.MEDIUM).toBe(3);
  });

  it('an expired ignore hides nothing and says so', () => {
    const ignores = parseIgnoreFile('CVE-2019-1549 exp:2026-11-24\n', '.trivyignore');
    const decision = decide(report, policy({ failOn: ['MEDIUM'], ignores }));
    expect(decision.ignored).toEqual([]);
    expect(decision.blocking).toHaveLength(4);
    expect(decision.warnings).toEqual([
      'ignore of CVE-2019-1549 (.trivyignore:1) expired on 2026-11-24; it no longer hides anything: fix the finding or renew the date.',
    ]);
  });

  it('the severity filter leaves MEDIUM out of counts and reports', () => {
    const decision = decide(report, policy({ severity: ['HIGH', 'CRITICAL'] }));
    expect(decision).toMatchObject({ pass: true, counts: counts(0, 0, 0, 0), reported: [] });
  });

  it('without the vuln scanner nothing is counted', () => {
    expect(decide(report, policy({ scanners: ['secret'], failOn: ['MEDIUM'] })).pass).toBe(true);
  });
});

describe('decide on centos-7 (bash LOW will_not_fix; openssl-libs MEDIUM and LOW fixed)', () => {
  const report = trivyFixture('centos-7.json');

  it('counts everything by default', () => {
    expect(decide(report, policy()).counts).toEqual(counts(0, 0, 1, 2));
  });

  it('ignore-unfixed drops the will_not_fix one, matching what Trivy itself wrote with --ignore-unfixed', () => {
    const decision = decide(report, policy({ ignoreUnfixed: true }));
    expect(decision.counts).toEqual(counts(0, 0, 1, 1));
    expect(decision.ignored.map(({ finding, reason }) => [finding.id, reason])).toEqual([
      ['CVE-2019-18276', 'no fixed version yet (status will_not_fix; ignore-unfixed)'],
    ]);
    expect(decide(trivyFixture('centos-7-ignore-unfixed.json'), policy()).counts).toEqual(decision.counts);
  });

  it('fail-on LOW blocks on the two LOWs only, one with ignore-unfixed', () => {
    expect(ids(decide(report, policy({ failOn: ['LOW'] })).blocking)).toEqual([
      'CVE-2019-18276 bash',
      'CVE-2018-0734 openssl-libs',
    ]);
    expect(ids(decide(report, policy({ failOn: ['LOW'], ignoreUnfixed: true })).blocking)).toEqual([
      'CVE-2018-0734 openssl-libs',
    ]);
  });
});

describe('decide on debian-buster (libidn2-0 CRITICAL fixed; bash LOW affected)', () => {
  const report = trivyFixture('debian-buster.json');

  it('fails the default policy on the CRITICAL', () => {
    const decision = decide(report, policy());
    expect(decision.pass).toBe(false);
    expect(decision.counts).toEqual(counts(1, 0, 0, 1));
    expect(
      decision.blocking.map(({ finding, reason }) => [finding.id, finding.fixedVersion, reason]),
    ).toEqual([['CVE-2019-18224', '2.0.5-1+deb10u1', 'CRITICAL is in fail-on']]);
  });

  it('ignore-unfixed does not help: the CRITICAL has a fix', () => {
    const decision = decide(report, policy({ ignoreUnfixed: true }));
    expect(decision).toMatchObject({ pass: false, counts: counts(1, 0, 0, 0) });
  });

  it('an ignore expiring within 14 days passes with a warning', () => {
    const ignores = parseIgnoreFile(
      'vulnerabilities:\n  - id: CVE-2019-18224\n    expired_at: 2026-12-05\n    statement: backport pending\n',
      'policy/.trivyignore.yaml',
    );
    const decision = decide(report, policy({ ignores }));
    expect(decision.pass).toBe(true);
    expect(decision.ignored[0]).toMatchObject({ until: '2026-12-05' });
    expect(decision.warnings).toEqual([
      'ignore of CVE-2019-18224 (policy/.trivyignore.yaml: vulnerabilities[0]) expires on 2026-12-05, in 11 days.',
    ]);
  });

  it('an ignore expiring in 30 days does not warn', () => {
    const ignores = parseIgnoreFile('CVE-2019-18224 exp:2026-12-25', '.trivyignore');
    expect(decide(report, policy({ ignores })).warnings).toEqual([]);
  });
});

describe('decide on distroless-base (libssl1.1, openssl: CVE-2019-1551 MEDIUM affected; CVE-2019-1563 LOW fixed)', () => {
  const report = trivyFixture('distroless-base.json');

  it('fail-on MEDIUM blocks on the two unfixed MEDIUMs', () => {
    expect(ids(decide(report, policy({ failOn: ['MEDIUM'] })).blocking)).toEqual([
      'CVE-2019-1551 libssl1.1',
      'CVE-2019-1551 openssl',
    ]);
  });

  it('with ignore-unfixed only the fixed LOWs remain and the policy passes', () => {
    const decision = decide(report, policy({ failOn: ['MEDIUM'], ignoreUnfixed: true }));
    expect(decision).toMatchObject({ pass: true, counts: counts(0, 0, 0, 2) });
    expect(decision.ignored).toHaveLength(2);
  });
});

describe('decide on secrets (aws-access-key-id CRITICAL and mysecret HIGH in deploy.sh)', () => {
  const report = trivyFixture('secrets.json');

  it('any secret blocks, even with fail-on none and a severity filter', () => {
    const decision = decide(report, policy({ failOn: [], severity: ['LOW'] }));
    expect(decision.pass).toBe(false);
    expect(decision.secrets).toBe(2);
    expect(decision.counts).toEqual(counts(0, 0, 0, 0));
    expect(decision.blocking.map(({ finding }) => finding.id)).toEqual(['aws-access-key-id', 'mysecret']);
    expect(decision.blocking[0]!.reason).toMatch(/secret is baked into the image/);
  });

  it('ignoring one secret by rule ID and path leaves the other blocking', () => {
    const ignores = parseIgnoreFile(
      'secrets:\n  - id: mysecret\n    paths: ["**/deploy.sh"]\n    statement: test fixture\n',
      '.trivyignore.yaml',
    );
    const decision = decide(report, policy({ ignores }));
    expect(decision.blocking.map(({ finding }) => finding.id)).toEqual(['aws-access-key-id']);
    expect(decision.secrets).toBe(1);
  });

  it('a path that does not match ignores nothing; a vulnerabilities entry does not hide a secret', () => {
    const ignores = parseIgnoreFile(
      'secrets:\n  - id: mysecret\n    paths: ["etc/*"]\nvulnerabilities:\n  - id: aws-access-key-id\n',
      '.trivyignore.yaml',
    );
    expect(decide(report, policy({ ignores })).secrets).toBe(2);
  });

  it('a .trivyignore line applies to secrets too', () => {
    const ignores = parseIgnoreFile('aws-access-key-id\nmysecret\n', '.trivyignore');
    expect(decide(report, policy({ ignores })).pass).toBe(true);
  });

  it('without the secret scanner, secrets are not part of the decision', () => {
    expect(decide(report, policy({ scanners: ['vuln'] }))).toMatchObject({ pass: true, secrets: 0 });
  });
});

describe('misconfigurations', () => {
  const report = {
    SchemaVersion: 2,
    Results: [
      {
        Target: 'Dockerfile',
        Class: 'config',
        Misconfigurations: [
          { ID: 'DS002', Severity: 'HIGH', Title: 'Image user should not be root', Status: 'FAIL' },
          { ID: 'DS026', Severity: 'LOW', Title: 'No HEALTHCHECK defined', Status: 'FAIL' },
          { ID: 'DS001', Severity: 'MEDIUM', Title: ':latest tag used', Status: 'PASS' },
        ],
      },
    ],
  };

  it('count and block by fail-on when the misconfig scanner is on (passed checks are not findings)', () => {
    const decision = decide(report, policy({ scanners: ['vuln', 'misconfig'] }));
    expect(decision).toMatchObject({ pass: false, misconfigurations: 2, counts: counts(0, 0, 0, 0) });
    expect(decision.blocking.map(({ finding }) => finding.id)).toEqual(['DS002']);
  });

  it('are ignored entirely when the scanner is off', () => {
    expect(decide(report, policy())).toMatchObject({ pass: true, misconfigurations: 0 });
  });
});

describe('the decision carries every finding with its verdict', () => {
  const verdicts = (decision: ReturnType<typeof decide>) =>
    decision.findings.map(({ finding, verdict, by }) => [finding.id, finding.packageName, verdict, by]);

  it('centos-7 with ignore-unfixed and severity MEDIUM: ignored, hidden by severity, blocking', () => {
    const decision = decide(
      trivyFixture('centos-7.json'),
      policy({ ignoreUnfixed: true, severity: ['MEDIUM'], failOn: ['MEDIUM'] }),
    );
    expect(verdicts(decision)).toEqual([
      ['CVE-2019-18276', 'bash', 'ignored', 'ignore-unfixed'],
      ['CVE-2019-1559', 'openssl-libs', 'blocking', 'fail-on'],
      ['CVE-2018-0734', 'openssl-libs', 'hidden', 'severity'],
    ]);
    expect(decision.findings[2]!.reason).toBe('LOW is not in severity');
    expect(decision.blocking).toEqual([decision.findings[1]]);
    expect(decision.ignored).toEqual([decision.findings[0]]);
  });

  it('an ignore-file entry is named on the finding it hides, with its expiry', () => {
    const ignores = parseIgnoreFile('CVE-2019-1551 exp:2027-06-01\n', '.trivyignore');
    const decision = decide(trivyFixture('alpine-310.json'), policy({ ignores }));
    const hidden = decision.findings.filter(({ verdict }) => verdict === 'ignored');
    expect(hidden).toHaveLength(2);
    for (const decided of hidden)
      expect(decided).toMatchObject({ by: 'ignore-file', ignore: ignores[0], until: '2027-06-01' });
    expect(decision.findings.filter(({ verdict }) => verdict === 'reported')).toHaveLength(2);
    expect(decision.findings[0]!.reason).toBe('MEDIUM is not in fail-on');
  });

  it('findings of a scanner that is off are hidden, and counted nowhere', () => {
    const decision = decide(trivyFixture('secrets.json'), policy({ scanners: ['vuln'] }));
    expect(decision.findings.map(({ verdict, by }) => [verdict, by])).toEqual([
      ['hidden', 'scanner'],
      ['hidden', 'scanner'],
    ]);
    expect(decision.reported).toEqual([]);
  });
});
