// Publishing through the crane stand-in to a real loopback registry: one push by digest of an image with a
// 32 MiB incompressible layer, then three tags, each tag's digest read back. The stand-in
// costs a Node start per crane call (~60 ms), so these figures bound the action's own overhead
// from above. Targets: first publish ≤ 1500 ms; a re-publish whose blobs exist ≤ 800 ms;
// classifying 100,000 crane error lines ≤ 200 ms.
import { Registries } from '../src/registries.js';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { publishImage } from '../src/publish/publish-image.js';
import { classifyCraneFailure } from '../src/publish/failures.js';
import { writeImageTarball } from '../test/helpers/image-tarball.js';
import { startRegistry } from '../test/helpers/registry.js';
import { formatTiming, peakRssMiB, time } from './measure.js';

const root = join(import.meta.dirname, '..');
const crane = join(root, 'test', 'standins', 'crane-standin.mjs');
const work = await mkdtemp(join(tmpdir(), 'publish-bench-'));
const registry = await startRegistry();
try {
  const tarball = join(work, 'image.tar');
  const image = await writeImageTarball(tarball, {
    layers: [{ 'data/blob.bin': randomBytes(32 << 20) }, { 'etc/app.conf': 'x=1\n' }],
  });
  let run = 0;
  const publish = (repository: string) =>
    publishImage({
      crane,
      source: { tarball },
      image: `${registry.host}/bench/${repository}`,
      tags: ['1.0.0', '1.0', 'latest'],
      expectedDigest: image.digest,
      registries: new Registries({ insecure: [registry.host] }),
    });
  // core.info lines would flood the output: keep them out while measuring.
  const write = process.stdout.write.bind(process.stdout);
  process.stdout.write = () => true;
  const fresh = await time(() => publish(`fresh-${run++}`), 5);
  const again = await time(() => publish('fresh-0'), 5);
  process.stdout.write = write;
  console.log(formatTiming('publish 32 MiB by digest + 3 tags, new repository', fresh, 1500));
  console.log(formatTiming('publish again (blobs and tags exist)', again, 800));

  const lines = [
    'Error: PUT https://ghcr.io/v2/o/a/manifests/1: unexpected status code 503 Service Unavailable',
    'Error: POST https://ghcr.io/v2/o/a/blobs/uploads/: DENIED: permission_denied: write_package',
    'Error: Put "https://ghcr.io/v2/o/a/manifests/1": EOF',
    'Error: something else entirely',
  ];
  const classify = await time(() => {
    for (let i = 0; i < 100_000; i++) classifyCraneFailure(lines[i % lines.length]!, 'ghcr.io');
  });
  console.log(formatTiming('classify 100,000 crane error lines', classify, 200));
  console.log(`peak RSS ${peakRssMiB().toFixed(0)} MiB`);
} finally {
  await registry.stop();
  await rm(work, { recursive: true, force: true });
}
