#!/usr/bin/env node
// A STAND-IN FOR TRIVY, NOT TRIVY. Tests run it in place of the real scanner (there is no
// network or vulnerability DB here). It speaks the part of Trivy's command line the action
// uses and writes output in Trivy's real shapes, and it is at least as strict as Trivy:
//
//   image --input <tar> --format json --output <f> [--scanners …] [--severity …] [--list-all-pkgs]
//         [--cache-dir <d>] [--skip-db-update] [--skip-java-db-update] [--skip-check-update] …
//     The input must be a readable docker-archive tarball (manifest.json inside). The report is a
//     real Trivy report from test/fixtures/trivy chosen by TRIVY_STANDIN_REPORT, else by the DB
//     (one "downloaded" from a repository tagged with a fixture's name, `…:debian-buster.json`,
//     knows that fixture's findings: a newer DB finds more in the same image), else by a
//     /trivy-standin-report file inside the image (a /trivy-standin-report-<architecture> file
//     first, for an image of that architecture; default alpine-310.json; "garbage" writes
//     something that is not JSON), with ArtifactName set to the input. A trivy.yaml in the
//     working directory is read as Trivy reads it (severity, exit-code), so tests can show the
//     action keeps it out. The databases are checked as Trivy v0.74.0 checks them:
//       - vuln: --skip-db-update with no db/ fails (pkg/db NeedsUpdate);
//       - vuln and a layer holding a .jar/.war/.ear/.par (any case, jar.go requiredExtensions):
//         --skip-java-db-update with no java-db/metadata.json fails (pkg/javadb/client.go Update:
//         "'--skip-java-db-update' cannot be specified on the first run");
//       - misconfig: --skip-check-update with no policy/content logs Trivy's error and falls back
//         to the embedded checks (pkg/commands/artifact/run.go initMisconfScannerOption).
//     A scan that would download a database itself (no skip flag) fails: there is no network
//     here, and the action must have prepared it.
//     --image-config-scanners secret[,misconfig]: the image config is scanned for secrets as
//     Trivy does (pkg/fanal/analyzer/imgconf/secret: the config as indented JSON, one field a
//     line; the github-pat rule of pkg/fanal/secret/builtin-rules.go), reported under the
//     artifact's name, Class "secret" (pkg/scan/local/service.go mergeSecrets). The stand-in
//     keeps the config's own key order, so its line numbers may differ from Trivy's (Go's struct
//     order); the shape and the masked Match are Trivy's. Values other than misconfig and secret
//     are refused with Trivy's message (pkg/flag/options.go).
//     --vex <file> (repeatable) applies OpenVEX statements as pkg/vex/openvex.go does for a
//     package: the last statement naming the CVE and the package's PURL as a product (no
//     subcomponents) decides; not_affected and fixed take the finding out, and with
//     --show-suppressed it is listed in ExperimentalModifiedFindings (Statement: the
//     justification, Source: the path given). CycloneDX VEX fails as in Trivy for an image;
//     CSAF is not implemented here and fails.
//   image --download-db-only | --download-java-db-only --cache-dir <d> --db-repository <r> | --java-db-repository <r>
//   config --cache-dir <d> --checks-bundle-repository <r> <dir>
//     Fill db/, java-db/ or policy/ (content/ + metadata.json). A repository on 127.0.0.1 or
//     localhost is really pulled over HTTP as go-containerregistry does (a 401 Basic challenge is
//     answered from DOCKER_CONFIG/config.json `auths`, the default keychain; the single layer must
//     have Trivy's media type). Any other repository is simulated; those listed in
//     TRIVY_STANDIN_FAIL_REPOS (comma-separated) fail like an unreachable registry. As in Trivy,
//     a checks bundle that fails to download is logged and `config` still exits 0.
//   convert --format sarif|cyclonedx|spdx-json|cosign-vuln --output <f> <report.json>
//     Only the flags `trivy convert` has (pkg/commands/app.go NewConvertCommand at v0.74.0: the
//     global flags, --scanners and the report flags); exactly one report, which must name its
//     artifact (convert/run.go). cosign-vuln writes pkg/report/predicate/vuln.go's shape: the
//     report as `scanner.result`, scanner uri/version from the binary's version, an empty db, and
//     scanStartedOn = scanFinishedOn = the time of the conversion.
//
// The stand-in's version is TRIVY_STANDIN_VERSION (default 0.74.0): `image` writes it into the
// report's Trivy.Version and cosign-vuln into scanner.version, as Trivy writes app.Version().
//   config … <Dockerfile>: after the checks bundle (above), with --format json
//     Two of trivy-checks' Dockerfile checks (checks/docker/root_user.rego DS-0002,
//     add_instead_of_copy.rego DS-0005) in the JSON shape of Trivy's
//     integration/testdata/dockerfile.json.golden; refuses the flags `trivy config` lacks
//     (pkg/commands/app.go NewConfigCommand: no --no-progress, --list-all-pkgs,
//     --show-suppressed, --scanners, --skip-db-update, --input, --vex).
//   convert: SARIF as pkg/report/sarif.go writes it for vulnerabilities, secrets,
//     misconfigurations and licenses.
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
  statSync,
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
  '--java-db-repository',
  '--checks-bundle-repository',
  '--timeout',
  '--ignorefile',
  '--exit-code',
  '--config',
  '-c',
  '--image-config-scanners',
]);
/** Flags Trivy declares as string slices: repeatable, and split at commas. */
const SLICE_FLAGS = new Set(['--vex']);
const BOOLEAN_FLAGS = new Set([
  '--skip-db-update',
  '--skip-version-check',
  '--disable-telemetry',
  '--no-progress',
  '--insecure',
  '--list-all-pkgs',
  '--download-db-only',
  '--download-java-db-only',
  '--skip-java-db-update',
  '--skip-check-update',
  '--quiet',
  '-q',
  '--ignore-unfixed',
  '--show-suppressed',
  '--skip-check-update',
]);
/**
 * Flags `trivy config` lacks (docs/guide/references/configuration/cli/trivy_config.md at v0.74.0:
 * no DB flag group, no --scanners, no --list-all-pkgs or --show-suppressed).
 */
const NOT_FOR_CONFIG = new Set([
  '--input',
  '--scanners',
  '--list-all-pkgs',
  '--show-suppressed',
  '--ignore-unfixed',
  '--no-progress',
  '--download-db-only',
  '--download-java-db-only',
  '--skip-db-update',
  '--skip-java-db-update',
  '--db-repository',
  '--java-db-repository',
  '--vex',
  '--image-config-scanners',
]);
const SEVERITIES = ['UNKNOWN', 'LOW', 'MEDIUM', 'HIGH', 'CRITICAL'];
const JAVA_ARCHIVE = /\.(jar|war|ear|par)$/i;
/** Media types of the single layer each artifact must have (pkg/db/db.go, pkg/javadb/client.go, pkg/policy/policy.go). */
const DATABASES = {
  vulnerability: { folder: 'db', mediaType: 'application/vnd.aquasec.trivy.db.layer.v1.tar+gzip' },
  java: { folder: 'java-db', mediaType: 'application/vnd.aquasec.trivy.javadb.layer.v1.tar+gzip' },
  checks: {
    folder: join('policy', 'content'),
    mediaType: 'application/vnd.cncf.openpolicyagent.layer.v1.tar+gzip',
  },
};
const VERSION = process.env.TRIVY_STANDIN_VERSION ?? '0.74.0';
/**
 * The flags of the above that `trivy convert` lacks: it has the global flags (pkg/flag/global_flags.go),
 * --scanners and the report flags (report_flags.go), not the scan, DB or image ones.
 */
const NOT_CONVERT_FLAGS = new Set([
  '--input',
  '--db-repository',
  '--skip-db-update',
  '--skip-version-check',
  '--disable-telemetry',
  '--no-progress',
  '--download-db-only',
  '--download-java-db-only',
  '--java-db-repository',
  '--skip-java-db-update',
  '--skip-check-update',
  '--checks-bundle-repository',
  '--image-config-scanners',
  '--vex',
  '--ignore-unfixed',
]);

function fatal(message, code = 1) {
  process.stderr.write(`${new Date().toISOString()}\tFATAL\tFatal error\t${message}\n`);
  process.exit(code);
}

/** `refused`: flags this subcommand does not have, which fail as unknown ones do. */
function parseArgs(argv, refused) {
  const flags = new Map();
  const slices = new Map();
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
    if (refused.has(name)) {
      process.stderr.write(`Error: unknown flag: ${name}\n`);
      process.exit(1);
    }
    if (SLICE_FLAGS.has(name)) {
      const value = inline ?? argv[++i];
      if (value === undefined) fatal(`flag needs an argument: ${name}`);
      slices.set(name, [...(slices.get(name) ?? []), ...value.split(',')]);
    } else if (VALUE_FLAGS.has(name)) {
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
  return { flags, slices, positional };
}

/** Trivy's check of a flag's values (pkg/flag/options.go Parse/allowedValue). */
function checkAllowed(name, allowed) {
  if (!flags.has(name)) return;
  const values = flags.get(name).split(',');
  if (values.some((value) => !allowed.includes(value)))
    fatal(
      `flag error: invalid argument "[${values.join(' ')}]" for "${name}" flag: must be one of [${allowed.map((v) => `"${v}"`).join(' ')}]`,
    );
}

const DEFAULT_REPOSITORY = {
  vulnerability: 'mirror.gcr.io/aquasec/trivy-db:2',
  java: 'mirror.gcr.io/aquasec/trivy-java-db:1',
  checks: 'mirror.gcr.io/aquasec/trivy-checks:2',
};

/** Downloads one database into the cache dir from the first repository, as Trivy does. */
async function downloadDatabase(database, cacheDir, repositoryFlag) {
  // Like Trivy, more than one repository is only tried on 429/5xx; a network error ends the run.
  const [repository] = (flags.get(repositoryFlag) ?? DEFAULT_REPOSITORY[database]).split(',');
  const { folder, mediaType } = DATABASES[database];
  const target = join(cacheDir, folder);
  const host = repository.split('/')[0];
  if (/^(127\.0\.0\.1|localhost)(:\d+)?$/.test(host)) await pullArtifact(repository, mediaType, target);
  else simulateDownload(database, repository, target);
  if (database === 'checks')
    writeFileSync(
      join(cacheDir, 'policy', 'metadata.json'),
      JSON.stringify({ Digest: 'sha256:stand-in', DownloadedAt: new Date().toISOString(), MajorVersion: 2 }),
    );
}

function simulateDownload(database, repository, target) {
  const failing = (process.env.TRIVY_STANDIN_FAIL_REPOS ?? '').split(',').filter(Boolean);
  if (failing.includes(repository))
    throw new Error(
      `failed to download artifact from ${repository}: dial tcp: lookup ${repository.split('/')[0]}: no such host`,
    );
  mkdirSync(target, { recursive: true });
  const now = new Date();
  const metadata = {
    Version: database === 'java' ? 1 : 2,
    NextUpdate: new Date(now.getTime() + 86_400_000).toISOString(),
    UpdatedAt: now.toISOString(),
    DownloadedAt: now.toISOString(),
  };
  const files = {
    vulnerability: {
      'trivy.db': `stand-in vulnerability DB from ${repository}\n`,
      'metadata.json': JSON.stringify(metadata),
    },
    java: {
      'trivy-java.db': `stand-in Java DB from ${repository}\n`,
      'metadata.json': JSON.stringify(metadata),
    },
    checks: { 'dockerfile.rego': `# stand-in checks from ${repository}\n` },
  }[database];
  for (const [name, content] of Object.entries(files)) writeFileSync(join(target, name), content);
}

/** The DOCKER_CONFIG credential for a host, as go-containerregistry's default keychain reads it. */
function keychainAuthorization(host) {
  const dir = process.env.DOCKER_CONFIG ?? join(process.env.HOME ?? '/root', '.docker');
  const path = join(dir, 'config.json');
  if (!existsSync(path)) return undefined;
  const auth = JSON.parse(readFileSync(path, 'utf8')).auths?.[host]?.auth;
  return auth ? `Basic ${auth}` : undefined;
}

/** GET over HTTP, answering a Basic challenge from the keychain (loopback is plain HTTP in ggcr). */
async function registryGet(url, host, accept) {
  const headers = accept ? { Accept: accept } : {};
  let response = await fetch(url, { headers });
  if (response.status === 401 && /^Basic/i.test(response.headers.get('www-authenticate') ?? '')) {
    const authorization = keychainAuthorization(host);
    if (authorization) response = await fetch(url, { headers: { ...headers, Authorization: authorization } });
  }
  if (!response.ok)
    throw new Error(
      `GET ${url}: unexpected status code ${response.status}: ${(await response.text()).trim()}`,
    );
  return response;
}

/** Pulls a single-layer OCI artifact and unpacks its tar.gz layer into `target`. */
async function pullArtifact(repository, mediaType, target) {
  const host = repository.split('/')[0];
  const [path, tag] = repository.slice(host.length + 1).split(':');
  const base = `http://${host}/v2/${path}`;
  const manifest = await (
    await registryGet(
      `${base}/manifests/${tag ?? 'latest'}`,
      host,
      'application/vnd.oci.image.manifest.v1+json',
    )
  ).json();
  if (manifest.layers?.length !== 1) throw new Error('OCI artifact must be a single layer');
  const [layer] = manifest.layers;
  if (layer.mediaType !== mediaType) throw new Error(`unacceptable media type: ${layer.mediaType}`);
  const blob = Buffer.from(await (await registryGet(`${base}/blobs/${layer.digest}`, host)).arrayBuffer());
  mkdirSync(target, { recursive: true });
  for (const [name, content] of tarEntries(gunzipSync(blob)))
    if (!name.endsWith('/')) {
      mkdirSync(dirname(join(target, name)), { recursive: true });
      writeFileSync(join(target, name), content);
    }
}

async function downloadOnly(cacheDir) {
  const [database, repositoryFlag] = flags.has('--download-db-only')
    ? ['vulnerability', '--db-repository']
    : ['java', '--java-db-repository'];
  try {
    await downloadDatabase(database, cacheDir, repositoryFlag);
  } catch (error) {
    const what =
      database === 'java'
        ? 'Java DB error: OCI artifact error: failed to download Java DB'
        : 'DB error: failed to download vulnerability DB';
    fatal(`run error: init error: ${what}: ${error.message}`);
  }
}

/** Fails as Trivy would (or as a scan that needs the network here would) before scanning. */
function checkDatabasesForScan(input, cacheDir, scanners) {
  const has = (...parts) => existsSync(join(cacheDir, ...parts));
  const wouldDownload = (what) =>
    fatal(
      `stand-in: this scan would download the ${what} itself (no network here): prepare it and pass the skip flag`,
    );
  if (scanners.includes('vuln')) {
    if (!flags.has('--skip-db-update')) wouldDownload('vulnerability DB');
    if (!has('db', 'metadata.json') || !has('db', 'trivy.db'))
      fatal('init error: DB error: --skip-db-update cannot be specified on the first run');
    if (layerNames(input).some((name) => JAVA_ARCHIVE.test(name))) {
      if (!flags.has('--skip-java-db-update')) wouldDownload('Java DB');
      if (!has('java-db', 'metadata.json'))
        fatal(
          "scan error: image scan failed: analyze error: post analysis error: Unable to initialize the Java DB: Java DB update failed: '--skip-java-db-update' cannot be specified on the first run",
        );
    }
  }
  if (scanners.includes('misconfig')) {
    if (!flags.has('--skip-check-update')) wouldDownload('checks bundle');
    if (!has('policy', 'content'))
      process.stderr.write(
        `${new Date().toISOString()}\tERROR\t[misconfig] Falling back to embedded checks\terr="failed to check cache: ${join(cacheDir, 'policy', 'content')}: no such file or directory"\n`,
      );
  }
}

/**
 * `trivy config <path>`: the checks bundle first (downloaded unless --skip-check-update, as
 * Trivy does), then the scan: a Dockerfile gets the Dockerfile checks (configScan), anything
 * else an empty report.
 */
async function config() {
  const cacheDir = flags.get('--cache-dir') ?? join(process.env.HOME ?? '/root', '.cache', 'trivy');
  const [target] = positional;
  if (!target) fatal('stand-in: trivy config needs a path');
  if (!existsSync(target)) fatal(`scan error: ${target}: no such file or directory`);
  if (!flags.has('--skip-check-update'))
    await downloadDatabase('checks', cacheDir, '--checks-bundle-repository').catch((error) =>
      process.stderr.write(
        `${new Date().toISOString()}\tERROR\t[misconfig] Falling back to embedded checks\terr="failed to download checks bundle: download error: ${error.message}"\n`,
      ),
    );
  configScan(target);
}

async function image() {
  const cacheDir = flags.get('--cache-dir') ?? join(process.env.HOME ?? '/root', '.cache', 'trivy');
  if (flags.has('--download-db-only') || flags.has('--download-java-db-only')) {
    await downloadOnly(cacheDir);
    return;
  }
  checkAllowed('--scanners', ['vuln', 'misconfig', 'secret', 'license']);
  checkAllowed('--image-config-scanners', ['misconfig', 'secret']);
  const input = flags.get('--input');
  if (!input) fatal('image name or --input is required');
  if (!isDockerArchive(input))
    fatal(`unable to open ${input} as a docker-archive: no manifest.json (or not readable)`);
  checkDatabasesForScan(input, cacheDir, (flags.get('--scanners') ?? 'vuln,secret').split(','));
  const format = flags.get('--format') ?? 'table';
  if (format !== 'json') fatal(`stand-in: only --format json is implemented for image (got ${format})`);

  const config = existsSync('trivy.yaml') ? (parseYaml(readFileSync('trivy.yaml', 'utf8')) ?? {}) : {};
  const choice =
    process.env.TRIVY_STANDIN_REPORT ??
    reportKnownToDb(cacheDir) ??
    reportNamedInImage(input) ??
    'alpine-310.json';
  const text =
    choice === 'garbage'
      ? '{"SchemaVersion": 2, "Results": [ truncated'
      : JSON.stringify(scannedReport(choice, input, config), null, 2);
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

/** Trivy's github-pat rule; "WithoutWordPrefix": no letter or digit right before it. */
const GITHUB_PAT = /(?<![0-9a-zA-Z])ghp_[0-9a-zA-Z]{36}/g;

/**
 * The config as Go's json.MarshalIndent(config, "  ", "") writes it: one field or element a
 * line, each line prefixed by two spaces, no further indentation.
 */
function goIndentedLines(value) {
  // JSON escapes a tab inside a string, so leading tabs can only be the indentation.
  return JSON.stringify(value, null, '\t')
    .split('\n')
    .map((line) => line.replace(/^\t+/, ''))
    .map((line, index) => (index === 0 ? line : `  ${line}`));
}

function imageConfigSecrets(config, severities) {
  if (!config || !severities.includes('CRITICAL')) return [];
  const lines = goIndentedLines(config);
  const findings = [];
  for (const [index, line] of lines.entries()) {
    if (!GITHUB_PAT.test(line)) continue;
    const masked = line.replace(GITHUB_PAT, (secret) => '*'.repeat(secret.length));
    const number = index + 1;
    findings.push({
      RuleID: 'github-pat',
      Category: 'GitHub',
      Severity: 'CRITICAL',
      Title: 'GitHub Personal Access Token',
      StartLine: number,
      EndLine: number,
      Code: {
        Lines: [
          {
            Number: number,
            Content: masked,
            IsCause: true,
            Highlighted: masked,
            FirstCause: true,
            LastCause: true,
          },
        ],
      },
      Match: masked,
    });
  }
  return findings;
}

/** Applies each --vex document as pkg/vex does for the paths the stand-in implements. */
function applyVex(report) {
  const documents = (slices.get('--vex') ?? []).map((path) => ({
    path,
    statements: openVexStatements(path),
  }));
  if (documents.length === 0) return;
  for (const result of report.Results ?? []) {
    if (!result.Vulnerabilities?.length) continue;
    result.Vulnerabilities = result.Vulnerabilities.filter((vulnerability) => {
      const modified = vexStatus(documents, vulnerability);
      if (!modified) return true;
      if (flags.has('--show-suppressed'))
        (result.ExperimentalModifiedFindings ??= []).push({
          Type: 'vulnerability',
          ...modified,
          Finding: vulnerability,
        });
      return false;
    });
  }
}

function openVexStatements(path) {
  let document;
  try {
    document = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    fatal(
      `VEX error: unable to load VEX: unable to load VEX from file: unable to decode VEX: ${error.message}`,
    );
  }
  if (document.bomFormat === 'CycloneDX')
    fatal(
      'VEX error: unable to load VEX: unable to load VEX from file: CycloneDX VEX can be used with CycloneDX SBOM',
    );
  if (!document['@context']) fatal(`stand-in: ${path} is not OpenVEX; CSAF is not implemented here`);
  return document.statements ?? [];
}

/** The first document whose last matching statement says not_affected or fixed. */
function vexStatus(documents, vulnerability) {
  const purl = vulnerability.PkgIdentifier?.PURL;
  for (const { path, statements } of documents) {
    const matching = statements.filter(
      (statement) =>
        (statement.vulnerability?.name === vulnerability.VulnerabilityID ||
          (statement.vulnerability?.aliases ?? []).includes(vulnerability.VulnerabilityID)) &&
        (statement.products ?? []).some(
          (product) => product['@id'] === purl && !product.subcomponents?.length,
        ),
    );
    const last = matching.at(-1);
    if (last && (last.status === 'not_affected' || last.status === 'fixed'))
      return { Status: last.status, Statement: last.justification ?? '', Source: path };
  }
  return undefined;
}

/** The fixture's report as Trivy would write it for this scan's flags. */
function scannedReport(choice, input, config) {
  const report = JSON.parse(readFileSync(choice.startsWith('/') ? choice : join(FIXTURES, choice), 'utf8'));
  report.ArtifactName = input;
  report.Trivy = { ...report.Trivy, Version: VERSION };
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
      result.Misconfigurations = scanners.includes('misconfig') ? keep(result.Misconfigurations) : undefined;
    if (result.Licenses) result.Licenses = scanners.includes('license') ? keep(result.Licenses) : undefined;
    if (flags.has('--list-all-pkgs') && (result.Class === 'os-pkgs' || result.Class === 'lang-pkgs'))
      result.Packages = packagesOf(result);
    else delete result.Packages;
  }
  report.Results = (report.Results ?? []).filter(
    (result) => !(result.Class === 'license' && result.Licenses === undefined),
  );
  const configSecrets = (flags.get('--image-config-scanners') ?? '').split(',').includes('secret')
    ? imageConfigSecrets(report.Metadata?.ImageConfig, severities)
    : [];
  if (configSecrets.length > 0)
    report.Results.push({ Target: input, Class: 'secret', Secrets: configSecrets });
  applyVex(report);
  return report;
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
  const path = join(cacheDir, DATABASES.vulnerability.folder, 'trivy.db');
  if (!existsSync(path)) return undefined;
  const db = readFileSync(path, 'utf8').trim();
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
  // A `trivy-standin-report-<architecture>` file wins for an image of that architecture, so that
  // one context can make the platforms of a multi-platform build find different things.
  const architecture = imageConfigOf(input)?.architecture;
  for (const name of [`trivy-standin-report-${architecture}`, 'trivy-standin-report'])
    for (const files of layerFiles(input).reverse()) {
      const named = files.get(name);
      if (named) return named.toString('utf8').trim();
    }
  return undefined;
}

/** The image config of a docker-archive tarball, parsed. */
function imageConfigOf(input) {
  const archive = tarEntries(readFileSync(input));
  const [image] = JSON.parse(archive.get('manifest.json')?.toString('utf8') ?? '[]');
  const config = image?.Config && archive.get(image.Config);
  return config ? JSON.parse(config.toString('utf8')) : undefined;
}

/** Each layer's files (name → content), oldest layer first. */
function layerFiles(input) {
  const archive = tarEntries(readFileSync(input));
  const [image] = JSON.parse(archive.get('manifest.json')?.toString('utf8') ?? '[]');
  return (image?.Layers ?? [])
    .map((layer) => archive.get(layer))
    .filter(Boolean)
    .map((content) => tarEntries(content[0] === 0x1f && content[1] === 0x8b ? gunzipSync(content) : content));
}

function layerNames(input) {
  return layerFiles(input).flatMap((files) => [...files.keys()]);
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

/**
 * `trivy config` on a Dockerfile: instructions as Trivy's Dockerfile parser sees them (keyword,
 * arguments, first and last line), continuation lines joined.
 */
function dockerfileInstructions(text) {
  const lines = text.split('\n');
  const instructions = [];
  for (let index = 0; index < lines.length; index++) {
    const start = index;
    let joined = lines[index];
    while (/\\\s*$/.test(joined) && index + 1 < lines.length)
      joined = joined.replace(/\\\s*$/, ' ') + lines[++index];
    const match = /^\s*([A-Za-z]+)\s+(.*)$/.exec(joined);
    if (match && !joined.trim().startsWith('#'))
      instructions.push({
        keyword: match[1].toUpperCase(),
        args: match[2].trim().split(/\s+/),
        start: start + 1,
        end: index + 1,
      });
  }
  return instructions;
}

const DS_0002 = {
  ID: 'DS-0002',
  Title: "Image user should not be 'root'",
  Description:
    "Running containers with 'root' user can lead to a container escape situation. It is a best practice to run containers as non-root users, which can be done by adding a 'USER' statement to the Dockerfile.",
  Namespace: 'builtin.dockerfile.DS002',
  Query: 'data.builtin.dockerfile.DS002.deny',
  Resolution: "Add 'USER <non root user name>' line to the Dockerfile",
  Severity: 'HIGH',
  PrimaryURL: 'https://avd.aquasec.com/misconfig/ds-0002',
  References: [
    'https://docs.docker.com/develop/develop-images/dockerfile_best-practices/',
    'https://avd.aquasec.com/misconfig/ds-0002',
  ],
};
const DS_0005 = {
  ID: 'DS-0005',
  Title: 'ADD instead of COPY',
  Description:
    'You should use COPY instead of ADD unless you want to extract a tar file. Note that an ADD command will extract a tar file, which adds the risk of Zip-based vulnerabilities. Accordingly, it is advised to use a COPY command, which does not extract tar files.',
  Namespace: 'builtin.dockerfile.DS005',
  Query: 'data.builtin.dockerfile.DS005.deny',
  Resolution: 'Use COPY instead of ADD',
  Severity: 'LOW',
  PrimaryURL: 'https://avd.aquasec.com/misconfig/ds-0005',
  References: [
    'https://docs.docker.com/engine/reference/builder/#add',
    'https://avd.aquasec.com/misconfig/ds-0005',
  ],
};

function misconfiguration(check, message, instruction) {
  return {
    Type: 'Dockerfile Security Check',
    ...check,
    Message: message,
    Status: 'FAIL',
    CauseMetadata: {
      Provider: 'Dockerfile',
      Service: 'general',
      ...(instruction ? { StartLine: instruction.start, EndLine: instruction.end } : {}),
    },
  };
}

/** root_user.rego: no USER at all, or a last USER of root or 0; add_instead_of_copy.rego. */
function dockerfileChecks(text) {
  const instructions = dockerfileInstructions(text);
  const users = instructions.filter((i) => i.keyword === 'USER');
  const failures = [];
  if (users.length === 0)
    failures.push(
      misconfiguration(
        DS_0002,
        'Specify at least 1 USER command in Dockerfile with non-root user as argument',
      ),
    );
  else if (/^(?:root|0)(?::.+)?$/.test(users.at(-1).args[0]))
    failures.push(
      misconfiguration(DS_0002, "Last USER command in Dockerfile should not be 'root'", users.at(-1)),
    );
  for (const add of instructions.filter((i) => i.keyword === 'ADD')) {
    const args = add.args.join(' ');
    if (['.tar', 'http://', 'https://', 'git@'].some((s) => args.includes(s))) continue;
    failures.push(
      misconfiguration(DS_0005, `Consider using 'COPY ${args}' command instead of 'ADD ${args}'`, add),
    );
  }
  return failures;
}

function configScan(target) {
  const name = target.split('/').at(-1);
  const failures =
    /^Dockerfile$|\.Dockerfile$|^Dockerfile\./i.test(name) && statSync(target).isFile()
      ? dockerfileChecks(readFileSync(target, 'utf8'))
      : [];
  const report = {
    SchemaVersion: 2,
    Trivy: { Version: 'dev' },
    ArtifactName: target,
    ArtifactType: 'filesystem',
    Results: failures.length
      ? [
          {
            Target: name,
            Class: 'config',
            Type: 'dockerfile',
            MisconfSummary: {
              Successes: 2 - new Set(failures.map((f) => f.ID)).size,
              Failures: failures.length,
            },
            Misconfigurations: failures,
          },
        ]
      : [],
  };
  // Only the JSON format is implemented; any other writes nothing (the action asks for JSON).
  const text = (flags.get('--format') ?? 'table') === 'json' ? JSON.stringify(report, null, 2) : '';
  const output = flags.get('--output');
  if (output) writeFileSync(output, text);
  else process.stdout.write(text);
}

function convert() {
  const format = flags.get('--format');
  if (positional.length === 0) fatal('Require at least 1 argument');
  if (positional.length > 1) fatal('multiple targets cannot be specified');
  const [source] = positional;
  let report;
  try {
    report = JSON.parse(readFileSync(source, 'utf8'));
  } catch (error) {
    fatal(`failed to read ${source}: ${error.message}`);
  }
  if (!report.ArtifactName && !report.ArtifactType)
    fatal('AWS and Kubernetes scanning reports are not yet supported');
  const builders = {
    sarif: toSarif,
    cyclonedx: toCycloneDx,
    'spdx-json': toSpdx,
    'cosign-vuln': toCosignVuln,
  };
  if (!builders[format]) fatal(`stand-in: convert --format ${format} is not implemented`);
  const text = JSON.stringify(builders[format](report), null, 2);
  const output = flags.get('--output');
  if (output) writeFileSync(output, text);
  else process.stdout.write(text);
}

const LEVEL = { CRITICAL: 'error', HIGH: 'error', MEDIUM: 'warning', LOW: 'note', UNKNOWN: 'note' };
const DEFAULT_SCORE = { CRITICAL: '9.5', HIGH: '8.0', MEDIUM: '5.5', LOW: '2.0', UNKNOWN: '0.0' };

/** One SARIF result and its rule, as pkg/report/sarif.go addSarifResult builds them. */
function sarifEntry({
  id,
  name,
  short,
  full,
  severity,
  score,
  helpUri,
  help,
  tag,
  message,
  uri,
  line,
  where,
}) {
  return {
    rule: {
      id,
      name,
      shortDescription: { text: short },
      fullDescription: { text: full },
      defaultConfiguration: { level: LEVEL[severity] },
      ...(helpUri ? { helpUri } : {}),
      help: { text: help, markdown: '' },
      properties: {
        precision: 'very-high',
        'security-severity': score ?? DEFAULT_SCORE[severity],
        tags: [tag, 'security', severity],
      },
    },
    result: {
      ruleId: id,
      level: LEVEL[severity],
      message: { text: message },
      locations: [
        {
          physicalLocation: {
            artifactLocation: { uri, uriBaseId: 'ROOTPATH' },
            region: { startLine: line ?? 1, startColumn: 1, endLine: line ?? 1, endColumn: 1 },
          },
          message: { text: where },
        },
      ],
    },
  };
}

function vulnerabilityEntry(report, result, v) {
  const score = v.CVSS?.[v.SeveritySource]?.V3Score;
  // ToPathUri: an OS package's location is the scanned artifact, for --input the tarball's path.
  const uri = result.Class === 'os-pkgs' ? report.ArtifactName : (v.PkgPath ?? result.Target);
  return sarifEntry({
    id: v.VulnerabilityID,
    name: result.Class === 'os-pkgs' ? 'OsPackageVulnerability' : 'LanguageSpecificPackageVulnerability',
    short: v.Title ?? v.VulnerabilityID,
    full: v.Description ?? '',
    severity: v.Severity,
    score: score === undefined ? undefined : String(score),
    helpUri: v.PrimaryURL,
    help: `Vulnerability ${v.VulnerabilityID}\nSeverity: ${v.Severity}\nPackage: ${v.PkgName}`,
    tag: 'vulnerability',
    message: `Package: ${v.PkgName}\nInstalled Version: ${v.InstalledVersion}\nVulnerability ${v.VulnerabilityID}\nSeverity: ${v.Severity}\nFixed Version: ${v.FixedVersion ?? ''}\nLink: [${v.VulnerabilityID}](${v.PrimaryURL})`,
    uri,
    where: `${uri}: ${v.PkgName}@${v.InstalledVersion}`,
  });
}

function secretEntry(result, s) {
  return sarifEntry({
    id: s.RuleID,
    name: 'Secret',
    short: s.Title,
    full: s.Match ?? '',
    severity: s.Severity,
    help: `Secret ${s.Title}\nSeverity: ${s.Severity}`,
    tag: 'secret',
    message: `Artifact: ${result.Target}\nType: \nSecret ${s.Title}\nSeverity: ${s.Severity}\nMatch: ${s.Match}`,
    uri: result.Target,
    line: s.StartLine,
    where: result.Target,
  });
}

function misconfigurationEntry(result, m) {
  return sarifEntry({
    id: m.ID,
    name: 'Misconfiguration',
    short: m.Title,
    full: m.Description ?? '',
    severity: m.Severity,
    helpUri: m.PrimaryURL,
    help: `Misconfiguration ${m.ID}\nType: ${m.Type}\nSeverity: ${m.Severity}`,
    tag: 'misconfiguration',
    message: `Artifact: ${result.Target}\nType: ${result.Type ?? ''}\nVulnerability ${m.ID}\nSeverity: ${m.Severity}\nMessage: ${m.Message}\nLink: [${m.ID}](${m.PrimaryURL})`,
    uri: result.Target,
    line: m.CauseMetadata?.StartLine,
    where: result.Target,
  });
}

function licenseEntry(result, l) {
  return sarifEntry({
    id: `${l.PkgName}:${l.Name}`,
    name: 'License',
    short: `${l.Name} in ${l.PkgName}`,
    full: `${l.Name} in ${l.PkgName}`,
    severity: l.Severity,
    help: `License ${l.Name}\nClassification: ${l.Category}\nPkgName: ${l.PkgName}\nPath: ${l.FilePath}`,
    tag: 'license',
    message: `Artifact: ${result.Target}\nLicense ${l.Name}\nPkgName: ${l.PkgName}\n Classification: ${l.Category}\n Path: ${l.FilePath}`,
    uri: result.Target,
    where: result.Target,
  });
}

function toSarif(report) {
  const rules = [];
  const ruleIndex = new Map();
  const results = [];
  const add = ({ rule, result }) => {
    if (!ruleIndex.has(rule.id)) {
      ruleIndex.set(rule.id, rules.length);
      rules.push(rule);
    }
    results.push({ ...result, ruleIndex: ruleIndex.get(rule.id) });
  };
  for (const result of report.Results ?? []) {
    for (const v of result.Vulnerabilities ?? []) add(vulnerabilityEntry(report, result, v));
    for (const s of result.Secrets ?? []) add(secretEntry(result, s));
    for (const m of result.Misconfigurations ?? []) add(misconfigurationEntry(result, m));
    for (const l of result.Licenses ?? []) add(licenseEntry(result, l));
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

/** pkg/report/predicate/vuln.go at v0.74.0: DB left empty, both times the moment of writing. */
function toCosignVuln(report) {
  const now = new Date().toISOString();
  return {
    invocation: { parameters: null, uri: '', event_id: '', 'builder.id': '' },
    scanner: {
      uri: `pkg:github/aquasecurity/trivy@${VERSION}`,
      version: VERSION,
      db: { uri: '', version: '' },
      result: report,
    },
    metadata: { scanStartedOn: now, scanFinishedOn: now },
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
const refusedFlags = { config: NOT_FOR_CONFIG, convert: NOT_CONVERT_FLAGS }[command] ?? new Set();
const { flags, slices, positional } = parseArgs(rest, refusedFlags);
if (command === 'image') await image();
else if (command === 'config') await config();
else if (command === 'convert') convert();
else {
  process.stderr.write(`Error: unknown command "${command}" for "trivy"\n`);
  process.exit(1);
}
