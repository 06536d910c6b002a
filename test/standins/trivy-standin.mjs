#!/usr/bin/env node
// A STAND-IN FOR TRIVY, NOT TRIVY. Tests run it in place of the real scanner (there is no
// network or vulnerability DB here). It speaks the part of Trivy's command line the action
// uses and writes output in Trivy's real shapes, and it is at least as strict as Trivy:
//
//   image --input <tar> --format json --output <f> [--scanners …] [--severity …] [--list-all-pkgs]
//         [--cache-dir <d>] [--skip-db-update] [--db-repository <r>] [--exit-code <n>] …
//     The input must be a readable docker-archive tarball (manifest.json inside). The report is a
//     real Trivy report from test/fixtures/trivy chosen by TRIVY_STANDIN_REPORT, else by the DB
//     (one "downloaded" from a repository tagged with a fixture's name, `…:debian-buster.json`,
//     knows that fixture's findings: a newer DB finds more in the same image), else by a
//     /trivy-standin-report file inside the image (default alpine-310.json; "garbage" writes
//     something that is not JSON), with ArtifactName set to the input. --skip-db-update fails, as in Trivy, when the cache dir holds no DB; without it
//     the DB is "downloaded" first. A trivy.yaml in the working directory is read as Trivy
//     reads it (severity, exit-code), so tests can show the action keeps it out.
//   image --download-db-only --cache-dir <d> --db-repository <r>
//     Writes db/trivy.db and db/metadata.json; repositories listed in TRIVY_STANDIN_FAIL_REPOS
//     (comma-separated) fail like an unreachable registry.
//   convert --format sarif|cyclonedx|spdx-json --output <f> <report.json>
//
// TRIVY_STANDIN_LOG: a file that gets one JSON line per call (argv, cwd, environment names).
// TRIVY_STANDIN_EXIT: exit with this code after writing the report (a crashing scanner).
import { createHash } from 'node:crypto';
import { gunzipSync } from 'node:zlib';
import {
  appendFileSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  readSync,
  closeSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';

const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'trivy');
const VALUE_FLAGS = new Set([
  '--input',
  '--format',
  '-f',
  '--output',
  '-o',
  '--scanners',
  '--severity',
  '-s',
  '--cache-dir',
  '--db-repository',
  '--timeout',
  '--ignorefile',
  '--exit-code',
  '--config',
  '-c',
]);
const BOOLEAN_FLAGS = new Set([
  '--skip-db-update',
  '--skip-version-check',
  '--disable-telemetry',
  '--no-progress',
  '--insecure',
  '--list-all-pkgs',
  '--download-db-only',
  '--quiet',
  '-q',
  '--ignore-unfixed',
  '--show-suppressed',
]);
const SEVERITIES = ['UNKNOWN', 'LOW', 'MEDIUM', 'HIGH', 'CRITICAL'];

function fatal(message, code = 1) {
  process.stderr.write(`${new Date().toISOString()}\tFATAL\tFatal error\t${message}\n`);
  process.exit(code);
}

function parseArgs(argv) {
  const flags = new Map();
  const positional = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (!arg.startsWith('-')) {
      positional.push(arg);
      continue;
    }
    const [name, inline] = arg.includes('=')
      ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)]
      : [arg, undefined];
    if (VALUE_FLAGS.has(name)) {
      const value = inline ?? argv[++i];
      if (value === undefined) fatal(`flag needs an argument: ${name}`);
      flags.set(
        name.replace(/^-f$/, '--format').replace(/^-o$/, '--output').replace(/^-s$/, '--severity'),
        value,
      );
    } else if (BOOLEAN_FLAGS.has(name)) flags.set(name, inline ?? 'true');
    else {
      process.stderr.write(`Error: unknown flag: ${name}\n`);
      process.exit(1);
    }
  }
  return { flags, positional };
}

function dbDir(cacheDir) {
  return join(cacheDir, 'db');
}

function downloadDb(cacheDir) {
  const repositories = (flags.get('--db-repository') ?? 'mirror.gcr.io/aquasec/trivy-db:2').split(',');
  const failing = (process.env.TRIVY_STANDIN_FAIL_REPOS ?? '').split(',').filter(Boolean);
  // Like Trivy, more than one repository is only tried on 429/5xx; a network error ends the run.
  const repository = repositories[0];
  if (failing.includes(repository))
    fatal(
      `run error: init error: DB error: failed to download vulnerability DB: OCI artifact error: failed to download OCI artifact: ` +
        `failed to download vulnerability DB from ${repository}: dial tcp: lookup ${repository.split('/')[0]}: no such host`,
    );
  mkdirSync(dbDir(cacheDir), { recursive: true });
  writeFileSync(join(dbDir(cacheDir), 'trivy.db'), `stand-in vulnerability DB from ${repository}\n`);
  const now = new Date();
  writeFileSync(
    join(dbDir(cacheDir), 'metadata.json'),
    JSON.stringify({
      Version: 2,
      NextUpdate: new Date(now.getTime() + 86_400_000).toISOString(),
      UpdatedAt: now.toISOString(),
      DownloadedAt: now.toISOString(),
    }),
  );
}

function image() {
  const cacheDir = flags.get('--cache-dir') ?? join(process.env.HOME ?? '/root', '.cache', 'trivy');
  if (flags.has('--download-db-only')) {
    downloadDb(cacheDir);
    return;
  }
  const input = flags.get('--input');
  if (!input) fatal('image name or --input is required');
  if (!isDockerArchive(input))
    fatal(`unable to open ${input} as a docker-archive: no manifest.json (or not readable)`);
  if (flags.has('--skip-db-update')) {
    if (!existsSync(join(dbDir(cacheDir), 'metadata.json')) || !existsSync(join(dbDir(cacheDir), 'trivy.db')))
      fatal('init error: DB error: --skip-db-update cannot be specified on the first run');
  } else downloadDb(cacheDir);
  const format = flags.get('--format') ?? 'table';
  if (format !== 'json') fatal(`stand-in: only --format json is implemented for image (got ${format})`);

  const config = existsSync('trivy.yaml') ? (parseYaml(readFileSync('trivy.yaml', 'utf8')) ?? {}) : {};
  const choice =
    process.env.TRIVY_STANDIN_REPORT ??
    reportKnownToDb(cacheDir) ??
    reportNamedInImage(input) ??
    'alpine-310.json';
  let text;
  if (choice === 'garbage') text = '{"SchemaVersion": 2, "Results": [ truncated';
  else {
    const report = JSON.parse(readFileSync(choice.startsWith('/') ? choice : join(FIXTURES, choice), 'utf8'));
    report.ArtifactName = input;
    // Real Trivy identifies the image it scanned by its config: ImageID is the config's digest,
    // DiffIDs its layers. The action checks them against what the build wrote.
    const identity = imageIdentity(input);
    if (identity) report.Metadata = { ...report.Metadata, ...identity };
    const severities = (flags.get('--severity') ?? [].concat(config.severity ?? SEVERITIES).join(','))
      .split(',')
      .map((s) => s.trim().toUpperCase());
    const scanners = (flags.get('--scanners') ?? 'vuln,secret').split(',');
    for (const result of report.Results ?? []) {
      const keep = (list) => (list ?? []).filter((item) => severities.includes(item.Severity));
      if (result.Vulnerabilities)
        result.Vulnerabilities = scanners.includes('vuln') ? keep(result.Vulnerabilities) : undefined;
      if (result.Secrets) result.Secrets = scanners.includes('secret') ? keep(result.Secrets) : undefined;
      if (result.Misconfigurations)
        result.Misconfigurations = scanners.includes('misconfig')
          ? keep(result.Misconfigurations)
          : undefined;
      if (flags.has('--list-all-pkgs') && (result.Class === 'os-pkgs' || result.Class === 'lang-pkgs'))
        result.Packages = packagesOf(result);
      else delete result.Packages;
    }
    text = JSON.stringify(report, null, 2);
  }
  const output = flags.get('--output');
  if (output) writeFileSync(output, text);
  else process.stdout.write(text);
  if (process.env.TRIVY_STANDIN_EXIT) {
    process.stderr.write('stand-in: exiting as TRIVY_STANDIN_EXIT asks\n');
    process.exit(Number(process.env.TRIVY_STANDIN_EXIT));
  }
  const exitCode = Number(flags.get('--exit-code') ?? config['exit-code'] ?? 0);
  const found =
    choice !== 'garbage' &&
    JSON.parse(text).Results?.some((r) => (r.Vulnerabilities ?? []).length + (r.Secrets ?? []).length > 0);
  process.exit(found ? exitCode : 0);
}

function packagesOf(result) {
  const byId = new Map();
  for (const v of result.Vulnerabilities ?? [])
    byId.set(v.PkgID ?? `${v.PkgName}@${v.InstalledVersion}`, {
      ID: v.PkgID,
      Name: v.PkgName,
      Version: v.InstalledVersion,
      Identifier: v.PkgIdentifier,
      Layer: v.Layer,
    });
  return [...byId.values()];
}

/** The fixture the DB in the cache was "downloaded" for: its repository's tag, when that names one. */
function reportKnownToDb(cacheDir) {
  const db = readFileSync(join(dbDir(cacheDir), 'trivy.db'), 'utf8').trim();
  const tag = /:([\w.-]+\.json)$/.exec(db)?.[1];
  return tag && existsSync(join(FIXTURES, tag)) ? tag : undefined;
}

/** Entries of a plain tar held in memory: name → content. */
function tarEntries(buffer) {
  const entries = new Map();
  for (let offset = 0; offset + 512 <= buffer.length;) {
    const name = buffer.toString('utf8', offset, offset + 100).replace(/\0.*$/s, '');
    if (name === '') break;
    const size = parseInt(
      buffer
        .toString('utf8', offset + 124, offset + 136)
        .replace(/\0.*$/s, '')
        .trim() || '0',
      8,
    );
    entries.set(name.replace(/^\.\//, ''), buffer.subarray(offset + 512, offset + 512 + size));
    offset += 512 + Math.ceil(size / 512) * 512;
  }
  return entries;
}

/** ImageID, DiffIDs and ImageConfig of a docker-archive, as Trivy reports them. */
function imageIdentity(input) {
  const archive = tarEntries(readFileSync(input));
  const [image] = JSON.parse(archive.get('manifest.json')?.toString('utf8') ?? '[]');
  const config = image && archive.get(image.Config);
  if (!config) return undefined;
  const parsed = JSON.parse(config.toString('utf8'));
  return {
    ImageID: `sha256:${createHash('sha256').update(config).digest('hex')}`,
    DiffIDs: parsed.rootfs?.diff_ids ?? [],
    ImageConfig: parsed,
  };
}

/**
 * The fixture named by a `/trivy-standin-report` file inside the scanned image, newest layer
 * first: the end-to-end tests build images whose content decides what the "scanner" finds,
 * because the action hands Trivy no TRIVY_* variable.
 */
function reportNamedInImage(input) {
  const archive = tarEntries(readFileSync(input));
  const [image] = JSON.parse(archive.get('manifest.json')?.toString('utf8') ?? '[]');
  for (const layer of [...(image?.Layers ?? [])].reverse()) {
    const content = archive.get(layer);
    if (!content) continue;
    const files = tarEntries(content[0] === 0x1f && content[1] === 0x8b ? gunzipSync(content) : content);
    const named = files.get('trivy-standin-report');
    if (named) return named.toString('utf8').trim();
  }
  return undefined;
}

/** Reads tar headers looking for manifest.json (docker-archive; plain tar as kaniko writes it). */
function isDockerArchive(path) {
  let fd;
  try {
    fd = openSync(path, 'r');
    const header = Buffer.alloc(512);
    let offset = 0;
    for (;;) {
      if (readSync(fd, header, 0, 512, offset) < 512) return false;
      const name = header.toString('utf8', 0, 100).replace(/\0.*$/s, '');
      if (name === '') return false;
      if (name === 'manifest.json' || name === './manifest.json') return true;
      const size = parseInt(header.toString('utf8', 124, 136).replace(/\0.*$/s, '').trim() || '0', 8);
      offset += 512 + Math.ceil(size / 512) * 512;
    }
  } catch {
    return false;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

function convert() {
  const format = flags.get('--format');
  const [source] = positional;
  if (!source) fatal('convert needs a JSON report: trivy convert --format <f> --output <out> <report.json>');
  let report;
  try {
    report = JSON.parse(readFileSync(source, 'utf8'));
  } catch (error) {
    fatal(`failed to read ${source}: ${error.message}`);
  }
  const builders = { sarif: toSarif, cyclonedx: toCycloneDx, 'spdx-json': toSpdx };
  if (!builders[format]) fatal(`stand-in: convert --format ${format} is not implemented`);
  const text = JSON.stringify(builders[format](report), null, 2);
  const output = flags.get('--output');
  if (output) writeFileSync(output, text);
  else process.stdout.write(text);
}

const LEVEL = { CRITICAL: 'error', HIGH: 'error', MEDIUM: 'warning', LOW: 'note', UNKNOWN: 'note' };
const DEFAULT_SCORE = { CRITICAL: '9.5', HIGH: '8.0', MEDIUM: '5.5', LOW: '2.0', UNKNOWN: '0.0' };

function toSarif(report) {
  const rules = [];
  const ruleIndex = new Map();
  const results = [];
  const rule = (id, build) => {
    if (!ruleIndex.has(id)) {
      ruleIndex.set(id, rules.length);
      rules.push(build());
    }
    return ruleIndex.get(id);
  };
  const region = (line = 1) => ({ startLine: line, startColumn: 1, endLine: line, endColumn: 1 });
  for (const result of report.Results ?? []) {
    for (const v of result.Vulnerabilities ?? []) {
      const score = v.CVSS?.[v.SeveritySource]?.V3Score;
      const index = rule(v.VulnerabilityID, () => ({
        id: v.VulnerabilityID,
        name: result.Class === 'os-pkgs' ? 'OsPackageVulnerability' : 'LanguageSpecificPackageVulnerability',
        shortDescription: { text: v.Title ?? v.VulnerabilityID },
        fullDescription: { text: v.Description ?? '' },
        defaultConfiguration: { level: LEVEL[v.Severity] },
        helpUri: v.PrimaryURL,
        help: {
          text: `Vulnerability ${v.VulnerabilityID}\nSeverity: ${v.Severity}\nPackage: ${v.PkgName}`,
          markdown: '',
        },
        properties: {
          precision: 'very-high',
          'security-severity': score === undefined ? DEFAULT_SCORE[v.Severity] : String(score),
          tags: ['vulnerability', 'security', v.Severity],
        },
      }));
      const uri = result.Class === 'os-pkgs' ? report.ArtifactName : (v.PkgPath ?? result.Target);
      results.push({
        ruleId: v.VulnerabilityID,
        ruleIndex: index,
        level: LEVEL[v.Severity],
        message: {
          text: `Package: ${v.PkgName}\nInstalled Version: ${v.InstalledVersion}\nVulnerability ${v.VulnerabilityID}\nSeverity: ${v.Severity}\nFixed Version: ${v.FixedVersion ?? ''}\nLink: [${v.VulnerabilityID}](${v.PrimaryURL})`,
        },
        locations: [
          {
            physicalLocation: { artifactLocation: { uri, uriBaseId: 'ROOTPATH' }, region: region() },
            message: { text: `${uri}: ${v.PkgName}@${v.InstalledVersion}` },
          },
        ],
      });
    }
    for (const s of result.Secrets ?? []) {
      const index = rule(s.RuleID, () => ({
        id: s.RuleID,
        name: 'Secret',
        shortDescription: { text: s.Title },
        fullDescription: { text: s.Match ?? '' },
        defaultConfiguration: { level: LEVEL[s.Severity] },
        help: { text: `Secret ${s.Title}\nSeverity: ${s.Severity}`, markdown: '' },
        properties: {
          precision: 'very-high',
          'security-severity': DEFAULT_SCORE[s.Severity],
          tags: ['secret', 'security', s.Severity],
        },
      }));
      results.push({
        ruleId: s.RuleID,
        ruleIndex: index,
        level: LEVEL[s.Severity],
        message: {
          text: `Artifact: ${result.Target}\nType: \nSecret ${s.Title}\nSeverity: ${s.Severity}\nMatch: ${s.Match}`,
        },
        locations: [
          {
            physicalLocation: {
              artifactLocation: { uri: result.Target, uriBaseId: 'ROOTPATH' },
              region: region(s.StartLine),
            },
            message: { text: result.Target },
          },
        ],
      });
    }
  }
  return {
    version: '2.1.0',
    $schema:
      'https://raw.githubusercontent.com/oasis-tcs/sarif-spec/main/sarif-2.1/schema/sarif-schema-2.1.0.json',
    runs: [
      {
        tool: {
          driver: {
            fullName: 'Trivy Vulnerability Scanner',
            informationUri: 'https://github.com/aquasecurity/trivy',
            name: 'Trivy',
            rules,
            version: report.Trivy?.Version ?? 'dev',
          },
        },
        results,
        columnKind: 'utf16CodeUnits',
        originalUriBaseIds: { ROOTPATH: { uri: 'file:///' } },
        properties: {
          imageID: report.Metadata?.ImageID,
          imageName: report.ArtifactName,
          repoDigests: report.Metadata?.RepoDigests ?? null,
          repoTags: report.Metadata?.RepoTags ?? null,
        },
      },
    ],
  };
}

function packagesForSbom(report) {
  const packageResults = (report.Results ?? []).filter(
    (r) => r.Class === 'os-pkgs' || r.Class === 'lang-pkgs',
  );
  if (packageResults.some((r) => !r.Packages))
    fatal('stand-in: the report has no package list; an SBOM needs a scan with --list-all-pkgs');
  return packageResults.flatMap((r) => r.Packages);
}

function toCycloneDx(report) {
  const packages = packagesForSbom(report);
  return {
    $schema: 'http://cyclonedx.org/schema/bom-1.6.schema.json',
    bomFormat: 'CycloneDX',
    specVersion: '1.6',
    serialNumber: 'urn:uuid:00000000-0000-4000-8000-000000000000',
    version: 1,
    metadata: {
      timestamp: new Date().toISOString(),
      tools: { components: [{ type: 'application', group: 'aquasecurity', name: 'trivy', version: 'dev' }] },
      component: {
        'bom-ref': report.ArtifactID ?? report.ArtifactName,
        type: 'container',
        name: report.ArtifactName,
      },
    },
    components: packages.map((p) => ({
      'bom-ref': p.Identifier?.PURL ?? p.ID,
      type: 'library',
      name: p.Name,
      version: p.Version,
      purl: p.Identifier?.PURL,
    })),
    dependencies: [],
    vulnerabilities: [],
  };
}

function toSpdx(report) {
  const packages = packagesForSbom(report);
  return {
    spdxVersion: 'SPDX-2.3',
    dataLicense: 'CC0-1.0',
    SPDXID: 'SPDXRef-DOCUMENT',
    name: report.ArtifactName,
    documentNamespace: `http://trivy.dev/container_image/${encodeURIComponent(report.ArtifactName ?? '')}`,
    creationInfo: {
      creators: ['Organization: aquasecurity', 'Tool: trivy-dev'],
      created: new Date().toISOString(),
    },
    packages: packages.map((p, index) => ({
      name: p.Name,
      SPDXID: `SPDXRef-Package-${index}`,
      versionInfo: p.Version,
      downloadLocation: 'NONE',
      externalRefs: p.Identifier?.PURL
        ? [
            {
              referenceCategory: 'PACKAGE-MANAGER',
              referenceType: 'purl',
              referenceLocator: p.Identifier.PURL,
            },
          ]
        : [],
    })),
    relationships: [],
  };
}

// Dispatch last: the functions above use constants that must be initialised first.
const [command, ...rest] = process.argv.slice(2);
if (process.env.TRIVY_STANDIN_LOG)
  appendFileSync(
    process.env.TRIVY_STANDIN_LOG,
    `${JSON.stringify({ argv: process.argv.slice(2), cwd: process.cwd(), env: Object.keys(process.env).sort() })}\n`,
  );
const { flags, positional } = parseArgs(rest);
if (command === 'image') image();
else if (command === 'convert') convert();
else {
  process.stderr.write(`Error: unknown command "${command}" for "trivy"\n`);
  process.exit(1);
}
