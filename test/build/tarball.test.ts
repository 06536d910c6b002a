import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  linkSync,
  mkdirSync,
  mkdtempSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { goJsonManifest, hashImageLayers, readImageHead, readImageTarball } from '../../src/build/tarball.js';
import { writeImageTarball } from '../helpers/image-tarball.js';

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

const sha = (data: Buffer | string): string => createHash('sha256').update(data).digest('hex');
const GZIP_LAYER = Buffer.concat([Buffer.from([0x1f, 0x8b, 0x08, 0x00]), Buffer.from('not really deflate')]);
const OTHER_GZIP_LAYER = Buffer.concat([GZIP_LAYER, Buffer.from(' either')]);
// Only the magic bytes decide, as in go-containerregistry: no real zstd frame is needed.
const ZSTD_LAYER = Buffer.concat([Buffer.from([0x28, 0xb5, 0x2f, 0xfd]), Buffer.from('zstd frame')]);
const UNKNOWN_LAYER = Buffer.from('neither compressed nor a tar');

/** A real uncompressed layer tar, written by the host's tar. */
function uncompressedLayer(): Buffer {
  const dir = mkdtempSync(join(tmpdir(), 'bsp-layer-'));
  dirs.push(dir);
  writeFileSync(join(dir, 'file'), 'content\n');
  return execFileSync('tar', ['--format', 'ustar', '-C', dir, '-cf', '-', 'file']);
}

interface Archive {
  readonly config?: string;
  readonly layers?: readonly Buffer[];
  readonly manifest?: (configName: string, layerNames: string[]) => unknown;
  readonly longNames?: boolean;
}

/** Writes a docker-archive with the host's tar, so the reader is checked against another writer. */
function archive({ config, layers = [GZIP_LAYER], manifest, longNames = false }: Archive = {}): string {
  const dir = mkdtempSync(join(tmpdir(), 'bsp-tarball-'));
  dirs.push(dir);
  const files = join(dir, 'files');
  mkdirSync(files);
  const configText =
    config ??
    JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      rootfs: { type: 'layers', diff_ids: layers.map((_, i) => `sha256:${sha(`diff${i}`)}`) },
      history: [{ created_by: 'COPY . /app' }],
    });
  const configName = `sha256:${sha(configText)}`;
  writeFileSync(join(files, configName), configText);
  const prefix = longNames ? `${'deep/'.repeat(30)}` : '';
  const layerNames = layers.map((layer) => `${prefix}${sha(layer)}.tar.gz`);
  layers.forEach((layer, i) => {
    mkdirSync(join(files, prefix || '.'), { recursive: true });
    writeFileSync(join(files, layerNames[i]!), layer);
  });
  const entry = manifest?.(configName, layerNames) ?? [
    { Config: configName, RepoTags: ['ghcr.io/o/app:1'], Layers: layerNames },
  ];
  writeFileSync(join(files, 'manifest.json'), JSON.stringify(entry));
  const tarball = join(dir, 'image.tar');
  execFileSync('tar', ['--format', longNames ? 'gnu' : 'ustar', '-C', files, '-cf', tarball, '.']);
  return tarball;
}

describe('goJsonManifest', () => {
  it('serializes like Go json.Marshal of v1.Manifest', () => {
    const config = {
      mediaType: 'application/vnd.docker.container.image.v1+json',
      size: 12,
      digest: 'sha256:aa',
    };
    const layer = {
      mediaType: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
      size: 34,
      digest: 'sha256:bb',
    };
    expect(goJsonManifest(config, [layer])).toBe(
      '{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json",' +
        '"config":{"mediaType":"application/vnd.docker.container.image.v1+json","size":12,"digest":"sha256:aa"},' +
        '"layers":[{"mediaType":"application/vnd.docker.image.rootfs.diff.tar.gzip","size":34,"digest":"sha256:bb"}]}',
    );
    expect(goJsonManifest(config, [])).toMatch(/"layers":\[\]}$/);
  });
});

describe('readImageTarball', () => {
  it('computes the Docker manifest digest from the stored config and compressed layers', async () => {
    const config = JSON.stringify({
      rootfs: { type: 'layers', diff_ids: ['sha256:1', 'sha256:2'] },
      history: [{ created_by: 'RUN a' }, { created_by: 'RUN b' }],
    });
    const tarball = archive({ config, layers: [GZIP_LAYER, OTHER_GZIP_LAYER] });
    const image = await readImageTarball(tarball);
    const expected =
      `{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json",` +
      `"config":{"mediaType":"application/vnd.docker.container.image.v1+json","size":${config.length},"digest":"sha256:${sha(config)}"},` +
      `"layers":[{"mediaType":"application/vnd.docker.image.rootfs.diff.tar.gzip","size":${GZIP_LAYER.length},"digest":"sha256:${sha(GZIP_LAYER)}"},` +
      `{"mediaType":"application/vnd.docker.image.rootfs.diff.tar.gzip","size":${OTHER_GZIP_LAYER.length},"digest":"sha256:${sha(OTHER_GZIP_LAYER)}"}]}`;
    expect(image.manifest).toBe(expected);
    expect(image.digest).toBe(`sha256:${sha(expected)}`);
    expect(image.config.history?.map((entry) => entry.created_by)).toEqual(['RUN a', 'RUN b']);
    expect(image.repoTags).toEqual(['ghcr.io/o/app:1']);
  });

  it('hashes later only the very file whose head it read: a tarball swapped in between is refused', async () => {
    const tarball = archive();
    const head = await readImageHead(tarball);
    expect(head.config.architecture).toBe('amd64');
    expect((await hashImageLayers(head)).digest).toBe((await readImageTarball(tarball)).digest);
    renameSync(archive({ layers: [OTHER_GZIP_LAYER] }), tarball);
    await expect(hashImageLayers(head)).rejects.toThrow(
      `${tarball} is not the file whose manifest and config were read: nothing of it is pushed`,
    );
  });

  it('refuses a zstd layer with the head, naming it and saying what to do, before anything is pushed', async () => {
    const config = JSON.stringify({
      rootfs: { type: 'layers', diff_ids: ['sha256:1', 'sha256:2', 'sha256:3'] },
      history: [
        { created_by: 'ADD file:4f2a in / ' },
        { created_by: 'ENV LANG=C.UTF-8', empty_layer: true },
        { created_by: 'RUN apt-get install -y curl' },
        { created_by: 'COPY . /app' },
      ],
    });
    const tarball = archive({ config, layers: [GZIP_LAYER, ZSTD_LAYER, OTHER_GZIP_LAYER] });
    const refusal = readImageHead(tarball);
    await expect(refusal).rejects.toThrow(
      `${tarball}: the image has layers that are not gzip, and crane pushes every layer of a docker-archive as gzip:\n` +
        `  - layer 2 of 3 (${sha(ZSTD_LAYER)}.tar.gz, sha256:${sha(ZSTD_LAYER)}, made by "RUN apt-get install -y curl") is zstd-compressed: crane would push these bytes under the gzip media type, an image no runtime can pull\n` +
        "Use a base image published with gzip layers, or rebuild the base image with gzip compression: kaniko's --compression=gzip does not recompress the base layers it copies. If kaniko-args sets --compression=zstd, remove it.",
    );
  });

  it('refuses an uncompressed layer, whose pushed digest crane alone decides', async () => {
    const layer = uncompressedLayer();
    await expect(readImageTarball(archive({ layers: [GZIP_LAYER, layer] }))).rejects.toThrow(
      `  - layer 2 of 2 (${sha(layer)}.tar.gz, sha256:${sha(layer)}) is an uncompressed tar: crane would compress it while pushing, so the pushed digest cannot be known in advance`,
    );
  });

  it('refuses a layer that is neither gzip, zstd nor a tar, showing its first bytes', async () => {
    await expect(readImageTarball(archive({ layers: [UNKNOWN_LAYER] }))).rejects.toThrow(
      /layer 1 of 1 .* is neither gzip, zstd nor a tar \(first bytes 6e656974\)\nThe tarball is damaged/,
    );
  });

  it('gives an empty layer list for an image without layers', async () => {
    const image = await readImageTarball(archive({ layers: [] }));
    expect(image.manifest).toMatch(/"layers":\[\]}$/);
  });

  it('reads GNU long names and follows symlinked entries', async () => {
    const long = await readImageTarball(archive({ longNames: true }));
    expect(long.layers[0]?.digest).toBe(`sha256:${sha(GZIP_LAYER)}`);

    const tarball = archive({
      manifest: (configName, layerNames) => [{ Config: 'config.json', RepoTags: [], Layers: layerNames }],
    });
    // Rebuild with a symlink named in manifest.json pointing at the real config file.
    const files = join(tarball, '..', 'files');
    const configName = execFileSync('ls', [files], { encoding: 'utf8' })
      .split('\n')
      .find((name) => name.startsWith('sha256:'))!;
    symlinkSync(configName, join(files, 'config.json'));
    execFileSync('tar', ['-C', files, '-cf', tarball, '.']);
    const linked = await readImageTarball(tarball);
    expect(linked.configDescriptor.digest).toBe(configName);
  });

  it('fails clearly on archives crane would not push', async () => {
    const two = archive({
      manifest: (c, l) => [
        { Config: c, Layers: l },
        { Config: c, Layers: l },
      ],
    });
    await expect(readImageTarball(two)).rejects.toThrow(/exactly one image/);
    const foreign = archive({
      manifest: (c, l) => [{ Config: c, Layers: l, LayerSources: { 'sha256:1': { mediaType: 'x' } } }],
    });
    await expect(readImageTarball(foreign)).rejects.toThrow(/foreign layers/);
    const missing = archive({ manifest: (c) => [{ Config: c, Layers: ['nope.tar.gz'] }] });
    await expect(readImageTarball(missing)).rejects.toThrow(/nope.tar.gz is not in the tarball/);
    const tooMany = archive({ config: JSON.stringify({ rootfs: { diff_ids: [] } }) });
    await expect(readImageTarball(tooMany)).rejects.toThrow(/1 layer\(s\) but the config has 0/);
    const notTar = join(dirs[0]!, 'not-a.tar');
    writeFileSync(notTar, 'x'.repeat(1024));
    await expect(readImageTarball(notTar)).rejects.toThrow(/is not a tar file/);
    await expect(readImageTarball(join(dirs[0]!, 'absent.tar'))).rejects.toThrow(
      /cannot open the image tarball/,
    );
  });
});

describe('readImageTarball on a path a build could have planted', () => {
  it('refuses a symlink to another valid tarball instead of reading it', async () => {
    const valid = archive();
    const planted = join(dirs[0]!, 'symlinked-image.tar');
    symlinkSync(valid, planted);
    await expect(readImageTarball(planted)).rejects.toThrow(/symlinked-image\.tar is a symbolic link/);
  });

  it('refuses a tarball with a second hard link, whose bytes could change under it', async () => {
    const valid = archive();
    linkSync(valid, join(dirs[0]!, 'second-link.tar'));
    await expect(readImageTarball(valid)).rejects.toThrow(/image\.tar has 2 hard links/);
  });
  it('refuses a tarball cut short inside a layer instead of hashing part of it', async () => {
    const big = Buffer.concat([GZIP_LAYER, Buffer.alloc(64 * 1024, 7)]);
    const tarball = archive({ layers: [big] });
    const files = join(tarball, '..', 'files');
    const layerName = `${sha(big)}.tar.gz`;
    // The layer last, so that cutting the file leaves every header but part of the layer's bytes.
    const others = execFileSync('ls', [files], { encoding: 'utf8' })
      .split('\n')
      .filter((name) => name && name !== layerName);
    execFileSync('tar', ['--format', 'ustar', '-C', files, '-cf', tarball, ...others, layerName]);
    truncateSync(tarball, statSync(tarball).size - 1024 - 32 * 1024);
    await expect(readImageTarball(tarball)).rejects.toThrow(
      new RegExp(`image\\.tar ends inside the layer ${layerName}: the file is cut short`),
    );
  });
});

describe('cross-check with the image-tarball test helper', () => {
  it('agrees with writeImageTarball on the digest, config and layers', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bsp-tarball-'));
    dirs.push(dir);
    const path = join(dir, 'image.tar');
    const written = await writeImageTarball(path, {
      layers: [{ 'app/': '', 'app/hello.txt': 'hello\n' }, { 'etc/motd': 'welcome\n' }],
      config: { labels: { 'org.opencontainers.image.title': 'app' } },
      repoTag: 'ghcr.io/octo-org/app:1',
    });
    const read = await readImageTarball(path);
    expect(read.digest).toBe(written.digest);
    expect(read.manifest).toBe(written.manifest);
    expect(read.configDescriptor.digest).toBe(written.configDigest);
    expect(read.layers.map((layer) => layer.digest)).toEqual(written.layers.map((layer) => layer.digest));
    expect(read.config.config?.Labels).toEqual({ 'org.opencontainers.image.title': 'app' });
  });
});
