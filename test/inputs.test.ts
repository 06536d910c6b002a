import { mkdirSync, rmSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { EventPayload, GitHubContext } from '../src/context.js';
import type { InputName } from '../src/inputs.js';
import { INPUT_DEFAULTS, InputError, buildConfig } from '../src/inputs.js';
import { listInput } from '../src/input-parser.js';
import { runPipeline } from '../src/main.js';
import { DEFAULT_TRIVY_DB_REPOSITORIES } from '../src/scan/scan-settings.js';
import { CRANE_DEFAULT, KANIKO_IMAGE_DEFAULT, TRIVY_DEFAULT } from '../src/tools/releases.js';
import { githubContext, makeWorkspace } from './helpers/github-context.js';

type Inputs = Partial<Record<InputName, string>>;

function configFor(
  inputs: Inputs = {},
  options: {
    workspace?: string;
    context?: Partial<GitHubContext>;
    payload?: EventPayload;
    commitTime?: Date;
  } = {},
) {
  const workspace = options.workspace ?? makeWorkspace();
  return buildConfig({
    read: (name) => inputs[name] ?? '',
    github: githubContext({ workspace, ...options.context }, options.payload),
    outputDir: join(workspace, 'out'),
    tempDir: join(workspace, 'tmp'),
    now: new Date('2026-11-24T12:00:00Z'),
    commitTime: () => options.commitTime,
  });
}

function problemsFor(inputs: Inputs, workspace?: string): readonly string[] {
  try {
    configFor(inputs, { workspace });
  } catch (error) {
    expect(error).toBeInstanceOf(InputError);
    return (error as InputError).problems;
  }
  throw new Error('expected the inputs to be refused');
}

describe('buildConfig defaults', () => {
  it('gives the documented defaults on a push to main', () => {
    const workspace = makeWorkspace();
    const config = configFor({}, { workspace });
    expect(config.publish.image).toBe('ghcr.io/octo-org/hello-app');
    expect(config.publish.registry).toBe('ghcr.io');
    expect(config.publish.tags).toEqual(['main', 'sha-0123456']);
    expect(config.publish.push).toBe(true);
    expect(config.build.context).toBe(workspace);
    expect(config.build.dockerfile).toBe(join(workspace, 'Dockerfile'));
    expect(config.policy.failOn).toEqual(['HIGH', 'CRITICAL']);
    expect(config.policy.severity).toEqual(['UNKNOWN', 'LOW', 'MEDIUM', 'HIGH', 'CRITICAL']);
    expect(config.scan.scanners).toEqual(['vuln', 'secret']);
    expect(config.scan.sbom).toBe('cyclonedx');
    expect(config.report.sarifCategory).toBe('build-scan-push:ghcr.io/octo-org/hello-app');
    expect(config.build.cacheRepo).toBe('ghcr.io/octo-org/hello-app/cache');
    expect(config.tools.kanikoImage).toBe(KANIKO_IMAGE_DEFAULT);
    expect(config.tools.trivyVersion).toBe(TRIVY_DEFAULT.version);
    expect(config.tools.craneVersion).toBe(CRANE_DEFAULT.version);
    expect(config.tools.toolMirror).toBe('https://github.com');
    expect(config.scan.trivyDbRepositories).toEqual(DEFAULT_TRIVY_DB_REPOSITORIES);
    expect(config.policy.ignoreFile).toBe('');
    expect(config.build.labels['org.opencontainers.image.version']).toBe('main');
    expect(config.build.labels['org.opencontainers.image.created']).toBe('2026-11-24T12:00:00.000Z');
    expect(Object.isFrozen(config)).toBe(true);
  });

  it('isolates the build’s network by default and takes the loopback ports it may reach', () => {
    expect(configFor({}).build.network).toBe('isolated');
    expect(configFor({}).build.loopbackPorts).toEqual([]);
    expect(configFor({ 'build-loopback-ports': '5000\n8443, 9000' }).build.loopbackPorts).toEqual([
      5000, 8443, 9000,
    ]);
    expect(configFor({ 'build-network': 'host' }).build.network).toBe('host');
  });

  it('gives the image’s registry, and only it, the password under the actor’s name unless a user is given', () => {
    expect(configFor({}).registries.credentialFor('ghcr.io')).toBeUndefined();
    const registries = configFor({ 'registry-password': 'hunter2' }).registries;
    expect(registries.credentialFor('ghcr.io')).toEqual({
      registry: 'ghcr.io',
      username: 'octocat',
      password: 'hunter2',
    });
    expect(registries.credentialFor('docker.io')).toBeUndefined();
    const named = configFor({ 'registry-password': 'hunter2', 'registry-username': 'bot' }).registries;
    expect(named.credentialFor('ghcr.io')?.username).toBe('bot');
  });

  it('does not push on pull requests with push: auto, but does with push: true', () => {
    const pr = { context: { eventName: 'pull_request', ref: 'refs/pull/3/merge' } };
    expect(configFor({}, pr).publish.push).toBe(false);
    expect(configFor({ push: 'true' }, pr).publish.push).toBe(true);
    expect(configFor({ push: 'false' }).publish.push).toBe(false);
  });

  it('takes the user tags instead of computed ones, deduplicated', () => {
    expect(configFor({ tags: 'stable\nv2, stable' }).publish.tags).toEqual(['stable', 'v2']);
  });

  it('parses build args, labels and lists', () => {
    const config = configFor({
      'build-args': 'A=1\nB=x=y z\n',
      labels: 'team=platform\norg.opencontainers.image.title=custom',
      'insecure-registries': 'localhost:5000\n127.0.0.1:5001',
      'kaniko-args': '--cleanup\n--log-format=json',
      'fail-on': 'critical',
    });
    expect(config.build.buildArgs).toEqual(['A=1', 'B=x=y z']);
    expect(config.build.labels.team).toBe('platform');
    expect(config.build.labels['org.opencontainers.image.title']).toBe('custom');
    expect(config.registries.insecureHosts).toEqual(['localhost:5000', '127.0.0.1:5001']);
    expect(config.build.kanikoArgs).toEqual(['--cleanup', '--log-format=json']);
    expect(config.policy.failOn).toEqual(['CRITICAL']);
  });

  it('accepts fail-on none: only secrets block', () => {
    expect(configFor({ 'fail-on': 'none' }).policy.failOn).toEqual([]);
  });

  it('finds an ignore file at the workspace root, preferring the YAML form', () => {
    const workspace = makeWorkspace({
      '.trivyignore': 'CVE-1\n',
      '.trivyignore.yaml': 'vulnerabilities: []\n',
    });
    expect(configFor({}, { workspace }).policy.ignoreFile).toBe(join(workspace, '.trivyignore.yaml'));
  });

  it('uses the commit time as created when reproducible', () => {
    const config = configFor({ reproducible: 'true' }, { commitTime: new Date('2026-11-20T08:00:00Z') });
    expect(config.build.labels['org.opencontainers.image.created']).toBe('2026-11-20T08:00:00.000Z');
  });

  it('asks for the commit time only for a reproducible build with valid inputs', () => {
    let asked = 0;
    const ask = () => {
      asked += 1;
      return new Date('2026-11-20T08:00:00Z');
    };
    const build = (inputs: Inputs) => {
      const workspace = makeWorkspace();
      return buildConfig({
        read: (name) => inputs[name] ?? '',
        github: githubContext({ workspace }),
        outputDir: join(workspace, 'out'),
        tempDir: join(workspace, 'tmp'),
        now: new Date('2026-11-24T12:00:00Z'),
        commitTime: ask,
      });
    };
    build({});
    expect(() => build({ reproducible: 'true', push: 'maybe' })).toThrow(InputError);
    expect(asked).toBe(0);
    build({ reproducible: 'true' });
    expect(asked).toBe(1);
  });

  it('normalises versions with a leading v', () => {
    expect(configFor({ 'trivy-version': 'v0.75.0', 'crane-version': 'v0.22.1' }).tools).toMatchObject({
      trivyVersion: '0.75.0',
      craneVersion: '0.22.1',
    });
  });

  it('accepts semver pre-releases, normalising a leading v away', () => {
    expect(
      configFor({ 'trivy-version': '0.75.0-rc.1', 'crane-version': 'v0.22.0-beta.2' }).tools,
    ).toMatchObject({
      trivyVersion: '0.75.0-rc.1',
      craneVersion: '0.22.0-beta.2',
    });
  });

  it('accepts Trivy pre-releases outside the compromised versions', () => {
    for (const version of ['0.69.3-rc.1', '0.69.7-rc.1', '0.75.0-alpha-2.x'])
      expect(configFor({ 'trivy-version': version }).tools.trivyVersion).toBe(version);
  });

  it('resolves a Dockerfile given relative to the workspace', () => {
    const workspace = makeWorkspace({ 'app/Dockerfile.prod': 'FROM scratch\n' });
    const config = configFor({ context: 'app', file: 'app/Dockerfile.prod' }, { workspace });
    expect(config.build.context).toBe(join(workspace, 'app'));
    expect(config.build.dockerfile).toBe(join(workspace, 'app', 'Dockerfile.prod'));
  });
});

describe('buildConfig refuses bad inputs before any work', () => {
  const cases: Array<[string, Inputs, InputName, RegExp]> = [
    ['upper-case image', { image: 'ghcr.io/Octo/App' }, 'image', /path component "Octo"/],
    ['image with a tag', { image: 'ghcr.io/octo/app:1.0' }, 'image', /tag or digest/],
    ['image with a digest', { image: `ghcr.io/octo/app@sha256:${'a'.repeat(64)}` }, 'image', /tag or digest/],
    ['image without registry', { image: 'octo/app' }, 'image', /registry host/],
    ['image with bad characters', { image: 'ghcr.io/octo/app$(id)' }, 'image', /not allowed/],
    ['image with double dash at the end', { image: 'ghcr.io/octo/app-' }, 'image', /not allowed/],
    ['unknown severity', { severity: 'HIGH,SEVERE' }, 'severity', /unknown severity/],
    ['unknown fail-on severity', { 'fail-on': 'BAD' }, 'fail-on', /unknown severity/],
    ['fail-on outside severity', { severity: 'CRITICAL', 'fail-on': 'HIGH' }, 'fail-on', /does not report/],
    ['bad boolean', { 'ignore-unfixed': 'yes' }, 'ignore-unfixed', /true or false/],
    ['bad upload-sarif', { 'upload-sarif': '1' }, 'upload-sarif', /true or false/],
    ['bad cache', { cache: 'on' }, 'cache', /true or false/],
    ['bad reproducible', { reproducible: 'TRUE!' }, 'reproducible', /true or false/],
    ['bad push', { push: 'maybe' }, 'push', /auto, true, false/],
    ['build arg without =', { 'build-args': 'VERSION' }, 'build-args', /NAME=value/],
    ['build arg with a bad name', { 'build-args': '1X=2' }, 'build-args', /NAME=value/],
    ['label without =', { labels: 'team' }, 'labels', /key=value/],
    ['missing context', { context: 'nowhere' }, 'context', /does not exist/],
    ['context outside the workspace', { context: '..' }, 'context', /outside the workspace/],
    ['missing Dockerfile', { file: 'Dockerfile.missing' }, 'file', /does not exist/],
    ['Dockerfile outside the workspace', { file: '/etc/hostname' }, 'file', /outside the workspace/],
    ['tool-mirror not http', { 'tool-mirror': 'ftp://mirror.example.com' }, 'tool-mirror', /http\(s\) URL/],
    ['tool-mirror not a URL', { 'tool-mirror': 'mirror.example.com' }, 'tool-mirror', /http\(s\) URL/],
    ['malformed trivy version', { 'trivy-version': 'latest' }, 'trivy-version', /x\.y\.z/],
    ['malformed crane version', { 'crane-version': '0.21' }, 'crane-version', /x\.y\.z/],
    ['refused trivy version 0.69.4', { 'trivy-version': '0.69.4' }, 'trivy-version', /malicious release/],
    ['deleted trivy release', { 'trivy-version': 'v0.50.0' }, 'trivy-version', /deleted/],
    ['trivy version with a path', { 'trivy-version': '../0.75.0' }, 'trivy-version', /x\.y\.z/],
    ['trivy pre-release with a path', { 'trivy-version': '0.75.0-rc.1/../x' }, 'trivy-version', /x\.y\.z/],
    ['crane version with a space', { 'crane-version': '0.22. 1' }, 'crane-version', /x\.y\.z/],
    ['crane version "latest"', { 'crane-version': 'latest' }, 'crane-version', /x\.y\.z/],
    ['pre-release with an empty identifier', { 'trivy-version': '0.75.0-rc..1' }, 'trivy-version', /x\.y\.z/],
    [
      'pre-release number with a leading zero',
      { 'trivy-version': '0.75.0-rc.01' },
      'trivy-version',
      /x\.y\.z/,
    ],
    ['build metadata', { 'trivy-version': '0.75.0+build.1' }, 'trivy-version', /tool cache would file it/],
    [
      'pre-release of the malicious 0.69.4',
      { 'trivy-version': 'v0.69.4-rc.1' },
      'trivy-version',
      /malicious release.*0\.69\.4-rc\.1 is a pre-release of v0\.69\.4/,
    ],
    [
      'pre-release of the malicious 0.69.6 images',
      { 'trivy-version': '0.69.6-beta' },
      'trivy-version',
      /malicious images.*pre-release of v0\.69\.6/,
    ],
    ['pre-release before 0.69.2', { 'trivy-version': '0.69.2-rc.1' }, 'trivy-version', /deleted/],
    ['unknown scanner', { scanners: 'vuln,virus' }, 'scanners', /unknown scanner/],
    ['unknown sbom format', { sbom: 'spdx' }, 'sbom', /cyclonedx, spdx-json, none/],
    ['tag with image name', { tags: 'ghcr.io/octo/app:1' }, 'tags', /bare tag/],
    ['invalid tag', { tags: '-bad' }, 'tags', /not a valid tag/],
    [
      'kaniko image without tag or digest',
      { 'kaniko-image': 'ghcr.io/osscontainertools/kaniko' },
      'kaniko-image',
      /tag or a digest/,
    ],
    [
      'kaniko image with a short digest',
      { 'kaniko-image': 'ghcr.io/x/kaniko@sha256:abc' },
      'kaniko-image',
      /sha256:<64 hex>/,
    ],
    [
      'insecure registry with a scheme',
      { 'insecure-registries': 'http://localhost:5000' },
      'insecure-registries',
      /host\[:port\]/,
    ],
    [
      'bad DB repository',
      { 'trivy-db-repositories': 'Mirror/Trivy-DB:2' },
      'trivy-db-repositories',
      /registry host|not allowed/,
    ],
    [
      'bad Java DB repository',
      { 'trivy-java-db-repositories': 'https://ghcr.io/x/java-db:1' },
      'trivy-java-db-repositories',
      /./,
    ],
    [
      'bad checks repository',
      { 'trivy-checks-repositories': 'Mirror/Checks:2' },
      'trivy-checks-repositories',
      /registry host|not allowed/,
    ],
    [
      'kaniko-args owning a flag',
      { 'kaniko-args': '--destination=evil.io/x' },
      'kaniko-args',
      /sets --destination, which the action owns: use the `image` and `tags` inputs/,
    ],
    ['kaniko-args not a flag', { 'kaniko-args': 'rm -rf /' }, 'kaniko-args', /not a flag/],
    ['bad target', { target: 'build stage' }, 'target', /stage name/],
    ['unknown build network', { 'build-network': 'none' }, 'build-network', /isolated, host/],
    [
      'loopback port not a port',
      { 'build-loopback-ports': '5000,70000' },
      'build-loopback-ports',
      /not a TCP port/,
    ],
    [
      'loopback ports with the host network',
      { 'build-network': 'host', 'build-loopback-ports': '5000' },
      'build-loopback-ports',
      /no effect with `build-network: host`/,
    ],
    ['bad cache-repo', { 'cache-repo': 'ghcr.io/Octo/cache' }, 'cache-repo', /path component/],
  ];

  it.each(cases)('%s', (_title, inputs, name, message) => {
    const problems = problemsFor(inputs);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toContain(`\`${name}\``);
    expect(problems[0]).toMatch(message);
    const value = inputs[name]!.split(/[\n,]/)[0]!;
    expect(problems[0]).toContain(JSON.stringify(value).slice(1, -1));
  });

  it.each([
    ['-f/workspace/evil.Dockerfile', '--dockerfile', '`file` input'],
    ['-f /workspace/evil.Dockerfile', '--dockerfile', '`file` input'],
    ['-f=/workspace/evil.Dockerfile', '--dockerfile', '`file` input'],
    ['--dockerfile', '--dockerfile', '`file` input'],
    ['-c/tmp', '--context', '`context` input'],
    ['--context-sub-path=sub', '--context-sub-path', '`context` input'],
    ['-bbucket', '--bucket', '`context` input'],
    ['-devil.io/x:1', '--destination', '`image` and `tags` inputs'],
    ['-dockerfile=evil', '--destination', '`image` and `tags` inputs'],
    ['-hf/workspace/evil.Dockerfile', '--dockerfile', '`file` input'],
    ['--kaniko-dir=/output', '--kaniko-dir', 'no input'],
    ['--ignore-path=/workspace', '--ignore-path', 'no input'],
    ['--ignore-var-run=false', '--ignore-var-run', 'no input'],
    ['--whitelist-var-run=false', '--whitelist-var-run', 'no input'],
    ['--cache-dir=/output', '--cache-dir', '`cache` and `cache-repo` inputs'],
    ['--tarPath=/output/other.tar', '--tarPath', 'no input'],
    ['--push-ignore-immutable-tag-errors', '--push-ignore-immutable-tag-errors', '`push` input'],
  ])('refuses kaniko-args %s, which sets %s', (arg, flag, instead) => {
    const problems = problemsFor({ 'kaniko-args': arg });
    expect(problems).toHaveLength(1);
    expect(problems[0]).toContain(
      `\`kaniko-args\` ${JSON.stringify(arg)} sets ${flag}, which the action owns`,
    );
    expect(problems[0]).toContain(instead);
  });

  it('lets kaniko-args set flags the action does not own, in any spelling', () => {
    const args = [
      '-vdebug',
      '-v=debug',
      '-vf',
      '--verbosity=info',
      '--insecure-pull',
      '--snapshot-mode=full',
    ];
    expect(configFor({ 'kaniko-args': args.join('\n') }).build.kanikoArgs).toEqual(args);
  });

  it('reports several bad inputs together', () => {
    const problems = problemsFor({ push: 'maybe', sbom: 'xml', 'fail-on': 'HUGE' });
    expect(problems).toHaveLength(3);
    expect(problems.join('\n')).toMatch(/`push`[\s\S]*`fail-on`[\s\S]*`sbom`/);
  });

  it('refuses a context that escapes through a symlink', () => {
    const workspace = makeWorkspace();
    symlinkSync('/etc', join(workspace, 'escape'));
    expect(problemsFor({ context: 'escape' }, workspace)[0]).toMatch(/outside the workspace/);
  });

  it('refuses a default ignore file that is a symbolic link, even a dangling one, instead of skipping it', () => {
    const outside = makeWorkspace({ credentials: 'token: ghp_SECRET\n' });
    for (const [name, target] of [
      ['.trivyignore.yaml', join(outside, 'credentials')],
      ['.trivyignore', join(outside, 'missing')],
    ] as const) {
      const workspace = makeWorkspace({ '.trivyignore': 'CVE-1\n' });
      if (name === '.trivyignore.yaml') symlinkSync(target, join(workspace, name));
      else {
        rmSync(join(workspace, name));
        symlinkSync(target, join(workspace, name));
      }
      const problems = problemsFor({}, workspace);
      expect(problems).toHaveLength(1);
      expect(problems[0]).toContain('`ignore-file`');
      expect(problems[0]).toContain(`${join(workspace, name)} is a symbolic link`);
      expect(problems[0]).not.toContain('ghp_SECRET');
    }
  });

  it('refuses an ignore-file reached through a symbolic link, even one inside the workspace', () => {
    const workspace = makeWorkspace({ 'ci/ignore.yaml': 'vulnerabilities: []\n' });
    symlinkSync(join(workspace, 'ci/ignore.yaml'), join(workspace, 'link.yaml'));
    symlinkSync(join(workspace, 'ci'), join(workspace, 'config'));
    expect(problemsFor({ 'ignore-file': 'link.yaml' }, workspace)[0]).toMatch(/`ignore-file`.*symbolic link/);
    expect(problemsFor({ 'ignore-file': 'config/ignore.yaml' }, workspace)[0]).toMatch(/symbolic link/);
    expect(configFor({ 'ignore-file': 'ci/ignore.yaml' }, { workspace }).policy.ignoreFile).toBe(
      join(workspace, 'ci/ignore.yaml'),
    );
  });

  it('reads vex as workspace files, one problem for each missing or linked one', () => {
    const workspace = makeWorkspace({ 'vex/a.json': '{}', 'vex/b.json': '{}' });
    symlinkSync(join(workspace, 'vex/a.json'), join(workspace, 'link.json'));
    const problems = problemsFor({ vex: 'vex/a.json\nmissing.json\nlink.json' }, workspace);
    expect(problems).toHaveLength(2);
    expect(problems[0]).toMatch(/`vex`.*missing\.json.*does not exist/);
    expect(problems[1]).toMatch(/`vex`.*link\.json.*symbolic link/);
    expect(configFor({ vex: 'vex/a.json\nvex/b.json' }, { workspace }).policy.vexFiles).toEqual([
      join(workspace, 'vex/a.json'),
      join(workspace, 'vex/b.json'),
    ]);
  });

  it('a vex file that does not parse stops the run before anything is installed or built', async () => {
    const workspace = makeWorkspace({ 'app.vex.json': '{"statements": []}' });
    const record = await runPipeline(configFor({ vex: 'app.vex.json' }, { workspace }));
    expect(record.failure?.stage).toBe('inputs');
    expect(record.failure?.error.message).toMatch(/app\.vex\.json is neither OpenVEX .* nor CSAF/);
    expect(record.tools).toBeUndefined();
    expect(record.platforms[0]?.build).toBeUndefined();
  });

  it('refuses a context that is a file and a file that is a directory', () => {
    const workspace = makeWorkspace();
    mkdirSync(join(workspace, 'dir'));
    expect(problemsFor({ context: 'Dockerfile' }, workspace)[0]).toMatch(/`context`.*not a directory/);
    expect(problemsFor({ file: 'dir' }, workspace)[0]).toMatch(/`file`.*not a file/);
  });

  it('never shows the registry password in a problem', () => {
    const problems = problemsFor({ 'registry-password': 'hunter2-secret', push: 'nope' });
    expect(problems.join('\n')).not.toContain('hunter2-secret');
  });

  it('needs an image when GITHUB_REPOSITORY is unset', () => {
    expect(() => configFor({}, { context: { repository: '' } })).toThrow(/`image`.*GITHUB_REPOSITORY/);
  });
});

describe('listInput', () => {
  it('splits on newlines (and commas when asked), skipping blanks and comments', () => {
    expect(listInput('a\n\n# note\n b ')).toEqual(['a', 'b']);
    expect(listInput('a, b\nc', { commas: true })).toEqual(['a', 'b', 'c']);
  });
});

describe('INPUT_DEFAULTS', () => {
  it('lists every input once', () => {
    expect(Object.keys(INPUT_DEFAULTS)).toHaveLength(40);
  });
});

describe('timeouts', () => {
  it('gives each stage its documented default, and a stage named keeps the others at theirs', () => {
    expect(configFor().timeouts).toEqual({
      install: { stage: 'install', ms: 600_000 },
      build: { stage: 'build', ms: 3_600_000 },
      scan: { stage: 'scan', ms: 1_200_000 },
      push: { stage: 'push', ms: 600_000 },
    });
    const { timeouts } = configFor({ timeouts: 'BUILD=2h\npush=90s' });
    expect(timeouts.build.ms).toBe(7_200_000);
    expect(timeouts.push.ms).toBe(90_000);
    expect(timeouts.scan.ms).toBe(1_200_000);
  });

  it('refuses every bad pair at once, with the other inputs, before anything runs', () => {
    const problems = problemsFor({
      timeouts: 'build=1 hour, deploy=5m, scan=0s, push=10m, push=20m, install=200h, scan',
      push: 'maybe',
    });
    expect(problems).toEqual([
      expect.stringContaining('`push` "maybe"'),
      '`timeouts` "build=1 hour" has no duration: use whole seconds, minutes or hours, e.g. 90s, 20m, 2h',
      '`timeouts` "deploy=5m" names no stage: use install, build, scan, push',
      '`timeouts` "scan=0s" is out of range: give more than 0 and at most 120h (5 days)',
      '`timeouts` "push=20m" names push a second time',
      '`timeouts` "install=200h" is out of range: give more than 0 and at most 120h (5 days)',
      '`timeouts` "scan=" names scan a second time',
      '`timeouts` "scan=" has no duration: use whole seconds, minutes or hours, e.g. 90s, 20m, 2h',
    ]);
  });
});
