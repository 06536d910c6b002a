import { describe, expect, it } from 'vitest';
import { globMatches, isExpired, parseIgnoreFile, ruleMatches } from '../../src/gate/ignore.js';
import type { Finding } from '../../src/vocabulary.js';

const vulnerability = (overrides: Partial<Finding> = {}): Finding => ({
  kind: 'vulnerability',
  id: 'CVE-2023-3817',
  severity: 'MEDIUM',
  target: 'app (debian 12.1)',
  title: '',
  packageName: 'libssl3',
  purl: 'pkg:deb/debian/libssl3@3.0.9-1?arch=amd64&distro=debian-12.1',
  path: '',
  ...overrides,
});

describe('parseIgnoreFile: .trivyignore', () => {
  it('reads IDs, exp: dates, comments and blank lines, remembering each line', () => {
    const rules = parseIgnoreFile(
      '# header\n\nCVE-2019-1549\n  CVE-2019-1551   exp:2027-01-31  \nAVD-DS-0002 # trailing comment\r\n',
      'ci/.trivyignore',
    );
    expect(rules).toEqual([
      {
        kind: 'any',
        id: 'CVE-2019-1549',
        paths: [],
        purls: [],
        expiresAt: undefined,
        statement: '',
        source: 'ci/.trivyignore:3',
      },
      {
        kind: 'any',
        id: 'CVE-2019-1551',
        paths: [],
        purls: [],
        expiresAt: '2027-01-31',
        statement: '',
        source: 'ci/.trivyignore:4',
      },
      {
        kind: 'any',
        id: 'AVD-DS-0002',
        paths: [],
        purls: [],
        expiresAt: undefined,
        statement: '',
        source: 'ci/.trivyignore:5',
      },
    ]);
  });

  it('rejects a bad date or an unknown option, naming the line', () => {
    expect(() => parseIgnoreFile('CVE-1\nCVE-2 exp:2027-13-45\n', '.trivyignore')).toThrow(
      '.trivyignore:2:7: exp: is not a date; write YYYY-MM-DD.',
    );
    expect(() => parseIgnoreFile('CVE-2 until:2027-01-01', '.trivyignore')).toThrow(
      /\.trivyignore:1:7: unknown option/,
    );
  });
});

describe('parseIgnoreFile: .trivyignore.yaml', () => {
  it('reads the four sections with paths, purls, expired_at and statement', () => {
    const rules = parseIgnoreFile(
      [
        'vulnerabilities:',
        '  - id: CVE-2022-40897',
        '    paths: ["usr/local/lib/python3.9/site-packages/setuptools-58.1.0.dist-info/METADATA"]',
        '    statement: Accept the risk',
        '  - id: CVE-2023-3817',
        '    purls: ["pkg:deb/debian/libssl3"]',
        '    expired_at: 2027-03-01',
        'secrets:',
        '  - id: aws-access-key-id',
        '    paths: ["**/test/*.sh"]',
        'misconfigurations:',
        '  - id: AVD-DS-0002',
        'licenses:',
        '  - id: GPL-3.0',
      ].join('\n'),
      '.trivyignore.yml',
    );
    expect(
      rules.map(({ kind, id, paths, purls, expiresAt, statement }) => [
        kind,
        id,
        paths,
        purls,
        expiresAt,
        statement,
      ]),
    ).toEqual([
      [
        'vulnerability',
        'CVE-2022-40897',
        ['usr/local/lib/python3.9/site-packages/setuptools-58.1.0.dist-info/METADATA'],
        [],
        undefined,
        'Accept the risk',
      ],
      ['vulnerability', 'CVE-2023-3817', [], ['pkg:deb/debian/libssl3'], '2027-03-01', ''],
      ['secret', 'aws-access-key-id', ['**/test/*.sh'], [], undefined, ''],
      ['misconfiguration', 'AVD-DS-0002', [], [], undefined, ''],
      ['license', 'GPL-3.0', [], [], undefined, ''],
    ]);
    expect(rules[1]!.source).toBe('.trivyignore.yml: vulnerabilities[1]');
  });

  it('an empty file ignores nothing; broken files say what is wrong', () => {
    expect(parseIgnoreFile('', '.trivyignore.yaml')).toEqual([]);
    expect(() => parseIgnoreFile('vulnerabilities: [a', '.trivyignore.yaml')).toThrow(
      /\.trivyignore\.yaml:1:\d+ is not valid YAML/,
    );
    expect(() => parseIgnoreFile('vulnerabilities:\n  - statement: x\n', '.trivyignore.yaml')).toThrow(
      '.trivyignore.yaml: vulnerabilities[0] has no id.',
    );
    expect(() => parseIgnoreFile('vulns:\n  - id: x\n', '.trivyignore.yaml')).toThrow(
      /\.trivyignore\.yaml:1:1: unknown section;/,
    );
    expect(() => parseIgnoreFile('secrets:\n  - id: x\n    expired_at: soon\n', '.trivyignore.yaml')).toThrow(
      '.trivyignore.yaml: secrets[0]: expired_at is not a date; write YYYY-MM-DD.',
    );
    expect(() =>
      parseIgnoreFile('vulnerabilities:\n  - id: x\n    purls: [libssl3]\n', '.trivyignore.yaml'),
    ).toThrow(
      '.trivyignore.yaml: vulnerabilities[0]: purls[0] is not a package URL; write pkg:<type>/<namespace>/<name>[@version].',
    );
    expect(() => parseIgnoreFile('secrets:\n  - id: x\n    paths: etc\n', '.trivyignore.yaml')).toThrow(
      '.trivyignore.yaml: secrets[0].paths must be a list of strings.',
    );
  });
});

describe('parseIgnoreFile errors', () => {
  const secret = 'ghp_SECRETtoken0123456789';
  it.each([
    [
      'a YAML syntax error',
      `password: "${secret}\n  broken: [`,
      '.trivyignore.yaml',
      /\.trivyignore\.yaml:\d+:\d+ /,
    ],
    [
      'an unknown section (a JSON credential file)',
      `{"${secret}": {"auth": "x"}}`,
      '.trivyignore.yaml',
      /:1:2: /,
    ],
    [
      'an expired_at',
      `secrets:\n  - id: x\n    expired_at: ${secret}\n`,
      '.trivyignore.yaml',
      /secrets\[0\]/,
    ],
    ['a purl', `vulnerabilities:\n  - id: x\n    purls: [${secret}]\n`, '.trivyignore.yaml', /purls\[0\]/],
    ['an unknown option', `CVE-1 ${secret}\n`, '.trivyignore', /\.trivyignore:1:7: /],
    ['an exp: date', `CVE-1\nCVE-2 exp:${secret}\n`, '.trivyignore', /\.trivyignore:2:7: /],
  ])('never quote the file in %s, only its position', (_title, text, fileName, position) => {
    let message = '';
    try {
      parseIgnoreFile(text, fileName);
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toMatch(position);
    expect(message).not.toContain(secret);
    expect(message).not.toContain('SECRET');
  });
});

describe('matching', () => {
  const [byPurl, byVersionedPurl, byQualifier] = parseIgnoreFile(
    [
      'vulnerabilities:',
      '  - id: CVE-2023-3817',
      '    purls: ["pkg:deb/debian/libssl3"]',
      '  - id: CVE-2023-3817',
      '    purls: ["pkg:deb/debian/libssl3@3.0.8-1"]',
      '  - id: CVE-2023-3817',
      '    purls: ["pkg:deb/debian/libssl3?arch=arm64"]',
    ].join('\n'),
    '.trivyignore.yaml',
  ) as [never, never, never];

  it('a purl without version matches every version; a version or qualifier must agree', () => {
    expect(ruleMatches(byPurl, vulnerability())).toBe(true);
    expect(ruleMatches(byPurl, vulnerability({ purl: 'pkg:deb/debian/openssl@3.0.9-1' }))).toBe(false);
    expect(ruleMatches(byVersionedPurl, vulnerability())).toBe(false);
    expect(ruleMatches(byQualifier, vulnerability())).toBe(false);
    expect(ruleMatches(byPurl, vulnerability({ id: 'CVE-2023-0001' }))).toBe(false);
  });

  it('globs: ** crosses directories, * does not, a leading slash is optional', () => {
    expect(globMatches('**/deploy.sh', 'deploy.sh')).toBe(true);
    expect(globMatches('**/deploy.sh', 'app/bin/deploy.sh')).toBe(true);
    expect(globMatches('app/*.sh', 'app/bin/deploy.sh')).toBe(false);
    expect(globMatches('/app/*/deploy.sh', 'app/bin/deploy.sh')).toBe(true);
    expect(globMatches('usr/lib/python3.?/x', 'usr/lib/python3.9/x')).toBe(true);
    expect(globMatches('a.b', 'aXb')).toBe(false);
    expect(globMatches('**', '')).toBe(false);
  });

  it('expiry starts at 00:00 UTC on the date', () => {
    const [rule] = parseIgnoreFile('CVE-1 exp:2026-11-25', '.trivyignore') as [never];
    expect(isExpired(rule, new Date('2026-11-24T23:59:59Z'))).toBe(false);
    expect(isExpired(rule, new Date('2026-11-25T00:00:00Z'))).toBe(true);
  });
});
